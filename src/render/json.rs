//! JSON Feed 1.1 (<https://www.jsonfeed.org/version/1.1/>), written with serde through
//! sonic-rs, whose vectorised string escaping writes a feed of full stories (mostly HTML
//! strings) about three times as fast as serde_json's byte-at-a-time loop; the document is
//! the same JSON (a test compares it with serde_json's).
//!
//! Fields JSON Feed has no name for — dateline, source agency, picture captions and credits,
//! urgency, embargo, rights — go in a `_wirefeed` extension object, as the spec allows for
//! names starting with `_`, with the `about` URL it asks such an object to carry. The feed's
//! own rights statement is the feed's `_wirefeed.rights`.

use serde::Serialize;

use super::{FeedDoc, RenderError, WIREFEED_NS};
use crate::model::{Article, FeedFormat, Image, Rights};

const VERSION: &str = "https://jsonfeed.org/version/1.1";

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: String,
    feed_url: String,
    /// The next (older) stories: the next page, or the previous day's archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    /// 512 × 512 pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    icon: Option<&'a str>,
    /// 64 × 64 pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    favicon: Option<&'a str>,
    authors: Vec<Author<'a>>,
    /// Where to subscribe for pushed updates (JSON Feed 1.1 `hubs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hubs: Vec<Hub<'a>>,
    #[serde(rename = "_wirefeed", skip_serializing_if = "Option::is_none")]
    extension: Option<FeedExtension<'a>>,
    items: Vec<Item<'a>>,
}

#[derive(Serialize)]
struct FeedExtension<'a> {
    about: &'static str,
    rights: &'a str,
}

#[derive(Serialize)]
struct Hub<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    url: &'a str,
}

#[derive(Serialize)]
struct Author<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Item<'a> {
    id: String,
    url: String,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_html: Option<&'a str>,
    // JSON Feed 1.1 requires content_html or content_text; a summary-only story uses its
    // summary as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    content_text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    date_published: String,
    date_modified: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<Author<'a>>,
    tags: Vec<&'a str>,
    language: &'a str,
    #[serde(rename = "_wirefeed")]
    extension: Extension<'a>,
}

#[derive(Serialize)]
struct Extension<'a> {
    about: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    urgency: Option<u8>,
    /// The story is still held until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    embargoed_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rights: Option<&'a Rights>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dateline: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    images: &'a [Image],
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

pub(crate) fn render(doc: &FeedDoc<'_>) -> Result<Vec<u8>, RenderError> {
    let feed = document(doc);
    let mut out = Vec::with_capacity(4096 + doc.articles.len() * 4096);
    sonic_rs::to_writer(&mut out, &feed)?;
    Ok(out)
}

fn document<'a>(doc: &'a FeedDoc<'_>) -> JsonFeed<'a> {
    let site = doc.site;
    let def = doc.def;
    JsonFeed {
        version: VERSION,
        title: &def.title,
        home_page_url: site.feed_page_url(&def.slug),
        feed_url: if doc.history.variant {
            doc.self_url(FeedFormat::Json)
        } else {
            site.feed_url(&def.slug, FeedFormat::Json)
        },
        next_url: doc
            .history
            .link("next")
            .or_else(|| doc.history.link("prev-archive")),
        description: &def.description,
        language: doc.language(),
        icon: doc.brand().icon.as_deref(),
        favicon: doc.brand().favicon.as_deref(),
        authors: vec![Author { name: &site.title }],
        hubs: doc
            .hub()
            .map(|url| Hub {
                kind: "WebSub",
                url,
            })
            .into_iter()
            .collect(),
        extension: def.rights.as_deref().map(|rights| FeedExtension {
            about: WIREFEED_NS,
            rights,
        }),
        items: doc.articles.iter().map(|a| item(doc, a)).collect(),
    }
}

