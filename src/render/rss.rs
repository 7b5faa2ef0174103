//! RSS 2.0, with the extensions feed readers and republishers look for: `atom:link rel="self"`
//! (RSS Best Practices), `content:encoded` for the full story, `dc:creator` for each name in
//! the byline, Media RSS `media:content` for pictures and `media:thumbnail` for the story's
//! thumbnail, and for an item changed after it was published (a correction, or a withdrawal
//! notice) its modification time as DCMI Terms `dcterms:modified`, which RSS 2.0 itself has no
//! element for. Built with the `rss` crate, which declares every namespace prefix it writes.
//!
//! What the open web expects beyond that:
//!
//! - The lead picture is also the item's `<enclosure url length type>`, which RSS 2.0 allows
//!   once per item and which readers without Media RSS show. RSS 2.0 requires `length` (bytes);
//!   when the desk did not send it, it is `0`, as the RSS Advisory Board's RSS Profile asks
//!   ("When an enclosure's size cannot be determined, a publisher should use a length of 0")
//!   and as the W3C Feed Validator accepts (it flags a missing length, and suggests 0 for -1).
//! - Names are `dc:creator`, never `<author>`: RSS 2.0's `author` is an email address, the
//!   wire has names only, and the validator flags an item carrying both. An item with no
//!   byline names its source agency, or else the feed's author (the site), as Atom's does.
//! - The site's logo, when configured, is the channel's `<image>`, with the channel's title and
//!   link as RSS 2.0 and the validator require.
//! - `&` and `<` in text are written `&#x26;` and `&#x3C;`: the RSS Profile asks for
//!   hexadecimal references in plain-text elements, and the W3C Feed Validator warns ("Encode
//!   "&" and "<" in plain text using hexadecimal character references") about a plain-text
//!   element whose text holds markup-like `&…` or `<…` unless its lines hold a `&#x`
//!   reference (`feedvalidator/validators.py`, `nonhtml`).

use std::collections::BTreeMap;

use rss::extension::Extension;
use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::{Category, Channel, Enclosure, Guid, Image as ChannelImage, Item};

use super::{FeedDoc, HISTORY_NS, RenderError, WIREFEED_NS, wirefeed_elements};
use crate::model::{Article, FeedFormat, Image, Thumbnail};

const MEDIA_NS: &str = "http://search.yahoo.com/mrss/";
const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
const DCTERMS_NS: &str = "http://purl.org/dc/terms/";

/// RFC 822 date as RSS 2.0 asks for, in UTC with a four-digit year.
pub(crate) fn rfc822(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // Written field by field: chrono's `format` parses its pattern on every call, and a feed
    // writes a date per item.
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[t.weekday().num_days_from_monday() as usize],
        t.day(),
        MONTHS[t.month0() as usize],
        t.year(),
        t.hour(),
        t.minute(),
        t.second(),
    )
}

