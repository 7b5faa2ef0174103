//! What browsers and crawlers ask a site for, against the real server: `/favicon.ico` (the
//! shipped icon, or a redirect to the configured one), `/robots.txt`, the page sitemap and the
//! Google News sitemap — well-formed, in their namespaces, with the stories they must list and
//! none they must not (older than 48 hours, killed), validated like every document (ETag, 304,
//! compression) and rebuilt after a change.

mod common;

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use common::{Server, repo, story};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use reqwest::header;

const TOKEN: &str = "crawlers-desk-token";
const SITEMAP_NS: &str = "http://www.sitemaps.org/schemas/sitemap/0.9";
const NEWS_NS: &str = "http://www.google.com/schemas/sitemap-news/0.9";

fn start(configure: impl FnOnce(&mut std::process::Command)) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
        configure(cmd);
    });
    (dir, server)
}

async fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client.get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn max_age(response: &reqwest::Response) -> u64 {
    let cc = response.headers()[header::CACHE_CONTROL].to_str().unwrap();
    cc.split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .unwrap_or_else(|| panic!("no max-age in {cc}"))
        .parse()
        .unwrap()
}

/// A 200 with an ETag, then a 304 for that ETag.
async fn validated(server: &Server, path: &str) -> reqwest::Response {
    let first = get(server, path, &[]).await;
    assert_eq!(first.status(), 200, "{path}");
    let etag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
    let again = get(server, path, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), 304, "{path} with If-None-Match: {etag}");
    assert_eq!(again.headers()[header::ETAG], etag.as_str());
    first
}

#[tokio::test]
async fn the_favicon_is_the_shipped_one_or_the_desks() {
    let (_dir, server) = start(|_| {});
    let icon = validated(&server, "/favicon.ico").await;
    assert_eq!(icon.headers()[header::CONTENT_TYPE], "image/x-icon");
    assert!(max_age(&icon) >= 86_400, "a long Cache-Control");
    let shipped = std::fs::read(repo().join("templates/favicon.ico")).unwrap();
    assert_eq!(icon.bytes().await.unwrap(), shipped);

    let desk = "https://cdn.example.com/desk-64.png";
    let (_dir, server) = start(|cmd| {
        cmd.env("WIREFEED_FAVICON_URL", desk);
    });
    let moved = get(&server, "/favicon.ico", &[]).await;
    assert_eq!(moved.status(), 302);
    assert_eq!(moved.headers()[header::LOCATION], desk);
}

#[tokio::test]
async fn robots_lets_crawlers_read_pages_and_feeds_but_not_the_apis() {
    let (_dir, server) = start(|_| {});
    let robots = validated(&server, "/robots.txt").await;
    assert!(
        robots.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = robots.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for line in [
        "User-agent: *",
        "Allow: /",
        "Disallow: /api/",
        "Disallow: /admin",
        "Disallow: /hub",
    ] {
        assert!(lines.contains(&line), "{line:?} in\n{text}");
    }
    assert!(!text.contains("Disallow: /feeds"), "{text}");
    for map in ["/sitemap.xml", "/sitemap-news.xml"] {
        let line = format!("Sitemap: {}{map}", server.base);
        assert!(lines.contains(&line.as_str()), "{line:?} in\n{text}");
        assert_eq!(get(&server, map, &[]).await.status(), 200, "{map}");
    }
}

/// One `<url>` of a sitemap: each descendant's path (`{namespace}name/...`) and text.
type Entry = Vec<(String, String)>;

/// The `<url>` entries of a sitemap, after checking that it is well-formed and that its root
/// is the sitemaps.org `urlset`.
fn entries(xml: &str) -> Vec<Entry> {
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let (mut all, mut current, mut text): (Vec<Entry>, Entry, String) = Default::default();
    loop {
        let (ns, event) = reader.read_resolved_event().expect("well-formed XML");
        let named = |local: &[u8]| {
            let ns = match &ns {
                ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
                _ => panic!("an element outside any namespace"),
            };
            format!("{{{ns}}}{}", String::from_utf8_lossy(local))
        };
        match event {
            Event::Start(e) => {
                let name = named(e.local_name().as_ref());
                if path.is_empty() {
                    assert_eq!(name, format!("{{{SITEMAP_NS}}}urlset"));
                }
                path.push(name);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.decode().unwrap()),
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap();
                let resolved = quick_xml::escape::resolve_xml_entity(&name)
                    .unwrap_or_else(|| panic!("an undeclared entity &{name};"));
                text.push_str(resolved);
            }
            Event::End(_) => {
                if path.len() > 2 && !text.trim().is_empty() {
                    current.push((path[2..].join("/"), std::mem::take(&mut text)));
                }
                text.clear();
                path.pop();
                if path.len() == 1 {
                    all.push(std::mem::take(&mut current));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(path.is_empty(), "every element closed");
    all
}

fn field<'a>(entry: &'a Entry, path: &str) -> Option<&'a str> {
    entry
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, t)| t.as_str())
}

