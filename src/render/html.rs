//! The HTML pages: the home page (the newest stories and every feed), a page per category, a
//! permalink page per story with related headlines, and the not-found and withdrawn pages.
//!
//! Pages are askama templates (`templates/`), compiled into the binary and escaped by default;
//! the only markup passed through unescaped is a story's body, which the model has already
//! cleaned to the news allow-list. The stylesheet is served on its own ([`STYLESHEET`], at a
//! URL that names its version), so a page's Content-Security-Policy needs no inline style. Every head carries `<link rel="alternate">`
//! feed autodiscovery; every page offers its feeds with copyable addresses. No JavaScript.

use askama::Template;

use crate::model::{Article, FeedDef, FeedFormat, Rights, Selection};
use crate::site::Site;

/// The pages' stylesheet, served at `site::Path::Stylesheet`.
pub(crate) const STYLESHEET: &str = include_str!("../../templates/style.css");

/// The stylesheet's version: a hash of its bytes, put in its URL so that a browser holding the
/// old one (cached for a year) fetches the new one with the next page.
pub(crate) fn stylesheet_version() -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(STYLESHEET.as_bytes()))
}

/// What every page has: head, masthead and footer.
pub(super) struct Chrome {
    pub(super) lang: String,
    pub(super) dir: &'static str,
    pub(super) title: String,
    /// The stylesheet's URL, with its version.
    pub(super) stylesheet: String,
    pub(super) site_name: String,
    pub(super) home_url: String,
    pub(super) opml_url: String,
    pub(super) alternates: Vec<Alternate>,
}

pub(super) struct Alternate {
    pub(super) media_type: &'static str,
    pub(super) title: String,
    pub(super) href: String,
}

impl Chrome {
    pub(super) fn new(site: &Site, title: String, lang: &str, feeds: &[&FeedDef]) -> Self {
        let alternates = feeds
            .iter()
            .flat_map(|def| {
                FeedFormat::ALL.iter().map(move |format| Alternate {
                    media_type: format.media_type(),
                    title: format!("{} ({})", def.title, format.label()),
                    href: site.feed_url(&def.slug, *format),
                })
            })
            .collect();
        Self {
            lang: lang.to_owned(),
            dir: direction(lang),
            title,
            stylesheet: format!(
                "{}?v={}",
                site.local_href(&crate::site::Path::Stylesheet),
                stylesheet_version()
            ),
            site_name: site.title.clone(),
            home_url: site.home_url(),
            opml_url: site.opml_url(),
            alternates,
        }
    }
}

/// A feed's subscribe box: a link and a copyable address per format.
struct SubscribeBox {
    slug: String,
    title: String,
    links: Vec<FeedLink>,
}

struct FeedLink {
    label: &'static str,
    media_type: &'static str,
    href: String,
}

impl SubscribeBox {
    fn new(site: &Site, def: &FeedDef) -> Self {
        Self {
            slug: def.slug.clone(),
            title: def.title.clone(),
            links: FeedFormat::ALL
                .iter()
                .map(|format| FeedLink {
                    label: format.label(),
                    media_type: format.media_type(),
                    href: site.feed_url(&def.slug, *format),
                })
                .collect(),
        }
    }
}

struct Headline {
    lang: String,
    dir: &'static str,
    href: String,
    title: String,
    dateline: Option<String>,
    datetime: String,
    when: String,
    /// Marked "FLASH".
    flash: bool,
}

fn headlines(site: &Site, articles: &[Article]) -> Vec<Headline> {
    flagged_headlines(site, articles, None)
}

/// Headlines, each story of urgency `flash` or more urgent marked as a flash.
fn flagged_headlines(site: &Site, articles: &[Article], flash: Option<u8>) -> Vec<Headline> {
    articles
        .iter()
        .map(|a| Headline {
            flash: flash.is_some_and(|level| a.is_urgent(level)),
            lang: a.language.clone(),
            dir: direction(&a.language),
            href: site.permalink(&a.id),
            title: a.title.clone(),
            dateline: a.dateline.clone(),
            datetime: machine_time(a.published),
            when: human_time(a.published),
        })
        .collect()
}

struct Link {
    href: String,
    title: String,
}

/// The writing direction of a language tag: right to left for Arabic, Hebrew, Persian, Urdu,
/// Pashto, Sindhi, Uyghur, Yiddish and Dhivehi, left to right otherwise.
fn direction(lang: &str) -> &'static str {
    let primary = lang
        .split('-')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match primary.as_str() {
        "ar" | "he" | "fa" | "ur" | "ps" | "sd" | "ug" | "yi" | "dv" => "rtl",
        _ => "ltr",
    }
}

