//! What the open web expects of the served feeds and pages, against the real server: the lead
//! picture as an RSS enclosure and its thumbnail, names as `dc:creator` with fallbacks, `&` and
//! `<` in RSS text as hexadecimal references, dates kept left to right in right-to-left pages,
//! every format still parsed by a feed library; and dates no story may carry (more than a day
//! ahead, leap seconds, years after 9999) refused with a field error, in article JSON and ninjs.
//!
//! The stories are tests/fixtures/open-web.ndjson, imported through the command line.

mod common;

use common::{Server, fixture, story, wirefeed};

const TOKEN: &str = "open-web-desk-token-0123456789";

fn started() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let imported = wirefeed(dir.path())
        .arg("import")
        .arg(fixture("open-web.ndjson"))
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
    });
    (dir, server)
}

/// The `<item>` of the story `id`.
fn item<'a>(xml: &'a str, id: &str) -> &'a str {
    let at = xml
        .find(&format!(":article:{id}<"))
        .unwrap_or_else(|| panic!("no {id} in {xml}"));
    let start = xml[..at].rfind("<item>").unwrap();
    &xml[start..at + xml[at..].find("</item>").unwrap()]
}

#[tokio::test]
async fn served_rss_carries_enclosures_thumbnails_creators_and_hex_references() {
    let (_dir, server) = started();
    let xml = server.text("/feeds/world.rss").await;

    let lng = item(&xml, "wf-20261130-business-lng-deal");
    assert!(
        lng.contains(r#"<enclosure url="https://img.wire.example.com/2026/11/30/lng-tanker.jpg" length="248213" type="image/jpeg"/>"#),
        "{lng}"
    );
    assert!(lng.contains(r#"<media:thumbnail height="180" url="https://img.wire.example.com/2026/11/30/lng-tanker-thumb.jpg" width="320">"#));
    assert!(
        lng.contains(
            "<dc:creator>Fatima Al-Kuwari</dc:creator><dc:creator>Tom Okafor</dc:creator>"
        )
    );
    assert!(lng.contains("<title>Shell &#x26; QatarEnergy sign LNG supply deal; &#x3C;Aurora&gt; terminal gets first cargo</title>"));

    let rates = item(&xml, "wf-20261130-world-agency-rates");
    assert!(
        rates.contains(r#"length="0" type="image/png"/>"#),
        "{rates}"
    );
    assert!(rates.contains("<dc:creator>Xinhua</dc:creator>"));
    let unsigned = item(&xml, "wf-20261130-world-unsigned-notice");
    assert!(
        unsigned.contains("<dc:creator>Wirefeed</dc:creator>"),
        "{unsigned}"
    );
    assert!(!xml.contains("<author>"));

    // Outside CDATA no `&amp;` or `&lt;` is left.
    let outside_cdata: String = xml
        .split("<![CDATA[")
        .map(|part| part.split_once("]]>").map_or(part, |(_, after)| after))
        .collect();
    assert!(!outside_cdata.contains("&amp;") && !outside_cdata.contains("&lt;"));
}

#[tokio::test]
async fn every_format_still_parses_with_the_pictures_and_names() {
    let (_dir, server) = started();
    let title = "Shell & QatarEnergy sign LNG supply deal; <Aurora> terminal gets first cargo";
    for ext in ["rss", "atom", "json"] {
        let body = server.get(&format!("/feeds/world.{ext}")).await;
        assert_eq!(body.status(), 200);
        let bytes = body.bytes().await.unwrap();
        let feed = feed_rs::parser::parse(&bytes[..]).unwrap_or_else(|e| panic!("{ext}: {e}"));
        let entry = feed
            .entries
            .iter()
            .find(|e| e.id.ends_with("wf-20261130-business-lng-deal"))
            .unwrap_or_else(|| panic!("{ext}: no LNG story"));
        assert_eq!(entry.title.as_ref().unwrap().content, title, "{ext}");
        let names: Vec<&str> = entry.authors.iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"Fatima Al-Kuwari"), "{ext}: {names:?}");
        if ext == "rss" {
            let unsigned = feed
                .entries
                .iter()
                .find(|e| e.id.ends_with("wf-20261130-world-unsigned-notice"))
                .unwrap();
            let names: Vec<&str> = unsigned.authors.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, ["Wirefeed"]);
        }
    }
}

#[tokio::test]
async fn arabic_pages_keep_the_date_left_to_right() {
    let (_dir, server) = started();
    let page = server
        .text("/articles/wf-20261130-world-riyadh-summit")
        .await;
    assert!(page.contains(r#"<html lang="ar" dir="rtl">"#), "{page}");
    assert!(page.contains(
        r#"<time dir="ltr" datetime="2026-11-30T10:30:00Z">30 Nov 2026 10:30 UTC</time>"#
    ));
    assert!(page.contains(r#"<span class="dateline" dir="auto">الرياض</span>"#));
    let list = server.text("/categories/world").await;
    assert!(list.contains(
        r#"<time dir="ltr" datetime="2026-11-30T10:30:00Z">30 Nov 2026 10:30 UTC</time>"#
    ));
    assert!(!list.contains("<time datetime"));
}

async fn post(server: &Server, content_type: &str, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/articles"))
        .bearer_auth(TOKEN)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The first field error of a 422.
async fn field_error(response: reqwest::Response) -> (String, String) {
    assert_eq!(response.status().as_u16(), 422);
    let value: serde_json::Value = response.json().await.unwrap();
    let error = &value["errors"][0];
    let text = |key: &str| {
        error[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {value}"))
            .to_owned()
    };
    (text("pointer"), text("detail"))
}

#[tokio::test]
async fn dates_no_story_may_carry_are_refused_with_a_field_error() {
    let (_dir, server) = started();
    let ahead = (chrono::Utc::now() + chrono::Duration::hours(25))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let soon = (chrono::Utc::now() + chrono::Duration::hours(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (field, value, says) in [
        ("published", ahead.as_str(), "more than a day in the future"),
        ("updated", ahead.as_str(), "more than a day in the future"),
        ("published", "2016-12-31T23:59:60Z", "leap second"),
        ("published", "10000-01-01T00:00:00Z", "after 9999"),
    ] {
        let mut body: serde_json::Value =
            serde_json::from_str(&story("wf-open-web-dates")).unwrap();
        if field == "updated" {
            body["published"] = "2026-11-30T08:00:00Z".into();
        }
        body[field] = value.into();
        let (pointer, message) =
            field_error(post(&server, "application/json", body.to_string()).await).await;
        assert_eq!(pointer, format!("/{field}"), "{value}");
        assert!(message.contains(says), "{value}: {message}");
    }
    // A clock a little fast is not an embargo.
    let mut body: serde_json::Value = serde_json::from_str(&story("wf-open-web-soon")).unwrap();
    body["published"] = soon.into();
    let accepted = post(&server, "application/json", body.to_string()).await;
    assert!(accepted.status().is_success(), "{}", accepted.status());

    // ninjs reaches the same rules, and the error names the ninjs field.
    let ninjs = std::fs::read_to_string(fixture("ninjs/g20-climate-finance.json"))
        .unwrap()
        .replace("2026-11-25T10:40:00Z", &ahead);
    let (pointer, message) =
        field_error(post(&server, "application/ninjs+json", ninjs).await).await;
    assert_eq!(pointer, "/versioncreated");
    assert!(
        message.contains("more than a day in the future"),
        "{message}"
    );
}

#[tokio::test]
async fn the_desks_logo_and_icons_reach_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_LOGO_URL", "https://wire.example.com/logo.png")
            .env("WIREFEED_ICON_URL", "https://wire.example.com/icon-512.png")
            .env(
                "WIREFEED_FAVICON_URL",
                "https://wire.example.com/favicon-64.png",
            );
    });
    let rss = server.text("/feeds/world.rss").await;
    assert!(
        rss.contains("<image><url>https://wire.example.com/logo.png</url>"),
        "{rss}"
    );
    let atom = server.text("/feeds/world.atom").await;
    assert!(
        atom.contains("<logo>https://wire.example.com/logo.png</logo>"),
        "{atom}"
    );
    assert!(
        atom.contains("<icon>https://wire.example.com/favicon-64.png</icon>"),
        "{atom}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&server.text("/feeds/world.json").await).unwrap();
    assert_eq!(json["icon"], "https://wire.example.com/icon-512.png");
    assert_eq!(json["favicon"], "https://wire.example.com/favicon-64.png");
}
