#!/usr/bin/env python3
"""The W3C Feed Validator over wirefeed's feeds through a day of changes (outside CI).

Starts a server on the sample wire in a temporary directory, validates its RSS and Atom
feeds (a category's, `all`, `flash`, the headlines view, the RFC 5005 day archive the
subscription document links), then again after each step: publish three stories (two in the
same second), correct one, kill one. Prints every message the validator gives, with how many
documents it came from, and exits 1 on an error (warnings are printed, not failed on).

The validator is not packaged: fetch a checkout of w3c/feedvalidator and install its
requirements (lxml, html5lib, rdflib) for the interpreter running this script.

    python3 tests/clients/validate_day.py --validator /path/to/feedvalidator [--bin target/release/wirefeed]
"""

import argparse
import collections
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

TOKEN = "validate-day-token"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCUMENTS = ["/feeds/world.rss", "/feeds/world.atom", "/feeds/all.rss", "/feeds/all.atom",
             "/feeds/flash.rss", "/feeds/flash.atom", "/feeds/world.rss?content=headlines"]
FIXTURE = os.path.join(REPO, "tests", "fixtures", "validate_day.json")


def start(binary, data_dir):
    env = dict(os.environ)
    env.update({
        "WIREFEED_DATA_DIR": data_dir,
        "WIREFEED_LISTEN": "127.0.0.1:0",
        "WIREFEED_INGEST_TOKEN": TOKEN,
        "WIREFEED_LOG": "warn",
    })
    proc = subprocess.Popen([binary, "serve"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", proc.stdout.readline())
    if not found:
        proc.kill()
        sys.exit("the server did not say where it listens")
    port = int(found.group(1))
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    for _ in range(100):
        if request(port, "GET", "/readyz")[0] == 200:
            return proc, port
        time.sleep(0.1)
    sys.exit("the server did not become ready")


def request(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": "Bearer " + TOKEN}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    except OSError:
        return 0, ""
    finally:
        conn.close()


def validate(feedvalidator, compatibility, port, path):
    """The validator's messages for one document: (level, text) pairs."""
    status, text = request(port, "GET", path)
    if status != 200:
        return [("error", "status %d" % status)]
    base = "http://127.0.0.1:%d%s" % (port, path)
    try:
        events = feedvalidator.validateString(text, firstOccurrenceOnly=1, base=base)["loggedEvents"]
    except feedvalidator.logging.ValidationFailure as failure:
        events = [failure.event]
    out = []
    for event in compatibility.AA(events):
        level = "error" if isinstance(event, feedvalidator.logging.Error) else "warning"
        out.append((level, type(event).__name__))
    return out


def archive_of(port, path):
    """The day archive a subscription document links as prev-archive, if any."""
    _, text = request(port, "GET", path)
    found = re.search(r'<(?:atom:)?link[^>]*href="([^"]+)"[^>]*rel="prev-archive"', text)
    return found and re.sub(r"^http://[^/]+", "", found.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--validator", required=True, help="a checkout of w3c/feedvalidator")
    parser.add_argument("--bin", default=os.path.join(REPO, "target", "release", "wirefeed"))
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(args.validator, "src"))
    import feedvalidator
    from feedvalidator import compatibility

    with open(FIXTURE) as f:
        stories = json.load(f)
    messages = collections.Counter()
    errors = 0
    with tempfile.TemporaryDirectory() as data_dir:
        proc, port = start(args.bin, data_dir)
        try:
            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            steps = [("still wire", [])]
            steps.append(("publish three, two in one second",
                          [("POST", "/api/articles", dict(s, published=now)) for s in stories["publish"]]))
            corrected = dict(stories["correction"], published=now)
            steps.append(("correct one", [("PUT", "/api/articles/" + corrected["id"], corrected)]))
            steps.append(("kill one", [("DELETE", "/api/articles/" + stories["kill"], None)]))
            for label, writes in steps:
                for method, path, body in writes:
                    status, text = request(port, method, path, body)
                    if status not in (200, 201, 204):
                        sys.exit("%s %s: %d %s" % (method, path, status, text))
                time.sleep(1.2)
                documents = list(DOCUMENTS)
                for feed in ("/feeds/world.rss", "/feeds/world.atom"):
                    archive = archive_of(port, feed)
                    if archive:
                        documents.append(archive)
                print("== %s" % label)
                for path in documents:
                    found = validate(feedvalidator, compatibility, port, path)
                    print("  %-45s %s" % (path, ", ".join("%s %s" % m for m in found) or "valid"))
                    for level, name in found:
                        messages[(level, name)] += 1
                        errors += level == "error"
        finally:
            proc.terminate()
            proc.wait()
    print("\nmessages (documents):")
    for (level, name), count in sorted(messages.items()):
        print("  %-8s %-40s %d" % (level, name, count))
    print("errors: %d" % errors)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
