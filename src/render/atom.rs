//! Atom 1.0 (RFC 4287), built with the `atom_syndication` crate.
//!
//! Each entry has a tag: URI id that never changes, `published` and `updated`, an author for
//! every name in the byline (or the source agency, or the site), a category per slug, the
//! story's link as `rel="alternate"`, its pictures as `rel="enclosure"`, a plain-text summary
//! and the full story as `type="html"` content.

use atom_syndication::{
    Category, Content, Entry, Feed, FixedDateTime, Generator, Link, Person, Text,
};
use std::collections::BTreeMap;

use atom_syndication::extension::Extension;
use chrono::{DateTime, Utc};

use super::{FeedDoc, HISTORY_NS, RenderError};
use crate::model::{Article, FeedFormat, Tombstone};

const TOMBSTONES_NS: &str = "http://purl.org/atompub/tombstones/1.0";

fn fixed(t: DateTime<Utc>) -> FixedDateTime {
    t.fixed_offset()
}

fn link(href: String, rel: &str, mime_type: &str) -> Link {
    Link {
        href,
        rel: rel.to_owned(),
        mime_type: Some(mime_type.to_owned()),
        ..Link::default()
    }
}

fn person(name: &str) -> Person {
    Person {
        name: name.to_owned(),
        ..Person::default()
    }
}

pub fn render(doc: &FeedDoc<'_>) -> Result<Vec<u8>, RenderError> {
    let site = doc.site;
    let def = doc.def;
    let mut feed = Feed {
        title: Text::plain(def.title.clone()),
        id: site.feed_id(&def.slug),
        updated: fixed(doc.updated()),
        // RFC 4287 4.1.1: a feed-level author covers entries whose byline is empty.
        authors: vec![person(&site.title)],
        generator: Some(Generator {
            value: "wirefeed".to_owned(),
            uri: None,
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        }),
        links: vec![
            link(
                doc.self_url(FeedFormat::Atom),
                "self",
                FeedFormat::Atom.media_type(),
            ),
            link(site.feed_page_url(&def.slug), "alternate", "text/html"),
        ]
        .into_iter()
        .chain(doc.hub().map(|hub| Link {
            href: hub.to_owned(),
            rel: "hub".to_owned(),
            ..Link::default()
        }))
        .chain(
            doc.history
                .links
                .iter()
                .map(|(rel, href)| link(href.clone(), rel, FeedFormat::Atom.media_type())),
        )
        .collect(),
        subtitle: (!def.description.is_empty()).then(|| Text::plain(def.description.clone())),
        entries: doc.articles.iter().map(|a| entry(doc, a)).collect(),
        lang: doc.language().map(str::to_owned),
        ..Feed::default()
    };
    if doc.history.archive {
        feed.namespaces
            .insert("fh".to_owned(), HISTORY_NS.to_owned());
        feed.extensions.insert(
            "fh".to_owned(),
            BTreeMap::from([("archive".to_owned(), vec![archive_marker()])]),
        );
    }
    if !doc.deleted.is_empty() {
        feed.namespaces
            .insert("at".to_owned(), TOMBSTONES_NS.to_owned());
        let stones = doc.deleted.iter().map(|t| deleted_entry(doc, t)).collect();
        feed.extensions.insert(
            "at".to_owned(),
            BTreeMap::from([("deleted-entry".to_owned(), stones)]),
        );
    }
    feed.write_to(Vec::with_capacity(4096 + doc.articles.len() * 4096))
        .map_err(|e| RenderError::Xml(e.to_string()))
}

/// RFC 5005 §4: `<fh:archive/>` marks an archive document.
pub(super) fn archive_marker() -> Extension {
    Extension {
        name: "fh:archive".to_owned(),
        ..Extension::default()
    }
}

/// RFC 6721: tells readers to remove a story they already have.
fn deleted_entry(doc: &FeedDoc<'_>, tombstone: &Tombstone) -> Extension {
    let when = tombstone
        .killed_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Extension {
        name: "at:deleted-entry".to_owned(),
        value: None,
        attrs: BTreeMap::from([
            ("ref".to_owned(), doc.site.entry_id(&tombstone.id)),
            ("when".to_owned(), when),
        ]),
        children: BTreeMap::new(),
    }
}

