//! The HTML pages: the home page (every feed), a page per category, a permalink page per
//! story, and the not-found page. Plain, valid HTML5 with `<link rel="alternate">` feed
//! autodiscovery in every head; every piece of text is escaped exactly once, here.

use std::fmt::Write;

use quick_xml::escape::escape;

use crate::catalog::FeedDef;
use crate::model::Article;
use crate::site::{FeedFormat, Site};

const STYLE: &str = "body{font:1.05rem/1.55 Georgia,serif;max-width:46rem;margin:0 auto;padding:1rem;color:#1a1a1a}\
header,footer{font-family:system-ui,sans-serif}a{color:#0b4f9c}\
.meta{font:.9rem system-ui,sans-serif;color:#555}img{max-width:100%;height:auto}\
figcaption{font:.85rem system-ui,sans-serif;color:#555}ul.feeds{font-family:system-ui,sans-serif}";

/// A page being written: head first, then the body inside `<main>`.
struct Page {
    out: String,
}

impl Page {
    fn new(site: &Site, title: &str, lang: &str, feeds: &[&FeedDef]) -> Self {
        let mut out = String::with_capacity(8192);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>{STYLE}</style>\n",
            lang = escape(lang),
            title = escape(title),
        );
        for def in feeds {
            for format in FeedFormat::ALL {
                let _ = writeln!(
                    out,
                    "<link rel=\"alternate\" type=\"{}\" title=\"{} ({})\" href=\"{}\">",
                    format.media_type(),
                    escape(def.title.as_str()),
                    format.label(),
                    escape(site.feed_url(&def.slug, format).as_str()),
                );
            }
        }
        let _ = write!(
            out,
            "</head>\n<body>\n<header><a href=\"{home}\">{name}</a></header>\n<main>\n",
            home = escape(site.home_url().as_str()),
            name = escape(site.title.as_str()),
        );
        Self { out }
    }

    fn push(&mut self, html: &str) {
        self.out.push_str(html);
    }

    /// Links to a feed in each format.
    fn subscribe(&mut self, site: &Site, def: &FeedDef) {
        let _ = write!(
            self.out,
            "<ul class=\"feeds\" aria-label=\"Subscribe to {}\">",
            escape(def.title.as_str())
        );
        for format in FeedFormat::ALL {
            let _ = write!(
                self.out,
                "<li><a href=\"{}\" type=\"{}\">{}</a></li>",
                escape(site.feed_url(&def.slug, format).as_str()),
                format.media_type(),
                format.label(),
            );
        }
        self.out.push_str("</ul>\n");
    }

    fn headlines(&mut self, site: &Site, articles: &[Article]) {
        self.out.push_str("<ul class=\"headlines\">\n");
        for article in articles {
            let _ = writeln!(
                self.out,
                "<li><a href=\"{}\">{}</a> <time class=\"meta\" datetime=\"{}\">{}</time></li>",
                escape(site.permalink(&article.id).as_str()),
                escape(article.title.as_str()),
                article
                    .published
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                article.published.format("%d %b %Y %H:%M UTC"),
            );
        }
        self.out.push_str("</ul>\n");
    }

    fn finish(mut self, site: &Site) -> String {
        let _ = write!(
            self.out,
            "</main>\n<footer><p><a href=\"{}\">All feeds (OPML)</a></p></footer>\n</body>\n</html>\n",
            escape(site.opml_url().as_str()),
        );
        self.out
    }
}

/// The home page: the newest stories of the whole wire and every feed.
pub fn index(site: &Site, feeds: &[FeedDef], latest: &[Article]) -> String {
    let all = &feeds[0];
    let mut page = Page::new(site, &site.title, "en", &[all]);
    let _ = writeln!(page.out, "<h1>{}</h1>", escape(site.title.as_str()));
    page.subscribe(site, all);
    page.push("<section aria-labelledby=\"feeds\"><h2 id=\"feeds\">Categories</h2>\n<ul>\n");
    for def in &feeds[1..] {
        let _ = writeln!(
            page.out,
            "<li><a href=\"{}\">{}</a></li>",
            escape(site.feed_page_url(&def.slug).as_str()),
            escape(def.title.as_str()),
        );
    }
    page.push("</ul></section>\n<section aria-labelledby=\"latest\"><h2 id=\"latest\">Off the wire</h2>\n");
    page.headlines(site, latest);
    page.push("</section>\n");
    page.finish(site)
}