fn loc(entry: &Entry) -> &str {
    field(entry, &format!("{{{SITEMAP_NS}}}loc")).expect("every url has a loc")
}

async fn publish(server: &Server, id: &str, hours_ago: i64, title: &str) {
    let mut body: serde_json::Value = serde_json::from_str(&story(id)).unwrap();
    body["published"] = (Utc::now() - Duration::hours(hours_ago))
        .to_rfc3339()
        .into();
    body["title"] = title.into();
    let response = reqwest::Client::new()
        .post(server.url("/api/articles"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{id}: {response:?}");
}

#[tokio::test]
async fn the_news_sitemap_lists_the_last_two_days_and_the_page_sitemap_every_page() {
    let (_dir, server) = start(|_| {});
    publish(&server, "news-fresh", 1, "Talks resume").await;
    publish(&server, "news-today", 20, "Markets & <rates> rally").await;
    publish(&server, "news-old", 50, "Old news").await;
    publish(&server, "news-killed", 2, "Withdrawn").await;
    let killed = reqwest::Client::new()
        .delete(server.url("/api/articles/news-killed"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(killed.status().is_success(), "{killed:?}");

    let news = validated(&server, "/sitemap-news.xml").await;
    assert!(
        news.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let news = entries(&news.text().await.unwrap());
    let listed: BTreeSet<&str> = news.iter().map(loc).collect();
    let page = |id: &str| format!("{}/articles/{id}", server.base);
    let want: BTreeSet<String> = ["news-fresh", "news-today"].map(page).into();
    assert_eq!(
        listed,
        want.iter().map(String::as_str).collect(),
        "the last 48 hours, killed stories excluded"
    );
    let n = |name: &str| format!("{{{NEWS_NS}}}{name}");
    for entry in &news {
        let publication = format!("{}/{}", n("news"), n("publication"));
        assert_eq!(
            field(entry, &format!("{publication}/{}", n("name"))),
            Some("Wirefeed")
        );
        assert_eq!(
            field(entry, &format!("{publication}/{}", n("language"))),
            Some("en")
        );
        let date = field(entry, &format!("{}/{}", n("news"), n("publication_date"))).unwrap();
        chrono::DateTime::parse_from_rfc3339(date).expect("a W3C date and time");
    }
    let today = news
        .iter()
        .find(|e| loc(e).ends_with("/news-today"))
        .unwrap();
    assert_eq!(
        field(today, &format!("{}/{}", n("news"), n("title"))),
        Some("Markets & <rates> rally")
    );

    // Compressed for clients that take it; rebuilt after the next change.
    let gzip = get(&server, "/sitemap-news.xml", &[("accept-encoding", "gzip")]).await;
    assert_eq!(gzip.headers()[header::CONTENT_ENCODING], "gzip");
    let before = get(&server, "/sitemap-news.xml", &[]).await.headers()[header::ETAG].clone();
    publish(&server, "news-later", 0, "Later").await;
    let after = get(&server, "/sitemap-news.xml", &[]).await;
    assert_ne!(after.headers()[header::ETAG], before);
    assert!(
        after
            .text()
            .await
            .unwrap()
            .contains("/articles/news-later<")
    );

    let pages = validated(&server, "/sitemap.xml").await;
    let pages = entries(&pages.text().await.unwrap());
    let listed: BTreeSet<&str> = pages.iter().map(loc).collect();
    assert_eq!(listed.len(), pages.len(), "each URL once");
    let home = format!("{}/", server.base);
    let g20 = format!("{}/categories/g20", server.base);
    for url in [home, g20, page("news-old"), page("news-fresh")] {
        assert!(listed.contains(url.as_str()), "{url} in the sitemap");
    }
    assert!(!listed.contains(page("news-killed").as_str()));
    for id in common::expected_ids(None, 50) {
        assert!(listed.contains(page(&id).as_str()), "sample story {id}");
    }
    let lastmod = format!("{{{SITEMAP_NS}}}lastmod");
    assert!(pages.iter().all(|e| field(e, &lastmod).is_some()));
}
