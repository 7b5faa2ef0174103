#!/usr/bin/env bash
# This build against an earlier commit, and both against nginx, in one run: the 304 case of
# bench/load.sh in alternating rounds, so that the machine's drift hits all three alike.
#
#   bench/compare.sh ba4dbaf                  # 3 rounds of 8 s at 64 and 256 connections
#   ROUNDS=5 DURATION=10s CONNS=64 bench/compare.sh HEAD~3
#
# The earlier commit is built in a worktree under $TMPDIR (its own target directory, kept for
# the next run) and served with its own configuration and feeds. On 127.0.0.1 only; stops by
# itself.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

REV=${1:?which commit to compare with, e.g. bench/compare.sh ba4dbaf}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNS=${CONNS:-"64 256"}
THREADS=${THREADS:-2}
NGINX_ADDR=${NGINX_ADDR:-127.0.0.1:18082}
here=$PWD

bench_tools nginx-light wrk
bench_build
new_bin=$bin
old_tree=${TMPDIR:-/tmp}/wirefeed-compare-$(git rev-parse --short "$REV")
if [ ! -d "$old_tree" ]; then
    git worktree add -q --detach "$old_tree" "$REV"
fi
echo "== building $REV (release) in $old_tree"
(cd "$old_tree" && CARGO_TARGET_DIR=$old_tree/target cargo build --release --quiet --bin wirefeed)
bench_workdir

# The earlier build, from its own tree (its configuration may know other keys).
cd "$old_tree"
bin=$old_tree/target/release/wirefeed WF_ADDR=127.0.0.1:18091
work_all=$work
work=$work_all/old; mkdir -p "$work"
start_wirefeed
old_pid=$wf_pid old_addr=$WF_ADDR
cd "$here"
bin=$new_bin WF_ADDR=127.0.0.1:18081
work=$work_all/new; mkdir -p "$work"
start_wirefeed
new_pid=$wf_pid
copy_feed
start_nginx
work=$work_all
trap 'kill $old_pid $new_pid 2>/dev/null; kill "$(cat "$work/new/nginx.pid")" 2>/dev/null; sleep 0.3; rm -rf "$work"' EXIT

e_old=$(etag_of "http://$old_addr$feed")
e_new=$(etag_of "http://$WF_ADDR$feed")
e_ng=$(etag_of "http://$NGINX_ADDR$feed")
echo "== 304 req/s (p50 ms, p99 ms, server CPU us/req); now/then per round"
for conns in $CONNS; do
    for round in $(seq "$ROUNDS"); do
        read -r o _ _ oc < <(server_pids=$old_pid run_wrk "$conns" "http://$old_addr$feed" -H "If-None-Match: $e_old")
        read -r n _ _ nc < <(server_pids=$new_pid run_wrk "$conns" "http://$WF_ADDR$feed" -H "If-None-Match: $e_new")
        read -r g _ _ gc < <(server_pids=$ng_pids run_wrk "$conns" "http://$NGINX_ADDR$feed" -H "If-None-Match: $e_ng")
        printf 'conns %4s round %s | %s %8s (%s) | now %8s (%s) | nginx %8s (%s) | now/then %s | now/nginx %s\n' \
            "$conns" "$round" "$REV" "$o" "$oc" "$n" "$nc" "$g" "$gc" "$(ratio "$n" "$o")" "$(ratio "$n" "$g")"
    done
done
