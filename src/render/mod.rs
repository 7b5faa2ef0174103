//! Rendering: turns a feed definition and its stories into the bytes of a document.
//!
//! One file per output format (`rss`, `atom`, `json`, `opml`, `html`, `admin` for the
//! operator's page, and `sitemap` for robots.txt and the sitemaps). Renderers are pure
//! functions of their input — no clock, no I/O, no HTTP — so the same stories always give the
//! same bytes, on every replica and after every restart, and a cache can call them freely.

pub(crate) mod admin;
pub(crate) mod atom;
pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod opml;
pub(crate) mod rss;
pub(crate) mod sitemap;

use chrono::{DateTime, Utc};

use crate::model::{Article, FeedDef, FeedFormat, Tombstone};
use crate::site::Site;

/// RFC 5005 links and markers of one document of a feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The document's own URL, when it is not the subscription document (a page, an archive,
    /// or a trimmed variant).
    pub this: Option<String>,
    /// `(rel, href)`: `first`, `previous`, `next`, `last`, `prev-archive`, `next-archive`,
    /// `current`, in the order they are written.
    pub links: Vec<(&'static str, String)>,
    /// An archive document (`fh:archive`).
    pub archive: bool,
    /// A trimmed variant of the subscription document (`?limit=N`, `?content=headlines`):
    /// a feed of its own to whoever subscribed to it, so JSON Feed's `feed_url` names it.
    pub variant: bool,
}

/// The history of a document with no paging or archive links.
pub static NO_HISTORY: History = History {
    this: None,
    links: Vec::new(),
    archive: false,
    variant: false,
};

impl History {
    pub fn link(&self, rel: &str) -> Option<&str> {
        self.links
            .iter()
            .find(|(r, _)| *r == rel)
            .map(|(_, href)| href.as_str())
    }
}

/// The RFC 5005 namespace, for `fh:archive`.
pub const HISTORY_NS: &str = "http://purl.org/syndication/history/1.0";

/// wirefeed's own namespace (prefix `wirefeed`), for what RSS and Atom have no element for: a
/// story's urgency, embargo and terms of use (docs/ARCHITECTURE.md lists the elements). Also
/// the `about` of JSON Feed's `_wirefeed` objects.
pub const WIREFEED_NS: &str = "https://wirefeed.dev/ns/1.0";

/// The simple elements of [`WIREFEED_NS`] a story carries in RSS and Atom, as
/// `(local name, text)`, in this order: `urgency` (1 most urgent .. 9), `embargoed` (RFC 3339:
/// the story is still held until then), `usageTerms`, and `rightsInfo` (RSS only: Atom links
/// the rights statement with `rel="license"`).
pub(crate) fn wirefeed_elements(article: &Article, with_link: bool) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(urgency) = article.urgency {
        out.push(("urgency", urgency.to_string()));
    }
    if let Some(until) = article.embargo {
        out.push((
            "embargoed",
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ));
    }
    if let Some(rights) = &article.rights {
        if let Some(terms) = &rights.usage_terms {
            out.push(("usageTerms", terms.clone()));
        }
        if let Some(link) = rights.link.as_ref().filter(|_| with_link) {
            out.push(("rightsInfo", link.clone()));
        }
    }
    out
}

/// The site's pictures for feed readers, each an absolute URL; any may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Brand {
    /// A wide logo: RSS `<image>` (GIF, JPEG or PNG, at most 144 × 400 pixels; 88 × 31 is
    /// what readers assume) and Atom `<logo>` (RFC 4287 §4.2.8: twice as wide as high).
    pub logo: Option<String>,
    /// A large square icon: JSON Feed `icon` (512 × 512), and Atom `<icon>` when there is no
    /// favicon.
    pub icon: Option<String>,
    /// A small square icon: JSON Feed `favicon` (64 × 64) and Atom `<icon>` (RFC 4287
    /// §4.2.5: square, legible when small).
    pub favicon: Option<String>,
}

/// Everything a feed document is made from.
#[derive(Debug, Clone, Copy)]
pub struct FeedDoc<'a> {
    pub site: &'a Site,
    pub def: &'a FeedDef,
    /// Newest first, at most `def.entries`.
    pub articles: &'a [Article],
    /// Stories killed from this feed within the retention time, newest first (Atom only).
    pub deleted: &'a [Tombstone],
    /// Paging and archive links (RFC 5005).
    pub history: &'a History,
    /// When the document changed, when its entries cannot tell (a delta holds only some of
    /// them); `None` to take it from the entries.
    pub updated: Option<DateTime<Utc>>,
    /// The site's logo and icons; `None` writes none.
    pub brand: Option<&'a Brand>,
}

