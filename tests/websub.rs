//! The built-in WebSub hub against real subscriber processes (tests/websub/subscriber.py, which
//! checks signatures with Python's own HMAC) on 127.0.0.1, and the real server.

mod common;

use std::time::Duration;

use common::subscriber::Subscriber;
use common::{Server, fixture};
use serde_json::Value;

const TOKEN: &str = "websub-test-token";
const SECRET: &str = "a subscriber's secret";
/// Fixed, so that topics stay the same when a restarted server listens on another port.
const PUBLIC: &str = "http://wire.example.test";

fn public(path: &str) -> String {
    format!("{PUBLIC}{path}")
}

fn hub_server(data: &std::path::Path) -> Server {
    Server::start_in(data, |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN)
            .env("WIREFEED_PUBLIC_URL", PUBLIC)
            .env("WIREFEED_WEBSUB_HUB", "builtin")
            .env("WIREFEED_WEBSUB_ALLOWED_NETWORKS", "127.0.0.1/32")
            .env("WIREFEED_WEBSUB_RETRY_MS", "100")
            .env("WIREFEED_WEBSUB_TIMEOUT_SECS", "2")
            .env("WIREFEED_WEBSUB_LEASE_MIN_SECS", "1");
    })
}

fn stories() -> Vec<Value> {
    std::fs::read_to_string(fixture("websub-world-stories.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn publish(server: &Server, story: &Value) {
    let response = reqwest::Client::new()
        .post(server.url("/api/articles"))
        .bearer_auth(TOKEN)
        .json(story)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

async fn hub_request(server: &Server, pairs: &[(&str, &str)]) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/hub"))
        .form(pairs)
        .send()
        .await
        .unwrap()
}

/// Subscribes and waits until the hub has stored the verified subscription.
async fn subscribe(server: &Server, subscriber: &Subscriber, topic: &str, extra: &[(&str, &str)]) {
    let before = common::counter(server, "websub_verified").await;
    let callback = subscriber.callback("/push/world");
    let mut form = vec![
        ("hub.mode", "subscribe"),
        ("hub.topic", topic),
        ("hub.callback", callback.as_str()),
    ];
    form.extend_from_slice(extra);
    let response = hub_request(server, &form).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    let verify = subscriber
        .next("verify", Duration::from_secs(5))
        .expect("the hub verifies intent");
    assert_eq!(verify["mode"], "subscribe");
    assert_eq!(verify["topic"], topic);
    wait_counter(server, "websub_verified", before + 1).await;
}

async fn wait_counter(server: &Server, name: &str, at_least: u64) {
    for _ in 0..100 {
        if common::counter(server, name).await >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} did not reach {at_least}");
}

#[tokio::test]
async fn a_verified_subscriber_gets_each_publish_signed_and_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = hub_server(dir.path());
    let subscriber = Subscriber::start(&["--secret", SECRET]);
    let topic = public("/feeds/world.atom");

    // Feeds name the hub and themselves, in the document and in Link headers.
    let feed = server.get("/feeds/world.atom").await;
    let link = feed.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains(&format!("<{topic}>; rel=\"self\"")), "{link}");
    assert!(
        link.contains(&format!("<{}>; rel=\"hub\"", public("/hub"))),
        "{link}"
    );
    let body = feed.text().await.unwrap();
    assert!(
        body.contains(&format!("href=\"{}\" rel=\"hub\"", public("/hub")))
            || body.contains(&format!("rel=\"hub\" href=\"{}\"", public("/hub"))),
        "{body}"
    );
    let json: Value = serde_json::from_str(&server.text("/feeds/world.json").await).unwrap();
    assert_eq!(json["hubs"][0]["type"], "WebSub");

    subscribe(
        &server,
        &subscriber,
        &topic,
        &[("hub.secret", SECRET), ("hub.lease_seconds", "86400")],
    )
    .await;

    let stories = stories();
    publish(&server, &stories[0]).await;
    let delivery = subscriber
        .next("delivery", Duration::from_secs(5))
        .expect("the publish is pushed");
    assert_eq!(delivery["signature"], "ok", "{delivery}");
    assert_eq!(delivery["self"], topic.as_str());
    assert_eq!(delivery["hub"], public("/hub").as_str());
    assert!(
        delivery["content_type"]
            .as_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    let pushed = delivery["body"].as_str().unwrap();
    assert!(pushed.contains(stories[0]["title"].as_str().unwrap()));
    // Exactly the feed a poll returns now.
    assert_eq!(pushed, server.text("/feeds/world.atom").await);

    // A story outside the feed's categories is not pushed to it.
    let g20 = serde_json::from_str::<Value>(
        &std::fs::read_to_string(fixture("publish-g20-bilateral.json")).unwrap(),
    )
    .unwrap();
    let mut g20_only = g20.clone();
    g20_only["categories"] = serde_json::json!(["g20"]);
    publish(&server, &g20_only).await;
    assert!(
        subscriber
            .next("delivery", Duration::from_millis(800))
            .is_none()
    );

    // Subscriptions live in the store: a restarted server still pushes.
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(15)).success());
    drop(server);
    let server = hub_server(dir.path());
    // The operator's page counts the subscription against its feed.
    let admin = reqwest::Client::new()
        .get(server.url("/admin"))
        .basic_auth("operator", Some(TOKEN))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = &admin[admin.find(">world.atom</a>").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.ends_with("<td>1</td>\n"), "{row}");
    publish(&server, &stories[1]).await;
    let delivery = subscriber
        .next("delivery", Duration::from_secs(5))
        .expect("pushed after a restart");
    assert_eq!(delivery["signature"], "ok");
    assert!(
        delivery["body"]
            .as_str()
            .unwrap()
            .contains(stories[1]["title"].as_str().unwrap())
    );
}

