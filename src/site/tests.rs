//! Tests of `site`.

use super::*;

fn site() -> Site {
    Site::new(
        "https://wire.example.com/",
        "Wirefeed",
        "wire.example.com,2026",
    )
}

#[test]
fn links_are_absolute_and_have_one_slash() {
    let site = site();
    assert_eq!(
        site.feed_url("g20", FeedFormat::Atom),
        "https://wire.example.com/feeds/g20.atom"
    );
    assert_eq!(site.feed_page_url("all"), "https://wire.example.com/");
    assert_eq!(
        site.feed_page_url("world"),
        "https://wire.example.com/categories/world"
    );
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn feed(slug: &str, format: FeedFormat, part: Part) -> Path {
    Path::feed(slug, format, part).unwrap()
}

/// Every kind of path, as built, with its spelling.
fn every_path() -> Vec<(Path, &'static str)> {
    let id = ArticleId::parse("wf-20261125-g20.v2_x").unwrap();
    vec![
        (Path::Home, "/"),
        (
            Path::Category(Category::parse("asia-pacific").unwrap()),
            "/categories/asia-pacific",
        ),
        (Path::Article(id.clone()), "/articles/wf-20261125-g20.v2_x"),
        (
            feed("all", FeedFormat::Rss, Part::Current),
            "/feeds/all.rss",
        ),
        (
            feed("g20", FeedFormat::Atom, Part::Current),
            "/feeds/g20.atom",
        ),
        (
            feed("asia-pacific", FeedFormat::Json, Part::Current),
            "/feeds/asia-pacific.json",
        ),
        (
            feed("world", FeedFormat::Atom, Part::Page(2)),
            "/feeds/world.atom?page=2",
        ),
        (
            feed("world", FeedFormat::Rss, Part::Archive(day(2026, 11, 24))),
            "/feeds/world/archive/2026-11-24.rss",
        ),
        (
            feed("g20", FeedFormat::Json, Part::Archive(day(2024, 2, 29))),
            "/feeds/g20/archive/2024-02-29.json",
        ),
        (Path::Opml, "/feeds.opml"),
        (Path::Api(None), "/api/articles"),
        (Path::Api(Some(id)), "/api/articles/wf-20261125-g20.v2_x"),
        (Path::Stats, "/api/stats"),
        (Path::Changes, "/api/changes"),
        (Path::Hub, "/hub"),
        (Path::Admin, "/admin"),
        (Path::Metrics, "/metrics"),
        (Path::Health, "/healthz"),
        (Path::Ready, "/readyz"),
        (Path::Favicon, "/favicon.ico"),
        (Path::Stylesheet, "/static/site.css"),
        (Path::Robots, "/robots.txt"),
        (Path::Sitemap, "/sitemap.xml"),
        (Path::NewsSitemap, "/sitemap-news.xml"),
    ]
}

#[test]
fn every_path_is_built_as_documented_and_parses_back() {
    let site = site();
    for (path, spelling) in every_path() {
        assert_eq!(path.to_string(), spelling);
        assert_eq!(
            site.href(&path),
            format!("https://wire.example.com{spelling}")
        );
        let (p, q) = match spelling.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (spelling, None),
        };
        assert_eq!(Path::parse(p, q), Some(path), "{spelling}");
    }
}

#[test]
fn the_builders_agree_with_the_paths() {
    let site = site();
    let id = ArticleId::parse("xw-1").unwrap();
    let world = |part| site.href(&feed("world", FeedFormat::Rss, part));
    assert_eq!(site.home_url(), site.href(&Path::Home));
    assert_eq!(
        site.feed_url("world", FeedFormat::Rss),
        world(Part::Current)
    );
    assert_eq!(
        site.document_url("world", FeedFormat::Rss, Part::Page(3)),
        world(Part::Page(3))
    );
    assert_eq!(
        site.archive_url("world", FeedFormat::Rss, day(2026, 1, 2)),
        world(Part::Archive(day(2026, 1, 2)))
    );
    assert_eq!(site.opml_url(), site.href(&Path::Opml));
    assert_eq!(site.permalink(&id), site.href(&Path::Article(id)));
    assert_eq!(
        site.feed_from_url("https://wire.example.com/feeds/world.rss"),
        Some(("world".to_owned(), FeedFormat::Rss))
    );
    for topic in [
        "https://wire.example.com/feeds/World.rss",
        "https://wire.example.com/feeds/world.rss?page=2",
        "https://wire.example.com/feeds/world.rss?x=1",
        "https://wire.example.com/feeds/world/archive/2026-01-02.rss",
        "https://other.example.com/feeds/world.rss",
        "https://wire.example.com/categories/world",
    ] {
        assert_eq!(site.feed_from_url(topic), None, "{topic}");
    }
}

