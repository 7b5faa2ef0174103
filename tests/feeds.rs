//! Every feed of the sample wire, fetched from the real server and parsed back with an
//! independent parser (feed-rs).

mod common;

use common::{Server, expected_ids, sample};
use feed_rs::model::Feed;

/// The feeds the repo defines, with the categories each gathers and its entry count.
const FEEDS: &[(&str, Option<&[&str]>, usize)] = &[
    ("all", None, 50),
    ("world", Some(&["world"]), 50),
    ("g20", Some(&["g20"]), 30),
    ("asia-pacific", Some(&["china", "asia-pacific"]), 50),
    ("china", Some(&["china"]), 50),
    ("culture", Some(&["culture"]), 50),
];

const FORMATS: &[(&str, &str)] = &[
    ("rss", "application/rss+xml; charset=utf-8"),
    ("atom", "application/atom+xml; charset=utf-8"),
    ("json", "application/feed+json; charset=utf-8"),
];

async fn fetch(server: &Server, path: &str, content_type: &str) -> Feed {
    let response = server.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(response.headers()["content-type"], content_type, "{path}");
    let body = response.bytes().await.unwrap();
    feed_rs::parser::parse(&body[..]).unwrap_or_else(|e| panic!("{path} does not parse: {e}"))
}

fn tag_id(server_base: &str, id: &str) -> String {
    let host = server_base
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap();
    format!("tag:{host},2026:article:{id}")
}

#[tokio::test]
async fn every_feed_parses_with_the_right_entries_newest_first() {
    let server = Server::start();
    for &(slug, categories, limit) in FEEDS {
        let expected: Vec<String> = expected_ids(categories, limit)
            .iter()
            .map(|id| tag_id(&server.base, id))
            .collect();
        assert!(!expected.is_empty(), "{slug} has no stories in the sample");
        for &(ext, content_type) in FORMATS {
            let feed = fetch(&server, &format!("/feeds/{slug}.{ext}"), content_type).await;
            let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
            assert_eq!(ids, expected, "{slug}.{ext}");
        }
    }
}

