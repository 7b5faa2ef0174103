#!/usr/bin/env bash
# Load test: wirefeed against nginx serving byte-identical copies of the same 50-entry feed
# (~240 KB of RSS), side by side in one run, on 127.0.0.1 only.
#
#   bench/load.sh                       # 10 s per run, 64 and 256 connections
#   DURATION=30s CONNS="64" bench/load.sh
#   CEILING=1 bench/load.sh             # also the 304 case's ceiling on this machine
#
# Cases: identity 200, gzip 200 (nginx: gzip_static of the same gzip bytes), and a conditional
# GET answered 304. Prints req/s, p50 and p99 latency per server and the ratio wirefeed/nginx.
# Installs nginx and wrk from Debian's packages if they are missing. Stops by itself.
# bench/tls.sh runs the same cases over HTTPS and HTTP/2.
#
# With CEILING=1, after each 304 row a "ceiling" row shows what a bare hyper server laid out as
# wirefeed's does with the same 304 (examples/ceiling.rs: no routing, cache or precondition
# work), against the same nginx figures: wirefeed's 304 cannot pass that ratio on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${DURATION:-10s}
CONNS=${CONNS:-"64 256"}
THREADS=${THREADS:-2}
WF_ADDR=${WF_ADDR:-127.0.0.1:18081}
NGINX_ADDR=${NGINX_ADDR:-127.0.0.1:18082}
CEILING_ADDR=${CEILING_ADDR:-127.0.0.1:18083}

bench_tools nginx-light wrk
bench_build
bench_workdir
start_wirefeed
copy_feed
start_nginx
ceiling_pid=""
if [ "${CEILING:-0}" = 1 ]; then
    cargo build --release --quiet --example ceiling
    target/release/examples/ceiling "$CEILING_ADDR" 2>/dev/null &
    ceiling_pid=$!
    trap 'kill "$ceiling_pid" 2>/dev/null || true; bench_cleanup' EXIT
    for _ in $(seq 50); do curl -fs -o /dev/null -w '%{http_code}' "http://$CEILING_ADDR$feed" 2>/dev/null | grep -q 304 && break; sleep 0.1; done
fi

wf_etag=$(etag_of "http://$WF_ADDR$feed")
nginx_etag=$(etag_of "http://$NGINX_ADDR$feed")
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $wf_etag" "http://$WF_ADDR$feed")" = 304 ]
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $nginx_etag" "http://$NGINX_ADDR$feed")" = 304 ]

wf_pids=$wf_pid
echo "== CPU us/req: server CPU time (user + system) per request, from /proc; the client (wrk)"
echo "   shares the same cores, so where req/s are close the server using less CPU wins."
printf '\n%-9s %5s | %11s %9s %9s %7s | %11s %9s %9s %7s | %6s\n' \
    case conns "wf req/s" "wf p50ms" "wf p99ms" "cpu/req" "nginx req/s" "ng p50ms" "ng p99ms" "cpu/req" ratio
for case in identity gzip 304; do
    for conns in $CONNS; do
        case $case in
        identity) wf_h=(); ng_h=() ;;
        gzip) wf_h=(-H "Accept-Encoding: gzip"); ng_h=(-H "Accept-Encoding: gzip") ;;
        304) wf_h=(-H "If-None-Match: $wf_etag"); ng_h=(-H "If-None-Match: $nginx_etag") ;;
        esac
        read -r wf_rps wf_p50 wf_p99 wf_cpu < <(server_pids=$wf_pids run_wrk "$conns" "http://$WF_ADDR$feed" "${wf_h[@]}")
        read -r ng_rps ng_p50 ng_p99 ng_cpu < <(server_pids=$ng_pids run_wrk "$conns" "http://$NGINX_ADDR$feed" "${ng_h[@]}")
        printf '%-9s %5s | %11s %9s %9s %7s | %11s %9s %9s %7s | %6s\n' \
            "$case" "$conns" "$wf_rps" "$wf_p50" "$wf_p99" "$wf_cpu" "$ng_rps" "$ng_p50" "$ng_p99" "$ng_cpu" "$(ratio "$wf_rps" "$ng_rps")"
        if [ "$case" = 304 ] && [ -n "$ceiling_pid" ]; then
            read -r c_rps c_p50 c_p99 c_cpu < <(server_pids=$ceiling_pid run_wrk "$conns" "http://$CEILING_ADDR$feed" "${wf_h[@]}")
            printf '%-9s %5s | %11s %9s %9s %7s | %11s %9s %9s %7s | %6s\n' \
                ceiling "$conns" "$c_rps" "$c_p50" "$c_p99" "$c_cpu" "$ng_rps" "$ng_p50" "$ng_p99" "$ng_cpu" "$(ratio "$c_rps" "$ng_rps")"
        fi
    done
done
