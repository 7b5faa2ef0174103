#!/usr/bin/env bash
# Memory per waiting poller: COUNT keep-alive connections each make one request (a gzip 200 of
# the 246 KB bench feed, as in bench/load.sh) and then wait, open and silent; prints the
# servers' resident memory (VmRSS, all processes) before and after, and KB per connection,
# for wirefeed and nginx side by side. Memory, unlike throughput, does not depend on how busy
# the machine is. On 127.0.0.1 only; stops by itself.
#
#   bench/idle.sh                          # 10,000 connections
#   COUNT=2000 HEADER="If-None-Match: x" bench/idle.sh
#   TLS=1 bench/idle.sh                    # over HTTPS (HTTP/1.1), the same certificate for both
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

COUNT=${COUNT:-10000}
HEADER=${HEADER:-"Accept-Encoding: gzip"}
WF_ADDR=${WF_ADDR:-127.0.0.1:18084}
NGINX_ADDR=${NGINX_ADDR:-127.0.0.1:18085}

ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((COUNT + 1024)) ]; then
    echo "the open-file limit ($(ulimit -n)) is too low for $COUNT connections" >&2
    exit 1
fi
bench_tools nginx-light python3
bench_build
bench_workdir
settings=(WIREFEED_MAX_CONNECTIONS=$((COUNT + 100)) WIREFEED_KEEP_ALIVE_TIMEOUT_SECS=600
    WIREFEED_HEADER_READ_TIMEOUT_SECS=600)
if [ "${TLS:-0}" = 1 ]; then
    export WF_SCHEME=https NGINX_SCHEME=https NGINX_LISTEN="$NGINX_ADDR ssl"
    make_certificate
    nginx_tls_directives
    start_wirefeed "${settings[@]}" WIREFEED_TLS_CERT="$work/cert.pem" WIREFEED_TLS_KEY="$work/key.pem"
    copy_feed
    start_nginx "keepalive_timeout 600s;" "${nginx_tls[@]}"
else
    start_wirefeed "${settings[@]}"
    copy_feed
    start_nginx "keepalive_timeout 600s;"
fi
scheme=${WF_SCHEME:-http}

# Prints "before_kb after_kb" for COUNT idle connections to one server.
measure() {
    local addr=$1 pids=$2 before after client
    # Warm: every coding built and cached, the allocator past its first growth.
    for _ in $(seq 20); do curl -kfs -H "$HEADER" "$scheme://$addr$feed" -o /dev/null; done
    sleep 0.5
    before=$(rss_kb $pids)
    rm -f "$work/ready" "$work/stop"
    python3 bench/idle_client.py "$scheme" "${addr%:*}" "${addr#*:}" "$feed" "$COUNT" \
        "$work/ready" "$work/stop" "$HEADER" >&2 &
    client=$!
    while [ ! -f "$work/ready" ]; do
        kill -0 "$client" 2>/dev/null || { echo "the client failed" >&2; exit 1; }
        sleep 0.2
    done
    # Long enough for wirefeed to park every connection (http/park.rs: after 100 ms idle).
    sleep 2
    after=$(rss_kb $pids)
    touch "$work/stop"
    wait "$client"
    echo "$before $after"
}

echo "== $COUNT idle keep-alive connections ($scheme) after one request with \"$HEADER\""
read -r wf_before wf_after < <(measure "$WF_ADDR" "$wf_pid")
read -r ng_before ng_after < <(measure "$NGINX_ADDR" "$ng_pids")
per() { awk -v a="$1" -v b="$2" -v n="$COUNT" 'BEGIN { printf "%.2f", (b - a) / n }'; }
printf '\n%-9s %12s %12s %10s\n' server "RSS before" "RSS after" "KB/conn"
printf '%-9s %9s KB %9s KB %10s\n' wirefeed "$wf_before" "$wf_after" "$(per "$wf_before" "$wf_after")"
printf '%-9s %9s KB %9s KB %10s\n' nginx "$ng_before" "$ng_after" "$(per "$ng_before" "$ng_after")"