fn machine_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn human_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%-d %b %Y %H:%M UTC").to_string()
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    chrome: Chrome,
    headlines: Vec<Headline>,
    boxes: Vec<SubscribeBox>,
    categories: Vec<Link>,
}

#[derive(Template)]
#[template(path = "category.html")]
struct CategoryPage {
    chrome: Chrome,
    heading: String,
    description: String,
    headlines: Vec<Headline>,
    boxes: Vec<SubscribeBox>,
}

#[derive(Template)]
#[template(path = "article.html")]
struct ArticlePage {
    chrome: Chrome,
    categories: Vec<Link>,
    headline: String,
    summary: Option<String>,
    dateline: Option<String>,
    byline: String,
    source: Option<String>,
    published_datetime: String,
    published_when: String,
    updated_datetime: String,
    updated_when: Option<String>,
    images: Vec<Picture>,
    body: String,
    /// When the story is still held: (machine time, human time).
    embargo: Option<(String, String)>,
    rights: Option<Rights>,
    headlines: Vec<Headline>,
    boxes: Vec<SubscribeBox>,
}

struct Picture {
    src: String,
    alt: String,
    width: Option<u32>,
    height: Option<u32>,
    caption: Option<String>,
    credit: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    chrome: Chrome,
    heading: &'static str,
    message: String,
    way_back: &'static str,
}

pub(super) fn render(page: impl Template) -> String {
    page.render()
        .expect("templates only format owned strings and numbers")
}

/// The home page: the newest stories of the whole wire (flashes marked, by the flash feed's
/// level) and every feed.
pub(crate) fn index(site: &Site, feeds: &[FeedDef], latest: &[Article]) -> String {
    let all = &feeds[0];
    let flash = feeds.iter().find_map(|def| match def.selection {
        Selection::Urgent(level) => Some(level),
        _ => None,
    });
    render(IndexPage {
        chrome: Chrome::new(site, site.title.clone(), "en", &[all]),
        headlines: flagged_headlines(site, latest, flash),
        boxes: vec![SubscribeBox::new(site, all)],
        categories: feeds[1..]
            .iter()
            .map(|def| Link {
                href: site.feed_page_url(&def.slug),
                title: def.title.clone(),
            })
            .collect(),
    })
}

/// A category page: its newest stories and its feeds.
pub(crate) fn category(site: &Site, def: &FeedDef, articles: &[Article]) -> String {
    let lang = def.language.as_deref().unwrap_or("en");
    render(CategoryPage {
        chrome: Chrome::new(
            site,
            format!("{} — {}", def.title, site.title),
            lang,
            &[def],
        ),
        heading: def.title.clone(),
        description: def.description.clone(),
        headlines: headlines(site, articles),
        boxes: vec![SubscribeBox::new(site, def)],
    })
}

/// A story's permalink page, with `related` headlines from its categories ("Off the wire").
pub(crate) fn article(
    site: &Site,
    article: &Article,
    feeds: &[FeedDef],
    related: &[Article],
) -> String {
    let feed_refs: Vec<&FeedDef> = feeds.iter().collect();
    let body = match (&article.content_html, &article.summary) {
        (Some(html), _) => html.clone(),
        (None, Some(summary)) => format!("<p>{}</p>", quick_xml::escape::escape(summary.as_str())),
        (None, None) => String::new(),
    };
    render(ArticlePage {
        chrome: Chrome::new(
            site,
            format!("{} — {}", article.title, site.title),
            &article.language,
            &feed_refs,
        ),
        categories: article
            .categories
            .iter()
            .map(|c| Link {
                href: site.feed_page_url(c.as_str()),
                title: c.label(),
            })
            .collect(),
        headline: article.title.clone(),
        // With a body the summary is the standfirst; without one it is the body.
        summary: article
            .summary
            .clone()
            .filter(|_| article.content_html.is_some()),
        dateline: article.dateline.clone(),
        byline: article.byline.join(", "),
        source: article.source.clone(),
        published_datetime: machine_time(article.published),
        published_when: human_time(article.published),
        updated_datetime: machine_time(article.updated),
        updated_when: (article.updated > article.published).then(|| human_time(article.updated)),
        images: article
            .images
            .iter()
            .map(|image| Picture {
                src: image.url.clone(),
                alt: image
                    .caption
                    .clone()
                    .unwrap_or_else(|| article.title.clone()),
                width: image.width,
                height: image.height,
                caption: image.caption.clone(),
                credit: image.credit.clone(),
            })
            .collect(),
        body,
        embargo: article
            .embargo
            .map(|until| (machine_time(until), human_time(until))),
        rights: article.rights.clone(),
        headlines: headlines(site, related),
        boxes: feeds
            .iter()
            .map(|def| SubscribeBox::new(site, def))
            .collect(),
    })
}