#[tokio::test]
async fn titles_dates_categories_and_content_survive_the_round_trip_in_every_format() {
    let server = Server::start();
    let stories = sample();
    for &(ext, content_type) in FORMATS {
        let feed = fetch(&server, &format!("/feeds/all.{ext}"), content_type).await;
        for entry in &feed.entries {
            let story = stories
                .iter()
                .find(|s| tag_id(&server.base, s["id"].as_str().unwrap()) == entry.id)
                .unwrap();
            let title = &entry.title.as_ref().unwrap().content;
            assert_eq!(title, story["title"].as_str().unwrap(), "title in {ext}");

            let published =
                chrono::DateTime::parse_from_rfc3339(story["published"].as_str().unwrap()).unwrap();
            assert_eq!(
                entry.published.unwrap(),
                published,
                "published of {} in {ext}",
                entry.id
            );

            let mut terms: Vec<&str> = entry.categories.iter().map(|c| c.term.as_str()).collect();
            let mut filed: Vec<&str> = story["categories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            terms.sort();
            filed.sort();
            assert_eq!(terms, filed, "categories of {} in {ext}", entry.id);

            if story["content_html"].is_string() {
                let body = entry
                    .content
                    .as_ref()
                    .and_then(|c| c.body.as_deref())
                    .unwrap_or_default();
                assert!(
                    body.starts_with("<p>"),
                    "content of {} in {ext}: {body:?}",
                    entry.id
                );
                assert!(
                    !body.contains("&amp;lt;") && !body.contains("&lt;p&gt;"),
                    "content escaped twice in {ext}"
                );
            }
        }
    }
}

#[tokio::test]
async fn titles_with_markup_characters_and_other_scripts_are_escaped_exactly_once() {
    let server = Server::start();
    let wanted = [
        "Film festival's top prize goes to \"Rivers <Without> Names\"",
        "Finance ministers back global minimum tax review; <b>no deal</b> on digital levies",
        "沪深股市收涨 科技板块领涨",
        "قادة مجموعة العشرين يناقشون إصلاح النظام المالي العالمي",
    ];
    for &(ext, content_type) in FORMATS {
        let feed = fetch(&server, &format!("/feeds/all.{ext}"), content_type).await;
        let titles: Vec<String> = feed
            .entries
            .iter()
            .map(|e| e.title.clone().unwrap().content)
            .collect();
        for title in wanted {
            assert!(
                titles.iter().any(|t| t == title),
                "{title:?} not found intact in {ext}: {titles:?}"
            );
        }
    }
    let raw = server.text("/feeds/culture.rss").await;
    // RSS text writes `<` (and `&`) as hexadecimal references, as the RSS Profile and the W3C
    // Feed Validator ask.
    assert!(raw.contains("&quot;Rivers &#x3C;Without&gt; Names&quot;"));
    assert!(!raw.contains("&amp;lt;") && !raw.contains("&#x26;lt;"));
}

#[tokio::test]
async fn rss_carries_self_link_ttl_guids_and_extensions() {
    let server = Server::start();
    let xml = server.text("/feeds/g20.rss").await;
    let self_link = format!(
        r#"<atom:link href="{}/feeds/g20.rss" rel="self" type="application/rss+xml"/>"#,
        server.base
    );
    assert!(xml.contains(&self_link), "{xml}");
    assert!(xml.contains("<ttl>1</ttl>"), "g20 has max_age 60");
    assert!(xml.contains(r#"<guid isPermaLink="false">tag:"#));
    assert!(xml.contains("<dc:creator>Li Wei</dc:creator>"));
    assert!(xml.contains(r#"<media:content height="800" medium="image" type="image/jpeg""#));
    assert!(xml.contains("+0000</pubDate>"));
}

#[tokio::test]
async fn a_story_with_a_canonical_url_links_there_everywhere() {
    let server = Server::start();
    for &(ext, content_type) in FORMATS {
        let feed = fetch(&server, &format!("/feeds/business.{ext}"), content_type).await;
        let entry = feed
            .entries
            .iter()
            .find(|e| e.id.ends_with(":article:wf-20261121-business-partner"))
            .unwrap();
        let hrefs: Vec<&str> = entry.links.iter().map(|l| l.href.as_str()).collect();
        assert!(
            hrefs.contains(&"https://partner.asiatradewire.example/outlook-2027"),
            "{ext}: {hrefs:?}"
        );
    }
}

#[tokio::test]
async fn feeds_are_byte_identical_across_requests_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let public = |cmd: &mut std::process::Command| {
        cmd.env("WIREFEED_PUBLIC_URL", "https://wire.example.com");
    };
    let first = Server::start_in(dir.path(), public);
    let mut before = Vec::new();
    for &(ext, _) in FORMATS {
        let a = first
            .get(&format!("/feeds/world.{ext}"))
            .await
            .bytes()
            .await
            .unwrap();
        let b = first
            .get(&format!("/feeds/world.{ext}"))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(a, b);
        before.push(a);
    }
    first.stop();
    let second = Server::start_in(dir.path(), public);
    for (i, &(ext, _)) in FORMATS.iter().enumerate() {
        let after = second
            .get(&format!("/feeds/world.{ext}"))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(after, before[i], "world.{ext} changed across a restart");
    }
}

#[tokio::test]
async fn unknown_feeds_are_404_with_a_helpful_page() {
    let server = Server::start();
    for path in [
        "/feeds/atlantis.rss",
        "/feeds/world.xml",
        "/feeds/Not%20A%20Slug.atom",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body = response.text().await.unwrap();
        assert!(body.contains("home page"), "{path}: {body}");
    }
}

#[tokio::test]
async fn head_sends_the_get_headers_without_a_body() {
    let server = Server::start();
    let get = server.get("/feeds/world.atom").await;
    let head = server.head("/feeds/world.atom").await;
    assert_eq!(head.status(), 200);
    for name in ["content-type", "content-length", "cache-control", "link"] {
        assert_eq!(head.headers().get(name), get.headers().get(name), "{name}");
    }
    let length: usize = get.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(get.bytes().await.unwrap().len(), length);
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn feeds_say_how_long_they_may_be_cached() {
    let server = Server::start();
    let response = server.get("/feeds/world.rss").await;
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=300, stale-while-revalidate=600"
    );
    assert!(response.headers().get("expires").is_none());
    assert_eq!(
        response.headers()["link"].to_str().unwrap(),
        format!("<{}/feeds/world.rss>; rel=\"self\"", server.base)
    );
}

#[tokio::test]
async fn other_methods_are_refused_with_the_allow_options_names() {
    let server = Server::start();
    let client = reqwest::Client::new();
    for (path, allow) in [
        ("/feeds/world.rss", "GET, HEAD, OPTIONS"),
        ("/feeds/world/archive/2026-11-24.atom", "GET, HEAD, OPTIONS"),
        ("/feeds.opml", "GET, HEAD, OPTIONS"),
        ("/healthz", "GET, HEAD"),
        ("/", "GET, HEAD"),
        ("/static/site.css", "GET, HEAD"),
    ] {
        for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
            let response = client
                .request(method.clone(), server.url(path))
                .body("x")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 405, "{method} {path}");
            assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        }
        // OPTIONS says the same: a preflight's 204 where other origins may read, else a 405.
        let options = client
            .request(reqwest::Method::OPTIONS, server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(options.headers()["allow"], allow, "OPTIONS {path}");
    }
}

#[tokio::test]
async fn an_unknown_method_is_501_and_a_path_that_names_nothing_is_404_whatever_the_method() {
    let server = Server::start();
    let client = reqwest::Client::new();
    let foo = reqwest::Method::from_bytes(b"FOO").unwrap();
    for path in ["/", "/feeds/world.rss", "/api/articles", "/nothing"] {
        let response = client
            .request(foo.clone(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 501, "FOO {path}");
    }
    for method in [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::OPTIONS,
    ] {
        for path in ["/nothing", "/feeds/World.rss", "/api/articles/"] {
            let response = client
                .request(method.clone(), server.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 404, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn limit_and_headlines_variants_are_cached_validated_and_bounded() {
    let server = Server::start();
    let client = reqwest::Client::new();
    let etag =
        |response: &reqwest::Response| response.headers()["etag"].to_str().unwrap().to_owned();
    let plain = server.get("/feeds/all.json").await;
    let plain_tag = etag(&plain);
    let plain: serde_json::Value = plain.json().await.unwrap();
    let items = |doc: &serde_json::Value| doc["items"].as_array().unwrap().clone();
    assert!(items(&plain).len() > 3);

    let short = server.get("/feeds/all.json?limit=3").await;
    assert_eq!(short.status(), 200);
    let short_tag = etag(&short);
    assert_ne!(short_tag, plain_tag);
    let short: serde_json::Value = short.json().await.unwrap();
    let first3: Vec<_> = items(&plain)
        .iter()
        .take(3)
        .map(|i| i["id"].clone())
        .collect();
    let got: Vec<_> = items(&short).iter().map(|i| i["id"].clone()).collect();
    assert_eq!(got, first3, "the newest three");
    let again = client
        .get(server.url("/feeds/all.json?limit=3"))
        .header("if-none-match", &short_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304, "validated like the feed");

    // Asking for as many as the feed holds, or for something unknown, is the feed itself.
    for same in ["/feeds/all.json?limit=500", "/feeds/all.json?utm_source=x"] {
        assert_eq!(etag(&server.get(same).await), plain_tag, "{same}");
    }

    let rss = server.text("/feeds/world.rss?content=headlines").await;
    assert!(
        rss.contains("<item>") && !rss.contains("<content:encoded>"),
        "{rss}"
    );
    assert!(!rss.contains("<media:content"), "no images in headlines");
    let json: serde_json::Value = server
        .get("/feeds/world.json?content=headlines&limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(items(&json).len(), 2);
    assert!(
        items(&json)
            .iter()
            .all(|i| i.get("content_html").is_none() && i.get("title").is_some())
    );
    let full = server.text("/feeds/world.rss").await;
    assert!(
        full.contains("<content:encoded>"),
        "the plain feed keeps its text"
    );

    for bad in [
        "/feeds/all.json?limit=0",
        "/feeds/all.json?limit=ten",
        "/feeds/all.json?content=some",
    ] {
        let response = server.get(bad).await;
        assert_eq!(response.status(), 400, "{bad}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}

/// A flash feed no urgent story has touched yet is still dated, by the wire's first change
/// (the same on every replica), not by 1970.
#[tokio::test]
async fn a_flash_feed_with_nothing_urgent_yet_is_dated_by_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let imported = common::wirefeed(dir.path())
        .env("WIREFEED_LOAD_SAMPLE", "false")
        .args(["import"])
        .arg(common::fixture("publish-g20-bilateral.json"))
        .output()
        .unwrap();
    assert!(imported.status.success());
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_LOAD_SAMPLE", "false");
    });
    let rss = server.text("/feeds/flash.rss").await;
    assert!(!rss.contains("<item>"), "nothing urgent: {rss}");
    assert!(!rss.contains("1970"), "{rss}");
    let atom = fetch(&server, "/feeds/flash.atom", FORMATS[1].1).await;
    let updated = atom.updated.expect("an Atom feed has updated");
    // Dated by the import just made (the wire's only change).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - 600..=now).contains(&updated.timestamp()),
        "{updated}"
    );
}