#[tokio::test]
async fn failed_deliveries_are_retried_and_a_slow_subscriber_holds_up_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let server = hub_server(dir.path());
    let flaky = Subscriber::start(&["--fail-first", "2"]);
    // Each of its answers takes longer than the hub's 2 s timeout.
    let slow = Subscriber::start(&["--slow", "3"]);
    let topic = public("/feeds/world.rss");
    subscribe(&server, &flaky, &topic, &[]).await;
    subscribe(&server, &slow, &topic, &[]).await;

    publish(&server, &stories()[2]).await;
    let started = std::time::Instant::now();
    for attempt in 1..=3 {
        let delivery = flaky
            .next("delivery", Duration::from_secs(5))
            .unwrap_or_else(|| panic!("attempt {attempt} arrives"));
        assert_eq!(delivery["n"], attempt);
        assert_eq!(delivery["signature"], "missing");
    }
    // Three attempts with 100 ms and 200 ms backoff, not stuck behind the slow subscriber.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(slow.next("delivery", Duration::from_secs(5)).is_some());
    wait_counter(&server, "websub_deliveries", 1).await;
    wait_counter(&server, "websub_delivery_failures", 3).await;
}

#[tokio::test]
async fn unsubscribing_refused_verification_and_ended_leases_stop_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let server = hub_server(dir.path());
    let topic = public("/feeds/world.json");
    let stories = stories();

    // A subscriber that does not confirm is never subscribed.
    let refusing = Subscriber::start(&["--refuse-verify"]);
    let callback = refusing.callback("/cb");
    let response = hub_request(
        &server,
        &[
            ("hub.mode", "subscribe"),
            ("hub.topic", &topic),
            ("hub.callback", &callback),
        ],
    )
    .await;
    assert_eq!(response.status(), 202);
    assert!(refusing.next("verify", Duration::from_secs(5)).is_some());
    wait_counter(&server, "websub_verify_failures", 1).await;

    // A one-second lease runs out.
    let short = Subscriber::start(&[]);
    subscribe(&server, &short, &topic, &[("hub.lease_seconds", "1")]).await;

    // Unsubscribing is verified like subscribing.
    let leaving = Subscriber::start(&[]);
    subscribe(&server, &leaving, &topic, &[]).await;
    let callback = leaving.callback("/push/world");
    let response = hub_request(
        &server,
        &[
            ("hub.mode", "unsubscribe"),
            ("hub.topic", &topic),
            ("hub.callback", &callback),
        ],
    )
    .await;
    assert_eq!(response.status(), 202);
    let verify = leaving.next("verify", Duration::from_secs(5)).unwrap();
    assert_eq!(verify["mode"], "unsubscribe");
    assert!(verify["lease_seconds"].is_null());
    wait_counter(&server, "websub_verified", 3).await;

    tokio::time::sleep(Duration::from_millis(1500)).await;
    publish(&server, &stories[3]).await;
    for quiet in [&refusing, &short, &leaving] {
        assert!(quiet.next("delivery", Duration::from_millis(700)).is_none());
    }
}