/// The body of a 404: what was asked for, and where to go instead.
pub(crate) fn not_found(site: &Site, what: &str) -> String {
    render(MessagePage {
        chrome: Chrome::new(site, format!("Not found — {}", site.title), "en", &[]),
        heading: "Not found",
        message: what.to_owned(),
        way_back: "lists every category and feed",
    })
}

/// The body of a 503: the store is away for a moment.
pub(crate) fn unavailable(site: &Site) -> String {
    render(MessagePage {
        chrome: Chrome::new(site, format!("Unavailable — {}", site.title), "en", &[]),
        heading: "Back in a moment",
        message: "The stories cannot be read just now. Please try again in a few seconds."
            .to_owned(),
        way_back: "will be back shortly",
    })
}

/// The body of a 410: a story that was killed.
pub(crate) fn gone(site: &Site, what: &str) -> String {
    render(MessagePage {
        chrome: Chrome::new(site, format!("Withdrawn — {}", site.title), "en", &[]),
        heading: "Story withdrawn",
        message: what.to_owned(),
        way_back: "has the latest stories",
    })
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
        let html = article(&site, tricky, &feeds, &articles[..3]);
        let escaped = tricky
            .title
            .replace('&', "&#38;")
            .replace('"', "&#34;")
            .replace('<', "&#60;")
            .replace('>', "&#62;");
        assert!(html.contains(&format!("<h1>{escaped}</h1>")), "{html}");
        assert!(!html.contains("&#38;#") && !html.contains("&amp;amp;"));
        assert!(html.contains("rel=\"alternate\" type=\"application/atom+xml\""));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("Off the wire"));
        assert!(html.contains("<input type=\"text\" readonly value=\""));
    }

    /// In a right-to-left page the date keeps its order ("30 Nov 2026 10:30 UTC", not the
    /// digits moved to the end), and a dateline takes its own direction.
    #[test]
    fn rtl_datelines_keep_the_dates_order() {
        let site = fixtures::site();
        let stories = fixtures::open_web();
        let arabic = stories.iter().find(|a| a.language == "ar").unwrap();
        let feeds = crate::catalog::Catalog::empty("Wirefeed").list(&arabic.categories);
        let html = article(&site, arabic, &feeds, &[]);
        assert!(html.contains(r#"<html lang="ar" dir="rtl">"#), "{html}");
        assert!(
            html.contains(r#"<span class="dateline" dir="auto">الرياض</span>"#),
            "{html}"
        );
        assert!(html.contains(r#"<bdi>Wirefeed</bdi>"#), "{html}");
        assert!(
            html.contains(
                r#"<time dir="ltr" datetime="2026-11-30T10:30:00Z">30 Nov 2026 10:30 UTC</time>"#
            ),
            "{html}"
        );
        let def = crate::catalog::Catalog::empty("Wirefeed")
            .feed("world", |_| true)
            .unwrap();
        let list = category(&site, &def, &stories);
        assert!(list.contains(r#"<li lang="ar" dir="rtl">"#), "{list}");
        assert!(
            list.contains(
                r#"<time dir="ltr" datetime="2026-11-30T10:30:00Z">30 Nov 2026 10:30 UTC</time>"#
            ),
            "{list}"
        );
        assert!(
            !list.contains("<time datetime"),
            "every date is isolated left to right"
        );
    }

    #[test]
    fn a_held_story_has_a_banner_its_rights_a_footer_and_flashes_a_label() {
        let site = fixtures::site();
        let marked = fixtures::marked();
        let feeds = crate::catalog::Catalog::empty("Wirefeed").list(&marked.categories);
        let html = article(&site, &marked, &feeds, &[]);
        assert!(html.contains(r#"<p class="embargo" role="note"><strong>EMBARGOED</strong> until <time dir="ltr" datetime="2026-11-26T06:00:00Z">26 Nov 2026 06:00 UTC</time>"#), "{html}");
        assert!(
            html.contains(r#"<p class="copyright">© 2026 Wire Desk &#38; partners</p>"#),
            "{html}"
        );
        assert!(html.contains("Terms of use: No archiving &#60;after&#62; 30 days."));
        assert!(
            html.contains(r#"<a rel="license" href="https://wire.example.com/rights/standard">"#)
        );
        let plain = fixtures::articles().remove(1);
        let html = article(&site, &plain, &feeds, &[]);
        assert!(!html.contains("class=\"embargo\"") && !html.contains("class=\"rights\""));
        // The home page marks stories at the flash feed's level (2 by default).
        let home = index(&site, &feeds, &[marked, plain]);
        assert_eq!(
            home.matches(r#"<strong class="flash""#).count(),
            1,
            "{home}"
        );
    }
}
