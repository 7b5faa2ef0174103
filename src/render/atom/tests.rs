//! Tests of `atom`.

use super::*;
use crate::render::fixtures;

#[test]
fn an_empty_feed_is_dated_by_its_content_not_by_the_clock() {
    let site = fixtures::site();
    let def = fixtures::all_feed();
    let doc = fixtures::doc(&site, &def, &[]);
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
    let killed_at = DateTime::parse_from_rfc3339("2027-01-02T03:04:05Z")
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
        deleted: &deleted,
        ..fixtures::doc(&site, &def, &[])
    };
    let xml = String::from_utf8(render(&doc).unwrap()).unwrap();
    assert!(
        xml.contains(r#"xmlns:at="http://purl.org/atompub/tombstones/1.0""#),
        "{xml}"
    );
    // `when` is written exactly as the notice's `updated` would be.
    assert!(
        xml.contains(r#"<at:deleted-entry ref="tag:wire.example.com,2026:article:wf-killed" when="2027-01-02T03:04:05+00:00"></at:deleted-entry>"#),
        "{xml}"
    );
    assert!(
        xml.contains("<updated>2027-01-02T03:04:05+00:00</updated>"),
        "{xml}"
    );
}

#[test]
fn archive_markers_and_tombstones_come_before_the_entries() {
    let site = fixtures::site();
    let def = fixtures::all_feed();
    let articles = fixtures::articles();
    let mut story = articles[0].clone();
    story.id = crate::model::ArticleId::parse("wf-killed").unwrap();
    let deleted = [Tombstone {
        id: story.id.clone(),
        killed_at: articles[0].updated,
        article: story,
    }];
    let history = crate::render::History {
        this: Some("https://wire.example.com/feeds/all/archive/2026-11-25.atom".to_owned()),
        links: vec![(
            "current",
            "https://wire.example.com/feeds/all.atom".to_owned(),
        )],
        archive: true,
        variant: false,
    };
    let doc = FeedDoc {
        deleted: &deleted,
        history: &history,
        ..fixtures::doc(&site, &def, &articles)
    };
    let bytes = render(&doc).unwrap();
    let xml = std::str::from_utf8(&bytes).unwrap();
    let first_entry = xml.find("<entry>").unwrap();
    assert!(xml.find("<fh:archive").unwrap() < first_entry, "{xml}");
    assert!(
        xml.find("<at:deleted-entry").unwrap() < first_entry,
        "{xml}"
    );
    assert!(xml.ends_with("</entry></feed>"), "{xml}");

    // Only the order changed: the crate reads the same feed back, entries in their order.
    let ours: Feed = xml.parse().unwrap();
    assert_eq!(
        ours.entries
            .iter()
            .map(|e| e.id.clone())
            .collect::<Vec<_>>(),
        articles
            .iter()
            .map(|a| site.entry_id(&a.id))
            .collect::<Vec<_>>()
    );
    assert_eq!(ours.extensions["at"]["deleted-entry"].len(), 1);
    assert_eq!(ours.extensions["fh"]["archive"].len(), 1);
}

#[test]
fn only_atom_entries_are_moved_behind_the_rest_whatever_the_text_says() {
    let xml = concat!(
        r#"<?xml version="1.0"?>"#,
        "\n",
        r#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:a="http://www.w3.org/2005/Atom" xmlns:x="urn:x">"#,
        "<title>&lt;entry&gt;</title>",
        "<entry><title>one &lt;/entry&gt;&lt;x:y/&gt;</title><content type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\"><entry/></div></content></entry>",
        "<x:wrap xmlns:a=\"urn:other\"><a:entry/></x:wrap>",
        "<a:entry><a:title>two</a:title></a:entry>",
        "<x:entry>not Atom</x:entry>",
        "<!-- a comment -->",
        "<x:empty/>",
        "</feed>\n",
    );
    let out = extensions_before_entries(xml.as_bytes()).unwrap();
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        concat!(
            r#"<?xml version="1.0"?>"#,
            "\n",
            r#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:a="http://www.w3.org/2005/Atom" xmlns:x="urn:x">"#,
            "<title>&lt;entry&gt;</title>",
            "<x:wrap xmlns:a=\"urn:other\"><a:entry/></x:wrap>",
            "<x:entry>not Atom</x:entry>",
            "<!-- a comment -->",
            "<x:empty/>",
            "<entry><title>one &lt;/entry&gt;&lt;x:y/&gt;</title><content type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\"><entry/></div></content></entry>",
            "<a:entry><a:title>two</a:title></a:entry>",
            "</feed>\n",
        )
    );
    assert!(extensions_before_entries(b"<feed><entry></feed>").is_err());
    assert!(extensions_before_entries(b"<feed><entry/>").is_err());
}

