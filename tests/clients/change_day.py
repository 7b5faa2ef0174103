#!/usr/bin/env python3
"""A day of changes on a wirefeed server, watched by real feed clients.

Steps: publish A; publish B and C in the same second; correct A (no `updated`); kill B;
publish D. After each step every client polls twice: at once (inside the ~3 s window in which
Last-Modified is withheld) and again 4 s later ("settled"). Each client keeps its own state
between polls:

  * feedparser (Python)  -- etag/modified carried between polls, as an aggregator does
                             (feedparser sends `A-IM: feed`); RSS, Atom and JSON Feed
  * newsboat             -- `newsboat -x reload` with its own cache.db; RSS, Atom, JSON
  * rss2email (r2e)      -- `r2e run` delivering into a Maildir; RSS, Atom, JSON, each once with
                             the default `reply-changes = False` and once with `True`
  * probe                -- plain If-None-Match-only and If-Modified-Since-only requests with
                             the validators of the previous version, after every change

All clients reach the server through a small logging reverse proxy on 127.0.0.1, so every
request's validators, A-IM and the status it got are recorded (proxy.log in the output dir).
The whole day runs twice: with deltas off (default) and with WIREFEED_DELTAS=true.

Usage (from the repository root, after `cargo build`):

    python3 tests/clients/change_day.py [--bin target/debug/wirefeed] [--out /tmp/change-day]
                                        [--phases off,on]

Needs: newsboat, rss2email (`r2e`), sqlite3 module, and `pip install feedparser` for the
interpreter running this script. Prints one table per client and phase and writes
report.json in the output dir. Exit status 1 when a defect was found (a missed publish,
correction or kill; a 304 for a changed document; a 226 with deltas off; a client error).
"""

import argparse
import configparser
import email
import gzip
import hashlib
import http.client
import http.server
import json
import mailbox
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from datetime import datetime, timezone

import feedparser

TOKEN = "secret"
FORMATS = ["rss", "atom", "json"]
WITHDRAWN_PREFIX = "WITHDRAWN: "
WITHDRAWN_TEXT = "This story has been withdrawn"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# --------------------------------------------------------------------------------------------
# Logging reverse proxy


class ProxyLog:
    def __init__(self, path, bodies_dir):
        self.lock = threading.Lock()
        self.rows = []
        self.path = path
        self.bodies_dir = bodies_dir
        self.label = "setup"
        os.makedirs(bodies_dir, exist_ok=True)

    def add(self, row, body):
        with self.lock:
            row["n"] = len(self.rows)
            row["label"] = self.label
            if body:
                name = "%04d-%s-%s.txt" % (
                    row["n"], row["client"], re.sub(r"[^a-z0-9.]+", "_", row["path"].lower()))
                with open(os.path.join(self.bodies_dir, name), "wb") as f:
                    f.write(body)
                row["body_file"] = name
            self.rows.append(row)
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")


def client_of(user_agent):
    ua = (user_agent or "").lower()
    if "feedparser-aggregator" in ua:
        return "feedparser"
    # r2e does not hand its user-agent to feedparser: its requests carry feedparser's default.
    if ua.startswith("feedparser/") or "rss2email" in ua:
        return "rss2email"
    for name in ("newsboat", "probe"):
        if name in ua:
            return name
    return "other"


def decode(body, coding):
    try:
        if coding == "gzip":
            return gzip.decompress(body)
        if coding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)
        if coding == "br":
            import brotli  # noqa: PLC0415
            return brotli.decompress(body)
        if coding == "zstd":
            import zstandard  # noqa: PLC0415
            return zstandard.ZstdDecompressor().decompress(body)
    except Exception:  # noqa: BLE001
        return body
    return body