#[test]
fn queries_other_than_page_are_ignored_and_page_one_is_the_feed() {
    let world = |part| Some(feed("world", FeedFormat::Rss, part));
    let parse = |q| Path::parse("/feeds/world.rss", Some(q));
    assert_eq!(parse("utm_source=x"), world(Part::Current));
    assert_eq!(parse("page=1"), world(Part::Current));
    assert_eq!(parse("utm_source=x&page=7"), world(Part::Page(7)));
    assert_eq!(Path::parse("/", Some("x=1")), Some(Path::Home));
    for q in ["page=0", "page=-1", "page=two", "page=", "page=99999999999"] {
        assert_eq!(parse(q), None, "{q}");
    }
    assert_eq!(
        Path::parse("/feeds/world/archive/2026-11-24.rss", Some("page=2")),
        None
    );
}

#[test]
fn odd_paths_name_nothing() {
    for odd in [
        "",
        "//",
        "/feeds/World.rss",
        "/feeds/a/b.rss",
        "/feeds/.rss",
        "/feeds/world",
        "/feeds/world.",
        "/feeds/world.xml",
        "/feeds/world.RSS",
        "/feeds/world.rss/",
        "/feeds/a%2Fb.rss",
        "/feeds/world%2Erss",
        "/feeds/../admin",
        "/feeds/..rss",
        "/feeds/-world.rss",
        "/feeds/world-.rss",
        "/feeds/wo--rld.rss",
        "/feeds/wo_rld.rss",
        "/feeds/world /archive/2026-11-24.rss",
        "/feeds/world/archive/2026-11-4.rss",
        "/feeds/world/archive/2026-02-30.rss",
        "/feeds/world/archive/2026-11-24.rss/",
        "/feeds/world/archive/../2026-11-24.rss",
        "/feeds/World/archive/2026-11-24.rss",
        "/feeds/a/b/archive/2026-11-24.rss",
        "/feeds/world/archive/+2026-11-24.rss",
        // Days whose midnights the store cannot keep (i64 nanoseconds: 1677 to 2262).
        "/feeds/world/archive/0001-01-01.atom",
        "/feeds/world/archive/1677-09-21.atom",
        "/feeds/world/archive/2262-04-11.atom",
        "/feeds/world/archive/2262-04-12.atom",
        "/feeds/world/archive/9999-12-31.atom",
        "/feeds.opml/",
        "/categories/",
        "/categories/World",
        "/categories/world/",
        "/categories/a/b",
        "/categories/a%2Fb",
        "/categories/..",
        "/articles/",
        "/articles/../etc/passwd",
        "/articles/..",
        "/articles/a%2Fb",
        "/articles/a/b",
        "/api/articles/",
        "/api/articles/a/b",
        "/api/articles/..",
        "/api/articles/%2F",
        "/api/stats/",
        "/hub/",
        "/admin/",
        "/metrics/",
        "/healthz/",
        "/index.html",
        "/feeds",
        "/feeds/",
    ] {
        assert_eq!(Path::parse(odd, None), None, "{odd:?}");
    }
    let too_long = format!("/feeds/{}.rss", "a".repeat(65));
    assert_eq!(Path::parse(&too_long, None), None);
}

#[test]
fn the_slug_rule_is_the_category_rule() {
    for slug in ["all", "g20", "asia-pacific", "a", "9", "a-b-c"] {
        assert!(
            Path::feed(slug, FeedFormat::Rss, Part::Current).is_some(),
            "{slug}"
        );
        assert!(Category::parse(slug).is_ok(), "{slug}");
    }
    for slug in ["", "World", "a_b", "-a", "a-", "a--b", "a.b", "a/b", "é"] {
        assert!(
            Path::feed(slug, FeedFormat::Rss, Part::Current).is_none(),
            "{slug}"
        );
        assert!(Category::parse(slug).is_err(), "{slug}");
    }
}

#[test]
fn entry_ids_are_tag_uris_independent_of_the_origin() {
    let id = ArticleId::parse("xw-001").unwrap();
    let moved = Site::new("http://127.0.0.1:9", "Wirefeed", "wire.example.com,2026");
    assert_eq!(
        site().entry_id(&id),
        "tag:wire.example.com,2026:article:xw-001"
    );
    assert_eq!(moved.entry_id(&id), site().entry_id(&id));
    assert_eq!(
        site().feed_id("world"),
        "tag:wire.example.com,2026:feed:world"
    );
}

#[test]
fn local_links_keep_the_public_urls_path_but_not_its_host() {
    let at =
        |origin| Site::new(origin, "Wire", "wire.example.com,2026").local_href(&Path::Stylesheet);
    assert_eq!(at("https://wire.example.com"), "/static/site.css");
    assert_eq!(
        at("https://wire.example.com:8443/news/"),
        "/news/static/site.css"
    );
}