impl FeedDoc<'_> {
    /// The document's own URL: the feed's, or the page's or archive's.
    pub fn self_url(&self, format: FeedFormat) -> String {
        self.history
            .this
            .clone()
            .unwrap_or_else(|| self.site.feed_url(&self.def.slug, format))
    }

    /// The hub, named only in subscription documents (pages and archives are not topics).
    pub fn hub(&self) -> Option<&str> {
        self.history
            .this
            .is_none()
            .then(|| self.site.hub_url())
            .flatten()
    }

    /// When the feed last changed, as far as its content can tell: the newest `updated` of its
    /// stories or kill of a story, or the Unix epoch for an empty feed (never "now", which would make the bytes
    /// differ on every render).
    pub fn updated(&self) -> DateTime<Utc> {
        if let Some(updated) = self.updated {
            return updated;
        }
        let edits = self.articles.iter().map(|a| a.updated);
        let kills = self.deleted.iter().map(|t| t.killed_at);
        edits.chain(kills).max().unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// The site's logo and icons, or none.
    pub fn brand(&self) -> &Brand {
        static NONE: Brand = Brand {
            logo: None,
            icon: None,
            favicon: None,
        };
        self.brand.unwrap_or(&NONE)
    }

    /// Who a story is by: its byline, or else its source agency, or else the feed's author
    /// (the site), as Atom's feed-level author covers entries without one.
    pub fn creators<'b>(&'b self, article: &'b Article) -> Vec<&'b str> {
        if !article.byline.is_empty() {
            article.byline.iter().map(String::as_str).collect()
        } else {
            vec![article.source.as_deref().unwrap_or(&self.site.title)]
        }
    }

    /// The feed's language: as defined, or the one all its stories share.
    pub fn language(&self) -> Option<&str> {
        if let Some(language) = self.def.language.as_deref() {
            return Some(language);
        }
        let first = self.articles.first()?.language.as_str();
        self.articles
            .iter()
            .all(|a| a.language == first)
            .then_some(first)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("could not write the XML document: {0}")]
    Xml(String),
    #[error("could not write the JSON document: {0}")]
    Json(#[from] sonic_rs::Error),
}

/// Renders a feed in one format.
pub fn feed(format: FeedFormat, doc: &FeedDoc<'_>) -> Result<Vec<u8>, RenderError> {
    match format {
        FeedFormat::Rss => rss::render(doc),
        FeedFormat::Atom => atom::render(doc),
        FeedFormat::Json => json::render(doc),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A small wire for renderer tests, read from the sample shipped in the repo.
    use super::*;
    use crate::catalog::Catalog;
    use crate::ingest::sample;

    pub fn site() -> Site {
        Site::new(
            "https://wire.example.com",
            "Wirefeed",
            "wire.example.com,2026",
        )
    }

    /// A document of `articles` with no kills, history, fixed date or brand.
    pub fn doc<'a>(site: &'a Site, def: &'a FeedDef, articles: &'a [Article]) -> FeedDoc<'a> {
        FeedDoc {
            site,
            def,
            articles,
            deleted: &[],
            history: &NO_HISTORY,
            updated: None,
            brand: None,
        }
    }

    pub fn articles() -> Vec<Article> {
        let mut articles = sample::articles().expect("the sample wire is valid");
        articles.sort_by(|a, b| (b.published, &b.id).cmp(&(a.published, &a.id)));
        articles
    }

    /// Stories for what the open web expects (tests/fixtures/open-web.ndjson): pictures with
    /// sizes and a thumbnail, an agency story with no byline, an unsigned one, `&` and `<` in
    /// a headline, and an Arabic story.
    pub fn open_web() -> Vec<Article> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/open-web.ndjson"
        );
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| Article::from_json(line).expect("the open-web stories are valid"))
            .collect()
    }

    /// A held flash with rights: urgency 1, an embargo, a copyright, terms and a link.
    pub fn marked() -> Article {
        let mut story = articles().remove(0);
        story.urgency = Some(1);
        story.embargo = Some("2026-11-26T06:00:00Z".parse().unwrap());
        story.rights = Some(crate::model::Rights {
            copyright: Some("© 2026 Wire Desk & partners".into()),
            usage_terms: Some("No archiving <after> 30 days.".into()),
            link: Some("https://wire.example.com/rights/standard".into()),
        });
        story
    }

    /// A feed with a rights statement of its own.
    pub fn feed_with_rights() -> FeedDef {
        FeedDef {
            rights: Some("© 2026 Wirefeed. All rights reserved.".into()),
            ..all_feed()
        }
    }

    pub fn brand() -> Brand {
        Brand {
            logo: Some("https://wire.example.com/static/logo-144x48.png".into()),
            icon: Some("https://wire.example.com/static/icon-512.png".into()),
            favicon: Some("https://wire.example.com/favicon-64.png".into()),
        }
    }

    pub fn all_feed() -> FeedDef {
        Catalog::empty("Wirefeed").feed("all", |_| false).unwrap()
    }
}
