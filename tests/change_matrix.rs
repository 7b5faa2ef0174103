//! A wire that changes all day, watched as real clients watch it.
//!
//! One scripted day — earlier days' stories; a publish; two publishes in one second; a
//! correction without `updated`; a correction with an older `updated` (refused); a kill; a
//! kill of a day's only story; a publish after the kills — is run against the real binary.
//! After every step every client class polls every format, keeping its own state as a real
//! client does: unconditional, If-None-Match only, If-Modified-Since only, both, `A-IM: feed`
//! (deltas on), and a cache holding the day archives by their Cache-Control. Each must see every
//! publish once, every correction once and every kill, and no validator may ever answer 304 for
//! a document that changed (checked against an unconditional fetch at that moment). Polls go to
//! the servers in turn: one server, two servers on one SQLite file, two PostgreSQL replicas.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::pg::Schema;
use common::{Server, fixture, link};

const TOKEN: &str = "change-day-token-0123456789";
const FEED: &str = "/feeds/desk";
const WITHDRAWN: &str = "WITHDRAWN: ";
/// Every server is configured with this public URL, so all serve the same bytes.
const PUBLIC_URL: &str = "http://wire.test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Unconditional,
    IfNoneMatch,
    IfModifiedSince,
    Both,
    Delta,
}

const CLASSES: [Class; 5] = [
    Class::Unconditional,
    Class::IfNoneMatch,
    Class::IfModifiedSince,
    Class::Both,
    Class::Delta,
];

/// One subscriber of one format, with the state a feed reader keeps.
struct Reader {
    class: Class,
    path: String,
    etag: Option<String>,
    modified: Option<String>,
    body: Vec<u8>,
    /// What it shows now: id → title.
    entries: BTreeMap<String, String>,
    /// Every version of each story it has shown, in order.
    seen: BTreeMap<String, Vec<String>>,
}

/// A cache holding the feed's day archives by their Cache-Control.
#[derive(Default)]
struct ArchiveCache {
    /// URL path → (ETag, body, fresh until).
    held: BTreeMap<String, (String, Vec<u8>, Instant)>,
    seen: BTreeMap<String, Vec<String>>,
}

struct Day {
    servers: Vec<Server>,
    next: usize,
    http: reqwest::Client,
    stories: BTreeMap<String, serde_json::Value>,
}

fn entries(body: &[u8]) -> BTreeMap<String, String> {
    let feed = feed_rs::parser::parse(body).expect("a feed every parser reads");
    feed.entries
        .into_iter()
        .map(|e| {
            let id = e.id.rsplit(':').next().unwrap().to_owned();
            (id, e.title.map(|t| t.content).unwrap_or_default())
        })
        .collect()
}