pub(crate) fn render(doc: &FeedDoc<'_>) -> Result<Vec<u8>, RenderError> {
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
    if doc
        .articles
        .iter()
        .any(|a| !wirefeed_elements(a, true).is_empty())
    {
        namespaces.insert("wirefeed".to_owned(), WIREFEED_NS.to_owned());
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
    let link = site.feed_page_url(&def.slug);
    let image = doc
        .brand()
        .logo
        .as_ref()
        .filter(|url| rss_image_format(url))
        .map(|url| ChannelImage {
            url: url.clone(),
            title: def.title.clone(),
            link: link.clone(),
            ..ChannelImage::default()
        });
    let channel = Channel {
        extensions,
        title: def.title.clone(),
        link,
        image,
        description: def.description.clone(),
        copyright: def.rights.clone(),
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
    let xml = channel
        .write_to(Vec::with_capacity(4096 + doc.articles.len() * 4096))
        .map_err(|e| RenderError::Xml(e.to_string()))?;
    Ok(hex_references(xml))
}

/// Whether a logo URL may be RSS's `<image>`, which RSS 2.0 limits to GIF, JPEG and PNG: by
/// the W3C Feed Validator's own test, an extension after the last `.` that is a word and not
/// `jpg`, `jpeg`, `gif` or `png` rules it out (an SVG or WebP logo still goes in Atom and
/// JSON Feed).
fn rss_image_format(url: &str) -> bool {
    let ext = url.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    let word = !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    !word || matches!(ext.as_str(), "jpg" | "jpeg" | "gif" | "png")
}

/// The document with `&amp;` and `&lt;` in character data written `&#x26;` and `&#x3C;`
/// (see the module notes). Tags (and so attribute values) and CDATA sections are kept as they
/// are; the `rss` crate writes no comments or doctype, so a `<` always opens a tag or a CDATA
/// section and a tag ends at the first `>` outside quotes. Rewritten in place, from the end:
/// a second buffer the size of the document would cost more than the pass itself.
fn hex_references(mut xml: Vec<u8>) -> Vec<u8> {
    const CDATA: &[u8] = b"<![CDATA[";
    const AMP: (&[u8], &[u8]) = (b"&amp;", b"&#x26;");
    const LT: (&[u8], &[u8]) = (b"&lt;", b"&#x3C;");
    // Where each reference to rewrite starts, and which it is.
    let mut found = Vec::new();
    let mut at = 0;
    while at < xml.len() {
        let rest = &xml[at..];
        at += if rest.starts_with(CDATA) {
            memchr::memmem::find(rest, b"]]>").map_or(rest.len(), |e| e + 3)
        } else if rest[0] == b'<' {
            tag_end(rest)
        } else if rest.starts_with(AMP.0) {
            found.push((at, AMP));
            AMP.0.len()
        } else if rest.starts_with(LT.0) {
            found.push((at, LT));
            LT.0.len()
        } else {
            memchr::memchr2(b'<', b'&', rest)
                .unwrap_or(rest.len())
                .max(1)
        };
    }
    let grows = |(from, to): (&[u8], &[u8])| to.len() - from.len();
    let mut shift: usize = found.iter().map(|&(_, r)| grows(r)).sum();
    let mut end = xml.len();
    xml.resize(end + shift, 0);
    for &(at, (from, to)) in found.iter().rev() {
        // What follows this reference, up to the next one, moves by every growth before it
        // and its own; the reference itself by every growth before it.
        xml.copy_within(at + from.len()..end, at + from.len() + shift);
        shift -= grows((from, to));
        xml[at + shift..at + shift + to.len()].copy_from_slice(to);
        end = at;
    }
    xml
}

/// The length of the tag `tag` starts with: up to its first `>` outside a quoted attribute
/// value (all of `tag` when it does not end).
fn tag_end(tag: &[u8]) -> usize {
    let mut at = 1;
    while let Some(found) = memchr::memchr3(b'>', b'"', b'\'', &tag[at..]) {
        let i = at + found;
        match tag[i] {
            b'>' => return i + 1,
            // Attribute values are short: a plain loop beats a vectorised search here.
            quote => match tag[i + 1..].iter().position(|&b| b == quote) {
                Some(close) => at = i + 1 + close + 1,
                None => return tag.len(),
            },
        }
    }
    tag.len()
}

fn item(doc: &FeedDoc<'_>, article: &Article) -> Item {
    let site = doc.site;
    let mut extensions = rss::extension::ExtensionMap::new();
    if !article.images.is_empty() {
        let contents = article.images.iter().map(media_content).collect();
        let mut media = BTreeMap::from([("content".to_owned(), contents)]);
        if let Some(thumbnail) = article.images.iter().find_map(|i| i.thumbnail.as_ref()) {
            media.insert("thumbnail".to_owned(), vec![media_thumbnail(thumbnail)]);
        }
        extensions.insert("media".to_owned(), media);
    }
    let simple = |prefix: &str, name: &str, value: String| {
        (
            name.to_owned(),
            vec![Extension {
                name: format!("{prefix}:{name}"),
                value: Some(value),
                ..Extension::default()
            }],
        )
    };
    let mut dcterms = BTreeMap::new();
    if article.updated > article.published {
        let modified = article
            .updated
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        dcterms.extend([simple("dcterms", "modified", modified)]);
    }
    if !dcterms.is_empty() {
        extensions.insert("dcterms".to_owned(), dcterms);
    }
    let ours: BTreeMap<_, _> = wirefeed_elements(article, true)
        .into_iter()
        .map(|(name, value)| simple("wirefeed", name, value))
        .collect();
    if !ours.is_empty() {
        extensions.insert("wirefeed".to_owned(), ours);
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
                domain: Some(site.categories_url()),
            })
            .collect(),
        guid: Some(Guid {
            value: site.entry_id(&article.id),
            permalink: false,
        }),
        pub_date: Some(rfc822(article.published)),
        content: article.content_html.clone(),
        enclosure: article.images.first().map(|lead| Enclosure {
            url: lead.url.clone(),
            length: lead.length.unwrap_or(0).to_string(),
            mime_type: lead.media_type.clone(),
        }),
        extensions,
        dublin_core_ext: Some(DublinCoreExtension {
            creators: doc
                .creators(article)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            // `dc:rights`, which feed validators know (the W3C one refuses `dcterms:rights`).
            rights: article
                .rights
                .as_ref()
                .and_then(|r| r.copyright.clone())
                .into_iter()
                .collect(),
            ..DublinCoreExtension::default()
        }),
        ..Item::default()
    }
}

/// Media RSS `<media:thumbnail url width height/>`.
fn media_thumbnail(thumbnail: &Thumbnail) -> Extension {
    let mut attrs = BTreeMap::from([("url".to_owned(), thumbnail.url.clone())]);
    if let Some(width) = thumbnail.width {
        attrs.insert("width".to_owned(), width.to_string());
    }
    if let Some(height) = thumbnail.height {
        attrs.insert("height".to_owned(), height.to_string());
    }
    Extension {
        name: "media:thumbnail".to_owned(),
        value: None,
        attrs,
        children: BTreeMap::new(),
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
    if let Some(length) = image.length {
        attrs.insert("fileSize".to_owned(), length.to_string());
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
mod tests;
