//! The site: the public origin and naming scheme for everything wirefeed publishes.
//!
//! Every absolute link (feed self links, permalinks, autodiscovery) and every entry id is made
//! here, from the configured public URL and tag authority, so that renderers and HTTP handlers
//! agree on them byte for byte.

use std::fmt;

use chrono::NaiveDate;

use crate::model::{ALL_SLUG, Article, ArticleId, Category, FeedFormat, Part, day_span};

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
    /// `/favicon.ico`.
    Favicon,
    /// `/static/site.css`: the pages' stylesheet (linked with `?v=` and its version).
    Stylesheet,
    /// `/robots.txt`.
    Robots,
    /// `/sitemap.xml`: the pages (sitemaps.org).
    Sitemap,
    /// `/sitemap-news.xml`: the last two days' stories (Google News sitemap).
    NewsSitemap,
}

/// The fixed paths, each with its one spelling.
const FIXED: [(&str, Path); 15] = [
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
    ("/favicon.ico", Path::Favicon),
    ("/static/site.css", Path::Stylesheet),
    ("/robots.txt", Path::Robots),
    ("/sitemap.xml", Path::Sitemap),
    ("/sitemap-news.xml", Path::NewsSitemap),
];

impl Path {
    /// The resource a request path (as sent, not decoded) and query string name, if any.
    pub fn parse(path: &str, query: Option<&str>) -> Option<Path> {
        // Feeds first: nearly every request is a poll. (No fixed path starts so.)
        if let Some(file) = path.strip_prefix("/feeds/") {
            // Split at ASCII bytes (char boundaries), without a `str` pattern's searcher.
            let dot = file.bytes().rposition(|b| b == b'.')?;
            let (name, ext) = (&file[..dot], &file[dot + 1..]);
            let format = FeedFormat::from_extension(ext)?;
            // A slug has no slash, so the first one must begin `/archive/`.
            let (slug, part) = match name.bytes().position(|b| b == b'/') {
                None => (name, Part::Current),
                Some(slash) => {
                    let day = name[slash + 1..].strip_prefix("archive/")?;
                    (&name[..slash], Part::Archive(parse_day(day)?))
                }
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
        if let Some((_, fixed)) = FIXED.iter().find(|(p, _)| *p == path) {
            return Some(fixed.clone());
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

/// A UTC day in its one canonical spelling, `YYYY-MM-DD`, so one archive has one URL; only a
/// day the store can ask about ([`day_span`]: 1677 to 2262) names an archive.
fn parse_day(raw: &str) -> Option<NaiveDate> {
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    (day.format("%Y-%m-%d").to_string() == raw && day_span(day).is_some()).then_some(day)
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

    /// A path as a link from one of this site's pages: without scheme and host (but with the
    /// public URL's own path), so that it stays on whichever host the page was read from.
    pub fn local_href(&self, path: &Path) -> String {
        let after_scheme = self.origin.split_once("://").map_or("", |(_, rest)| rest);
        let prefix = after_scheme.find('/').map_or("", |at| &after_scheme[at..]);
        format!("{prefix}{path}")
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
    /// The scheme of the wire's categories in feeds (Atom `scheme`, RSS `domain`): the
    /// address under which each category has its page.
    pub fn categories_url(&self) -> String {
        format!("{}/categories/", self.origin)
    }

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
mod tests;