fn note(seen: &mut BTreeMap<String, Vec<String>>, shown: &BTreeMap<String, String>) {
    for (id, title) in shown {
        let versions = seen.entry(id.clone()).or_default();
        if versions.last() != Some(title) {
            versions.push(title.clone());
        }
    }
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

impl Day {
    fn server(&mut self) -> usize {
        self.next = (self.next + 1) % self.servers.len();
        self.next
    }

    async fn write(&self, method: reqwest::Method, id: &str, body: Option<String>) -> u16 {
        let url = self.servers[0].url(&format!("/api/articles/{id}"));
        let mut request = self.http.request(method, url).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        request.send().await.unwrap().status().as_u16()
    }

    async fn publish(&self, id: &str) {
        let mut story = self.stories[id].clone();
        story.as_object_mut().unwrap().remove("role");
        let status = self
            .write(reqwest::Method::PUT, id, Some(story.to_string()))
            .await;
        assert_eq!(status, 201, "publish {id}");
    }

    /// Waits until every server shows the same version of every format (changes reach other
    /// processes through the store's change sequence).
    async fn converge(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for ext in ["rss", "atom", "json"] {
            let path = format!("{FEED}.{ext}");
            loop {
                let mut tags = Vec::new();
                for server in &self.servers {
                    let r = self.http.get(server.url(&path)).send().await.unwrap();
                    tags.push(header(&r, "etag"));
                }
                if tags.windows(2).all(|w| w[0] == w[1]) {
                    break;
                }
                assert!(Instant::now() < deadline, "{path} did not converge");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Waits until every server hands out Last-Modified for every format.
    async fn dated(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        for ext in ["rss", "atom", "json"] {
            for server in &self.servers {
                let url = server.url(&format!("{FEED}.{ext}"));
                while header(&self.http.get(&url).send().await.unwrap(), "last-modified").is_none()
                {
                    assert!(Instant::now() < deadline, "{url} never dated");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn poll(&mut self, reader: &mut Reader, step: &str) {
        let at = self.server();
        let server = &self.servers[at];
        let mut request = self.http.get(server.url(&reader.path));
        let (inm, ims) = match reader.class {
            Class::Unconditional => (false, false),
            Class::IfNoneMatch | Class::Delta => (true, false),
            Class::IfModifiedSince => (false, true),
            Class::Both => (true, true),
        };
        if let (true, Some(etag)) = (inm, &reader.etag) {
            request = request.header("if-none-match", etag);
        }
        if let (true, Some(modified)) = (ims, &reader.modified) {
            request = request.header("if-modified-since", modified);
        }
        if reader.class == Class::Delta {
            request = request.header("a-im", "feed");
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let (etag, modified) = (
            header(&response, "etag"),
            header(&response, "last-modified"),
        );
        let body = response.bytes().await.unwrap().to_vec();
        let what = format!("{step}: {:?} {} at server {at}", reader.class, reader.path);
        match status {
            200 => {
                reader.entries = entries(&body);
                reader.body = body;
            }
            226 => {
                assert_eq!(reader.class, Class::Delta, "{what}: 226 unasked");
                reader.entries.extend(entries(&body));
            }
            304 => {
                // The oracle: the document as it is now, unconditionally, from the same server.
                let now = self
                    .http
                    .get(server.url(&reader.path))
                    .send()
                    .await
                    .unwrap();
                let now_tag = header(&now, "etag");
                let now_body = now.bytes().await.unwrap().to_vec();
                if reader.class == Class::IfModifiedSince {
                    assert!(
                        now_body == reader.body,
                        "{what}: 304 for a changed document"
                    );
                } else {
                    assert_eq!(now_tag, reader.etag, "{what}: 304 for a changed document");
                }
            }
            other => panic!("{what}: status {other}"),
        }
        if status != 304 {
            reader.etag = etag;
            reader.modified = modified;
        }
        note(&mut reader.seen, &reader.entries);
    }

    /// The archive cache's round: walk the chain from the subscription document, and reuse
    /// or revalidate every archive it holds, by its Cache-Control.
    async fn poll_archives(&mut self, cache: &mut ArchiveCache, step: &str) {
        let at = self.server();
        let server = &self.servers[at];
        let current = self
            .http
            .get(server.url(&format!("{FEED}.atom")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut urls: Vec<String> = cache.held.keys().cloned().collect();
        let mut next = link(&current, "prev-archive");
        while let Some(href) = next {
            let path = href.replacen(PUBLIC_URL, "", 1);
            let body = self.http.get(server.url(&path)).send().await.unwrap();
            assert_eq!(body.status(), 200, "{step}: {path}");
            next = link(&body.text().await.unwrap(), "prev-archive");
            if !urls.contains(&path) {
                urls.push(path);
            }
        }
        for path in urls {
            let held = cache.held.get(&path).cloned();
            if let Some((_, _, fresh_until)) = &held {
                if Instant::now() < *fresh_until {
                    continue;
                }
            }
            let mut request = self.http.get(server.url(&path));
            if let Some((etag, _, _)) = &held {
                request = request.header("if-none-match", etag);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let control = header(&response, "cache-control").unwrap_or_default();
            assert!(!control.contains("immutable"), "{step}: {path}: {control}");
            let max_age: u64 = control
                .split(',')
                .find_map(|d| d.trim().strip_prefix("max-age="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let fresh_until = Instant::now() + Duration::from_secs(max_age);
            let etag = header(&response, "etag").unwrap();
            match status {
                200 => {
                    let body = response.bytes().await.unwrap().to_vec();
                    note(&mut cache.seen, &entries(&body));
                    cache.held.insert(path, (etag, body, fresh_until));
                }
                304 => {
                    let (old_tag, body, _) = held.expect("a 304 only to a revalidation");
                    let now = self.http.get(server.url(&path)).send().await.unwrap();
                    assert_eq!(
                        header(&now, "etag").unwrap(),
                        old_tag,
                        "{step}: 304 for a changed archive {path}"
                    );
                    cache.held.insert(path, (old_tag, body, fresh_until));
                }
                other => panic!("{step}: {path} answered {other} to a cache"),
            }
        }
    }
}

fn title(day: &Day, id: &str) -> String {
    day.stories[id]["title"].as_str().unwrap().to_owned()
}

async fn round(day: &mut Day, readers: &mut [Reader], cache: &mut ArchiveCache, step: &str) {
    for reader in readers.iter_mut() {
        day.poll(reader, step).await;
    }
    day.poll_archives(cache, step).await;
}

/// Polls at once (validators may still be withheld), then again once dates are handed out,
/// and checks that every reader shows what the unconditional reader of its format shows.
async fn after(day: &mut Day, readers: &mut [Reader], cache: &mut ArchiveCache, step: &str) {
    day.converge().await;
    round(day, readers, cache, &format!("{step} (at once)")).await;
    day.dated().await;
    round(day, readers, cache, &format!("{step} (settled)")).await;
    for reader in readers.iter() {
        let truth = readers
            .iter()
            .find(|r| r.class == Class::Unconditional && r.path == reader.path)
            .unwrap();
        if reader.class != Class::Delta {
            assert_eq!(
                reader.entries, truth.entries,
                "{step}: {:?} {}",
                reader.class, reader.path
            );
        } else {
            // A delta reader keeps what left the window; everything shown now is current.
            for (id, title) in &truth.entries {
                assert_eq!(reader.entries.get(id), Some(title), "{step}: delta {id}");
            }
        }
    }
}

async fn run_day(servers: Vec<Server>) {
    let stories: BTreeMap<String, serde_json::Value> =
        std::fs::read_to_string(fixture("change-day.ndjson"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| (v["id"].as_str().unwrap().to_owned(), v))
            .collect();
    let mut day = Day {
        servers,
        next: 0,
        http: reqwest::Client::new(),
        stories,
    };
    let earlier: Vec<String> = day
        .stories
        .iter()
        .filter(|(_, s)| s["role"] == "earlier")
        .map(|(id, _)| id.clone())
        .collect();
    for id in &earlier {
        day.publish(id).await;
    }
    let mut readers: Vec<Reader> = ["rss", "atom", "json"]
        .into_iter()
        .flat_map(|ext| {
            CLASSES.map(|class| Reader {
                class,
                path: format!("{FEED}.{ext}"),
                etag: None,
                modified: None,
                body: Vec::new(),
                entries: BTreeMap::new(),
                seen: BTreeMap::new(),
            })
        })
        .collect();
    let mut cache = ArchiveCache::default();
    after(&mut day, &mut readers, &mut cache, "earlier days").await;

    let (summit, rates, strike, rescue, ferry) = (
        "wf-20261125-desk-summit",
        "wf-20261125-desk-rates",
        "wf-20261125-desk-strike",
        "wf-20261125-desk-rescue",
        "wf-20261118-desk-ferry",
    );
    day.publish(summit).await;
    after(&mut day, &mut readers, &mut cache, "publish").await;

    // Two publishes in one second, with a poll between them.
    day.publish(rates).await;
    day.converge().await;
    round(
        &mut day,
        &mut readers,
        &mut cache,
        "first of two in a second",
    )
    .await;
    day.publish(strike).await;
    after(
        &mut day,
        &mut readers,
        &mut cache,
        "second of two in a second",
    )
    .await;

    // A correction without `updated`: stamped now.
    let mut corrected = day.stories[summit].clone();
    corrected.as_object_mut().unwrap().remove("role");
    let corrected_title = format!("{} (corrects delegation count)", title(&day, summit));
    corrected["title"] = corrected_title.clone().into();
    let status = day
        .write(reqwest::Method::PUT, summit, Some(corrected.to_string()))
        .await;
    assert_eq!(status, 200, "correction");
    after(&mut day, &mut readers, &mut cache, "correction").await;

    // A correction older than the stored version changes nothing.
    corrected["title"] = "An older version that must not win".into();
    corrected["updated"] = "2026-11-25T08:30:00Z".into();
    let status = day
        .write(reqwest::Method::PUT, summit, Some(corrected.to_string()))
        .await;
    assert_eq!(status, 409, "an older correction");
    after(
        &mut day,
        &mut readers,
        &mut cache,
        "older correction refused",
    )
    .await;

    assert_eq!(day.write(reqwest::Method::DELETE, strike, None).await, 204);
    after(&mut day, &mut readers, &mut cache, "kill").await;

    assert_eq!(day.write(reqwest::Method::DELETE, ferry, None).await, 204);
    after(
        &mut day,
        &mut readers,
        &mut cache,
        "kill of a day's only story",
    )
    .await;
    let archive = day.servers[0]
        .get(&format!("{FEED}/archive/2026-11-18.atom"))
        .await;
    assert_eq!(
        archive.status(),
        200,
        "the killed story's day still answers"
    );

    day.publish(rescue).await;
    after(
        &mut day,
        &mut readers,
        &mut cache,
        "publish after the kills",
    )
    .await;

    let withdrawn = |id: &str| format!("{WITHDRAWN}{}", title(&day, id));
    for reader in &readers {
        let who = format!("{:?} {}", reader.class, reader.path);
        assert_eq!(
            reader.seen[summit],
            [title(&day, summit), corrected_title.clone()],
            "{who}: the correction once"
        );
        assert_eq!(reader.seen[rates], [title(&day, rates)], "{who}");
        assert_eq!(
            reader.seen[strike],
            [title(&day, strike), withdrawn(strike)],
            "{who}: the kill"
        );
        assert_eq!(reader.seen[rescue], [title(&day, rescue)], "{who}");
        assert_eq!(
            reader.seen[ferry].last(),
            Some(&withdrawn(ferry)),
            "{who}: the kill of an old story reaches subscribers too"
        );
    }
    assert_eq!(
        cache.seen[ferry],
        [title(&day, ferry), withdrawn(ferry)],
        "the archive cache saw the old story and then its withdrawal"
    );
    for id in earlier.iter().filter(|id| *id != ferry) {
        assert_eq!(cache.seen[id], [title(&day, id)], "archive cache: {id}");
    }
}

fn configure(cmd: &mut std::process::Command) {
    cmd.env("WIREFEED_INGEST_TOKEN", TOKEN)
        .env("WIREFEED_FEEDS_DIR", fixture("feeds-change-day"))
        .env("WIREFEED_LOAD_SAMPLE", "false")
        .env("WIREFEED_DELTAS", "true")
        .env("WIREFEED_PUBLIC_URL", PUBLIC_URL)
        .env("WIREFEED_TAG_AUTHORITY", "wire.test,2026");
}

#[tokio::test]
async fn one_server_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), configure);
    run_day(vec![server]).await;
}

#[tokio::test]
async fn two_servers_on_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start_in(dir.path(), configure);
    let b = Server::start_in(dir.path(), configure);
    run_day(vec![a, b]).await;
}

#[tokio::test]
async fn two_replicas_on_postgresql() {
    let Some(schema) = Schema::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let on_pg = |replica: &'static str| {
        let schema = &schema;
        move |cmd: &mut std::process::Command| {
            schema.configure(replica)(cmd);
            configure(cmd);
        }
    };
    let a = Server::start_in(&a_dir, on_pg("a"));
    let b = Server::start_in(&b_dir, on_pg("b"));
    run_day(vec![a, b]).await;
}