def start_proxy(upstream_port, log):
    hop = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.forward()

        def do_HEAD(self):
            self.forward()

        def forward(self):
            headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
            conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
            conn.request(self.command, self.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in hop and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            rh = {k.lower(): v for k, v in resp.getheaders()}
            log.add({
                "client": client_of(self.headers.get("User-Agent")),
                "method": self.command,
                "path": self.path,
                "if_none_match": self.headers.get("If-None-Match"),
                "if_modified_since": self.headers.get("If-Modified-Since"),
                "a_im": self.headers.get("A-IM"),
                "accept_encoding": self.headers.get("Accept-Encoding"),
                "status": resp.status,
                "etag": rh.get("etag"),
                "last_modified": rh.get("last-modified"),
                "im": rh.get("im"),
                "sha": hashlib.sha256(decode(body, rh.get("content-encoding"))).hexdigest()[:12]
                if body else None,
            }, decode(body, rh.get("content-encoding")) if body else b"")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --------------------------------------------------------------------------------------------
# The server and the publishing API


def start_server(binary, data_dir, deltas):
    env = dict(os.environ)
    env.update({
        "WIREFEED_INGEST_TOKEN": TOKEN,
        "WIREFEED_LISTEN": "127.0.0.1:0",
        "WIREFEED_DATA_DIR": data_dir,
        "WIREFEED_DELTAS": "true" if deltas else "false",
    })
    log = open(os.path.join(data_dir, "server.log"), "w")
    proc = subprocess.Popen([binary, "serve"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=log, text=True)
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit("server did not start: %r" % line)
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, int(m.group(1))


def api(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": "Bearer " + TOKEN}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body)
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    text = resp.read().decode("utf-8", "replace")
    conn.close()
    return resp.status, text


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def article(tag, sid, title, summary):
    return {
        "id": sid,
        "title": title,
        "summary": summary,
        "content_html": "<p>%s</p>" % summary,
        "byline": ["Jane Doe"],
        "categories": ["world"],
        "published": now_iso(),
    }


# --------------------------------------------------------------------------------------------
# Clients


class FeedparserClient:
    """An aggregator on feedparser: etag/modified kept per URL, entries merged by id."""

    name = "feedparser"

    def __init__(self, base, fmt):
        self.url = "%s/feeds/world.%s" % (base, fmt)
        self.fmt = fmt
        self.etag = None
        self.modified = None
        self.entries = {}  # id -> dict(title, summary, updated)
        self.label = "feedparser/%s" % fmt

    def poll(self):
        d = feedparser.parse(self.url, etag=self.etag, modified=self.modified,
                             agent="feedparser-aggregator/%s" % feedparser.__version__)
        status = d.get("status")
        error = None
        if d.get("bozo") and not d.entries and status not in (304,):
            error = repr(d.get("bozo_exception"))
        events = []
        if status in (200, 226):
            for e in d.entries:
                eid = e.get("id") or e.get("link")
                cur = {
                    "title": e.get("title"),
                    "summary": e.get("summary"),
                    "updated": e.get("updated"),
                }
                old = self.entries.get(eid)
                if old is None:
                    kind = "new"
                elif old != cur:
                    kind = "updated"
                else:
                    continue
                if (cur["title"] or "").startswith(WITHDRAWN_PREFIX):
                    kind += "+withdrawn"
                events.append((kind, eid, cur["title"]))
                self.entries[eid] = cur
        # An aggregator keeps its old validators when the server sends none.
        if status != 304:
            self.etag = d.get("etag")
            self.modified = d.get("modified")
        return {"status": status, "events": events, "error": error,
                "entries_in_body": len(d.entries)}

    def state(self, sid):
        for eid, cur in self.entries.items():
            if eid and sid in eid:
                return cur
        return None


class JsonFeedClient(FeedparserClient):
    """feedparser 6.0.x has no JSON Feed parser, so for /feeds/world.json an aggregator of the
    same kind is stood in for: the same request headers feedparser sends (A-IM: feed,
    If-None-Match, If-Modified-Since, gzip), the body parsed with json, entries merged by id."""

    def poll(self):
        import urllib.error  # noqa: PLC0415
        import urllib.request  # noqa: PLC0415
        req = urllib.request.Request(self.url, headers={
            "User-Agent": "feedparser-aggregator/json", "A-IM": "feed",
            "Accept-Encoding": "gzip, deflate"})
        if self.etag:
            req.add_header("If-None-Match", self.etag)
        if self.modified:
            req.add_header("If-Modified-Since", self.modified)
        try:
            resp = urllib.request.urlopen(req, timeout=30)
            status, body, headers = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            status, body, headers = e.code, e.read(), e.headers
        events, error = [], None
        if status in (200, 226):
            try:
                doc = json.loads(decode(body, headers.get("Content-Encoding")))
            except ValueError as e:
                doc, error = {"items": []}, repr(e)
            for it in doc.get("items", []):
                eid = it.get("id")
                cur = {"title": it.get("title"), "summary": it.get("summary"),
                       "updated": it.get("date_modified")}
                old = self.entries.get(eid)
                if old is None:
                    kind = "new"
                elif old != cur:
                    kind = "updated"
                else:
                    continue
                if (cur["title"] or "").startswith(WITHDRAWN_PREFIX):
                    kind += "+withdrawn"
                events.append((kind, eid, cur["title"]))
                self.entries[eid] = cur
        if status != 304:
            self.etag = headers.get("ETag")
            self.modified = headers.get("Last-Modified")
        return {"status": status, "events": events, "error": error,
                "entries_in_body": None}


class NewsboatClient:
    name = "newsboat"

    def __init__(self, base, workdir, fmt):
        # One cache per format: newsboat keys rss_item rows by guid alone, so the same story
        # in world.rss and world.atom (same guid) would share one row.
        self.fmt = fmt
        self.dir = os.path.join(workdir, "newsboat-" + fmt)
        os.makedirs(self.dir, exist_ok=True)
        self.urls = [("%s/feeds/world.%s" % (base, fmt), fmt)]
        with open(os.path.join(self.dir, "urls"), "w") as f:
            for u, _ in self.urls:
                f.write(u + "\n")
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write("reload-threads 1\nuser-agent \"newsboat-client\"\n")
        self.cache = os.path.join(self.dir, "cache.db")
        self.n = 0
        self.label = "newsboat"

    def poll(self):
        self.n += 1
        logf = os.path.join(self.dir, "newsboat-%02d.log" % self.n)
        cmd = ["newsboat", "-x", "reload", "print-unread", "-u", os.path.join(self.dir, "urls"),
               "-c", self.cache, "-C", os.path.join(self.dir, "config"), "-l", "4", "-d", logf]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, HOME=self.dir, TERM="dumb"))
        out = (p.stdout + p.stderr).strip()
        errors = []
        try:
            with open(logf, errors="replace") as f:
                for line in f:
                    if "ERROR" in line or "error" in line.lower() and "curl" in line.lower():
                        errors.append(line.strip()[:200])
        except OSError:
            pass
        return {"rc": p.returncode, "out": out[-300:], "errors": errors[:5]}

    def items(self):
        db = sqlite3.connect(self.cache)
        try:
            rows = db.execute(
                "SELECT feedurl, guid, title, content, unread, updated FROM rss_item "
                "WHERE guid LIKE '%wf-day-%' OR url LIKE '%wf-day-%'").fetchall()
        except sqlite3.OperationalError:
            rows = db.execute(
                "SELECT feedurl, guid, title, content, unread, 0 FROM rss_item "
                "WHERE guid LIKE '%wf-day-%' OR url LIKE '%wf-day-%'").fetchall()
        finally:
            db.close()
        return rows


class Rss2EmailClient:
    name = "rss2email"

    def __init__(self, base, workdir):
        self.dir = os.path.join(workdir, "r2e")
        os.makedirs(self.dir, exist_ok=True)
        self.cfg = os.path.join(self.dir, "r2e.cfg")
        self.data = os.path.join(self.dir, "r2e.json")
        self.maildir = os.path.join(self.dir, "mail")
        os.makedirs(self.maildir, exist_ok=True)
        self.base = ["r2e", "-c", self.cfg, "-d", self.data]
        self.run_cmd(["new", "you@example.invalid"])
        self.feeds = []
        for fmt in FORMATS:
            for rc in (False, True):
                name = "world-%s%s" % (fmt, "-replychanges" if rc else "")
                # A distinct URL per variant (the server ignores unknown query parameters),
                # since r2e's mail names the feed by URL (X-RSS-Feed).
                url = "%s/feeds/world.%s%s" % (base, fmt, "?via=replychanges" if rc else "")
                self.run_cmd(["add", name, url])
                self.feeds.append((name, fmt, rc))
        self.url_to_name = {u: n for n, u in ((n, "%s/feeds/world.%s%s" % (
            base, f, "?via=replychanges" if rc else "")) for n, f, rc in self.feeds)}
        cp = configparser.ConfigParser(interpolation=None)
        cp.read(self.cfg)
        cp["DEFAULT"]["email-protocol"] = "maildir"
        cp["DEFAULT"]["maildir-path"] = self.maildir
        cp["DEFAULT"]["maildir-mailbox"] = "INBOX"
        cp["DEFAULT"]["user-agent"] = "rss2email/__VERSION__ (test)"
        for name, _, rc in self.feeds:
            if rc:
                cp["feed." + name]["reply-changes"] = "True"
        with open(self.cfg, "w") as f:
            cp.write(f)
        self.seen_keys = set()
        self.n = 0
        self.label = "rss2email"

    def run_cmd(self, args):
        return subprocess.run(self.base + args, capture_output=True, text=True, timeout=120)

    def poll(self, send=True):
        self.n += 1
        p = self.run_cmd(["-VVVV", "run"] + ([] if send else ["--no-send"]))
        log = p.stderr
        with open(os.path.join(self.dir, "r2e-%02d.log" % self.n), "w") as f:
            f.write(log)
        statuses = re.findall(r"\[DEBUG\] HTTP status (\d+)", log)
        # "empty page" is r2e's warning for every 304 (Content-Length: 0): not an error.
        errors = [l.strip()[:200] for l in log.splitlines()
                  if (re.search(r"\b(ERROR|CRITICAL|WARNING)\b", l) or "Traceback" in l)
                  and "empty page" not in l]
        md = mailbox.Maildir(os.path.join(self.maildir, "INBOX"), create=True)
        new = []
        for key in md.keys():
            if key in self.seen_keys:
                continue
            self.seen_keys.add(key)
            msg = md[key]
            subj = str(email.header.make_header(email.header.decode_header(msg["Subject"] or "")))
            feed = self.url_to_name.get(msg.get("X-RSS-Feed", ""), msg.get("X-RSS-Feed", ""))
            body = msg.get_payload(decode=True) if not msg.is_multipart() else b""
            new.append({"subject": subj, "feed": feed, "in_reply_to": msg.get("In-Reply-To"),
                        "withdrawn_text": WITHDRAWN_TEXT.encode() in (body or b""),
                        "x_rss_id": msg.get("X-RSS-ID")})
        return {"rc": p.returncode, "statuses": statuses, "errors": errors[:5], "mail": new}

    def state(self):
        with open(self.data) as f:
            data = json.load(f)
        out = {}
        for feed in data.get("feeds", []):
            out[feed["name"]] = {"etag": feed.get("etag"), "modified": feed.get("modified"),
                                 "seen": sorted(g for g in feed.get("seen", {})
                                                if "wf-day-" in g)}
        return out


class Probe:
    """Validators of the previous version replayed alone after every change."""

    def __init__(self, port):
        self.port = port
        self.prev = {}

    def get(self, path, headers):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", path, headers=dict(headers, **{"User-Agent": "probe"}))
        r = conn.getresponse()
        body = r.read()
        conn.close()
        return r.status, r.getheader("ETag"), r.getheader("Last-Modified"), body

    def snapshot(self):
        for fmt in FORMATS:
            path = "/feeds/world.%s" % fmt
            status, etag, lm, body = self.get(path, {})
            self.prev[path] = (etag, lm, hashlib.sha256(body).hexdigest())

    def after_change(self):
        out = []
        for path, (etag, lm, sha) in self.prev.items():
            row = {"path": path}
            if etag:
                row["inm"] = self.get(path, {"If-None-Match": etag})[0]
            if lm:
                row["ims"] = self.get(path, {"If-Modified-Since": lm})[0]
            if etag:
                row["inm_aim"] = self.get(path, {"If-None-Match": etag, "A-IM": "feed"})[0]
            out.append(row)
        return out


# --------------------------------------------------------------------------------------------
# The day


STEPS = [
    ("publish A", "A", "new"),
    ("publish B+C same second", "BC", "new"),
    ("correct A (no updated)", "A", "updated"),
    ("kill B", "B", "withdrawn"),
    ("publish D", "D", "new"),
]


def run_phase(args, deltas, out_root):
    phase = "deltas-" + ("on" if deltas else "off")
    work = os.path.join(out_root, phase)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    data_dir = os.path.join(work, "data")
    os.makedirs(data_dir)
    server, port = start_server(args.bin, data_dir, deltas)
    plog = ProxyLog(os.path.join(work, "proxy.log"), os.path.join(work, "bodies"))
    proxy = start_proxy(port, plog)
    base = "http://127.0.0.1:%d" % proxy.server_address[1]
    tag = datetime.now(timezone.utc).strftime("%H%M%S")
    ids = {k: "wf-day-%s-%s-%s" % (phase, tag, k.lower()) for k in "ABCD"}
    report = {"phase": phase, "port": port, "proxy": base, "ids": ids, "steps": []}
    try:
        fps = [FeedparserClient(base, "rss"), FeedparserClient(base, "atom"),
               JsonFeedClient(base, "json")]
        nbs = [NewsboatClient(base, work, f) for f in FORMATS]
        r2 = Rss2EmailClient(base, work)
        probe = Probe(port)

        # Subscribe: first poll of every client (r2e without sending, as one would).
        plog.label = "subscribe"
        for c in fps:
            c.poll()
        for nb in nbs:
            nb.poll()
        r2.poll(send=False)
        time.sleep(4)
        probe.snapshot()

        for i, (label, who, kind) in enumerate(STEPS):
            step = {"step": label, "api": []}
            if label.startswith("publish B"):
                # Same wall-clock second for both.
                while datetime.now().microsecond > 500000:
                    time.sleep(0.05)
                for k in "BC":
                    step["api"].append(api(port, "POST", "/api/articles",
                                           article(tag, ids[k], "Story %s %s" % (k, tag),
                                                   "First text of %s." % k))[0])
            elif label.startswith("publish"):
                step["api"].append(api(port, "POST", "/api/articles",
                                       article(tag, ids[who], "Story %s %s" % (who, tag),
                                               "First text of %s." % who))[0])
            elif label.startswith("correct"):
                body = article(tag, ids["A"], "Story A %s (corrected)" % tag,
                               "Corrected text of A.")
                status, text = api(port, "GET", "/api/articles/" + ids["A"])
                if status == 200:
                    body["published"] = json.loads(text).get("published", body["published"])
                step["api"].append(api(port, "PUT", "/api/articles/" + ids["A"], body)[0])
            elif label.startswith("kill"):
                step["api"].append(api(port, "DELETE", "/api/articles/" + ids["B"])[0])
            step["probe"] = probe.after_change()
            for rnd, wait in (("now", 0), ("settled", 4)):
                time.sleep(wait)
                plog.label = "%d %s / %s" % (i + 1, label, rnd)
                r = {"round": rnd, "feedparser": {}, "newsboat": {}, "newsboat_items": [],
                     "rss2email": None}
                for c in fps:
                    r["feedparser"][c.fmt] = c.poll()
                for nb in nbs:
                    r["newsboat"][nb.fmt] = nb.poll()
                    r["newsboat_items"] += [(nb.fmt,) + row for row in nb.items()]
                r["rss2email"] = r2.poll()
                step.setdefault("rounds", []).append(r)
            r2state = r2.state()
            step["rss2email_state"] = r2state
            step["feedparser_state"] = {c.fmt: {k: c.state(ids[k]) for k in "ABCD"} for c in fps}
            time.sleep(0.2)
            probe.snapshot()
            report["steps"].append(step)
        report["proxy_rows"] = plog.rows
    finally:
        proxy.shutdown()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    with open(os.path.join(work, "report.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    return report


# --------------------------------------------------------------------------------------------
# Judging and printing


def expected(step_label, ids):
    if step_label.startswith("publish A"):
        return [("new", ids["A"])]
    if step_label.startswith("publish B"):
        return [("new", ids["B"]), ("new", ids["C"])]
    if step_label.startswith("correct"):
        return [("updated", ids["A"])]
    if step_label.startswith("kill"):
        return [("withdrawn", ids["B"])]
    return [("new", ids["D"])]


def fp_seen(events, want, sid):
    for kind, eid, title in events:
        if not eid or sid not in eid:
            continue
        if want == "new" and kind.startswith("new"):
            return True
        if want == "updated" and kind.startswith("updated"):
            return True
        if want == "withdrawn" and "withdrawn" in kind:
            return True
    return False


def judge(report, deltas):
    ids = report["ids"]
    defects = []
    tables = []
    rows_by_label = {}
    for row in report["proxy_rows"]:
        rows_by_label.setdefault((row["label"], row["client"]), []).append(row)

    # feedparser
    t = ["| step | fmt | status now / settled | seen | defect |", "|---|---|---|---|---|"]
    for step in report["steps"]:
        want = expected(step["step"], ids)
        for fmt in FORMATS:
            sts = [r["feedparser"][fmt]["status"] for r in step["rounds"]]
            evs = [e for r in step["rounds"] for e in r["feedparser"][fmt]["events"]]
            seen = [w for w in want if fp_seen(evs, w[0], w[1])]
            d = []
            for w in want:
                if w not in seen:
                    d.append("missed %s %s" % (w[0], w[1].rsplit("-", 1)[1].upper()))
            if sts[0] == 304:
                d.append("304 for a changed document")
            if not deltas and 226 in sts:
                d.append("226 with deltas off")
            for r in step["rounds"]:
                if r["feedparser"][fmt]["error"]:
                    d.append("error " + r["feedparser"][fmt]["error"][:80])
            shown = ", ".join(sorted({"%s %s" % (k, e.rsplit("-", 1)[1].upper())
                                      for k, e, _ in evs if e and "wf-day-" in e})) or "-"
            t.append("| %s | %s | %s | %s | %s |" % (step["step"], fmt, " / ".join(map(str, sts)),
                                                      shown, "; ".join(d) or "none"))
            defects += ["feedparser/%s %s: %s" % (fmt, step["step"], x) for x in d]
    tables.append(("feedparser", t))

    # newsboat (one cache per format; newsboat 2.21 has no JSON Feed parser)
    t = ["| step | fmt | status now / settled | cache row for our ids after the step (title; unread) | defect |",
         "|---|---|---|---|---|"]
    for i, step in enumerate(report["steps"]):
        label = step["step"]
        items = step["rounds"][-1]["newsboat_items"]
        for fmt in FORMATS:
            sts = []
            for r in step["rounds"]:
                key = ("%d %s / %s" % (i + 1, label, r["round"]), "newsboat")
                sts.append(",".join(str(x["status"]) for x in rows_by_label.get(key, [])
                                    if x["path"].endswith("." + fmt)) or "none")
            d = []
            got = {}
            for ifmt, feedurl, guid, title, content, unread, _ in items:
                if ifmt == fmt and "wf-day-" in guid:
                    got[guid.rsplit("-", 1)[1].upper()] = (title, content or "", unread)
            errs = [e for r in step["rounds"] for e in r["newsboat"][fmt]["errors"]]
            if fmt == "json":
                shown = "unsupported (%s)" % (errs[0].split("USERERROR: ")[-1][-60:] if errs
                                             else "no items")
                t.append("| %s | %s | %s | %s | %s |" % (label, fmt, " / ".join(sts), shown,
                                                        "n/a (client has no JSON Feed)"))
                continue
            for w, sid in expected(label, ids):
                k = sid.rsplit("-", 1)[1].upper()
                if k not in got:
                    d.append("%s missing" % k)
                elif w == "updated" and "(corrected)" not in got[k][0]:
                    d.append("correction of A not applied (title %r)" % got[k][0])
                elif w == "withdrawn" and not got[k][0].startswith(WITHDRAWN_PREFIX):
                    d.append("kill of B not shown (title %r, old text kept: %s)" % (
                        got[k][0], "First text of B" in got[k][1]))
                elif w == "withdrawn" and "First text of B" in got[k][1]:
                    d.append("B's old text still in the cache")
            if "304" in sts[0].split(","):
                d.append("304 right after a change")
            d += ["log: " + e[:100] for e in errs]
            shown = ", ".join("%s=%r;%s" % (k, v[0][-34:], "unread" if v[2] else "read")
                              for k, v in sorted(got.items())) or "-"
            t.append("| %s | %s | %s | %s | %s |" % (label, fmt, " / ".join(sts), shown,
                                                    "; ".join(d) or "none"))
            defects += ["newsboat/%s %s: %s" % (fmt, label, x) for x in d]
    tables.append(("newsboat", t))

    # rss2email
    t = ["| step | HTTP statuses now / settled | mail sent (feed: subject) | defect |",
         "|---|---|---|---|"]
    for step in report["steps"]:
        label = step["step"]
        sts = [",".join(r["rss2email"]["statuses"]) or "none" for r in step["rounds"]]
        mail = [m for r in step["rounds"] for m in r["rss2email"]["mail"]]
        d = []
        if any("226" in s.split(",") for s in sts) and not deltas:
            d.append("HTTP status 226 with deltas off")
        na = []
        for r in step["rounds"]:
            for e in r["rss2email"]["errors"]:
                # r2e's feedparser (Debian's 6.0.x) has no JSON Feed parser.
                if "world-json" in e and "sax parsing error" in e:
                    na.append("json: unsupported (sax parsing error)")
                elif "HTTP status 226" in e:
                    d.append("r2e rejects 226 (HTTPError), keeps its old ETag, gets 226 again")
                else:
                    d.append(e[:120])
        for fmt in FORMATS:
            if fmt == "json":
                continue
            for rc in (False, True):
                name = "world-%s%s" % (fmt, "-replychanges" if rc else "")
                mm = [m for m in mail if m["feed"] == name]
                for w, sid in expected(label, ids):
                    k = sid.rsplit("-", 1)[1].upper()
                    hit = [m for m in mm if ("Story %s " % k) in m["subject"]]
                    if w == "withdrawn":
                        hit = [m for m in hit if m["subject"].startswith(WITHDRAWN_PREFIX)]
                    if not hit and (w == "new" or rc):
                        d.append("%s: no mail for %s %s" % (name, w, k))
        shown = "; ".join("%s: %s" % (m["feed"].replace("world-", ""), m["subject"][-45:])
                          for m in mail) or "-"
        t.append("| %s | %s | %s | %s |" % (label, " / ".join(sts), shown,
                                            "; ".join(list(dict.fromkeys(d)) + sorted(set(na)))
                                            or "none"))
        d = list(dict.fromkeys(d))
        defects += ["rss2email %s: %s" % (label, x) for x in d]
    tables.append(("rss2email", t))

    # probe
    t = ["| step | path | INM-only | IMS-only | INM+A-IM | defect |", "|---|---|---|---|---|---|"]
    for step in report["steps"]:
        for row in step["probe"]:
            d = [k for k in ("inm", "ims", "inm_aim") if row.get(k) == 304]
            d = ["304 for changed doc via " + k for k in d]
            if not deltas and row.get("inm_aim") == 226:
                d.append("226 with deltas off")
            t.append("| %s | %s | %s | %s | %s | %s |" % (
                step["step"], row["path"], row.get("inm", "-"), row.get("ims", "(no LM)"),
                row.get("inm_aim", "-"), "; ".join(d) or "none"))
            defects += ["probe %s %s: %s" % (step["step"], row["path"], x) for x in d]
    tables.append(("probe (plain validators of the previous version)", t))
    return tables, defects


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "debug", "wirefeed"))
    ap.add_argument("--out", default="/tmp/change-day")
    ap.add_argument("--phases", default="off,on")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    os.makedirs(args.out, exist_ok=True)
    all_defects = []
    for ph in args.phases.split(","):
        deltas = ph == "on"
        report = run_phase(args, deltas, args.out)
        tables, defects = judge(report, deltas)
        print("\n## deltas %s (server %d, via proxy %s)\n" % (ph, report["port"], report["proxy"]))
        for name, t in tables:
            print("### %s\n" % name)
            print("\n".join(t))
            print()
        print("defects (%d):" % len(defects))
        for d in defects:
            print("  - " + d)
        all_defects += defects
    sys.exit(1 if all_defects else 0)


if __name__ == "__main__":
    main()
