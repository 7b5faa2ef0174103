//! What crawlers read: `robots.txt`, the sitemap of the site's pages (sitemaps.org 0.9) and the
//! Google News sitemap of the newest stories. Every URL is the site's own page (a sitemap may
//! only list URLs of its host), never a story's canonical link elsewhere.

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::escape::escape;

use crate::model::{Article, FeedDef};
use crate::site::{Path, Site};

/// The sitemaps.org namespace.
pub const SITEMAP_NS: &str = "http://www.sitemaps.org/schemas/sitemap/0.9";
/// The Google News sitemap namespace.
pub const NEWS_NS: &str = "http://www.google.com/schemas/sitemap-news/0.9";
/// URLs one sitemap may list (sitemaps.org).
pub const MAX_URLS: usize = 50_000;
/// Stories a News sitemap may list, and how old they may be (Google's rules).
pub const NEWS_MAX: usize = 1_000;
pub const NEWS_HOURS: i64 = 48;

/// `robots.txt`: pages, feeds and archives are for everyone; the APIs, the operator's page
/// and the hub are not; the sitemaps are named.
pub(crate) fn robots(site: &Site) -> String {
    let mut out = String::from("User-agent: *\nAllow: /\n");
    for private in ["/api/", "/admin", "/hub", "/metrics"] {
        let _ = writeln!(out, "Disallow: {private}");
    }
    out.push('\n');
    for map in [Path::Sitemap, Path::NewsSitemap] {
        let _ = writeln!(out, "Sitemap: {}", site.href(&map));
    }
    out
}

/// The plain sitemap: the home page, every feed's page, and the given stories' pages (at most
/// [`MAX_URLS`] URLs in all; the caller bounds the stories).
pub(crate) fn pages(site: &Site, feeds: &[FeedDef], stories: &[Article]) -> Vec<u8> {
    let mut out = String::with_capacity(512 + stories.len() * 160);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<urlset xmlns=\"{SITEMAP_NS}\">");
    let newest = stories.iter().map(|a| a.updated).max();
    let mut seen = std::collections::HashSet::new();
    let feed_pages = feeds.iter().map(|def| site.feed_page_url(&def.slug));
    let mut listed = 0;
    for page in std::iter::once(site.home_url()).chain(feed_pages) {
        if seen.insert(page.clone()) && listed < MAX_URLS {
            url(&mut out, &page, newest);
            listed += 1;
        }
    }
    for story in stories.iter().take(MAX_URLS - listed) {
        url(&mut out, &site.permalink(&story.id), Some(story.updated));
    }
    out.push_str("</urlset>\n");
    out.into_bytes()
}

fn url(out: &mut String, loc: &str, modified: Option<DateTime<Utc>>) {
    let _ = write!(out, "<url><loc>{}</loc>", escape(loc));
    if let Some(at) = modified {
        let _ = write!(out, "<lastmod>{}</lastmod>", w3c(at));
    }
    out.push_str("</url>\n");
}

/// The Google News sitemap: stories published in the [`NEWS_HOURS`] before `now`, newest
/// first, at most [`NEWS_MAX`] of them. `stories` are live ones (killed stories never reach
/// it), newest first.
pub(crate) fn news(site: &Site, stories: &[Article], now: DateTime<Utc>) -> Vec<u8> {
    let since = now - chrono::Duration::hours(NEWS_HOURS);
    let mut out = String::with_capacity(512 + stories.len().min(NEWS_MAX) * 400);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<urlset xmlns=\"{SITEMAP_NS}\" xmlns:news=\"{NEWS_NS}\">"
    );
    let fresh = stories
        .iter()
        .filter(|a| a.published >= since && a.published <= now)
        .take(NEWS_MAX);
    for story in fresh {
        let _ = writeln!(
            out,
            "<url><loc>{loc}</loc><news:news><news:publication><news:name>{name}</news:name>\
             <news:language>{language}</news:language></news:publication>\
             <news:publication_date>{date}</news:publication_date>\
             <news:title>{title}</news:title></news:news></url>",
            loc = escape(site.permalink(&story.id).as_str()),
            name = escape(site.title.as_str()),
            language = news_language(&story.language),
            date = w3c(story.published),
            title = escape(story.title.as_str()),
        );
    }
    out.push_str("</urlset>\n");
    out.into_bytes()
}

