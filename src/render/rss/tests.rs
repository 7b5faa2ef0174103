//! Tests of `rss`.

use super::*;
use crate::render::fixtures;

fn rendered() -> String {
    let site = fixtures::site();
    let def = fixtures::all_feed();
    let articles = fixtures::articles();
    let doc = fixtures::doc(&site, &def, &articles);
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
    // Every weekday and month name, and padding, against chrono's own formatting.
    let mut t = chrono::DateTime::parse_from_rfc3339("0999-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    for _ in 0..400 {
        assert_eq!(
            rfc822(t),
            t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
        );
        t += chrono::Duration::seconds(86_400 * 3 + 3_727);
    }
}

#[test]
fn the_same_stories_render_to_the_same_bytes() {
    assert_eq!(rendered(), rendered());
}

fn open_web(brand: Option<&crate::render::Brand>) -> String {
    let site = fixtures::site();
    let def = fixtures::all_feed();
    let articles = fixtures::open_web();
    let doc = FeedDoc {
        site: &site,
        def: &def,
        articles: &articles,
        deleted: &[],
        history: &crate::render::NO_HISTORY,
        updated: None,
        brand,
    };
    String::from_utf8(render(&doc).unwrap()).unwrap()
}

/// The `<item>` of the story `id`.
fn item_of<'a>(xml: &'a str, id: &str) -> &'a str {
    let at = xml.find(&format!(":article:{id}<")).unwrap();
    let start = xml[..at].rfind("<item>").unwrap();
    &xml[start..at + xml[at..].find("</item>").unwrap()]
}

