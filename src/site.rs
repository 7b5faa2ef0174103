//! The site: the public origin and naming scheme for everything wirefeed publishes.
//!
//! Every absolute link (feed self links, permalinks, autodiscovery) and every entry id is made
//! here, from the configured public URL and tag authority, so that renderers and HTTP handlers
//! agree on them byte for byte.

use std::fmt;

use chrono::NaiveDate;

use crate::model::{ALL_SLUG, Article, ArticleId, Category, FeedFormat, Part};

/// Every path this server answers, the one place where paths are both built ([`fmt::Display`],
/// [`Site::href`]) and parsed ([`Path::parse`]), so a link we hand out always routes back to
/// what made it.
///
/// A slug (feed or category) is what [`Category::parse`] accepts: lower-case ASCII letters and
/// digits in dash-separated words, at most 64 bytes; `all` is the whole wire. Paths are
/// compared as sent, not percent-decoded, so `%2F`, `..`, upper case, empty segments and
/// trailing slashes name nothing. Only one spelling of each resource parses, except that
/// `?page=1` is the subscription document itself and query parameters other than `page` are
/// ignored (`/feeds/world.rss?utm_source=x` is the same feed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// `/`: the home page, the HTML page of the whole wire.
    Home,
    /// `/categories/{slug}`.
    Category(Category),
    /// `/articles/{id}`: a story's own page (its permalink).
    Article(ArticleId),
    /// `/feeds/{slug}.{ext}` (current), `…?page=N` (N ≥ 2), or
    /// `/feeds/{slug}/archive/YYYY-MM-DD.{ext}`.
    Feed {
        slug: Category,
        format: FeedFormat,
        part: Part,
    },
    /// `/feeds.opml`.
    Opml,
    /// `/api/articles` (None) or `/api/articles/{id}`: the ingest API.
    Api(Option<ArticleId>),
    /// `/api/stats`: readers per feed per day.
    Stats,
    /// `/api/changes`: the change cursor.
    Changes,
    /// `/hub`: the built-in WebSub hub.
    Hub,
    /// `/admin`: the operator's page.
    Admin,
    /// `/metrics`.
    Metrics,
    /// `/healthz`: liveness.
    Health,
    /// `/readyz`: readiness.
    Ready,
}

/// The fixed paths, each with its one spelling.
const FIXED: [(&str, Path); 10] = [
    ("/", Path::Home),
    ("/feeds.opml", Path::Opml),
    ("/api/articles", Path::Api(None)),
    ("/api/stats", Path::Stats),
    ("/api/changes", Path::Changes),
    ("/hub", Path::Hub),
    ("/admin", Path::Admin),
    ("/metrics", Path::Metrics),
    ("/healthz", Path::Health),
    ("/readyz", Path::Ready),
];

impl Path {
    /// The resource a request path (as sent, not decoded) and query string name, if any.
    pub fn parse(path: &str, query: Option<&str>) -> Option<Path> {
        if let Some((_, fixed)) = FIXED.iter().find(|(p, _)| *p == path) {
            return Some(fixed.clone());
        }
        if let Some(file) = path.strip_prefix("/feeds/") {
            let (name, ext) = file.rsplit_once('.')?;
            let format = FeedFormat::from_extension(ext)?;
            let (slug, part) = match name.split_once("/archive/") {
                None => (name, Part::Current),
                Some((slug, day)) => (slug, Part::Archive(parse_day(day)?)),
            };
            let slug = slug_of(slug)?;
            let part = match (part, page(query)) {
                (part, None) => part,
                (Part::Current, Some(Some(1))) => Part::Current,
                (Part::Current, Some(Some(n))) => Part::Page(n),
                _ => return None,
            };
            return Some(Path::Feed { slug, format, part });
        }
        if let Some(slug) = path.strip_prefix("/categories/") {
            return slug_of(slug).map(Path::Category);
        }
        if let Some(id) = path.strip_prefix("/api/articles/") {
            return ArticleId::parse(id).ok().map(|id| Path::Api(Some(id)));
        }
        if let Some(id) = path.strip_prefix("/articles/") {
            return ArticleId::parse(id).ok().map(Path::Article);
        }
        None
    }

    /// The feed document `slug`, `format`, `part`, when `slug` is a slug.
    pub fn feed(slug: &str, format: FeedFormat, part: Part) -> Option<Path> {
        Some(Path::Feed {
            slug: slug_of(slug)?,
            format,
            part,
        })
    }
}

/// A slug, by the one rule.
fn slug_of(raw: &str) -> Option<Category> {
    Category::parse(raw).ok()
}

/// A UTC day in its one canonical spelling, `YYYY-MM-DD`, so one archive has one URL.
fn parse_day(raw: &str) -> Option<NaiveDate> {
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    (day.format("%Y-%m-%d").to_string() == raw).then_some(day)
}

/// `?page=`: None when absent, `Some(None)` when not a number from 1 up.
fn page(query: Option<&str>) -> Option<Option<u32>> {
    let (_, value) =
        url::form_urlencoded::parse(query?.as_bytes()).find(|(key, _)| key == "page")?;
    Some(value.parse::<u32>().ok().filter(|n| *n >= 1))
}

