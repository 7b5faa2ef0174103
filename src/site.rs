//! The site: the public origin and naming scheme for everything wirefeed publishes.
//!
//! Every absolute link (feed self links, permalinks, autodiscovery) and every entry id is made
//! here, from the configured public URL and tag authority, so that renderers and HTTP handlers
//! agree on them byte for byte.

use chrono::NaiveDate;

use crate::model::{Article, ArticleId, FeedFormat, Part};

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

    pub fn home_url(&self) -> String {
        format!("{}/", self.origin)
    }

    pub fn feed_url(&self, slug: &str, format: FeedFormat) -> String {
        format!("{}/feeds/{slug}.{}", self.origin, format.extension())
    }

    /// The feed a URL names, when it is one of this site's feed URLs.
    /// The URL of one document of a feed: the subscription document, a page or a day's archive.
    pub fn document_url(&self, slug: &str, format: FeedFormat, part: Part) -> String {
        match part {
            Part::Current => self.feed_url(slug, format),
            Part::Page(n) => format!("{}?page={n}", self.feed_url(slug, format)),
            Part::Archive(day) => self.archive_url(slug, format, day),
        }
    }

    /// One UTC day's archive of a feed (RFC 5005 §4).
    pub fn archive_url(&self, slug: &str, format: FeedFormat, day: NaiveDate) -> String {
        format!(
            "{}/feeds/{slug}/archive/{}.{}",
            self.origin,
            day.format("%Y-%m-%d"),
            format.extension()
        )
    }

    pub fn feed_from_url(&self, url: &str) -> Option<(String, FeedFormat)> {
        let file = url.strip_prefix(&self.origin)?.strip_prefix("/feeds/")?;
        let (slug, ext) = file.rsplit_once('.')?;
        let format = FeedFormat::from_extension(ext)?;
        let valid = !slug.is_empty()
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        valid.then(|| (slug.to_owned(), format))
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
        format!("{}/feeds.opml", self.origin)
    }

    /// The HTML page of a feed: its category page, or the home page for the whole wire.
    pub fn feed_page_url(&self, slug: &str) -> String {
        if slug == crate::model::ALL_SLUG {
            self.home_url()
        } else {
            format!("{}/categories/{slug}", self.origin)
        }
    }

    pub fn permalink(&self, id: &ArticleId) -> String {
        format!("{}/articles/{id}", self.origin)
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
