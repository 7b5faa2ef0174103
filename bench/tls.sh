#!/usr/bin/env bash
# HTTPS load test: wirefeed (rustls) against nginx (OpenSSL) with the same self-signed ECDSA
# P-256 certificate made here, TLS 1.2 and 1.3 only, the same cipher suite preference (rustls'
# order: AES-256-GCM, AES-128-GCM, ChaCha20-Poly1305; X25519 first), HTTP/2 on, serving
# byte-identical copies of the 246 KB bench feed, side by side in one run, on 127.0.0.1 only.
#
#   bench/tls.sh                          # 10 s per run, 64 and 256 connections
#   DURATION=30 CONNS=64 STREAMS=1 NEW_CONNS=50000 bench/tls.sh
#
# Cases (identity 200, gzip 200, If-None-Match → 304) over
#   h1   HTTP/1.1 + TLS, keep-alive (wrk);
#   h2   HTTP/2 + TLS, STREAMS concurrent streams per connection (h2load);
# and a handshake-heavy case, `new-conn`: every request on a new HTTP/1.1 + TLS connection
# (h2load --h1 with `Connection: close`, which reconnects after each response; NEW_CONNS
# requests), 304s, with session resumption on at both servers (checked for TLS 1.2 with
# s_client; whether h2load resumes is not checked). Prints req/s, latency and server CPU per request.
# Installs nginx, wrk and h2load (nghttp2-client) from Debian's packages if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${DURATION:-10}
CONNS=${CONNS:-"64 256"}
THREADS=${THREADS:-2}
STREAMS=${STREAMS:-10}
NEW_CONNS=${NEW_CONNS:-20000}
WF_ADDR=${WF_ADDR:-127.0.0.1:18443}
NGINX_ADDR=${NGINX_ADDR:-127.0.0.1:18444}
DURATION=${DURATION%s}

bench_tools nginx-light wrk nghttp2-client
bench_build
bench_workdir

make_certificate

WF_SCHEME=https start_wirefeed WIREFEED_TLS_CERT="$work/cert.pem" WIREFEED_TLS_KEY="$work/key.pem" \
    WIREFEED_MAX_CONNECTIONS=20000
WF_SCHEME=https copy_feed
nginx_tls_directives
NGINX_SCHEME=https NGINX_LISTEN="$NGINX_ADDR ssl http2" start_nginx "${nginx_tls[@]}"

for who in "wirefeed $WF_ADDR" "nginx $NGINX_ADDR"; do
    set -- $who
    negotiated=$(openssl s_client -connect "$2" -alpn h2,http/1.1 </dev/null 2>/dev/null |
        awk '/^New, / {print $2, $5} /^ALPN protocol/ {print "ALPN", $3}' | tr '\n' ' ')
    # s_client's -reconnect resumes TLS 1.2 sessions only (1.3 tickets come after the handshake).
    resumed=$(openssl s_client -connect "$2" -tls1_2 -reconnect </dev/null 2>/dev/null | grep -c '^Reused' || true)
    echo "== $1: $negotiated; TLS 1.2 sessions resumed: $resumed of 5 reconnections"
done

wf_etag=$(etag_of "https://$WF_ADDR$feed")
nginx_etag=$(etag_of "https://$NGINX_ADDR$feed")

# Prints "req/s p50_ms p99_ms cpu_us_per_request" for one h2load run against $server_pids.
run_h2load() {
    local conns=$1 url=$2
    shift 2
    local out before after
    before=$(cpu_ticks $server_pids)
    out=$(h2load -t"$THREADS" -c"$conns" "$@" "$url" 2>&1)
    after=$(cpu_ticks $server_pids)
    if ! echo "$out" | grep -qE '^requests: .* 0 failed, 0 errored'; then
        echo "h2load against $url failed:" >&2
        echo "$out" | grep -E '^(requests|status codes|finished)' >&2
        exit 1
    fi
    # h2load reports request times as min/max/mean/sd; mean and mean + 2 sd stand in for
    # p50 and p99.
    echo "$out" | awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return v
        }
        /^finished in/ { rps = $4 + 0 }
        /^requests:/ { n = $8 }
        /^time for request:/ { mean = ms($6); sd = ms($7) }
        END { printf "%.0f %.3f %.3f %.1f\n", rps, mean, mean + 2 * sd, (n > 0 ? ticks * 1e6 / hz / n : 0) }'
}

echo "== CPU us/req: server CPU time (user + system) per request, from /proc. h2 and new-conn"
echo "   latencies are h2load's mean and mean + 2 sd (it reports no percentiles)."
printf '\n%-9s %-8s %5s | %11s %9s %9s %7s | %11s %9s %9s %7s | %6s\n' \
    case proto conns "wf req/s" "wf p50ms" "wf p99ms" "cpu/req" "nginx req/s" "ng p50ms" "ng p99ms" "cpu/req" ratio
row() {
    printf '%-9s %-8s %5s | %11s %9s %9s %7s | %11s %9s %9s %7s | %6s\n' "$@" "$(ratio "$4" "$8")"
}
for proto in h1 h2; do
    for case in identity gzip 304; do
        for conns in $CONNS; do
            case $case in
            identity) wf_h=(); ng_h=() ;;
            gzip) wf_h=(-H "Accept-Encoding: gzip"); ng_h=(-H "Accept-Encoding: gzip") ;;
            304) wf_h=(-H "If-None-Match: $wf_etag"); ng_h=(-H "If-None-Match: $nginx_etag") ;;
            esac
            if [ "$proto" = h1 ]; then
                read -r -a wf < <(DURATION=${DURATION}s server_pids=$wf_pid run_wrk "$conns" "https://$WF_ADDR$feed" "${wf_h[@]}")
                read -r -a ng < <(DURATION=${DURATION}s server_pids=$ng_pids run_wrk "$conns" "https://$NGINX_ADDR$feed" "${ng_h[@]}")
            else
                read -r -a wf < <(server_pids=$wf_pid run_h2load "$conns" "https://$WF_ADDR$feed" \
                    -D"$DURATION" --warm-up-time=1 -m"$STREAMS" "${wf_h[@]}")
                read -r -a ng < <(server_pids=$ng_pids run_h2load "$conns" "https://$NGINX_ADDR$feed" \
                    -D"$DURATION" --warm-up-time=1 -m"$STREAMS" "${ng_h[@]}")
            fi
            row "$case" "$proto" "$conns" "${wf[@]}" "${ng[@]}"
        done
    done
done
for conns in $CONNS; do
    # h2load reconnects after a `Connection: close` only when counting requests (-n).
    read -r -a wf < <(server_pids=$wf_pid run_h2load "$conns" "https://$WF_ADDR$feed" --h1 -n"$NEW_CONNS" \
        -H "Connection: close" -H "If-None-Match: $wf_etag")
    read -r -a ng < <(server_pids=$ng_pids run_h2load "$conns" "https://$NGINX_ADDR$feed" --h1 -n"$NEW_CONNS" \
        -H "Connection: close" -H "If-None-Match: $nginx_etag")
    row 304 new-conn "$conns" "${wf[@]}" "${ng[@]}"
done
