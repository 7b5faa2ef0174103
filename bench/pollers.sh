#!/usr/bin/env bash
# Bounded load test for publishing under polling: 1,000 concurrent feed pollers (90% conditional,
# half asking for gzip) on 12 feeds while a publisher posts a story every 20 ms, against a
# release build on a temporary store, on 127.0.0.1 only. Fails on any error, any stale read or
# any acknowledged story missing afterwards.
#
#   bench/pollers.sh                          # 1,000 pollers for 30 s
#   POLLERS=2000 SECONDS_=60 bench/pollers.sh
set -euo pipefail
cd "$(dirname "$0")/.."

POLLERS=${POLLERS:-1000}
SECONDS_=${SECONDS_:-30}
ADDR=127.0.0.1:18083
TOKEN=load-test-token-$RANDOM$RANDOM

cargo build --release --quiet --bin wirefeed --example pollers
work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ulimit -n "$(ulimit -Hn)"
export WIREFEED_CONFIG=$PWD/config/wirefeed.toml
export WIREFEED_DATA_DIR=$work/data
export WIREFEED_LISTEN=$ADDR
export WIREFEED_INGEST_TOKEN=$TOKEN
export WIREFEED_LOG=warn
target/release/wirefeed serve >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do curl -fs "http://$ADDR/healthz" >/dev/null && break; sleep 0.1; done

target/release/examples/pollers --url "http://$ADDR" --token "$TOKEN" \
    --pollers "$POLLERS" --seconds "$SECONDS_" --stories bench/fixtures/wire-50.ndjson
status=$?
if [ -s "$work/err" ]; then
    echo "== server warnings:"
    tail -20 "$work/err"
fi
exit $status