fn entry(doc: &FeedDoc<'_>, article: &Article) -> Entry {
    let site = doc.site;
    let authors = if article.byline.is_empty() {
        article.source.as_deref().map(person).into_iter().collect()
    } else {
        article.byline.iter().map(|name| person(name)).collect()
    };
    let mut links = vec![link(site.article_link(article), "alternate", "text/html")];
    links.extend(
        article
            .images
            .iter()
            .map(|image| link(image.url.clone(), "enclosure", &image.media_type)),
    );
    let lang = Some(article.language.clone());
    Entry {
        title: Text {
            lang: lang.clone(),
            ..Text::plain(article.title.clone())
        },
        id: site.entry_id(&article.id),
        updated: fixed(article.updated),
        published: Some(fixed(article.published)),
        authors,
        categories: article
            .categories
            .iter()
            .map(|c| Category {
                term: c.as_str().to_owned(),
                scheme: Some(format!("{}/categories/", site.origin())),
                label: Some(c.label()),
            })
            .collect(),
        links,
        summary: article.summary.as_ref().map(|s| Text {
            lang: lang.clone(),
            ..Text::plain(s.clone())
        }),
        content: article.content_html.as_ref().map(|html| Content {
            lang,
            value: Some(html.clone()),
            content_type: Some("html".to_owned()),
            ..Content::default()
        }),
        ..Entry::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;

    #[test]
    fn an_empty_feed_is_dated_by_its_content_not_by_the_clock() {
        let site = fixtures::site();
        let def = fixtures::all_feed();
        let doc = FeedDoc {
            site: &site,
            def: &def,
            articles: &[],
            deleted: &[],
            history: &crate::render::NO_HISTORY,
            updated: None,
        };
        let xml = String::from_utf8(render(&doc).unwrap()).unwrap();
        assert!(
            xml.contains("<updated>1970-01-01T00:00:00+00:00</updated>"),
            "{xml}"
        );
    }

    #[test]
    fn a_killed_story_leaves_a_deleted_entry_and_dates_the_feed() {
        let site = fixtures::site();
        let def = fixtures::all_feed();
        let killed_at = chrono::DateTime::parse_from_rfc3339("2027-01-02T03:04:05Z")
            .unwrap()
            .to_utc();
        let mut story = fixtures::articles().remove(0);
        story.id = crate::model::ArticleId::parse("wf-killed").unwrap();
        let deleted = [Tombstone {
            id: story.id.clone(),
            killed_at,
            article: story,
        }];
        let doc = FeedDoc {
            site: &site,
            def: &def,
            articles: &[],
            deleted: &deleted,
            history: &crate::render::NO_HISTORY,
            updated: None,
        };
        let xml = String::from_utf8(render(&doc).unwrap()).unwrap();
        assert!(
            xml.contains(r#"xmlns:at="http://purl.org/atompub/tombstones/1.0""#),
            "{xml}"
        );
        assert!(xml.contains(r#"<at:deleted-entry ref="tag:wire.example.com,2026:article:wf-killed" when="2027-01-02T03:04:05Z"/>"#) || xml.contains(r#"<at:deleted-entry ref="tag:wire.example.com,2026:article:wf-killed" when="2027-01-02T03:04:05Z"></at:deleted-entry>"#), "{xml}");
        assert!(
            xml.contains("<updated>2027-01-02T03:04:05+00:00</updated>"),
            "{xml}"
        );
    }

    #[test]
    fn html_content_is_escaped_once() {
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
        let xml = String::from_utf8(render(&doc).unwrap()).unwrap();
        assert!(xml.contains(r#"<content xml:lang="#));
        assert!(xml.contains("&lt;p&gt;"));
        assert!(!xml.contains("&amp;lt;"), "double-escaped markup");
    }
}
