//! RFC 5005 against the real server: walking the archives from the subscription document to
//! the oldest day, and the pages from the first to the last, sees every story exactly once.

mod common;

use std::collections::BTreeSet;

use common::{Server, fixture, link};

const TOKEN: &str = "history-test-token";

fn start() -> (tempfile::TempDir, Server) {
    common::markets_week(TOKEN)
}

fn fixture_ids() -> BTreeSet<String> {
    std::fs::read_to_string(fixture("markets-week.ndjson"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The story ids of a document (entry ids are tag URIs ending in the story id).
fn ids(xml: &str) -> Vec<String> {
    let feed = feed_rs::parser::parse(xml.as_bytes()).unwrap();
    feed.entries
        .iter()
        .map(|e| e.id.rsplit(':').next().unwrap().to_owned())
        .collect()
}

fn path_of(server: &Server, href: &str) -> String {
    let public = server.base.as_str();
    href.strip_prefix(public)
        .unwrap_or_else(|| panic!("{href} is not on {public}"))
        .to_owned()
}

/// Walks from the subscription document back through `prev-archive`, checking each archive.
/// `newest_open`: the newest archive's day still holds the subscription document's oldest
/// story, so it can still change and must not be immutable.
async fn walk_archives(server: &Server, feed: &str, newest_open: bool) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let current = server.text(feed).await;
    assert!(!current.contains("fh:archive"));
    seen.extend(ids(&current));
    let mut next = link(&current, "prev-archive");
    let mut archives = 0;
    let mut newer: Option<String> = None;
    while let Some(href) = next {
        let path = path_of(server, &href);
        let response = server.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let cache_control = response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .to_owned();
        let etag = response.headers()["etag"].clone();
        let xml = response.text().await.unwrap();
        assert!(
            xml.contains("<fh:archive"),
            "{path} is not marked as an archive"
        );
        assert_eq!(
            link(&xml, "current").as_deref(),
            Some(server.url(feed).as_str())
        );
        assert_eq!(link(&xml, "self").as_deref(), Some(href.as_str()));
        assert_eq!(
            link(&xml, "next-archive"),
            newer,
            "{path} links back to the newer archive"
        );
        // A correction or kill can change any past day, so no archive is immutable: each is
        // revalidated after the feed's max-age, like the subscription document.
        let _ = newest_open;
        assert!(
            !cache_control.contains("immutable") && cache_control.contains("max-age="),
            "{path}: {cache_control}"
        );
        let revalidated = reqwest::Client::new()
            .get(server.url(&path))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(revalidated.status(), 304, "{path}");
        seen.extend(ids(&xml));
        archives += 1;
        newer = Some(href);
        next = link(&xml, "prev-archive");
    }
    (seen, archives)
}

fn exactly_once(seen: &[String], expected: &BTreeSet<String>) {
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a story was seen twice: {seen:?}");
    assert_eq!(&unique, expected);
}

#[tokio::test]
async fn walking_the_archives_sees_every_story_exactly_once_in_atom_and_rss() {
    let (_dir, server) = start();
    let mut expected = fixture_ids();
    for feed in ["/feeds/markets.atom", "/feeds/markets.rss"] {
        let (seen, archives) = walk_archives(&server, feed, false).await;
        exactly_once(&seen, &expected);
        // 19, 20, 21, 23 and 24 November; the 22nd had no story and is skipped.
        assert_eq!(archives, 5, "{feed}");
    }
    assert_eq!(
        server
            .get("/feeds/markets/archive/2026-11-22.atom")
            .await
            .status(),
        404
    );
    // The 25th's stories are all in the subscription document: its archive answers, empty,
    // so that a kill moving stories between documents never turns a day into a 404.
    let today = server.text("/feeds/markets/archive/2026-11-25.atom").await;
    assert!(today.contains("<fh:archive"), "{today}");
    assert!(ids(&today).is_empty(), "{today}");
    // With no entry to date it, it is dated by the feed's newest change, not the Unix epoch.
    let updated = feed_rs::parser::parse(today.as_bytes()).unwrap().updated;
    assert!(updated.unwrap().timestamp() > 0, "{today}");
    assert_eq!(
        server
            .get("/feeds/markets/archive/2026-13-01.atom")
            .await
            .status(),
        404
    );

    // A publish moves the subscription document along; the history still holds every story once.
    let late: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("markets-late.json")).unwrap())
            .unwrap();
    let response = reqwest::Client::new()
        .post(server.url("/api/articles"))
        .bearer_auth(TOKEN)
        .json(&late)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    expected.insert(late["id"].as_str().unwrap().to_owned());
    let (seen, _) = walk_archives(&server, "/feeds/markets.atom", true).await;
    exactly_once(&seen, &expected);
}

