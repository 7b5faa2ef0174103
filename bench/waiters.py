#!/usr/bin/env python3
"""What clients holding the change cursor open cost the server: WAITERS (1,000) clients send
`GET /api/changes?since=HEAD&wait=30` at once to a release build on a temporary store on
127.0.0.1, and the server's resident memory (VmRSS, /proc/PID/status) and CPU time
(utime + stime, /proc/PID/stat) are read before, while they wait, and after. Two rounds:

  idle  - nothing changes: every request is held the whole 30 s and answered empty;
  wake  - one story is published 5 s in: every waiter must be woken and answered with it.

Fails when a request is not answered 200, when an idle one comes back early, or when a woken
one misses the story. Stops by itself (each round is bounded); only talks to 127.0.0.1.

    bench/waiters.py                   # 1,000 waiters
    WAITERS=2000 bench/waiters.py
    WIREFEED_BIN=target/debug/wirefeed bench/waiters.py   # skip the release build
"""
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAITERS = int(os.environ.get("WAITERS", "1000"))
WAIT = 30
HOST, PORT = "127.0.0.1", int(os.environ.get("PORT", "18084"))
TOKEN = "waiters-bench-token-%d" % os.getpid()
TICK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 (utime, stime) of stat(5), counted after the command name.
    return (int(fields[11]) + int(fields[12])) / TICK


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def http(method, path, body=None):
    request = urllib.request.Request(
        f"http://{HOST}:{PORT}{path}",
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=40) as response:
        return response.status, response.read()


def head_cursor():
    """The cursor after the store's newest change."""
    since = None
    while True:
        path = "/api/changes?limit=1000" + (f"&since={since}" if since else "")
        _, body = http("GET", path)
        answer = json.loads(body)
        if not answer["changes"]:
            return answer["next"]
        since = answer["next"]


async def waiter(cursor, results):
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(HOST, PORT)
    writer.write(
        f"GET /api/changes?since={cursor}&wait={WAIT} HTTP/1.1\r\n"
        f"Host: {HOST}\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    results.append((status, time.monotonic() - started, body))


async def round_(pid, cursor, publish_after=None):
    """WAITERS clients wait at once; returns what the server cost while they did."""
    results = []
    rss_before, cpu_before = rss_kib(pid), cpu_seconds(pid)
    started = time.monotonic()
    tasks = [asyncio.create_task(waiter(cursor, results)) for _ in range(WAITERS)]
    peak, threads_seen = rss_before, threads(pid)
    published_at = None
    while not all(t.done() for t in tasks):
        await asyncio.sleep(0.5)
        peak = max(peak, rss_kib(pid))
        threads_seen = max(threads_seen, threads(pid))
        if publish_after is not None and published_at is None and time.monotonic() - started >= publish_after:
            story = json.load(open(os.path.join(ROOT, "tests/fixtures/publish-g20-bilateral.json")))
            story["id"] = "waiters-bench-wake"
            published_at = time.monotonic()
            await asyncio.to_thread(http, "POST", "/api/articles", json.dumps(story).encode())
        if time.monotonic() - started > WAIT + 30:
            raise SystemExit("the waiters were not all answered within %d s" % (WAIT + 30))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    return {
        "results": results,
        "rss_before": rss_before,
        "rss_peak": peak,
        "rss_after": rss_kib(pid),
        "cpu": cpu_seconds(pid) - cpu_before,
        "elapsed": elapsed,
        "threads": threads_seen,
        "woken_after": None if published_at is None else published_at - started,
    }


def report(name, r):
    statuses = {s for s, _, _ in r["results"]}
    held = sorted(t for _, t, _ in r["results"])
    per_waiter = (r["rss_peak"] - r["rss_before"]) / WAITERS
    print(
        f"{name:5} {WAITERS} waiters: statuses {sorted(statuses)}; answered after "
        f"p0 {held[0]:.2f} s, p50 {held[len(held) // 2]:.2f} s, max {held[-1]:.2f} s\n"
        f"      VmRSS before {r['rss_before'] / 1024:.1f} MiB, peak while waiting "
        f"{r['rss_peak'] / 1024:.1f} MiB (+{per_waiter:.1f} KiB per waiter), after "
        f"{r['rss_after'] / 1024:.1f} MiB; threads {r['threads']}\n"
        f"      server CPU {r['cpu']:.2f} s over {r['elapsed']:.1f} s "
        f"({100 * r['cpu'] / r['elapsed']:.1f}% of one core)"
    )
    return statuses


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < WAITERS + 100:
        raise SystemExit(f"the open-files limit ({hard}) is below {WAITERS} waiters")
    binary = os.environ.get("WIREFEED_BIN")
    if not binary:
        subprocess.run(
            ["cargo", "build", "--release", "--quiet", "--bin", "wirefeed"], cwd=ROOT, check=True
        )
        binary = os.path.join(ROOT, "target/release/wirefeed")
    work = tempfile.mkdtemp(prefix="wirefeed-waiters-")
    env = dict(
        os.environ,
        WIREFEED_CONFIG=os.path.join(ROOT, "config/wirefeed.toml"),
        WIREFEED_FEEDS_DIR=os.path.join(ROOT, "feeds"),
        WIREFEED_DATA_DIR=os.path.join(work, "data"),
        WIREFEED_LISTEN=f"{HOST}:{PORT}",
        WIREFEED_INGEST_TOKEN=TOKEN,
        WIREFEED_LOG="warn",
    )
    env.pop("WIREFEED_STORE_URL", None)
    err = open(os.path.join(work, "err"), "w")
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        for _ in range(100):
            try:
                http("GET", "/readyz")
                break
            except OSError:
                time.sleep(0.1)
        cursor = head_cursor()
        print(f"server pid {server.pid}, cursor {cursor}, {os.cpu_count()} cores")
        idle = asyncio.run(round_(server.pid, cursor))
        statuses = report("idle", idle)
        early = [t for _, t, _ in idle["results"] if t < WAIT - 1]
        if statuses != {200} or early:
            raise SystemExit(f"idle round: statuses {statuses}, {len(early)} answered early")
        wake = asyncio.run(round_(server.pid, cursor, publish_after=5))
        statuses = report("wake", wake)
        missed = [b for _, _, b in wake["results"] if b"waiters-bench-wake" not in b]
        latest = max(t for _, t, _ in wake["results"]) - wake["woken_after"]
        print(f"      all {WAITERS} answered within {latest * 1000:.0f} ms of the publish")
        if statuses != {200} or missed:
            raise SystemExit(f"wake round: statuses {statuses}, {len(missed)} missed the story")
    finally:
        server.terminate()
        server.wait(timeout=20)
        err.close()
        errors = open(os.path.join(work, "err")).read()
        shutil.rmtree(work, ignore_errors=True)
        if errors.strip():
            print("server stderr:\n" + errors, file=sys.stderr)


if __name__ == "__main__":
    main()
