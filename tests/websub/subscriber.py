#!/usr/bin/env python3
"""A WebSub subscriber for the tests, written apart from wirefeed (Python standard library only)
so that the hub's signatures are checked by an independent HMAC implementation.

Listens on 127.0.0.1 on a free port and prints "listening PORT", then one JSON line per event:
  {"event": "verify", "mode": ..., "topic": ..., "lease_seconds": ..., "answered": ...}
  {"event": "delivery", "path": ..., "signature": "ok"|"bad"|"missing", "self": ..., "hub": ...,
   "content_type": ..., "body": ..., "status": ...}
Options: --secret S (expected HMAC key), --refuse-verify, --fail-first N (answer 500 to the
first N deliveries), --slow SECONDS (wait before answering each delivery), --gone (answer 410).
Exits when stdin closes, so it never outlives the test.
"""
import argparse
import hashlib
import hmac
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

args = argparse.ArgumentParser()
args.add_argument("--secret")
args.add_argument("--refuse-verify", action="store_true")
args.add_argument("--fail-first", type=int, default=0)
args.add_argument("--slow", type=float, default=0)
args.add_argument("--gone", action="store_true")
options = args.parse_args()
lock = threading.Lock()
deliveries = 0


def emit(event):
    with lock:
        print(json.dumps(event), flush=True)


def links(header):
    found = {}
    for target, rel in re.findall(r'<([^>]*)>\s*;\s*rel="?([^",;]+)"?', header or ""):
        found[rel] = target
    return found


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        one = lambda k: query.get(k, [None])[0]
        answered = not options.refuse_verify
        emit({"event": "verify", "mode": one("hub.mode"), "topic": one("hub.topic"),
              "lease_seconds": one("hub.lease_seconds"), "path": self.path, "answered": answered})
        body = (one("hub.challenge") or "").encode() if answered else b"no"
        self.send_response(200 if answered else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        global deliveries
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            deliveries += 1
            n = deliveries
        given = self.headers.get("X-Hub-Signature")
        if given is None:
            signature = "missing"
        else:
            expected = "sha256=" + hmac.new((options.secret or "").encode(), body, hashlib.sha256).hexdigest()
            signature = "ok" if hmac.compare_digest(given, expected) else "bad"
        if options.slow:
            time.sleep(options.slow)
        status = 410 if options.gone else 500 if n <= options.fail_first else 204
        found = links(self.headers.get("Link"))
        emit({"event": "delivery", "path": self.path, "signature": signature,
              "self": found.get("self"), "hub": found.get("hub"),
              "content_type": self.headers.get("Content-Type"),
              "body": body.decode("utf-8", "replace"), "status": status, "n": n})
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(f"listening {server.server_address[1]}", flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()