/// A category page: its newest stories and its feeds.
pub fn category(site: &Site, def: &FeedDef, articles: &[Article]) -> String {
    let title = format!("{} — {}", def.title, site.title);
    let lang = def.language.as_deref().unwrap_or("en");
    let mut page = Page::new(site, &title, lang, &[def]);
    let _ = writeln!(
        page.out,
        "<h1>{}</h1>\n<p>{}</p>",
        escape(def.title.as_str()),
        escape(def.description.as_str())
    );
    page.subscribe(site, def);
    page.headlines(site, articles);
    page.finish(site)
}

/// A story's permalink page.
pub fn article(site: &Site, article: &Article, feeds: &[FeedDef]) -> String {
    let feed_refs: Vec<&FeedDef> = feeds.iter().collect();
    let mut page = Page::new(
        site,
        &format!("{} — {}", article.title, site.title),
        &article.language,
        &feed_refs,
    );
    let _ = writeln!(
        page.out,
        "<article>\n<h1>{}</h1>",
        escape(article.title.as_str())
    );
    let mut meta: Vec<String> = Vec::new();
    if let Some(dateline) = &article.dateline {
        meta.push(escape(dateline.as_str()).into_owned());
    }
    if !article.byline.is_empty() {
        meta.push(format!("By {}", escape(article.byline.join(", ").as_str())));
    }
    if let Some(source) = &article.source {
        meta.push(escape(source.as_str()).into_owned());
    }
    let _ = writeln!(
        page.out,
        "<p class=\"meta\">{} · <time datetime=\"{}\">{}</time></p>",
        meta.join(" · "),
        article
            .published
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        article.published.format("%d %b %Y %H:%M UTC"),
    );
    for image in &article.images {
        let alt = image.caption.as_deref().unwrap_or(article.title.as_str());
        let _ = write!(
            page.out,
            "<figure><img src=\"{}\" alt=\"{}\"",
            escape(image.url.as_str()),
            escape(alt)
        );
        if let (Some(w), Some(h)) = (image.width, image.height) {
            let _ = write!(page.out, " width=\"{w}\" height=\"{h}\"");
        }
        page.push(">");
        let caption: Vec<String> = [image.caption.as_deref(), image.credit.as_deref()]
            .into_iter()
            .flatten()
            .map(|t| escape(t).into_owned())
            .collect();
        if !caption.is_empty() {
            let _ = write!(page.out, "<figcaption>{}</figcaption>", caption.join(" — "));
        }
        page.push("</figure>\n");
    }
    match (&article.content_html, &article.summary) {
        (Some(html), _) => page.push(html),
        (None, Some(summary)) => {
            let _ = write!(page.out, "<p>{}</p>", escape(summary.as_str()));
        }
        (None, None) => {}
    }
    page.push("\n</article>\n<aside aria-label=\"Filed in\"><p class=\"meta\">Filed in: ");
    let links: Vec<String> = article
        .categories
        .iter()
        .map(|c| {
            format!(
                "<a href=\"{}\">{}</a>",
                escape(site.feed_page_url(c.as_str()).as_str()),
                escape(c.label().as_str())
            )
        })
        .collect();
    page.push(&links.join(", "));
    page.push("</p></aside>\n");
    page.finish(site)
}

/// The body of a 404: what was asked for, and where to go instead.
pub fn not_found(site: &Site, what: &str) -> String {
    let mut page = Page::new(site, &format!("Not found — {}", site.title), "en", &[]);
    let _ = writeln!(
        page.out,
        "<h1>Not found</h1>\n<p>{}</p>\n<p>The <a href=\"{}\">home page</a> lists every category and feed.</p>",
        escape(what),
        escape(site.home_url().as_str()),
    );
    page.finish(site)
}

/// The body of a 410: a story that was killed.
pub fn gone(site: &Site, what: &str) -> String {
    let mut page = Page::new(site, &format!("Withdrawn — {}", site.title), "en", &[]);
    let _ = writeln!(
        page.out,
        "<h1>Story withdrawn</h1>\n<p>{}</p>\n<p>The <a href=\"{}\">home page</a> has the latest stories.</p>",
        escape(what),
        escape(site.home_url().as_str()),
    );
    page.finish(site)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;

    #[test]
    fn an_article_page_escapes_its_title_once_and_offers_its_feeds() {
        let site = fixtures::site();
        let articles = fixtures::articles();
        let tricky = articles
            .iter()
            .find(|a| a.title.contains('&'))
            .expect("a title with &");
        let feeds = crate::catalog::Catalog::empty("Wirefeed").list(&tricky.categories);
        let html = article(&site, tricky, &feeds);
        let escaped = escape(tricky.title.as_str()).into_owned();
        assert!(html.contains(&format!("<h1>{escaped}</h1>")));
        assert!(!html.contains("&amp;amp;"));
        assert!(html.contains("rel=\"alternate\" type=\"application/atom+xml\""));
        assert!(html.starts_with("<!DOCTYPE html>"));
    }
}