/// A W3C datetime (what sitemaps take), in UTC.
fn w3c(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The language as Google News names it: an ISO 639 code, lower case, with `zh-cn` and `zh-tw`
/// the only regional forms.
fn news_language(tag: &str) -> String {
    let tag = tag.to_ascii_lowercase();
    match tag.as_str() {
        "zh-cn" | "zh-hans" | "zh-hans-cn" | "zh-sg" => "zh-cn".to_owned(),
        "zh-tw" | "zh-hant" | "zh-hant-tw" | "zh-hk" => "zh-tw".to_owned(),
        _ => tag
            .split(['-', '_'])
            .next()
            .filter(|primary| !primary.is_empty())
            .unwrap_or("und")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ArticleId, Category};

    fn site() -> Site {
        Site::new(
            "https://wire.example.com",
            "Wire & Co",
            "wire.example.com,2026",
        )
    }

    fn story(id: &str, published: &str, language: &str) -> Article {
        let at = DateTime::parse_from_rfc3339(published).unwrap().to_utc();
        Article {
            id: ArticleId::parse(id).unwrap(),
            title: format!("Talks <resume> & {id}"),
            summary: None,
            content_html: None,
            byline: vec![],
            source: None,
            dateline: None,
            language: language.into(),
            categories: vec![Category::parse("world").unwrap()],
            published: at,
            updated: at,
            url: Some("https://elsewhere.example.org/story".into()),
            images: vec![],
            embargo: None,
            expires: None,
            urgency: None,
            rights: None,
            version: None,
        }
    }

    #[test]
    fn robots_keeps_crawlers_out_of_the_apis_and_names_the_sitemaps() {
        let text = robots(&site());
        assert!(text.starts_with("User-agent: *\nAllow: /\n"));
        for line in ["Disallow: /api/", "Disallow: /admin", "Disallow: /hub"] {
            assert!(text.lines().any(|l| l == line), "{line}: {text}");
        }
        assert!(text.contains("Sitemap: https://wire.example.com/sitemap.xml\n"));
        assert!(text.contains("Sitemap: https://wire.example.com/sitemap-news.xml\n"));
    }

    #[test]
    fn the_news_sitemap_lists_the_last_two_days_with_escaped_titles() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .to_utc();
        let stories = [
            story("fresh", "2026-11-25T11:00:00Z", "en-GB"),
            story("yesterday", "2026-11-24T09:30:00Z", "zh-Hant"),
            story("old", "2026-11-23T11:59:59Z", "en"),
        ];
        let xml = String::from_utf8(news(&site(), &stories, now)).unwrap();
        assert_eq!(xml.matches("<url>").count(), 2, "{xml}");
        assert!(xml.contains("<loc>https://wire.example.com/articles/fresh</loc>"));
        assert!(!xml.contains("/articles/old<"), "older than 48 hours");
        assert!(
            !xml.contains("elsewhere.example.org"),
            "only the site's own pages"
        );
        assert!(
            xml.contains("<news:name>Wire &amp; Co</news:name><news:language>en</news:language>")
        );
        assert!(xml.contains("<news:language>zh-tw</news:language>"));
        assert!(
            xml.contains("<news:publication_date>2026-11-25T11:00:00Z</news:publication_date>")
        );
        assert!(xml.contains("<news:title>Talks &lt;resume&gt; &amp; fresh</news:title>"));
        let many: Vec<Article> = (0..1200)
            .map(|n| story(&format!("s{n}"), "2026-11-25T10:00:00Z", "en"))
            .collect();
        let xml = String::from_utf8(news(&site(), &many, now)).unwrap();
        assert_eq!(xml.matches("<url>").count(), NEWS_MAX);
    }

    #[test]
    fn the_page_sitemap_lists_home_feed_pages_once_and_stories() {
        let stories = [story("a", "2026-11-25T11:00:00Z", "en")];
        let feeds = crate::catalog::Catalog::empty("Wire").list(&[
            Category::parse("world").unwrap(),
            Category::parse("g20").unwrap(),
        ]);
        let xml = String::from_utf8(pages(&site(), &feeds, &stories)).unwrap();
        assert_eq!(
            xml.matches("<loc>https://wire.example.com/</loc>").count(),
            1,
            "the whole wire's page is the home page: {xml}"
        );
        assert!(xml.contains("<loc>https://wire.example.com/categories/world</loc>"));
        assert!(xml.contains(
            "<url><loc>https://wire.example.com/articles/a</loc><lastmod>2026-11-25T11:00:00Z</lastmod></url>"
        ));
    }
}
