#!/usr/bin/env bash
# The cost of a publish: pollers read every feed (conditional GETs with gzip, each on its own
# keep-alive connection) for a quiet phase, then keep reading while PUBLISHES stories are
# published to the 246 KB bench feed's category, one every EVERY_MS. Prints the server's CPU
# per publish (CPU of the publishing phase minus that of the equally long quiet phase, divided
# by the publishes: rendering, compressing and the pollers' extra misses), the feed store reads
# and renders per publish (from /metrics), and the latency of
# the first response after each change to the bench feed (gzip; median, p99). A release build
# on a temporary store, on 127.0.0.1 only; stops by itself.
#
#   bench/misses.sh                          # 100 publishes, one every 200 ms, 8 pollers
#   PUBLISHES=20 EVERY_MS=100 bench/misses.sh
#   ACCEPT='gzip, deflate, br, zstd' bench/misses.sh   # every request offers these codings
#   AFTER_MS=50 bench/misses.sh              # the timing client asks 50 ms after each publish
#   FORMATS='rss atom json' bench/misses.sh  # pollers read every feed in all three formats
#   WIREFEED_REMAKE_AFTER_CHANGES=false bench/misses.sh   # the first reader waits for the build
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

PUBLISHES=${PUBLISHES:-100}
EVERY_MS=${EVERY_MS:-200}
POLLERS=${POLLERS:-8}
ACCEPT=${ACCEPT:-gzip}
AFTER_MS=${AFTER_MS:-0}
FORMATS=${FORMATS:-rss}
WF_ADDR=${WF_ADDR:-127.0.0.1:18086}
TOKEN=misses-bench-token-$RANDOM$RANDOM

bench_tools python3
bench_build
bench_workdir
start_wirefeed WIREFEED_INGEST_TOKEN="$TOKEN"

mkdir "$work/marks"
python3 bench/misses_client.py "${WF_ADDR%:*}" "${WF_ADDR#*:}" "$TOKEN" \
    bench/fixtures/wire-50.ndjson "$POLLERS" "$PUBLISHES" "$EVERY_MS" "$work/marks" "$ACCEPT" "$AFTER_MS" "$FORMATS" \
    >"$work/client.out" &
client=$!
# A counter of the server's /metrics (wirefeed_NAME_total).
metric() {
    curl -s "http://$WF_ADDR/metrics" | awk -v n="wirefeed_$1_total" '$1 == n { print $2 }'
}
declare -A ticks reads renders
for phase in quiet-start quiet-end publish-start publish-end; do
    while [ ! -f "$work/marks/$phase" ]; do
        kill -0 "$client" 2>/dev/null || { cat "$work/client.out"; echo "the client failed" >&2; exit 1; }
        sleep 0.01
    done
    ticks[$phase]=$(cpu_ticks "$wf_pid")
    reads[$phase]=$(metric feed_store_reads)
    renders[$phase]=$(metric feed_renders)
    rm "$work/marks/$phase"
done
status=0
wait "$client" || status=$?
cat "$work/client.out"
q_ticks=$((${ticks[quiet-end]} - ${ticks[quiet-start]}))
p_ticks=$((${ticks[publish-end]} - ${ticks[publish-start]}))
awk -v q=$q_ticks -v p=$p_ticks \
    -v n="$PUBLISHES" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        printf "server CPU: quiet phase %.2f s, publishing phase %.2f s; per publish %.1f ms\n",
            q / hz, p / hz, (p - q) / hz / n * 1000 }'
awk -v r=$((${reads[publish-end]} - ${reads[publish-start]})) \
    -v d=$((${renders[publish-end]} - ${renders[publish-start]})) -v n="$PUBLISHES" 'BEGIN {
        printf "per publish: %.1f store reads of feeds, %.1f renders\n", r / n, d / n }'
if [ -s "$work/wirefeed.err" ]; then
    echo "== server warnings:"
    tail -5 "$work/wirefeed.err"
fi
exit $status
