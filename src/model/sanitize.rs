//! The HTML allow-list for story bodies, applied with ammonia before a story is accepted.
//!
//! News copy needs paragraphs, links, emphasis, headings, quotes, lists, figures with pictures
//! and simple tables — and nothing that runs code, restyles a republisher's page or points at a
//! relative URL that would resolve differently on every site that carries the story.

use std::collections::HashSet;
use std::sync::LazyLock;

use ammonia::{Builder, UrlRelative};

static POLICY: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let tags = [
        "p",
        "br",
        "hr",
        "a",
        "strong",
        "em",
        "b",
        "i",
        "u",
        "s",
        "sub",
        "sup",
        "small",
        "abbr",
        "cite",
        "q",
        "blockquote",
        "code",
        "pre",
        "time",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "figure",
        "figcaption",
        "img",
        "table",
        "caption",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "th",
        "td",
    ];
    let attributes = [
        ("a", &["href", "title", "hreflang"][..]),
        ("img", &["src", "alt", "title", "width", "height"][..]),
        ("abbr", &["title"][..]),
        ("q", &["cite"][..]),
        ("blockquote", &["cite"][..]),
        ("time", &["datetime"][..]),
        ("th", &["colspan", "rowspan", "scope"][..]),
        ("td", &["colspan", "rowspan"][..]),
        ("ol", &["start", "reversed"][..]),
    ];
    let mut builder = Builder::empty();
    builder
        .tags(tags.into_iter().collect())
        .tag_attributes(
            attributes
                .into_iter()
                .map(|(tag, attrs)| (tag, attrs.iter().copied().collect::<HashSet<_>>()))
                .collect(),
        )
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .url_relative(UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer"))
        .strip_comments(true);
    builder
});

/// The body with everything outside the allow-list removed.
pub fn story_html(html: &str) -> String {
    POLICY.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_javascript_urls_are_removed() {
        let dirty = r#"<p onclick="steal()">Hi<script>alert(1)</script></p><a href="javascript:alert(1)">x</a><img src="x" onerror="alert(1)">"#;
        let clean = story_html(dirty);
        for bad in ["script", "onclick", "onerror", "javascript:", "alert"] {
            assert!(!clean.contains(bad), "{bad} survived in {clean}");
        }
    }

    #[test]
    fn news_markup_survives() {
        let html = r#"<p>Text <a href="https://example.com/a" rel="noopener noreferrer">link</a></p><figure><img src="https://img.example.com/a.jpg" alt="Leaders"><figcaption>Leaders</figcaption></figure><blockquote><p>Quote</p></blockquote>"#;
        assert_eq!(story_html(html), html);
    }
}
