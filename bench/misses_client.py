#!/usr/bin/env python3
"""The client of bench/misses.sh: POLLERS threads poll every feed in the OPML (conditional GETs
with gzip unless told otherwise, as feed readers do, each on its own keep-alive connection) for the whole run; after
a quiet phase of SECONDS with pollers only, a publisher posts PUBLISHES stories to the bench
feed's category, one every EVERY_MS, and right after each acknowledgement fetches the 246 KB
bench feed (gzip) and times its first response after the change. The pollers run in a process
of their own, so that their threads do not hold the interpreter's lock while the publisher
times a response. Prints one line per phase
("phase NAME START END" on the monotonic clock, for the caller to sample server CPU at
those instants via the files it names) and the latencies.

    misses_client.py HOST PORT TOKEN STORIES POLLERS PUBLISHES EVERY_MS MARK_DIR [ACCEPT [AFTER_MS [FORMATS]]]

ACCEPT is the Accept-Encoding every request sends (default "gzip"); AFTER_MS how long the
timing client waits after each acknowledged publish before its first request (default 0);
FORMATS the formats polled of every feed (default "rss", the OPML's; "rss atom json" polls each
feed in all three, as a server with readers of every format is).
"""

import http.client
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
import xml.etree.ElementTree as ET

FEED = "/feeds/bench.rss"


def mark(directory, name):
    """Tells the caller a phase boundary was reached and waits until it has sampled."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("x")
    while os.path.exists(path):
        time.sleep(0.01)


ACCEPT = sys.argv[9] if len(sys.argv) > 9 else "gzip"
# Milliseconds the timing client waits after each publish is acknowledged before its first
# request: 0 races the change (the worst case); a poller arriving later finds what the server
# did meanwhile.
AFTER_MS = int(sys.argv[10]) if len(sys.argv) > 10 else 0
FORMATS = sys.argv[11].split() if len(sys.argv) > 11 else ["rss"]


def poller(host, port, urls, stop, errors, counts):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    etags = {}
    while not stop.is_set():
        for url in urls:
            headers = {"Accept-Encoding": ACCEPT}
            if url in etags:
                headers["If-None-Match"] = etags[url]
            try:
                conn.request("GET", url, headers=headers)
                r = conn.getresponse()
                r.read()
            except (OSError, http.client.HTTPException) as e:
                errors.append(f"{url}: {e}")
                conn = http.client.HTTPConnection(host, port, timeout=30)
                continue
            if r.status == 200:
                etags[url] = r.getheader("ETag")
            elif r.status != 304:
                errors.append(f"{url}: status {r.status}")
            counts[r.status] = counts.get(r.status, 0) + 1
            if stop.is_set():
                break


def pollers(host, port, urls, count, stop, results):
    """The polling process: COUNT poller threads until STOP is set; puts (errors, counts)."""
    errors, counts = [], {}
    threads = [
        threading.Thread(target=poller, args=(host, port, urls, stop, errors, counts))
        for _ in range(count)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((errors, counts))


def main():
    host, port, token, stories, pollers_count, publishes, every_ms, marks = sys.argv[1:9]
    port, pollers_count, publishes = int(port), int(pollers_count), int(publishes)
    every = int(every_ms) / 1000
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/feeds.opml")
    opml = conn.getresponse().read()
    urls = sorted(
        {
            o.get("xmlUrl").split("://", 1)[1].split("/", 1)[1]
            for o in ET.fromstring(opml).iter("outline")
            if o.get("xmlUrl")
        }
    )
    urls = ["/" + u.rsplit(".", 1)[0] + "." + f for u in urls for f in FORMATS]
    with open(stories) as f:
        templates = [json.loads(line) for line in f if line.strip()]

    stop, errors, results = multiprocessing.Event(), [], multiprocessing.Queue()
    polling = multiprocessing.Process(
        target=pollers, args=(host, port, urls, pollers_count, stop, results)
    )
    polling.start()
    time.sleep(1)
    quiet = publishes * every
    mark(marks, "quiet-start")
    time.sleep(quiet)
    mark(marks, "quiet-end")

    latencies, coding = [], None
    publisher = http.client.HTTPConnection(host, port, timeout=30)
    reader = http.client.HTTPConnection(host, port, timeout=30)
    reader.request("GET", FEED, headers={"Accept-Encoding": ACCEPT})
    r = reader.getresponse()
    r.read()
    etag = r.getheader("ETag")
    mark(marks, "publish-start")
    began = time.monotonic()
    for n in range(publishes):
        story = dict(templates[n % len(templates)])
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        story.update(id=f"misses-{os.getpid()}-{n:04d}", published=now, updated=now)
        story["categories"] = ["bench"]
        publisher.request(
            "POST",
            "/api/articles",
            body=json.dumps(story),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        p = publisher.getresponse()
        p.read()
        if p.status != 201:
            errors.append(f"publish {n}: status {p.status}")
        time.sleep(AFTER_MS / 1000)
        # The first response after the change: retried until the new version is served (the
        # change reaches the cache through the change follower, not the publish itself).
        while True:
            started = time.monotonic()
            reader.request("GET", FEED, headers={"Accept-Encoding": ACCEPT})
            r = reader.getresponse()
            r.read()
            took = time.monotonic() - started
            if r.status != 200:
                errors.append(f"{FEED}: status {r.status}")
                break
            if r.getheader("ETag") != etag:
                etag = r.getheader("ETag")
                coding = r.getheader("Content-Encoding", "identity")
                latencies.append(took * 1000)
                break
            time.sleep(0.001)
        pause = began + (n + 1) * every - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    mark(marks, "publish-end")
    stop.set()
    polled_errors, counts = results.get()
    polling.join()
    errors.extend(polled_errors)

    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"feeds polled: {len(urls)}; poll answers: {counts}")
    print(
        f"first response after a change to {FEED} ({ACCEPT}; answered {coding}), "
        f"{len(latencies)} changes: "
        f"median {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms, "
        f"max {latencies[-1]:.2f} ms"
    )
    if errors:
        print(f"{len(errors)} errors, first: {errors[:5]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
