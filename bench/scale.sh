#!/usr/bin/env bash
# Scale figures (a benchmark, not a test): 1,000,000 synthetic stories in 50 categories in each
# store, import rate and the median/p99 time to build a 50-entry category feed on a cache miss,
# at 1,000 stories and at the full size.
#
#   bench/scale.sh                        # both stores, 1,000,000 stories
#   ARTICLES=200000 BACKENDS=sqlite bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ARTICLES=${ARTICLES:-1000000}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PG_URL=${WIREFEED_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
cargo build --release --quiet --example scale
for backend in $BACKENDS; do
    target/release/examples/scale --backend "$backend" --articles "$ARTICLES" --postgres-url "$PG_URL"
done