#[tokio::test]
async fn bad_and_dangerous_requests_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = hub_server(dir.path());
    let topic = public("/feeds/world.atom");
    type Form<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(Form<'_>, u16, &str)] = &[
        (
            &[("hub.mode", "subscribe"), ("hub.topic", &topic)],
            400,
            "hub.callback is missing",
        ),
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", "https://elsewhere.example/feed.xml"),
                ("hub.callback", "http://127.0.0.1:9/cb"),
            ],
            400,
            "not a feed of this hub",
        ),
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", &public("/feeds/no-such-desk.atom")),
                ("hub.callback", "http://127.0.0.1:9/cb"),
            ],
            400,
            "not a feed of this hub",
        ),
        // Loopback outside the allowed 127.0.0.1/32, private, link-local (cloud metadata).
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", &topic),
                ("hub.callback", "http://127.0.0.2/cb"),
            ],
            403,
            "not a public address",
        ),
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", &topic),
                ("hub.callback", "http://10.1.2.3/cb"),
            ],
            403,
            "not a public address",
        ),
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", &topic),
                ("hub.callback", "http://169.254.169.254/latest/meta-data/"),
            ],
            403,
            "not a public address",
        ),
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", &topic),
                ("hub.callback", "http://[::1]:8080/cb"),
            ],
            403,
            "not a public address",
        ),
    ];
    for (form, status, reason) in cases {
        let response = hub_request(&server, form).await;
        assert_eq!(response.status(), *status, "{form:?}");
        let text = response.text().await.unwrap();
        assert!(text.contains(reason), "{form:?}: {text}");
    }
    let not_a_form = reqwest::Client::new()
        .post(server.url("/hub"))
        .json(&serde_json::json!({"hub.mode": "subscribe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_a_form.status(), 415);

    // Without the hub switched on, there is no /hub and feeds name no hub.
    let plain = Server::start();
    assert_eq!(plain.get("/hub").await.status(), 404);
    let feed = plain.get("/feeds/world.atom").await;
    assert!(
        !feed.headers()["link"]
            .to_str()
            .unwrap()
            .contains("rel=\"hub\"")
    );
}

/// A WebSub subscriber is a client of the change day too: a correction and a kill are pushed
/// like a publish, the kill as the withdrawal notice and its tombstone.
#[tokio::test]
async fn corrections_and_kills_are_pushed_to_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let server = hub_server(dir.path());
    let subscriber = Subscriber::start(&["--secret", SECRET]);
    let topic = public("/feeds/world.atom");
    subscribe(&server, &subscriber, &topic, &[("hub.secret", SECRET)]).await;
    let story = stories()[0].clone();
    let id = story["id"].as_str().unwrap().to_owned();
    publish(&server, &story).await;
    subscriber
        .next("delivery", Duration::from_secs(5))
        .expect("the publish is pushed");

    let mut corrected = story.clone();
    corrected["title"] = format!("{} (corrected)", story["title"].as_str().unwrap()).into();
    let response = reqwest::Client::new()
        .put(server.url(&format!("/api/articles/{id}")))
        .bearer_auth(TOKEN)
        .json(&corrected)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let pushed = subscriber
        .next("delivery", Duration::from_secs(5))
        .expect("the correction is pushed");
    assert_eq!(pushed["signature"], "ok");
    assert!(
        pushed["body"].as_str().unwrap().contains("(corrected)"),
        "{pushed}"
    );

    let response = reqwest::Client::new()
        .delete(server.url(&format!("/api/articles/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let pushed = subscriber
        .next("delivery", Duration::from_secs(5))
        .expect("the kill is pushed");
    let body = pushed["body"].as_str().unwrap();
    assert!(body.contains("WITHDRAWN: "), "{body}");
    assert!(body.contains("<at:deleted-entry"), "{body}");
    // The story's own text is gone from the pushed feed.
    let summary: String = story["summary"]
        .as_str()
        .unwrap()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == ' ')
        .collect();
    assert!(summary.len() > 10, "{summary}");
    assert!(!body.contains(&summary), "{body}");
}

#[tokio::test]
async fn an_embargoed_story_is_pushed_once_at_its_lift_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let server = hub_server(dir.path());
    let subscriber = Subscriber::start(&["--secret", SECRET]);
    subscribe(
        &server,
        &subscriber,
        &public("/feeds/world.atom"),
        &[("hub.secret", SECRET)],
    )
    .await;
    let mut story = stories()[1].clone();
    let now = chrono::Utc::now();
    let lift = chrono::DateTime::from_timestamp(now.timestamp() + 3, 0).unwrap();
    story["embargo"] = lift.to_rfc3339().into();
    publish(&server, &story).await;
    assert!(
        subscriber
            .next("delivery", Duration::from_secs(2))
            .is_none(),
        "nothing is pushed while the story is held"
    );
    let pushed = subscriber
        .next("delivery", Duration::from_secs(5))
        .expect("the release is pushed");
    assert!(chrono::Utc::now() >= lift);
    let id = story["id"].as_str().unwrap();
    assert!(pushed["body"].as_str().unwrap().contains(id), "{pushed}");
    assert!(
        subscriber
            .next("delivery", Duration::from_secs(2))
            .is_none(),
        "pushed once"
    );
}
