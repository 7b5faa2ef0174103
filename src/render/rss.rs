//! RSS 2.0, with the extensions feed readers and republishers look for: `atom:link rel="self"`
//! (RSS Best Practices), `content:encoded` for the full story, `dc:creator` for each name in
//! the byline, Media RSS `media:content` for pictures, and for an item changed after it was
//! published (a correction, or a withdrawal notice) its modification time as DCMI Terms
//! `dcterms:modified`, which RSS 2.0 itself has no element for. Built with the `rss` crate,
//! which declares every namespace prefix it writes.

use std::collections::BTreeMap;

use rss::extension::Extension;
use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::{Category, Channel, Guid, Item};

use super::{FeedDoc, HISTORY_NS, RenderError};
use crate::model::{Article, FeedFormat, Image};

const MEDIA_NS: &str = "http://search.yahoo.com/mrss/";
const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
const DCTERMS_NS: &str = "http://purl.org/dc/terms/";

/// RFC 822 date as RSS 2.0 asks for, in UTC with a four-digit year.
pub fn rfc822(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

pub fn render(doc: &FeedDoc<'_>) -> Result<Vec<u8>, RenderError> {
    let site = doc.site;
    let def = doc.def;
    let self_link = Link {
        href: doc.self_url(FeedFormat::Rss),
        rel: "self".into(),
        mime_type: Some(FeedFormat::Rss.media_type().into()),
        ..Link::default()
    };
    let mut namespaces = BTreeMap::new();
    namespaces.insert("atom".to_owned(), ATOM_NS.to_owned());
    if doc.articles.iter().any(|a| !a.images.is_empty()) {
        namespaces.insert("media".to_owned(), MEDIA_NS.to_owned());
    }
    if doc.articles.iter().any(|a| a.updated > a.published) {
        namespaces.insert("dcterms".to_owned(), DCTERMS_NS.to_owned());
    }
    let mut extensions = rss::extension::ExtensionMap::default();
    if doc.history.archive {
        // RFC 5005 appendix B: the same element in an RSS 2.0 channel.
        namespaces.insert("fh".to_owned(), HISTORY_NS.to_owned());
        extensions.insert(
            "fh".to_owned(),
            BTreeMap::from([(
                "archive".to_owned(),
                vec![Extension {
                    name: "fh:archive".to_owned(),
                    ..Extension::default()
                }],
            )]),
        );
    }
    let channel = Channel {
        extensions,
        title: def.title.clone(),
        link: site.feed_page_url(&def.slug),
        description: def.description.clone(),
        language: doc.language().map(str::to_owned),
        last_build_date: (!doc.articles.is_empty()).then(|| rfc822(doc.updated())),
        generator: Some("wirefeed".into()),
        docs: Some("https://www.rssboard.org/rss-specification".into()),
        ttl: Some(def.ttl_minutes().to_string()),
        atom_ext: Some(AtomExtension {
            links: std::iter::once(self_link)
                .chain(doc.hub().map(|hub| Link {
                    href: hub.to_owned(),
                    rel: "hub".into(),
                    ..Link::default()
                }))
                .chain(doc.history.links.iter().map(|(rel, href)| Link {
                    href: href.clone(),
                    rel: (*rel).into(),
                    mime_type: Some(FeedFormat::Rss.media_type().into()),
                    ..Link::default()
                }))
                .collect(),
        }),
        items: doc.articles.iter().map(|a| item(doc, a)).collect(),
        namespaces,
        ..Channel::default()
    };
    channel
        .write_to(Vec::with_capacity(4096 + doc.articles.len() * 4096))
        .map_err(|e| RenderError::Xml(e.to_string()))
}

fn item(doc: &FeedDoc<'_>, article: &Article) -> Item {
    let site = doc.site;
    let mut extensions = rss::extension::ExtensionMap::new();
    if !article.images.is_empty() {
        let contents = article.images.iter().map(media_content).collect();
        extensions.insert(
            "media".to_owned(),
            BTreeMap::from([("content".to_owned(), contents)]),
        );
    }
    if article.updated > article.published {
        extensions.insert(
            "dcterms".to_owned(),
            BTreeMap::from([(
                "modified".to_owned(),
                vec![Extension {
                    name: "dcterms:modified".to_owned(),
                    value: Some(
                        article
                            .updated
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    ),
                    ..Extension::default()
                }],
            )]),
        );
    }
    Item {
        title: Some(article.title.clone()),
        link: Some(site.article_link(article)),
        // `description` is HTML in RSS; the summary is plain text, so it is escaped once here
        // and the `rss` crate wraps it in CDATA.
        description: article
            .summary
            .as_deref()
            .map(|s| quick_xml::escape::partial_escape(s).into_owned()),
        categories: article
            .categories
            .iter()
            .map(|c| Category {
                name: c.as_str().to_owned(),
                domain: Some(format!("{}/categories", site.origin())),
            })
            .collect(),
        guid: Some(Guid {
            value: site.entry_id(&article.id),
            permalink: false,
        }),
        pub_date: Some(rfc822(article.published)),
        content: article.content_html.clone(),
        extensions,
        dublin_core_ext: (!article.byline.is_empty()).then(|| DublinCoreExtension {
            creators: article.byline.clone(),
            ..DublinCoreExtension::default()
        }),
        ..Item::default()
    }
}

fn media_content(image: &Image) -> Extension {
    let mut attrs = BTreeMap::new();
    attrs.insert("url".to_owned(), image.url.clone());
    attrs.insert("type".to_owned(), image.media_type.clone());
    attrs.insert("medium".to_owned(), "image".to_owned());
    if let Some(width) = image.width {
        attrs.insert("width".to_owned(), width.to_string());
    }
    if let Some(height) = image.height {
        attrs.insert("height".to_owned(), height.to_string());
    }
    let mut children = BTreeMap::new();
    let text = |name: &str, value: &str, attrs: BTreeMap<String, String>| Extension {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        attrs,
        children: BTreeMap::new(),
    };
    if let Some(caption) = &image.caption {
        let plain = BTreeMap::from([("type".to_owned(), "plain".to_owned())]);
        children.insert(
            "description".to_owned(),
            vec![text("media:description", caption, plain)],
        );
    }
    if let Some(credit) = &image.credit {
        children.insert(
            "credit".to_owned(),
            vec![text("media:credit", credit, BTreeMap::new())],
        );
    }
    Extension {
        name: "media:content".to_owned(),
        value: None,
        attrs,
        children,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;

    fn rendered() -> String {
        let site = fixtures::site();
        let def = fixtures::all_feed();
        let articles = fixtures::articles();
        let doc = FeedDoc {
            site: &site,
            def: &def,
            articles: &articles,
            deleted: &[],
            history: &crate::render::NO_HISTORY,
            updated: None,
        };
        String::from_utf8(render(&doc).unwrap()).unwrap()
    }

    #[test]
    fn every_prefix_used_is_declared_on_the_root() {
        let xml = rendered();
        let root = &xml[..xml.find("<channel>").unwrap()];
        for prefix in ["atom", "content", "dc", "media"] {
            assert!(xml.contains(&format!("<{prefix}:")), "{prefix} not used");
            assert!(
                root.contains(&format!("xmlns:{prefix}=")),
                "{prefix} not declared"
            );
        }
    }

    #[test]
    fn guids_are_tag_uris_that_are_not_permalinks() {
        let xml = rendered();
        assert!(xml.contains(r#"<guid isPermaLink="false">tag:wire.example.com,2026:article:"#));
    }

    #[test]
    fn dates_are_rfc_822_in_utc() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-25T16:05:09+08:00").unwrap();
        assert_eq!(rfc822(t.to_utc()), "Wed, 25 Nov 2026 08:05:09 +0000");
    }

    #[test]
    fn the_same_stories_render_to_the_same_bytes() {
        assert_eq!(rendered(), rendered());
    }
}