/// The path and, for a page of a feed, the query: what [`Path::parse`] reads back.
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((fixed, _)) = FIXED.iter().find(|(_, p)| p == self) {
            return f.write_str(fixed);
        }
        match self {
            Path::Category(slug) => write!(f, "/categories/{}", slug.as_str()),
            Path::Article(id) => write!(f, "/articles/{id}"),
            Path::Api(Some(id)) => write!(f, "/api/articles/{id}"),
            Path::Feed { slug, format, part } => {
                let (slug, ext) = (slug.as_str(), format.extension());
                match part {
                    Part::Current => write!(f, "/feeds/{slug}.{ext}"),
                    Part::Page(n) => write!(f, "/feeds/{slug}.{ext}?page={n}"),
                    Part::Archive(day) => {
                        write!(f, "/feeds/{slug}/archive/{}.{ext}", day.format("%Y-%m-%d"))
                    }
                }
            }
            fixed => unreachable!("{fixed:?} is in FIXED"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Origin with no trailing slash, e.g. `https://wire.example.com`.
    origin: String,
    /// The site's name in titles and as the feeds' author.
    pub title: String,
    /// The `authority,date` part of tag: URIs (RFC 4151), e.g. `wire.example.com,2026`.
    tag_authority: String,
    /// The WebSub hub named in feeds (`rel="hub"`), when push is on.
    hub: Option<String>,
}

impl Site {
    pub fn new(public_url: &str, title: &str, tag_authority: &str) -> Self {
        Self {
            origin: public_url.trim_end_matches('/').to_owned(),
            title: title.to_owned(),
            tag_authority: tag_authority.to_owned(),
            hub: None,
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The absolute URL of a path.
    pub fn href(&self, path: &Path) -> String {
        format!("{}{path}", self.origin)
    }

    /// The absolute URL of a feed document; a slug that is not one (never the case for a feed
    /// that exists) is written as given, and names nothing.
    fn feed_href(&self, slug: &str, format: FeedFormat, part: Part) -> String {
        match Path::feed(slug, format, part) {
            Some(path) => self.href(&path),
            None => format!("{}/feeds/{slug}.{}", self.origin, format.extension()),
        }
    }

    pub fn home_url(&self) -> String {
        self.href(&Path::Home)
    }

    pub fn feed_url(&self, slug: &str, format: FeedFormat) -> String {
        self.feed_href(slug, format, Part::Current)
    }

    /// The URL of one document of a feed: the subscription document, a page or a day's archive.
    pub fn document_url(&self, slug: &str, format: FeedFormat, part: Part) -> String {
        self.feed_href(slug, format, part)
    }

    /// One UTC day's archive of a feed (RFC 5005 §4).
    pub fn archive_url(&self, slug: &str, format: FeedFormat, day: NaiveDate) -> String {
        self.feed_href(slug, format, Part::Archive(day))
    }

    /// The feed a URL names, when it is exactly one of this site's subscription documents
    /// (as a WebSub topic must be: no query, no other spelling).
    pub fn feed_from_url(&self, url: &str) -> Option<(String, FeedFormat)> {
        let path = url.strip_prefix(&self.origin)?;
        match Path::parse(path, None)? {
            Path::Feed {
                slug,
                format,
                part: Part::Current,
            } => Some((String::from(slug), format)),
            _ => None,
        }
    }

    /// The WebSub hub the feeds name, if any.
    pub fn hub_url(&self) -> Option<&str> {
        self.hub.as_deref()
    }

    /// Names a WebSub hub in every feed.
    pub fn with_hub(mut self, hub: Option<String>) -> Self {
        self.hub = hub;
        self
    }

    pub fn opml_url(&self) -> String {
        self.href(&Path::Opml)
    }

    /// The HTML page of a feed: its category page, or the home page for the whole wire.
    pub fn feed_page_url(&self, slug: &str) -> String {
        if slug == ALL_SLUG {
            return self.home_url();
        }
        match slug_of(slug) {
            Some(slug) => self.href(&Path::Category(slug)),
            None => format!("{}/categories/{slug}", self.origin),
        }
    }

    pub fn permalink(&self, id: &ArticleId) -> String {
        self.href(&Path::Article(id.clone()))
    }

    /// The link readers follow: the story's own canonical URL when it has one, else our page.
    pub fn article_link(&self, article: &Article) -> String {
        article
            .url
            .clone()
            .unwrap_or_else(|| self.permalink(&article.id))
    }

    /// The entry id, identical in RSS (guid), Atom (id) and JSON Feed (id), and independent of
    /// the public URL so that moving the site does not make readers show every story twice.
    pub fn entry_id(&self, id: &ArticleId) -> String {
        format!("tag:{}:article:{id}", self.tag_authority)
    }

    pub fn feed_id(&self, slug: &str) -> String {
        format!("tag:{}:feed:{slug}", self.tag_authority)
    }
}

#[cfg(test)]
mod tests {
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
}
