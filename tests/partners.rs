//! Partners against the real binary: keys (bearer, Basic, `?key=`), entitlement views
//! (full and headlines, one render per view however many keys), a partner-only category,
//! rotation without a restart, conditional polls, quotas with usage headers, and usage in
//! the store, on /admin and in /metrics.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Server, counter, fixture};
use reqwest::header;

const TOKEN: &str = "partners-test-token";
const GULF: &str = "gulf-daily-key-0001";
const GULF_BY_DIGEST: &str = "gulf-daily-digest-key-01";
const HARBOUR: &str = "harbour-post-key-0002";
const HEADLINES: &str = "headline-hub-key-0003";
const METERED: &str = "metered-times-key-0004";

/// A server on the sample wire with the partners of `partners` (copied, so a test may edit
/// it) and `business` partner-only.
fn start_with(partners: &str) -> (tempfile::TempDir, PathBuf, Server) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("partners.toml");
    std::fs::write(&file, partners).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let server = Server::start_in(&data, |cmd| {
        cmd.env("WIREFEED_PARTNERS_FILE", &file)
            .env("WIREFEED_FEEDS_DIR", fixture("feeds-partners"))
            .env("WIREFEED_INGEST_TOKEN", TOKEN);
    });
    (dir, file, server)
}

fn start() -> (tempfile::TempDir, PathBuf, Server) {
    start_with(&std::fs::read_to_string(fixture("partners.toml")).unwrap())
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn keyed(server: &Server, path: &str, key: &str) -> reqwest::Response {
    client()
        .get(server.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_key_works_as_bearer_basic_and_query_and_a_wrong_one_is_401() {
    let (_dir, _file, server) = start();
    let bearer = keyed(&server, "/feeds/world.atom", GULF).await;
    assert_eq!(bearer.status(), 200);
    let etag = header(&bearer, "etag").to_owned();
    assert!(header(&bearer, "cache-control").starts_with("private, max-age=300"));
    assert_eq!(header(&bearer, "vary"), "authorization, accept-encoding");
    assert_eq!(header(&bearer, "wirefeed-usage"), "hour=1, day=1");
    // The self link is the public URL: the key is never written into a document.
    assert!(!bearer.text().await.unwrap().contains(GULF));

    let basic = client()
        .get(server.url("/feeds/world.atom"))
        .basic_auth("any-reader", Some(GULF))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    assert_eq!(header(&basic, "etag"), etag);
    let query = server.get(&format!("/feeds/world.atom?key={GULF}")).await;
    assert_eq!(query.status(), 200);
    assert_eq!(
        header(&query, "etag"),
        etag,
        "?key= does not change the document"
    );
    let digest = keyed(&server, "/feeds/world.atom", GULF_BY_DIGEST).await;
    assert_eq!(digest.status(), 200, "a key held in the file as its digest");

    for wrong in [
        client()
            .get(server.url("/feeds/world.atom"))
            .bearer_auth("gulf-daily-key-0002")
            .send()
            .await
            .unwrap(),
        server.get("/feeds/world.atom?key=nope").await,
    ] {
        assert_eq!(wrong.status(), 401, "never a fallback to the public feed");
        assert!(header(&wrong, "www-authenticate").starts_with("Bearer realm="));
        assert!(header(&wrong, "www-authenticate").contains("Basic realm="));
        assert_eq!(header(&wrong, "content-type"), "application/problem+json");
    }
    // Public answers say they vary on Authorization, for shared caches.
    let public = server.get("/feeds/world.atom").await;
    assert_eq!(public.status(), 200);
    assert!(header(&public, "cache-control").starts_with("public"));
    assert!(header(&public, "vary").contains("authorization"));
    // Our own log never holds a key, and names the partner only.
    let log = std::fs::read_to_string(server.data.join("server.log")).unwrap();
    assert!(
        !log.contains(GULF) && !log.contains("gulf-daily-key-0002"),
        "{log}"
    );
}

#[tokio::test]
async fn a_headlines_view_has_no_text_or_images_and_a_full_view_has_both() {
    let (_dir, _file, server) = start();
    let (world_rss, world_atom, world_json) =
        ("/feeds/world.rss", "/feeds/world.atom", "/feeds/world.json");
    let full_rss = keyed(&server, world_rss, GULF).await.text().await.unwrap();
    assert!(full_rss.contains("<content:encoded>"));
    assert!(full_rss.contains("<media:content"));
    let full_atom = keyed(&server, world_atom, GULF).await.text().await.unwrap();
    assert!(full_atom.contains("<content"), "{full_atom}");
    let full_json: serde_json::Value = keyed(&server, world_json, GULF).await.json().await.unwrap();
    let items = full_json["items"].as_array().unwrap();
    assert!(items.iter().any(|i| i.get("content_html").is_some()));
    assert!(
        items
            .iter()
            .any(|i| i.get("image").is_some() || i.get("attachments").is_some())
    );

    let rss = keyed(&server, world_rss, HEADLINES).await;
    assert_eq!(rss.status(), 200);
    let rss = rss.text().await.unwrap();
    assert!(
        !rss.contains("<content:encoded>") && !rss.contains("<media:content"),
        "{rss}"
    );
    assert!(rss.contains("<title>") && rss.contains("<description>") && rss.contains("<link>"));
    let atom = keyed(&server, world_atom, HEADLINES)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !atom.contains("<content") && !atom.contains("enclosure"),
        "{atom}"
    );
    assert!(atom.contains("<summary"));
    let json: serde_json::Value = keyed(&server, world_json, HEADLINES)
        .await
        .json()
        .await
        .unwrap();
    for item in json["items"].as_array().unwrap() {
        assert!(item.get("content_html").is_none(), "{item}");
        assert!(
            item.get("image").is_none() && item.get("attachments").is_none(),
            "{item}"
        );
        assert!(
            item.get("title").is_some() && item.get("url").is_some(),
            "{item}"
        );
    }
    // g20 is headlines for Gulf Daily, but a story also in world (full) is full.
    let g20 = keyed(&server, "/feeds/g20.json", GULF).await;
    let g20: serde_json::Value = g20.json().await.unwrap();
    let sample = common::sample();
    let mut seen = (0, 0);
    for item in g20["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let story = sample
            .iter()
            .find(|s| id.ends_with(&format!(":{}", s["id"].as_str().unwrap())))
            .unwrap();
        let categories = story["categories"].as_array().unwrap();
        let full = categories.iter().any(|c| c == "world" || c == "business")
            && story.get("content_html").is_some();
        assert_eq!(item.get("content_html").is_some(), full, "{id}");
        if full { seen.0 += 1 } else { seen.1 += 1 }
    }
    assert!(seen.0 > 0 && seen.1 > 0, "{seen:?}");
    // A partner with no category of a feed is refused, not shown an empty feed.
    let none = keyed(&server, "/feeds/sports.rss", METERED).await;
    assert_eq!(none.status(), 403);
}

#[tokio::test]
async fn a_partner_only_category_is_401_in_public_and_absent_from_public_listings() {
    let (_dir, _file, server) = start();
    let public = server.get("/feeds/business.rss").await;
    assert_eq!(public.status(), 401);
    assert!(header(&public, "www-authenticate").starts_with("Bearer"));
    assert_eq!(header(&public, "content-type"), "application/problem+json");
    let entitled = keyed(&server, "/feeds/business.rss", GULF).await;
    assert_eq!(entitled.status(), 200);
    assert!(
        entitled
            .text()
            .await
            .unwrap()
            .contains("wf-20261125-business-oil")
    );

    let all = server.text("/feeds/all.json").await;
    assert!(!all.contains("wf-20261125-business-oil") && !all.contains("business-rates"));
    assert!(
        all.contains("wf-20261125-china-exports"),
        "also filed in china, a public category"
    );
    let opml = server.text("/feeds.opml").await;
    assert!(!opml.contains("/feeds/business."), "{opml}");
    assert!(opml.contains("/feeds/world."));
    let home = server.text("/").await;
    assert!(!home.contains("/feeds/business.") && !home.contains("business-oil"));
    assert_eq!(
        server
            .get("/articles/wf-20261125-business-oil")
            .await
            .status(),
        404
    );
    assert_eq!(server.get("/categories/business").await.status(), 404);
    // The change cursor: public without, the partner's categories with a key.
    let public: serde_json::Value = server
        .get("/api/changes?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(!ids(&public).contains(&"wf-20261125-business-oil".to_owned()));
    let gulf = keyed(&server, "/api/changes?limit=1000", GULF).await;
    assert!(
        header(&gulf, "wirefeed-usage").starts_with("hour=2"),
        "the feed, then this"
    );
    let gulf: serde_json::Value = gulf.json().await.unwrap();
    assert!(ids(&gulf).contains(&"wf-20261125-business-oil".to_owned()));
    assert!(
        !ids(&gulf).iter().any(|id| id.contains("sports")),
        "not entitled to sports"
    );
    // A headlines partner's cursor carries no text.
    let hub: serde_json::Value = keyed(&server, "/api/changes?limit=1000", HEADLINES)
        .await
        .json()
        .await
        .unwrap();
    for change in hub["changes"].as_array().unwrap() {
        assert!(change["article"].get("content_html").is_none(), "{change}");
        assert!(change["article"].get("title").is_some(), "{change}");
    }
}

#[tokio::test]
async fn two_partners_with_the_same_entitlement_share_one_render() {
    let (_dir, _file, server) = start();
    let before = counter(&server, "feed_renders").await;
    let gulf = keyed(&server, "/feeds/world.atom", GULF).await;
    let after_one = counter(&server, "feed_renders").await;
    let harbour = keyed(&server, "/feeds/world.atom", HARBOUR).await;
    let after_two = counter(&server, "feed_renders").await;
    assert_eq!(after_one - before, 1);
    assert_eq!(after_two, after_one, "the second partner is a cache hit");
    assert_eq!(header(&gulf, "etag"), header(&harbour, "etag"));
    // A conditional poll with a key: 304, still private, still counted.
    let etag = header(&gulf, "etag").to_owned();
    let not_modified = client()
        .get(server.url("/feeds/world.atom"))
        .bearer_auth(HARBOUR)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    assert!(header(&not_modified, "cache-control").starts_with("private"));
    assert_eq!(
        header(&not_modified, "vary"),
        "authorization, accept-encoding"
    );
    assert_eq!(header(&not_modified, "wirefeed-usage"), "hour=2, day=2");
    // Compressed codings of a partner view work as for public feeds.
    let gzip = client()
        .get(server.url("/feeds/world.atom"))
        .bearer_auth(HARBOUR)
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&gzip, "content-encoding"), "gzip");
}

#[tokio::test]
async fn a_thousand_keys_with_one_entitlement_cost_one_render() {
    let mut file = String::new();
    for i in 0..1000 {
        file.push_str(&format!(
            "[[partner]]\nname = \"Partner {i}\"\nkeys = [\"partner-key-{i:06}-abcdef\"]\ncategories = {{ world = \"full\", g20 = \"headlines\" }}\n\n"
        ));
    }
    let (_dir, _file, server) = start_with(&file);
    let before = counter(&server, "feed_renders").await;
    let client = client();
    let started = Instant::now();
    let mut etags = std::collections::BTreeSet::new();
    for i in 0..1000 {
        let response = client
            .get(server.url("/feeds/world.atom"))
            .bearer_auth(format!("partner-key-{i:06}-abcdef"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        etags.insert(header(&response, "etag").to_owned());
    }
    let elapsed = started.elapsed();
    let renders = counter(&server, "feed_renders").await - before;
    println!(
        "1,000 partner keys, one entitlement: {renders} render(s), {} distinct ETag(s), {:.0} µs per keyed request (sequential, debug build)",
        etags.len(),
        elapsed.as_micros() as f64 / 1000.0
    );
    assert_eq!(renders, 1);
    assert_eq!(etags.len(), 1);
}

#[tokio::test]
async fn a_rotated_key_works_within_seconds_and_the_old_one_is_refused() {
    let (_dir, file, server) = start();
    assert_eq!(keyed(&server, "/feeds/world.rss", GULF).await.status(), 200);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace(GULF, "gulf-daily-key-0099")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let old = keyed(&server, "/feeds/world.rss", GULF).await.status();
        let new = keyed(&server, "/feeds/world.rss", "gulf-daily-key-0099")
            .await
            .status();
        if old == 401 && new == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "old {old}, new {new} after 8 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A broken file keeps the partners in use.
    std::fs::write(&file, "[[partner]]\nname = \"broken\n").unwrap();
    server.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        keyed(&server, "/feeds/world.rss", "gulf-daily-key-0099")
            .await
            .status(),
        200
    );
    let log = std::fs::read_to_string(server.data.join("server.log")).unwrap();
    assert!(log.contains("partners.toml: line"), "{log}");
}

#[tokio::test]
async fn over_quota_is_429_with_retry_after_and_usage_is_stored_and_shown() {
    let (_dir, _file, server) = start();
    for remaining in ["2", "1", "0"] {
        let response = keyed(&server, "/feeds/world.rss", METERED).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "ratelimit-limit"), "3");
        assert_eq!(header(&response, "ratelimit-remaining"), remaining);
        assert_eq!(header(&response, "ratelimit-policy"), "3;w=3600");
        let reset: u64 = header(&response, "ratelimit-reset").parse().unwrap();
        assert!((1..=3600).contains(&reset));
    }
    let over = keyed(&server, "/feeds/world.rss", METERED).await;
    assert_eq!(over.status(), 429);
    let retry: u64 = header(&over, "retry-after").parse().unwrap();
    assert!((1..=3600).contains(&retry));
    assert_eq!(header(&over, "ratelimit-remaining"), "0");
    assert_eq!(header(&over, "content-type"), "application/problem+json");
    // Other partners are not limited by it.
    assert_eq!(keyed(&server, "/feeds/world.rss", GULF).await.status(), 200);

    // /admin flushes the usage into the store and shows it.
    let admin = client()
        .get(server.url("/admin"))
        .basic_auth("operator", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    let html = admin.text().await.unwrap();
    assert!(
        html.contains("Partners") && html.contains("Metered Times"),
        "{html}"
    );
    assert!(html.contains("3 an hour"));
    let rows = stored_usage(&server.data);
    assert!(
        rows.contains(&("Metered Times".to_owned(), 3, 0)),
        "{rows:?}"
    );
    assert!(rows.contains(&("Gulf Daily".to_owned(), 1, 0)), "{rows:?}");
    let metrics = server.text("/metrics").await;
    assert!(
        metrics.contains(
            "wirefeed_partner_requests_total{partner=\"Metered Times\",status_class=\"2xx\"} 3"
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        "wirefeed_partner_requests_total{partner=\"Metered Times\",status_class=\"4xx\"} 1"
    ));
}

/// Every partner's requests and 304s in the store, summed over hours.
fn stored_usage(data: &Path) -> Vec<(String, u64, u64)> {
    let db = rusqlite::Connection::open(data.join("wirefeed.sqlite3")).unwrap();
    let mut stmt = db
        .prepare(
            "SELECT partner, SUM(requests), SUM(not_modified) FROM partner_usage
             GROUP BY partner ORDER BY partner",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get::<_, i64>(1)? as u64,
            r.get::<_, i64>(2)? as u64,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Two replicas on one PostgreSQL schema: a partner's usage is summed in the store, so an
/// hourly quota counts the requests served by both (as of each replica's last flush).
#[tokio::test]
async fn usage_and_quota_sum_across_two_postgres_replicas() {
    let Some(schema) = common::pg::Schema::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let replica = |name: &'static str| {
        let data = dir.path().join(name);
        std::fs::create_dir(&data).unwrap();
        let configure = schema.configure(name);
        Server::start_in(&data, |cmd| {
            configure(cmd);
            cmd.env("WIREFEED_PARTNERS_FILE", fixture("partners.toml"))
                .env("WIREFEED_FEEDS_DIR", fixture("feeds-partners"))
                .env("WIREFEED_INGEST_TOKEN", TOKEN);
        })
    };
    let (a, b) = (replica("a"), replica("b"));
    let flush = |server: &Server| {
        let url = server.url("/admin");
        async move {
            let admin = client()
                .get(url)
                .basic_auth("operator", Some(TOKEN))
                .send()
                .await
                .unwrap();
            assert_eq!(admin.status(), 200);
            admin.text().await.unwrap()
        }
    };
    for _ in 0..2 {
        assert_eq!(keyed(&a, "/feeds/world.rss", METERED).await.status(), 200);
    }
    // Each replica adds its counts to the store and reads the totals back every 10 s; the
    // operator's page does both at once, so the test need not wait for the timers.
    flush(&a).await;
    flush(&b).await;
    let third = keyed(&b, "/feeds/world.rss", METERED).await;
    assert_eq!(third.status(), 200);
    assert_eq!(
        header(&third, "ratelimit-remaining"),
        "0",
        "B counts A's two"
    );
    assert_eq!(keyed(&b, "/feeds/world.rss", METERED).await.status(), 429);
    flush(&b).await;
    let html = flush(&a).await;
    assert!(html.contains("Metered Times"), "{html}");
    let client = common::pg::connect().await.unwrap();
    let row = client
        .query_one(
            &format!(
                "SELECT SUM(requests)::bigint FROM {}.partner_usage WHERE partner = 'Metered Times'",
                schema.name
            ),
            &[],
        )
        .await
        .unwrap();
    let stored: i64 = row.get(0);
    assert!(stored >= 3, "the store sums both replicas: {stored}");
}