#[test]
fn the_lead_picture_is_the_enclosure_with_its_length_or_0() {
    let xml = open_web(None);
    let lng = item_of(&xml, "wf-20261130-business-lng-deal");
    assert_eq!(lng.matches("<enclosure ").count(), 1, "one per item");
    assert!(lng.contains(r#"<enclosure url="https://img.wire.example.com/2026/11/30/lng-tanker.jpg" length="248213" type="image/jpeg"/>"#), "{lng}");
    // Still every picture as Media RSS, with its size where known.
    assert_eq!(lng.matches("<media:content ").count(), 2);
    assert!(lng.contains(r#"fileSize="248213""#));
    // Size unknown: 0, as the RSS Profile asks.
    let rates = item_of(&xml, "wf-20261130-world-agency-rates");
    assert!(rates.contains(r#"<enclosure url="https://img.wire.example.com/2026/11/30/central-bank.png" length="0" type="image/png"/>"#), "{rates}");
    let unsigned = item_of(&xml, "wf-20261130-world-unsigned-notice");
    assert!(!unsigned.contains("<enclosure"));
}

#[test]
fn the_storys_thumbnail_is_media_thumbnail() {
    let xml = open_web(None);
    let lng = item_of(&xml, "wf-20261130-business-lng-deal");
    assert!(lng.contains(r#"<media:thumbnail height="180" url="https://img.wire.example.com/2026/11/30/lng-tanker-thumb.jpg" width="320"></media:thumbnail>"#), "{lng}");
    let rates = item_of(&xml, "wf-20261130-world-agency-rates");
    assert!(!rates.contains("media:thumbnail"));
}

#[test]
fn names_are_dc_creator_falling_back_to_the_agency_then_the_site() {
    let xml = open_web(None);
    let lng = item_of(&xml, "wf-20261130-business-lng-deal");
    assert!(
        lng.contains(
            "<dc:creator>Fatima Al-Kuwari</dc:creator><dc:creator>Tom Okafor</dc:creator>"
        )
    );
    let rates = item_of(&xml, "wf-20261130-world-agency-rates");
    assert!(rates.contains("<dc:creator>Xinhua</dc:creator>"), "{rates}");
    let unsigned = item_of(&xml, "wf-20261130-world-unsigned-notice");
    assert!(
        unsigned.contains("<dc:creator>Wirefeed</dc:creator>"),
        "{unsigned}"
    );
    // RSS 2.0 `author` is an email address, and the wire has none.
    assert!(!xml.contains("<author>"));
}

#[test]
fn the_logo_is_the_channel_image_with_the_channels_title_and_link() {
    assert!(!open_web(None).contains("<image>"));
    let brand = fixtures::brand();
    let xml = open_web(Some(&brand));
    let channel_title = "<title>Off the wire — Wirefeed</title>";
    assert!(xml.contains(&format!("<image><url>https://wire.example.com/static/logo-144x48.png</url>{channel_title}<link>https://wire.example.com/</link></image>")), "{xml}");
    // RSS 2.0 images are GIF, JPEG or PNG.
    let svg = crate::render::Brand {
        logo: Some("https://wire.example.com/static/logo.svg".into()),
        ..brand
    };
    assert!(!open_web(Some(&svg)).contains("<image>"));
    assert!(rss_image_format("https://wire.example.com/logo?size=144"));
    assert!(rss_image_format("https://wire.example.com/logo.JPG"));
    assert!(!rss_image_format("https://wire.example.com/logo.webp"));
}

#[test]
fn ampersands_and_less_thans_in_text_are_hexadecimal_references() {
    let xml = open_web(None);
    let lng = item_of(&xml, "wf-20261130-business-lng-deal");
    assert!(lng.contains("<title>Shell &#x26; QatarEnergy sign LNG supply deal; &#x3C;Aurora&gt; terminal gets first cargo</title>"), "{lng}");
    assert!(lng.contains("Ras Laffan &#x26; the Aurora terminal."));
    // HTML in CDATA is left as it is.
    assert!(lng.contains("<content:encoded><![CDATA[<p>DOHA, Nov 30 (Wirefeed) — Shell"));
    assert!(lng.contains("<description><![CDATA[The 15-year agreement covers 3 million tonnes a year from 2028; \"the largest of its kind\", the companies said.]]></description>"), "{lng}");
    let outside_cdata: String = xml
        .split("<![CDATA[")
        .map(|part| part.split_once("]]>").map_or(part, |(_, after)| after))
        .collect();
    assert!(!outside_cdata.contains("&amp;") && !outside_cdata.contains("&lt;"));
    // The same text for a parser.
    let channel = Channel::read_from(xml.as_bytes()).unwrap();
    let titles: Vec<&str> = channel.items().iter().filter_map(|i| i.title()).collect();
    assert!(
        titles.contains(
            &"Shell & QatarEnergy sign LNG supply deal; <Aurora> terminal gets first cargo"
        )
    );
    // Attributes, tags and CDATA are copied byte for byte.
    let sample = b"<a href=\"x?a=1&amp;b=2\" t='&lt;'>A &amp; B &lt; C<![CDATA[&amp; &lt;]]></a>";
    assert_eq!(
        String::from_utf8(hex_references(sample.to_vec())).unwrap(),
        "<a href=\"x?a=1&amp;b=2\" t='&lt;'>A &#x26; B &#x3C; C<![CDATA[&amp; &lt;]]></a>"
    );
    // A `>` inside a quoted attribute value does not end the tag; an unclosed tag or quote
    // is copied to the end.
    let quoted = b"<a t=\"1>0 &amp;\" u='>'>&amp;</a><b x=\"&amp;";
    assert_eq!(
        String::from_utf8(hex_references(quoted.to_vec())).unwrap(),
        "<a t=\"1>0 &amp;\" u='>'>&#x26;</a><b x=\"&amp;"
    );
    // Several of both, at the very start and end, between runs of text.
    let text = b"&amp;&lt;a &amp;&amp; b &lt;<i>&amp;</i>&lt;&lt;&amp;".to_vec();
    assert_eq!(
        String::from_utf8(hex_references(text)).unwrap(),
        "&#x26;&#x3C;a &#x26;&#x26; b &#x3C;<i>&#x26;</i>&#x3C;&#x3C;&#x26;"
    );
    assert_eq!(hex_references(Vec::new()), b"");
}

#[test]
fn rights_urgency_and_embargo_are_declared_elements() {
    let site = fixtures::site();
    let def = fixtures::feed_with_rights();
    let articles = [fixtures::marked(), fixtures::articles().remove(1)];
    let doc = fixtures::doc(&site, &def, &articles);
    let xml = String::from_utf8(render(&doc).unwrap()).unwrap();
    let root = &xml[..xml.find("<channel>").unwrap()];
    assert!(
        root.contains(r#"xmlns:wirefeed="https://wirefeed.dev/ns/1.0""#),
        "{root}"
    );
    assert!(root.contains("xmlns:dc="));
    assert!(xml.contains("<copyright>© 2026 Wirefeed. All rights reserved.</copyright>"));
    let marked = item_of(&xml, articles[0].id.as_str());
    assert!(
        marked.contains("<dc:rights>© 2026 Wire Desk &#x26; partners</dc:rights>"),
        "{marked}"
    );
    assert!(marked.contains("<wirefeed:urgency>1</wirefeed:urgency>"));
    assert!(marked.contains("<wirefeed:embargoed>2026-11-26T06:00:00Z</wirefeed:embargoed>"));
    assert!(marked.contains(
        "<wirefeed:usageTerms>No archiving &#x3C;after&gt; 30 days.</wirefeed:usageTerms>"
    ));
    assert!(marked.contains(
        "<wirefeed:rightsInfo>https://wire.example.com/rights/standard</wirefeed:rightsInfo>"
    ));
    let plain = item_of(&xml, articles[1].id.as_str());
    assert!(
        !plain.contains("wirefeed:") && !plain.contains("dc:rights"),
        "{plain}"
    );
    // A parser reads them back.
    let channel = Channel::read_from(xml.as_bytes()).unwrap();
    let item = &channel.items()[0];
    assert_eq!(
        item.extensions()["wirefeed"]["urgency"][0].value(),
        Some("1")
    );
}