/// The fixture's stories published on `day` (YYYY-MM-DD).
fn published_on(day: &str) -> Vec<String> {
    std::fs::read_to_string(fixture("markets-week.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|story| story["published"].as_str().unwrap().starts_with(day))
        .map(|story| story["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn kill(server: &Server, id: &str) {
    let response = reqwest::Client::new()
        .delete(server.url(&format!("/api/articles/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "{id}");
}

#[tokio::test]
async fn an_empty_archive_keeps_its_bytes_while_other_days_change() {
    let (_dir, server) = start();
    // The 25th's stories are all in the subscription document: its archive is empty.
    let path = "/feeds/markets/archive/2026-11-25.atom";
    let before = server.get(path).await.headers()["etag"].clone();
    // A correction of a story of the 19th changes the feed, not the 25th's archive.
    let line = std::fs::read_to_string(fixture("markets-week.ndjson")).unwrap();
    let mut story: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    let id = story["id"].as_str().unwrap().to_owned();
    story["title"] = "Nikkei opens higher as exporters gain on weaker yen (corrected)".into();
    let response = reqwest::Client::new()
        .put(server.url(&format!("/api/articles/{id}")))
        .bearer_auth(TOKEN)
        .json(&story)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let corrected = server.text("/feeds/markets/archive/2026-11-19.atom").await;
    assert!(corrected.contains("(corrected)"));
    assert_eq!(server.get(path).await.headers()["etag"], before);
}

#[tokio::test]
async fn a_day_whose_stories_were_all_killed_stays_in_the_archive_chain() {
    let (_dir, server) = start();
    // Every story of the 21st (a day between others) and of the 24th (the newest archive day).
    let killed: Vec<String> = ["2026-11-21", "2026-11-24"]
        .into_iter()
        .flat_map(published_on)
        .collect();
    assert_eq!(killed.len(), 5);
    for id in &killed {
        kill(&server, id).await;
    }
    for feed in ["/feeds/markets.atom", "/feeds/markets.rss"] {
        // Still 19, 20, 21, 23 and 24 November, each linked both ways, the killed days holding
        // their withdrawal notices.
        let (seen, archives) = walk_archives(&server, feed, false).await;
        assert_eq!(archives, 5, "{feed}");
        for id in &killed {
            assert!(seen.contains(id), "{feed}: no archive reached holds {id}");
        }
    }
}

#[tokio::test]
async fn a_burst_of_kills_leaves_every_notice_in_the_feed_and_its_variants() {
    let (_dir, server) = start();
    // Six kills, more than the feed's four entries and than any trimmed variant's.
    let killed: Vec<String> = ["2026-11-23", "2026-11-24"]
        .into_iter()
        .flat_map(published_on)
        .collect();
    assert_eq!(killed.len(), 6);
    for id in &killed {
        kill(&server, id).await;
    }
    for path in [
        "/feeds/markets.atom",
        "/feeds/markets.rss",
        "/feeds/markets.atom?limit=1",
        "/feeds/markets.atom?content=headlines",
    ] {
        let xml = server.text(path).await;
        let held = ids(&xml);
        for id in &killed {
            assert!(held.contains(id), "{path} lost the notice of {id}");
        }
        // Each document names itself, trimmed or not (RFC 4287 §4.2.7.2).
        assert_eq!(
            link(&xml, "self").as_deref(),
            Some(server.url(path).as_str())
        );
    }
    // JSON Feed's feed_url likewise: a variant is a feed of its own to its subscribers.
    for path in ["/feeds/markets.json", "/feeds/markets.json?limit=1"] {
        let json: serde_json::Value = serde_json::from_str(&server.text(path).await).unwrap();
        assert_eq!(json["feed_url"], server.url(path).as_str(), "{path}");
    }
}

#[tokio::test]
async fn a_delta_carries_every_kill_since_the_clients_version_past_the_notices_kept() {
    let dir = tempfile::tempdir().unwrap();
    let imported = common::wirefeed(dir.path())
        .arg("import")
        .arg(fixture("markets-week.ndjson"))
        .output()
        .unwrap();
    assert!(imported.status.success());
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_FEEDS_DIR", fixture("feeds-history"))
            .env("WIREFEED_INGEST_TOKEN", TOKEN)
            .env("WIREFEED_DELTAS", "true");
    });
    let first = server.get("/feeds/markets.atom").await;
    let old = first.headers()["etag"].to_str().unwrap().to_owned();
    let held = ids(&first.text().await.unwrap());
    assert_eq!(held.len(), 4);
    // The client's four stories are killed, then a burst of 201 more stories is published and
    // killed: more kills than the document keeps notices of, so the four fall out of it.
    for id in &held {
        kill(&server, id).await;
    }
    let late: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("markets-late.json")).unwrap())
            .unwrap();
    let client = reqwest::Client::new();
    for n in 0..201 {
        let mut story = late.clone();
        let id = format!("wf-20261125-markets-burst-{n:03}");
        story["id"] = id.clone().into();
        let response = client
            .post(server.url("/api/articles"))
            .bearer_auth(TOKEN)
            .json(&story)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        kill(&server, &id).await;
    }
    let whole = ids(&server.text("/feeds/markets.atom").await);
    assert!(
        held.iter().all(|id| !whole.contains(id)),
        "the burst left room"
    );
    let delta = client
        .get(server.url("/feeds/markets.atom"))
        .header("a-im", "feed")
        .header("if-none-match", &old)
        .send()
        .await
        .unwrap();
    assert_eq!(delta.status(), 226);
    let xml = delta.text().await.unwrap();
    let carried = ids(&xml);
    for id in &held {
        assert!(carried.contains(id), "the delta lost the kill of {id}");
    }
}

#[tokio::test]
async fn killing_the_only_story_of_a_category_leaves_its_feeds_with_the_notice() {
    let (_dir, server) = start();
    let story: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("antarctica-lone-story.json")).unwrap(),
    )
    .unwrap();
    let id = story["id"].as_str().unwrap();
    let response = reqwest::Client::new()
        .post(server.url("/api/articles"))
        .bearer_auth(TOKEN)
        .json(&story)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(server.text("/feeds.opml").await.contains("antarctica"));
    kill(&server, id).await;
    for path in [
        "/feeds/antarctica.atom",
        "/feeds/antarctica.rss",
        "/feeds/antarctica.json",
        "/feeds/antarctica/archive/2026-11-25.atom",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let text = response.text().await.unwrap();
        assert!(text.contains("WITHDRAWN"), "{path}: {text}");
        assert!(text.contains(id), "{path}: {text}");
    }
    assert_eq!(server.get("/categories/antarctica").await.status(), 200);
    // Still answering, but no longer listed: it has no live story.
    assert!(!server.text("/feeds.opml").await.contains("antarctica"));
    assert_eq!(server.get("/feeds/antarctic.atom").await.status(), 404);
}

#[tokio::test]
async fn pages_link_first_previous_next_and_last_and_json_feed_follows_next_url() {
    let (_dir, server) = start();
    let expected = fixture_ids();
    let first = server.text("/feeds/markets.atom").await;
    assert_eq!(
        link(&first, "first").as_deref(),
        Some(server.url("/feeds/markets.atom").as_str())
    );
    assert_eq!(
        link(&first, "last").as_deref(),
        Some(server.url("/feeds/markets.atom?page=5").as_str())
    );
    assert!(link(&first, "previous").is_none());
    let mut seen = ids(&first);
    let mut next = link(&first, "next");
    let mut pages = 1;
    while let Some(href) = next {
        let page = server.text(&path_of(&server, &href)).await;
        pages += 1;
        assert_eq!(link(&page, "self").as_deref(), Some(href.as_str()));
        assert!(link(&page, "previous").is_some());
        assert!(link(&page, "hub").is_none());
        seen.extend(ids(&page));
        next = link(&page, "next");
    }
    assert_eq!(pages, 5);
    exactly_once(&seen, &expected);
    for missing in ["?page=6", "?page=0", "?page=two"] {
        let status = server
            .get(&format!("/feeds/markets.atom{missing}"))
            .await
            .status();
        assert_eq!(status, 404, "{missing}");
    }
    // ?page=1 is the subscription document, and other parameters are ignored.
    assert_eq!(
        server.text("/feeds/markets.atom?page=1&utm_source=x").await,
        first
    );

    let mut seen = Vec::new();
    let mut next = Some(server.url("/feeds/markets.json"));
    while let Some(url) = next {
        let doc: serde_json::Value =
            serde_json::from_str(&server.text(&path_of(&server, &url)).await).unwrap();
        seen.extend(doc["items"].as_array().unwrap().iter().map(|i| {
            i["id"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_owned()
        }));
        next = doc["next_url"].as_str().map(str::to_owned);
    }
    exactly_once(&seen, &expected);
}

#[tokio::test]
async fn a_day_beyond_what_the_store_keeps_is_a_404_like_any_other_non_archive() {
    let server = Server::start();
    // The store keeps times as i64 nanoseconds since 1970 (1677 to 2262): these days have a
    // midnight outside that, so they name no archive.
    for day in [
        "0001-01-01",
        "1677-09-21",
        "2262-04-11",
        "2262-04-12",
        "9999-12-31",
    ] {
        for ext in ["atom", "rss", "json"] {
            let path = format!("/feeds/world/archive/{day}.{ext}");
            assert_eq!(server.get(&path).await.status(), 404, "{path}");
        }
    }
    // The days at either end that it can keep are asked of the store, and had no story.
    for day in ["1677-09-22", "2262-04-10"] {
        let path = format!("/feeds/world/archive/{day}.atom");
        assert_eq!(server.get(&path).await.status(), 404, "{path}");
    }
    let log = std::fs::read_to_string(server.data.join("server.log")).unwrap();
    assert!(!log.contains("panicked"), "{log}");
}