fn item<'a>(doc: &FeedDoc<'_>, article: &'a Article) -> Item<'a> {
    let content_html = article.content_html.as_deref();
    Item {
        id: doc.site.entry_id(&article.id),
        url: doc.site.article_link(article),
        title: &article.title,
        content_html,
        // A headline with neither text nor summary still carries one of the two.
        content_text: if content_html.is_none() {
            Some(article.summary.as_deref().unwrap_or(&article.title))
        } else {
            None
        },
        summary: article.summary.as_deref(),
        image: article.images.first().map(|i| i.url.as_str()),
        date_published: rfc3339(article.published),
        date_modified: rfc3339(article.updated),
        authors: article.byline.iter().map(|name| Author { name }).collect(),
        tags: article.categories.iter().map(|c| c.as_str()).collect(),
        language: &article.language,
        extension: Extension {
            about: WIREFEED_NS,
            urgency: article.urgency,
            embargoed_until: article.embargo.map(rfc3339),
            rights: article.rights.as_ref(),
            dateline: article.dateline.as_deref(),
            source: article.source.as_deref(),
            images: &article.images,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;

    #[test]
    fn every_item_has_an_id_content_and_dates() {
        let site = fixtures::site();
        let def = fixtures::all_feed();
        let articles = fixtures::articles();
        let doc = fixtures::doc(&site, &def, &articles);
        let value: serde_json::Value = serde_json::from_slice(&render(&doc).unwrap()).unwrap();
        assert_eq!(value["version"], VERSION);
        assert!(value.get("icon").is_none() && value.get("favicon").is_none());
        let items = value["items"].as_array().unwrap();
        assert_eq!(items.len(), articles.len());
        for item in items {
            assert!(item["id"].as_str().unwrap().starts_with("tag:"));
            assert!(item["content_html"].is_string() || item["content_text"].is_string());
            assert!(item["date_published"].as_str().unwrap().ends_with('Z'));
        }
    }

    #[test]
    fn the_document_is_the_json_serde_json_would_write_for_any_text() {
        let site = fixtures::site();
        let def = fixtures::all_feed();
        let mut articles = fixtures::articles();
        articles[0].title =
            "Quotes \" and \\ back, tab\tbreak\n\u{1} ctrl, </script>, 北京, \u{2028}, 🌏".into();
        articles[0].content_html = Some(format!("<p class=\"x\">{}</p>", "é\"\\".repeat(300)));
        let doc = fixtures::doc(&site, &def, &articles);
        let ours = render(&doc).unwrap();
        let theirs = serde_json::to_vec(&document(&doc)).unwrap();
        let ours: serde_json::Value = serde_json::from_slice(&ours).unwrap();
        let theirs: serde_json::Value = serde_json::from_slice(&theirs).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours["items"][0]["title"], articles[0].title.as_str());
    }

    #[test]
    fn the_sites_icons_are_the_feeds_icon_and_favicon() {
        let site = fixtures::site();
        let def = fixtures::all_feed();
        let brand = fixtures::brand();
        let doc = FeedDoc {
            brand: Some(&brand),
            ..fixtures::doc(&site, &def, &[])
        };
        let value: serde_json::Value = serde_json::from_slice(&render(&doc).unwrap()).unwrap();
        assert_eq!(
            value["icon"],
            "https://wire.example.com/static/icon-512.png"
        );
        assert_eq!(value["favicon"], "https://wire.example.com/favicon-64.png");
    }

    #[test]
    fn rights_urgency_and_embargo_are_wirefeed_extension_members_with_about() {
        let site = fixtures::site();
        let def = fixtures::feed_with_rights();
        let articles = [fixtures::marked(), fixtures::articles().remove(1)];
        let doc = fixtures::doc(&site, &def, &articles);
        let value: serde_json::Value = serde_json::from_slice(&render(&doc).unwrap()).unwrap();
        assert_eq!(value["_wirefeed"]["about"], WIREFEED_NS);
        assert_eq!(
            value["_wirefeed"]["rights"],
            "© 2026 Wirefeed. All rights reserved."
        );
        let ours = &value["items"][0]["_wirefeed"];
        assert_eq!(ours["about"], WIREFEED_NS);
        assert_eq!(ours["urgency"], 1);
        assert_eq!(ours["embargoed_until"], "2026-11-26T06:00:00Z");
        assert_eq!(ours["rights"]["copyright"], "© 2026 Wire Desk & partners");
        assert_eq!(
            ours["rights"]["usage_terms"],
            "No archiving <after> 30 days."
        );
        assert_eq!(
            ours["rights"]["link"],
            "https://wire.example.com/rights/standard"
        );
        let plain = &value["items"][1]["_wirefeed"];
        assert!(plain.get("urgency").is_none() && plain.get("rights").is_none());
        // Without a statement of its own the feed has no extension object.
        let plain_def = fixtures::all_feed();
        let doc = fixtures::doc(&site, &plain_def, &articles);
        let value: serde_json::Value = serde_json::from_slice(&render(&doc).unwrap()).unwrap();
        assert!(value.get("_wirefeed").is_none());
    }
}
