//! Atom 1.0 (RFC 4287), built with the `atom_syndication` crate.
//!
//! Each entry has a tag: URI id that never changes, `published` and `updated`, an author for
//! every name in the byline (or the source agency, or the site), a category per slug, the
//! story's link as `rel="alternate"`, its pictures as `rel="enclosure"`, a plain-text summary
//! and the full story as `type="html"` content.
//!
//! RFC 4287's schema (Appendix B) allows extension elements in `atom:feed` only before its
//! entries, but the crate writes the feed's extensions (`fh:archive`, `at:deleted-entry`) after
//! them; `extensions_before_entries` moves them ahead, using the document's parsed structure.

use atom_syndication::{
    Category, Content, Entry, Feed, FixedDateTime, Generator, Link, Person, Text,
};
use std::collections::BTreeMap;

use atom_syndication::extension::Extension;
use chrono::{DateTime, Utc};
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;

use super::{FeedDoc, HISTORY_NS, RenderError, WIREFEED_NS, wirefeed_elements};
use crate::model::{Article, FeedFormat, Tombstone};

/// RFC 6721 §2.
const TOMBSTONES_NS: &str = "http://purl.org/atompub/tombstones/1.0";
const ATOM_NS: &[u8] = b"http://www.w3.org/2005/Atom";

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

pub(crate) fn render(doc: &FeedDoc<'_>) -> Result<Vec<u8>, RenderError> {
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
        rights: def.rights.clone().map(Text::plain),
        entries: doc.articles.iter().map(|a| entry(doc, a)).collect(),
        lang: doc.language().map(str::to_owned),
        icon: doc
            .brand()
            .favicon
            .clone()
            .or_else(|| doc.brand().icon.clone()),
        logo: doc.brand().logo.clone(),
        ..Feed::default()
    };
    if doc
        .articles
        .iter()
        .any(|a| !wirefeed_elements(a, false).is_empty())
    {
        feed.namespaces
            .insert("wirefeed".to_owned(), WIREFEED_NS.to_owned());
    }
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
    let xml = feed
        .write_to(Vec::with_capacity(4096 + doc.articles.len() * 4096))
        .map_err(|e| RenderError::Xml(e.to_string()))?;
    if feed.extensions.is_empty() || feed.entries.is_empty() {
        return Ok(xml);
    }
    extensions_before_entries(&xml)
}

/// The same document with every child of the root element that is not an `atom:entry` moved
/// ahead of the first `atom:entry`, each child otherwise in its order and byte for byte as it
/// was. RFC 4287 Appendix B: `element atom:feed { ..., (... & extensionElement*), atomEntry* }`.
///
/// The children are found by an XML parser (namespaces resolved, so an entry is an `entry` in
/// the Atom namespace whatever its prefix), never by searching the text, so no title, summary
/// or content can move a boundary.
fn extensions_before_entries(xml: &[u8]) -> Result<Vec<u8>, RenderError> {
    let error = |e: quick_xml::Error| RenderError::Xml(format!("re-reading the feed: {e}"));
    let mut reader = NsReader::from_reader(xml);
    let position = |reader: &NsReader<&[u8]>| reader.buffer_position() as usize;

    // The prolog and the root's start tag stay where they are.
    let prolog_end = loop {
        match reader.read_event().map_err(error)? {
            Event::Start(_) => break position(&reader),
            Event::Eof | Event::Empty(_) => {
                return Err(RenderError::Xml("the feed has no root element".to_owned()));
            }
            _ => {}
        }
    };
    let mut others = Vec::new();
    let mut entries = Vec::new();
    // How deep below the root the reader is, and where the open child began.
    let mut depth = 0_usize;
    let mut open = (0, false);
    let root_end = loop {
        let start = position(&reader);
        let (ns, event) = reader.read_resolved_event().map_err(error)?;
        let entry = match &event {
            Event::Start(element) | Event::Empty(element) => {
                matches!(ns, ResolveResult::Bound(Namespace(uri)) if uri == ATOM_NS)
                    && element.local_name().as_ref() == b"entry"
            }
            _ => false,
        };
        let (begin, is_entry) = match event {
            Event::Start(_) => {
                if depth == 0 {
                    open = (start, entry);
                }
                depth += 1;
                continue;
            }
            Event::End(_) if depth == 0 => break start,
            Event::End(_) => {
                depth -= 1;
                if depth > 0 {
                    continue;
                }
                open
            }
            Event::Eof => return Err(RenderError::Xml("the feed is not closed".to_owned())),
            _ if depth > 0 => continue,
            // An empty child, or text, a comment or a processing instruction between children.
            _ => (start, entry),
        };
        let span = begin..position(&reader);
        if is_entry {
            entries.push(span);
        } else {
            others.push(span);
        }
    };
    let mut out = Vec::with_capacity(xml.len());
    out.extend_from_slice(&xml[..prolog_end]);
    for span in others.into_iter().chain(entries) {
        out.extend_from_slice(&xml[span]);
    }
    out.extend_from_slice(&xml[root_end..]);
    Ok(out)
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
    // The withdrawal notice's `updated`, written as the entry writes it, so a processor sees
    // the marker exactly as new as the notice (RFC 6721 §3).
    let when = tombstone
        .killed_at
        .max(tombstone.article.updated)
        .fixed_offset()
        .to_rfc3339();
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
    links.extend(article.images.iter().map(|image| Link {
        // RFC 4287 §4.2.7.6: the length in octets, when known.
        length: image.length.map(|n| n.to_string()),
        ..link(image.url.clone(), "enclosure", &image.media_type)
    }));
    let rights = article.rights.as_ref();
    // RFC 4946: the rights statement a story is licensed under.
    links.extend(
        rights
            .and_then(|r| r.link.clone())
            .map(|href| link(href, "license", "text/html")),
    );
    let extensions: BTreeMap<String, Vec<Extension>> = wirefeed_elements(article, false)
        .into_iter()
        .map(|(name, value)| {
            let element = Extension {
                name: format!("wirefeed:{name}"),
                value: Some(value),
                ..Extension::default()
            };
            (name.to_owned(), vec![element])
        })
        .collect();
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
                scheme: Some(site.categories_url()),
                label: Some(c.label()),
            })
            .collect(),
        links,
        summary: article.summary.as_ref().map(|s| Text {
            lang: lang.clone(),
            ..Text::plain(s.clone())
        }),
        content: article.content_html.as_ref().map(|html| Content {
            lang: lang.clone(),
            value: Some(html.clone()),
            content_type: Some("html".to_owned()),
            ..Content::default()
        }),
        rights: rights.and_then(|r| r.copyright.clone()).map(|c| Text {
            lang,
            ..Text::plain(c)
        }),
        extensions: if extensions.is_empty() {
            BTreeMap::new()
        } else {
            BTreeMap::from([("wirefeed".to_owned(), extensions)])
        },
        ..Entry::default()
    }
}

#[cfg(test)]
mod tests;
