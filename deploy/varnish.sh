#!/usr/bin/env bash
# Varnish in front of two wirefeed replicas on one PostgreSQL schema, on 127.0.0.1 only.
# Shows that Varnish revalidates expired feeds with conditional requests and that the
# replicas answer them 304, then prints the figures. Stops by itself.
#
#   deploy/varnish.sh                 # 20 s of polling through Varnish
#   DURATION=60 deploy/varnish.sh
#
# Needs PostgreSQL (WIREFEED_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test)
# and installs Varnish and wrk from Debian's packages if they are missing. The feeds are
# served with max-age=2 so that expiry and revalidation happen within the run.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20}
PG_URL=${WIREFEED_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
VARNISH=127.0.0.1:18100
A=127.0.0.1:18101
B=127.0.0.1:18102
SCHEMA=wf_varnish_$$
TOKEN=varnish-demo-$RANDOM$RANDOM

if ! command -v varnishd >/dev/null || ! command -v wrk >/dev/null; then
    echo "== installing varnish and wrk"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq varnish wrk >/dev/null
    systemctl stop varnish 2>/dev/null || true
fi
cargo build --release --quiet --bin wirefeed
bin=$PWD/target/release/wirefeed

work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql "$PG_URL" -qc "SET client_min_messages TO warning; DROP SCHEMA IF EXISTS $SCHEMA CASCADE" \
        >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# The shipped feeds, with a short freshness lifetime for the demonstration.
mkdir -p "$work/feeds"
for f in feeds/*.toml; do
    sed -e 's/^max_age = .*/max_age = 2/' -e 's/^stale_while_revalidate = .*/stale_while_revalidate = 1/' \
        "$f" >"$work/feeds/$(basename "$f")"
done

export WIREFEED_CONFIG=$PWD/config/wirefeed.toml
export WIREFEED_FEEDS_DIR=$work/feeds
export WIREFEED_STORE_SCHEMA=$SCHEMA
export WIREFEED_PUBLIC_URL=http://$VARNISH
export WIREFEED_TAG_AUTHORITY=wire.example.com,2026
export WIREFEED_LOG=warn
for replica in a b; do
    addr=$A
    [ "$replica" = b ] && addr=$B
    WIREFEED_STORE_URL="$PG_URL?application_name=wirefeed-$replica" WIREFEED_LISTEN=$addr \
        WIREFEED_DATA_DIR=$work/data-$replica WIREFEED_INGEST_TOKEN=$TOKEN \
        "$bin" serve >"$work/$replica.out" 2>"$work/$replica.err" &
    pids+=($!)
    for _ in $(seq 100); do curl -fs "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
done

sed -e "s/\"wirefeed-a\"/\"${A%:*}\"/; s/\"wirefeed-b\"/\"${B%:*}\"/" \
    -e "/backend replica_a/,/}/ s/\"8080\"/\"${A#*:}\"/" \
    -e "/backend replica_b/,/}/ s/\"8080\"/\"${B#*:}\"/" \
    deploy/varnish/default.vcl >"$work/default.vcl"
mkdir -p "$work/varnish"
chmod 777 "$work/varnish"
varnishd -F -n "$work/varnish" -a "$VARNISH" -f "$work/default.vcl" -s malloc,64m \
    >"$work/varnishd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://$VARNISH/feeds/all.atom" -o /dev/null && break; sleep 0.1; done
# Record the backend side of every fetch: status and the validators Varnish sent.
varnishncsa -n "$work/varnish" -b -F '%s %{If-None-Match}i %U' >"$work/backend.log" &
pids+=($!)
sleep 1

echo "== polling through Varnish for ${DURATION}s (feeds expire every 2 s; a story is published halfway)"
for path in /feeds/all.atom /feeds/world.rss /feeds/g20.json; do
    wrk -t1 -c4 -d"${DURATION}s" -H 'Accept-Encoding: gzip' "http://$VARNISH$path" >"$work/wrk${path//\//_}.txt" &
done
sleep $((DURATION / 2))
curl -fsS -o /dev/null -w "published through Varnish (passed to a replica): %{http_code}\n" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data @tests/fixtures/publish-g20-bilateral.json "http://$VARNISH/api/articles"
wait_for=$((DURATION - DURATION / 2 + 1))
sleep "$wait_for"
sleep 1

client_requests=$(awk '/requests in/ {n += $1} END {print n}' "$work"/wrk_*.txt)
fetches=$(grep -c '/feeds/' "$work/backend.log" || true)
conditional=$(awk '$3 ~ /^\/feeds\// && $2 != "-"' "$work/backend.log" | wc -l)
# varnishncsa shows a refreshed object's status (200); the backend's 304s are counted here.
answered_304=$(varnishstat -n "$work/varnish" -1 -f MAIN.fetch_304 | awk '{print $2}')
echo
echo "client requests to Varnish:          $client_requests"
echo "Varnish fetches from the replicas:   $fetches"
echo "  of which conditional (If-None-Match): $conditional"
echo "  answered 304 Not Modified:          $answered_304"
echo "  answered with a body (first fetch, or the feed changed): $((fetches - answered_304))"
echo
varnishstat -n "$work/varnish" -1 -f MAIN.client_req -f MAIN.cache_hit -f MAIN.cache_hit_grace \
    -f MAIN.cache_miss -f MAIN.backend_req -f MAIN.fetch_304 -f MAIN.fetch_length
if [ "$answered_304" -eq 0 ]; then
    echo "FAILED: no conditional fetch was answered 304" >&2
    exit 1
fi
