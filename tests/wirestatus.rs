//! Story status against the real server: ninjs `canceled` and `withheld` and a past `expires`
//! kill as DELETE does, a future `expires` is kept, an older ninjs `version` is refused; rights
//! travel in every format and on the story page; urgency, the flash feed (RSS, Atom, JSON,
//! OPML, WebSub) and the home page's FLASH label.

mod common;

use std::time::Duration;

use common::subscriber::Subscriber;
use common::{Server, fixture};
use serde_json::Value;

const TOKEN: &str = "wirestatus-test-token";
const QUAKE: &str = "urn-newsml-wire.example.com-20261202-quake-flash";
const G20: &str = "urn-newsml-wire.example.com-20261125-g20-climate-finance";
const RIGHTS: &str = "© 2026 Test Wire. All rights reserved.";

fn started() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN)
            .env("WIREFEED_RIGHTS", RIGHTS);
    });
    (dir, server)
}

fn ninjs(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("ninjs/{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    media_type: &str,
    body: &Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .request(method, server.url(path))
        .bearer_auth(TOKEN)
        .header("content-type", media_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn post_ninjs(server: &Server, body: &Value) -> reqwest::Response {
    send(
        server,
        reqwest::Method::POST,
        "/api/articles",
        "application/ninjs+json",
        body,
    )
    .await
}

/// Sends and expects `status`, returning the JSON answer.
async fn expect(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_ninjs_cancellation_kills_the_story_with_its_withdrawal_notices() {
    let (_dir, server) = started();
    expect(post_ninjs(&server, &ninjs("flash-quake")).await, 201).await;
    assert!(server.text("/feeds/world.rss").await.contains(QUAKE));

    let answer = expect(post_ninjs(&server, &ninjs("quake-canceled")).await, 200).await;
    assert_eq!(answer["id"], QUAKE);
    assert_eq!(answer["status"], "killed");
    assert_eq!(answer["reason"], "canceled");
    assert!(answer["killed_at"].is_string(), "{answer}");
    let story = server.get(&format!("/api/articles/{QUAKE}")).await;
    assert_eq!(story.status(), 401, "the API needs the token");
    let story = reqwest::Client::new()
        .get(server.url(&format!("/api/articles/{QUAKE}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(story.status(), 410, "killed as DELETE kills");

    // The notices of the kill rules, in every format.
    let rss = server.text("/feeds/world.rss").await;
    assert!(rss.contains("WITHDRAWN: FLASH: Magnitude 7.1"), "{rss}");
    let atom = server.text("/feeds/world.atom").await;
    assert!(
        atom.contains("ref=\"tag:") && atom.contains(&format!("article:{QUAKE}\"")),
        "{atom}"
    );
    let json = server.text("/feeds/world.json").await;
    assert!(json.contains("This story has been withdrawn"));

    // A retry answers the same; a cancellation of a story never sent has nothing to kill.
    let again = expect(post_ninjs(&server, &ninjs("quake-canceled")).await, 200).await;
    assert_eq!(again["killed_at"], answer["killed_at"]);
    let mut unknown = ninjs("quake-canceled");
    unknown["uri"] = "urn:newsml:wire.example.com:20261202:never-sent".into();
    expect(post_ninjs(&server, &unknown).await, 404).await;
}

#[tokio::test]
async fn a_withheld_story_is_killed_through_put_too() {
    let (_dir, server) = started();
    expect(
        post_ninjs(&server, &ninjs("g20-climate-finance")).await,
        201,
    )
    .await;
    let mut withheld = ninjs("g20-climate-finance");
    withheld["pubstatus"] = "withheld".into();
    let path = format!("/api/articles/{G20}");
    let answer = expect(
        send(
            &server,
            reqwest::Method::PUT,
            &path,
            "application/ninjs+json",
            &withheld,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(answer["reason"], "withheld");
    assert!(
        server
            .text("/feeds/g20.rss")
            .await
            .contains("WITHDRAWN: G20 leaders agree")
    );
}

#[tokio::test]
async fn a_past_expiry_withdraws_and_a_future_one_is_kept() {
    let (_dir, server) = started();
    let mut story: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("publish-g20-bilateral.json")).unwrap(),
    )
    .unwrap();
    let id = story["id"].as_str().unwrap().to_owned();
    story["expires"] = "2035-06-30T00:00:00Z".into();
    let kept = expect(
        send(
            &server,
            reqwest::Method::POST,
            "/api/articles",
            "application/json",
            &story,
        )
        .await,
        201,
    )
    .await;
    assert_eq!(kept["expires"], "2035-06-30T00:00:00Z");

    story["expires"] = "2026-11-27T00:00:00Z".into();
    let killed = expect(
        send(
            &server,
            reqwest::Method::PUT,
            &format!("/api/articles/{id}"),
            "application/json",
            &story,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (&killed["status"], &killed["reason"]),
        (&"killed".into(), &"expired".into())
    );
    assert!(server.text("/feeds/g20.atom").await.contains("WITHDRAWN: "));

    // ninjs `expires` in the past for a story never sent: nothing to withdraw.
    let mut expired = ninjs("flash-quake");
    expired["expires"] = "2026-12-01T00:00:00Z".into();
    expect(post_ninjs(&server, &expired).await, 404).await;
}

#[tokio::test]
async fn an_older_ninjs_version_or_versioncreated_is_refused() {
    let (_dir, server) = started();
    let story = ninjs("g20-climate-finance");
    expect(post_ninjs(&server, &story).await, 201).await;
    let path = format!("/api/articles/{G20}");
    let put = |body: Value| {
        let server = &server;
        let path = path.clone();
        async move {
            send(
                server,
                reqwest::Method::PUT,
                &path,
                "application/ninjs+json",
                &body,
            )
            .await
        }
    };
    // Version 1 after version 2, even with a later versioncreated.
    let mut older = story.clone();
    older["version"] = "1".into();
    older["versioncreated"] = "2026-11-25T11:00:00Z".into();
    let problem = expect(put(older).await, 409).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("version 2"),
        "{problem}"
    );
    // The same version with an earlier versioncreated: older, as for our own `updated`.
    let mut earlier = story.clone();
    earlier["versioncreated"] = "2026-11-25T10:00:00Z".into();
    earlier["headlines"][1]["value"] = "G20 leaders agree climate finance target".into();
    expect(put(earlier).await, 409).await;
    // A later version is a correction.
    let mut newer = story.clone();
    newer["version"] = "3".into();
    newer["versioncreated"] = "2026-11-25T11:30:00Z".into();
    newer["headlines"][1]["value"] = "UPDATE 1-G20 leaders agree to triple climate finance".into();
    let corrected = expect(put(newer).await, 200).await;
    assert_eq!(corrected["version"], 3);
}

#[tokio::test]
async fn rights_travel_in_every_format_and_on_the_story_page() {
    let (_dir, server) = started();
    expect(
        post_ninjs(&server, &ninjs("g20-climate-finance")).await,
        201,
    )
    .await;

    let rss = server.text("/feeds/g20.rss").await;
    assert!(
        rss.contains(&format!("<copyright>{RIGHTS}</copyright>")),
        "{rss}"
    );
    assert!(rss.contains("<dc:rights>© 2026 Wire Desk. All rights reserved.</dc:rights>"));
    assert!(rss.contains("<wirefeed:usageTerms>No archiving; no use after 30 days."));
    assert!(rss.contains("xmlns:wirefeed=\"https://wirefeed.dev/ns/1.0\""));

    let atom = server.text("/feeds/g20.atom").await;
    assert!(
        atom.contains(&format!("<rights>{RIGHTS}</rights>")),
        "{atom}"
    );
    assert!(atom.contains("© 2026 Wire Desk. All rights reserved.</rights>"));
    assert!(atom.contains("href=\"https://wire.example.com/rights/standard\" rel=\"license\""));

    let json: Value = serde_json::from_str(&server.text("/feeds/g20.json").await).unwrap();
    assert_eq!(json["_wirefeed"]["rights"], RIGHTS);
    assert!(
        json["_wirefeed"]["about"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let item = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"].as_str().unwrap().ends_with(G20))
        .unwrap();
    let ours = &item["_wirefeed"];
    assert_eq!(
        ours["rights"]["copyright"],
        "© 2026 Wire Desk. All rights reserved."
    );
    assert_eq!(
        ours["rights"]["link"],
        "https://wire.example.com/rights/standard"
    );
    assert_eq!(ours["urgency"], 3);

    let page = server.text(&format!("/articles/{G20}")).await;
    assert!(
        page.contains("<p class=\"copyright\">© 2026 Wire Desk. All rights reserved.</p>"),
        "{page}"
    );
    assert!(page.contains("Terms of use: No archiving; no use after 30 days."));
}

/// The flash feed's document in `format`, and its entries' ids.
async fn flash(server: &Server, ext: &str) -> (reqwest::header::HeaderMap, String) {
    let response = server.get(&format!("/feeds/flash.{ext}")).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    (headers, response.text().await.unwrap())
}

#[tokio::test]
async fn the_flash_feed_holds_the_most_urgent_stories_in_every_format() {
    let (_dir, server) = started();
    expect(post_ninjs(&server, &ninjs("flash-quake")).await, 201).await;
    expect(
        post_ninjs(&server, &ninjs("g20-climate-finance")).await,
        201,
    )
    .await;

    for ext in ["rss", "atom", "json"] {
        let (headers, body) = flash(&server, ext).await;
        assert!(body.contains(QUAKE), "{ext}: {body}");
        assert!(!body.contains(G20), "urgency 3 is no flash: {body}");
        // Nor any story of the sample wire, which has no urgency.
        assert!(!body.contains("wf-2026"), "{body}");
        let cache = headers["cache-control"].to_str().unwrap();
        assert!(cache.contains("max-age=30"), "{cache}");
    }
    let (_, rss) = flash(&server, "rss").await;
    assert!(
        rss.contains("<wirefeed:urgency>1</wirefeed:urgency>"),
        "{rss}"
    );
    let (_, json) = flash(&server, "json").await;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["items"][0]["_wirefeed"]["urgency"], 1);
    // (tests/atom_schema.rs validates the flash feed against RFC 4287's schema.)

    assert!(
        server
            .text("/feeds.opml")
            .await
            .contains("/feeds/flash.rss")
    );
    // The feed's page, which its documents link to.
    assert!(server.text("/categories/flash").await.contains(QUAKE));
    let home = server.text("/").await;
    assert_eq!(home.matches("class=\"flash\"").count(), 1, "{home}");

    // A correction that lowers the urgency takes the story out of the flash feed.
    let (headers, _) = flash(&server, "atom").await;
    let mut downgraded = ninjs("flash-quake");
    downgraded["urgency"] = 4.into();
    downgraded["version"] = "2".into();
    downgraded["versioncreated"] = "2026-12-02T00:50:00Z".into();
    expect(
        send(
            &server,
            reqwest::Method::PUT,
            &format!("/api/articles/{QUAKE}"),
            "application/ninjs+json",
            &downgraded,
        )
        .await,
        200,
    )
    .await;
    let (after, body) = flash(&server, "atom").await;
    assert_ne!(after["etag"], headers["etag"]);
    assert!(!body.contains(QUAKE), "{body}");
    assert!(!server.text("/").await.contains("class=\"flash\""));
}

#[tokio::test]
async fn websub_pushes_the_flash_feed_only_when_a_flash_changes() {
    const PUBLIC: &str = "http://wire.example.test";
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN)
            .env("WIREFEED_PUBLIC_URL", PUBLIC)
            .env("WIREFEED_WEBSUB_HUB", "builtin")
            .env("WIREFEED_WEBSUB_ALLOWED_NETWORKS", "127.0.0.1/32")
            .env("WIREFEED_WEBSUB_RETRY_MS", "100")
            .env("WIREFEED_WEBSUB_TIMEOUT_SECS", "2");
    });
    let subscriber = Subscriber::start(&[]);
    let topic = format!("{PUBLIC}/feeds/flash.atom");
    let callback = subscriber.callback("/push/flash");
    let response = reqwest::Client::new()
        .post(server.url("/hub"))
        .form(&[
            ("hub.mode", "subscribe"),
            ("hub.topic", topic.as_str()),
            ("hub.callback", callback.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    subscriber
        .next("verify", Duration::from_secs(5))
        .expect("the hub verifies intent");
    for _ in 0..100 {
        if common::counter(&server, "websub_verified").await >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A story of urgency 3 leaves the flash feed as it was: nothing is pushed.
    expect(
        post_ninjs(&server, &ninjs("g20-climate-finance")).await,
        201,
    )
    .await;
    assert!(
        subscriber
            .next("delivery", Duration::from_millis(1500))
            .is_none(),
        "the flash feed did not change"
    );
    // A flash is pushed.
    expect(post_ninjs(&server, &ninjs("flash-quake")).await, 201).await;
    let delivery = subscriber
        .next("delivery", Duration::from_secs(5))
        .expect("the flash is pushed");
    assert_eq!(delivery["path"], "/push/flash");
    assert_eq!(delivery["self"], topic);
}

#[tokio::test]
async fn a_story_is_withdrawn_when_its_expires_comes() {
    let (_dir, server) = started();
    let mut story = ninjs("g20-climate-finance");
    let now = chrono::Utc::now();
    let expires = chrono::DateTime::from_timestamp(now.timestamp() + 3, 0).unwrap();
    story["expires"] = expires.to_rfc3339().into();
    expect(post_ninjs(&server, &story).await, 201).await;
    let feed = server.text("/feeds/all.rss").await;
    assert!(
        feed.contains(G20) && !feed.contains("WITHDRAWN: "),
        "live until it expires"
    );
    let started = std::time::Instant::now();
    loop {
        let feed = server.text("/feeds/all.rss").await;
        if feed.contains("WITHDRAWN: ") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "not withdrawn at its expiry"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(chrono::Utc::now() >= expires, "not before its time");
    let page = server.get(&format!("/articles/{G20}")).await;
    assert_eq!(page.status(), 410, "killed as DELETE kills");
}
