//! OPML 2.0 subscription list of every feed, so a reader can subscribe to the whole wire in
//! one import.

use std::fmt::Write;

use quick_xml::escape::escape;

use crate::model::{FeedDef, FeedFormat};
use crate::site::Site;

/// One `<outline type="rss">` per feed, pointing at its RSS document (the format every reader
/// accepts); the Atom and JSON documents are linked from each feed's HTML page.
pub(crate) fn render(site: &Site, feeds: &[FeedDef]) -> Vec<u8> {
    let mut out = String::with_capacity(256 + feeds.len() * 256);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<opml version=\"2.0\">\n<head>\n");
    let _ = writeln!(out, "<title>{}</title>", escape(site.title.as_str()));
    out.push_str("<docs>http://opml.org/spec2.opml</docs>\n</head>\n<body>\n");
    for def in feeds {
        let _ = writeln!(
            out,
            "<outline type=\"rss\" version=\"RSS2\" text=\"{title}\" title=\"{title}\" description=\"{description}\" xmlUrl=\"{xml}\" htmlUrl=\"{html}\"/>",
            title = escape(def.title.as_str()),
            description = escape(def.description.as_str()),
            xml = escape(site.feed_url(&def.slug, FeedFormat::Rss).as_str()),
            html = escape(site.feed_page_url(&def.slug).as_str()),
        );
    }
    out.push_str("</body>\n</opml>\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::model::Category;

    #[test]
    fn every_feed_is_an_outline_with_escaped_attributes() {
        let site = Site::new(
            "https://wire.example.com",
            "News & \"Views\"",
            "wire.example.com,2026",
        );
        let feeds = Catalog::empty(&site.title).list(&[Category::parse("g20").unwrap()]);
        let opml = String::from_utf8(render(&site, &feeds)).unwrap();
        // all, flash and g20.
        assert_eq!(opml.matches("<outline ").count(), 3);
        assert!(opml.contains("xmlUrl=\"https://wire.example.com/feeds/g20.rss\""));
        assert!(opml.contains("<title>News &amp; &quot;Views&quot;</title>"));
    }
}
