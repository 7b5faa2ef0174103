#!/usr/bin/env bash
# Load test: wirefeed against nginx serving byte-identical copies of the same 50-entry feed
# (~240 KB of RSS), side by side in one run, on 127.0.0.1 only.
#
#   bench/load.sh                       # 10 s per run, 64 and 256 connections
#   DURATION=30s CONNS="64" bench/load.sh
#
# Cases: identity 200, gzip 200 (nginx: gzip_static of the same gzip bytes), and a conditional
# GET answered 304. Prints req/s, p50 and p99 latency per server and the ratio wirefeed/nginx.
# Installs nginx and wrk from Debian's packages if they are missing. Stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNS=${CONNS:-"64 256"}
THREADS=${THREADS:-2}
WF_ADDR=127.0.0.1:18081
NGINX_ADDR=127.0.0.1:18082

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    echo "== installing nginx-light and wrk"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null
fi

echo "== building wirefeed (release)"
cargo build --release --quiet
bin=$PWD/target/release/wirefeed

work=$(mktemp -d)
chmod 755 "$work"
wf_pid=""
cleanup() {
    [ -n "$wf_pid" ] && kill "$wf_pid" 2>/dev/null || true
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    sleep 0.2
    rm -rf "$work"
}
trap cleanup EXIT

export WIREFEED_CONFIG=$PWD/config/wirefeed.toml
export WIREFEED_DATA_DIR=$work/data
export WIREFEED_FEEDS_DIR=$PWD/bench/feeds
export WIREFEED_LOAD_SAMPLE=false
export WIREFEED_LOG=warn
export WIREFEED_LISTEN=$WF_ADDR
"$bin" import bench/fixtures/wire-50.ndjson >/dev/null
"$bin" serve >"$work/wirefeed.out" 2>"$work/wirefeed.err" &
wf_pid=$!
for _ in $(seq 50); do curl -fs "http://$WF_ADDR/healthz" >/dev/null && break; sleep 0.1; done

feed=/feeds/bench.rss
mkdir -p "$work/www/feeds" "$work/nginx-tmp"
curl -fs "http://$WF_ADDR$feed" -o "$work/www$feed"
curl -fs -H 'Accept-Encoding: gzip' "http://$WF_ADDR$feed" -o "$work/www$feed.gz"
cmp <(gzip -dc "$work/www$feed.gz") "$work/www$feed"
echo "== feed: $(stat -c %s "$work/www$feed") bytes identity, $(stat -c %s "$work/www$feed.gz") bytes gzip"

cat >"$work/nginx.conf" <<EOF
user root;
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path $work/nginx-tmp;
    proxy_temp_path $work/nginx-tmp;
    fastcgi_temp_path $work/nginx-tmp;
    uwsgi_temp_path $work/nginx-tmp;
    scgi_temp_path $work/nginx-tmp;
    types { application/rss+xml rss; }
    server {
        listen $NGINX_ADDR;
        root $work/www;
        gzip_static on;
        gzip_vary on;
        etag on;
        add_header Cache-Control "public, max-age=300, stale-while-revalidate=600";
    }
}
EOF
nginx -c "$work/nginx.conf"
for _ in $(seq 50); do curl -fs "http://$NGINX_ADDR$feed" -o /dev/null && break; sleep 0.1; done
cmp <(curl -fs "http://$NGINX_ADDR$feed") "$work/www$feed"
cmp <(curl -fs -H 'Accept-Encoding: gzip' "http://$NGINX_ADDR$feed") "$work/www$feed.gz"

etag_of() { curl -fsI "$@" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag" {print $2}'; }
wf_etag=$(etag_of "http://$WF_ADDR$feed")
nginx_etag=$(etag_of "http://$NGINX_ADDR$feed")
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $wf_etag" "http://$WF_ADDR$feed")" = 304 ]
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $nginx_etag" "http://$NGINX_ADDR$feed")" = 304 ]

# CPU time (clock ticks, user + system) used so far by the given processes.
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$total"
}

# Prints "req/s p50_ms p99_ms cpu_us_per_request" for one wrk run against the server whose
# processes are listed in $server_pids.
run_wrk() {
    local conns=$1 url=$2
    shift 2
    local out before after
    before=$(cpu_ticks $server_pids)
    out=$(wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency "$@" "$url")
    after=$(cpu_ticks $server_pids)
    if echo "$out" | grep -q "Non-2xx or 3xx"; then
        echo "unexpected status codes from $url:" >&2
        echo "$out" >&2
        exit 1
    fi
    echo "$out" | awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return v
        }
        /requests in/ { n = $1 }
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        END { printf "%.0f %.3f %.3f %.1f\n", rps, p50, p99, ticks * 1e6 / hz / n }'
}

wf_pids=$wf_pid
ng_pids="$(cat "$work/nginx.pid") $(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')"
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
        ratio=$(awk -v a="$wf_rps" -v b="$ng_rps" 'BEGIN { printf "%.2f", a / b }')
        printf '%-9s %5s | %11s %9s %9s %7s | %11s %9s %9s %7s | %6s\n' \
            "$case" "$conns" "$wf_rps" "$wf_p50" "$wf_p99" "$wf_cpu" "$ng_rps" "$ng_p50" "$ng_p99" "$ng_cpu" "$ratio"
    done
done