#[test]
fn the_sites_icon_and_logo_and_picture_sizes() {
    let site = fixtures::site();
    let def = fixtures::all_feed();
    let articles = fixtures::open_web();
    let brand = fixtures::brand();
    let doc = FeedDoc {
        brand: Some(&brand),
        ..fixtures::doc(&site, &def, &articles)
    };
    let xml = String::from_utf8(render(&doc).unwrap()).unwrap();
    // The small square icon is Atom's icon; the wide logo its logo.
    assert!(
        xml.contains("<icon>https://wire.example.com/favicon-64.png</icon>"),
        "{xml}"
    );
    assert!(xml.contains("<logo>https://wire.example.com/static/logo-144x48.png</logo>"));
    assert!(xml.contains(r#"href="https://img.wire.example.com/2026/11/30/lng-tanker.jpg" rel="enclosure" type="image/jpeg" length="248213""#) || xml.contains(r#"length="248213""#), "{xml}");
    let feed = Feed::read_from(xml.as_bytes()).unwrap();
    assert_eq!(feed.icon(), Some("https://wire.example.com/favicon-64.png"));
    let without_favicon = crate::render::Brand {
        favicon: None,
        ..brand.clone()
    };
    let doc = FeedDoc {
        brand: Some(&without_favicon),
        ..doc
    };
    let xml = String::from_utf8(render(&doc).unwrap()).unwrap();
    assert!(xml.contains("<icon>https://wire.example.com/static/icon-512.png</icon>"));
}

#[test]
fn html_content_is_escaped_once() {
    let site = fixtures::site();
    let def = fixtures::all_feed();
    let articles = fixtures::articles();
    let doc = fixtures::doc(&site, &def, &articles);
    let xml = String::from_utf8(render(&doc).unwrap()).unwrap();
    assert!(xml.contains(r#"<content xml:lang="#));
    assert!(xml.contains("&lt;p&gt;"));
    assert!(!xml.contains("&amp;lt;"), "double-escaped markup");
}

#[test]
fn rights_urgency_and_embargo_in_the_feed_and_entry() {
    let site = fixtures::site();
    let def = fixtures::feed_with_rights();
    let articles = [fixtures::marked(), fixtures::articles().remove(1)];
    let doc = fixtures::doc(&site, &def, &articles);
    let xml = String::from_utf8(render(&doc).unwrap()).unwrap();
    let first_entry = xml.find("<entry>").unwrap();
    let head = &xml[..first_entry];
    assert!(
        head.contains(r#"xmlns:wirefeed="https://wirefeed.dev/ns/1.0""#),
        "{head}"
    );
    assert!(
        head.contains("<rights>© 2026 Wirefeed. All rights reserved.</rights>"),
        "{head}"
    );
    let entry = &xml[first_entry..xml.find("</entry>").unwrap()];
    assert!(
        entry.contains("© 2026 Wire Desk &amp; partners</rights>"),
        "{entry}"
    );
    assert!(
        entry.contains(r#"href="https://wire.example.com/rights/standard" rel="license""#),
        "{entry}"
    );
    assert!(entry.contains("<wirefeed:urgency>1</wirefeed:urgency>"));
    assert!(entry.contains("<wirefeed:embargoed>2026-11-26T06:00:00Z</wirefeed:embargoed>"));
    assert!(entry.contains(
        "<wirefeed:usageTerms>No archiving &lt;after&gt; 30 days.</wirefeed:usageTerms>"
    ));
    let feed: Feed = xml.parse().unwrap();
    assert_eq!(
        feed.entries[0].extensions["wirefeed"]["urgency"][0].value(),
        Some("1")
    );
    assert!(feed.entries[1].extensions.is_empty());
}

/// A held story's elements are valid by RFC 4287's schema (Appendix B), checked by Jing
/// when it is installed (`.ci/run` installs it; under `CI=true` it must be there).
#[test]
fn a_held_flash_with_rights_is_valid_by_rfc_4287_appendix_b() {
    let site = fixtures::site();
    let def = fixtures::feed_with_rights();
    let articles = [fixtures::marked(), fixtures::articles().remove(1)];
    let doc = fixtures::doc(&site, &def, &articles);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("held.atom");
    std::fs::write(&file, render(&doc).unwrap()).unwrap();
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/atom.rnc");
    match std::process::Command::new("jing")
        .arg("-c")
        .arg(schema)
        .arg(&file)
        .output()
    {
        Ok(out) => assert!(
            out.status.success() && out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must validate the Atom documents: {e}"
            );
            eprintln!("SKIPPED: jing is missing ({e})");
        }
    }
}
