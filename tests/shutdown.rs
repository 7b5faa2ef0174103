//! SIGTERM loses nothing: reader counts reach the store, and WebSub deliveries queued or in
//! flight at the signal reach their subscriber (tests/websub/subscriber.py) before the process
//! exits. Also, over real HTTP, odd paths are refused with 404 whatever route they resemble.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::subscriber::Subscriber;
use common::{Server, fixture};
use serde_json::Value;

const TOKEN: &str = "shutdown-test-token";
const PUBLIC: &str = "http://wire.example.test";
/// Longer than the server's shutdown grace (10 s) plus its HTTP drain: a server that waits out
/// a backoff or forgets to exit fails here.
const EXIT_LIMIT: Duration = Duration::from_secs(15);

fn hub_server(data: &std::path::Path, retry_ms: &str) -> Server {
    Server::start_in(data, |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN)
            .env("WIREFEED_PUBLIC_URL", PUBLIC)
            .env("WIREFEED_WEBSUB_HUB", "builtin")
            .env("WIREFEED_WEBSUB_ALLOWED_NETWORKS", "127.0.0.1/32")
            .env("WIREFEED_WEBSUB_RETRY_MS", retry_ms)
            .env("WIREFEED_WEBSUB_TIMEOUT_SECS", "5");
    })
}

fn story(n: usize) -> Value {
    let text = std::fs::read_to_string(fixture("websub-world-stories.ndjson")).unwrap();
    serde_json::from_str(text.lines().nth(n).unwrap()).unwrap()
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

/// Subscribes `subscriber` to world.atom and waits until the hub has stored the subscription.
async fn subscribe(server: &Server, subscriber: &Subscriber) {
    let topic = format!("{PUBLIC}/feeds/world.atom");
    let callback = subscriber.callback("/push/world");
    let form = [
        ("hub.mode", "subscribe"),
        ("hub.topic", topic.as_str()),
        ("hub.callback", callback.as_str()),
    ];
    let response = reqwest::Client::new()
        .post(server.url("/hub"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    assert!(
        subscriber.next("verify", Duration::from_secs(5)).is_some(),
        "the hub verifies intent"
    );
    // The hub stores the subscription after the subscriber answers: wait for the figure.
    let deadline = Instant::now() + Duration::from_secs(5);
    while common::counter(server, "websub_verified").await < 1 {
        assert!(Instant::now() < deadline, "the subscription was not stored");
        tokio::task::yield_now().await;
    }
}

/// Sends SIGTERM and waits for a clean exit; the moment it was seen.
fn terminate(server: &mut Server) -> Instant {
    server.signal("TERM");
    let status = server.wait_exit(EXIT_LIMIT);
    assert!(status.success(), "exit status {status:?}");
    Instant::now()
}

#[tokio::test]
async fn sigterm_right_after_a_poll_keeps_the_aggregators_subscriber_count() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        Server::start_in(dir.path(), |cmd| {
            cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
        })
    };
    let mut server = start();
    let feedly = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 1234 subscribers; )";
    let fixture = std::fs::read_to_string(fixture("user-agents.ndjson")).unwrap();
    assert!(fixture.contains(feedly), "the fixture's Feedly agent");
    let poll = reqwest::Client::builder()
        .user_agent(feedly)
        .build()
        .unwrap()
        .get(server.url("/feeds/world.atom"))
        .send()
        .await
        .unwrap();
    assert_eq!(poll.status(), 200);
    terminate(&mut server);

    let server = start();
    let stats: Value = reqwest::Client::new()
        .get(server.url("/api/stats?days=2"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let world = stats["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feed"] == "world.atom")
        .unwrap_or_else(|| panic!("no figures for world.atom after SIGTERM: {stats}"));
    assert_eq!(world["aggregators"]["Feedly"], 1234, "{world}");
    assert_eq!(world["subscribers"], 1234, "{world}");
    let metrics = server.text("/metrics").await;
    let line = "wirefeed_feed_subscribers{feed=\"world.atom\"} 1234";
    assert!(metrics.lines().any(|l| l == line), "{metrics}");
}

#[tokio::test]
async fn a_delivery_queued_at_sigterm_is_delivered_before_the_process_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = hub_server(dir.path(), "100");
    // Each answer takes a second, so the delivery is still in flight when the signal lands.
    let subscriber = Subscriber::start(&["--slow", "1"]);
    subscribe(&server, &subscriber).await;
    let story = story(0);
    publish(&server, &story).await;
    let exited = terminate(&mut server);
    // The subscriber reports a delivery before it answers it, and the hub waits for the answer.
    let (delivered, event) = subscriber
        .next_at("delivery", Duration::from_secs(1))
        .expect("the delivery reached the subscriber");
    assert!(
        delivered <= exited + Duration::from_millis(200),
        "the delivery was answered {:?} after the process exited",
        delivered - exited
    );
    assert_eq!(event["status"], 204);
    let id = story["id"].as_str().unwrap();
    assert!(event["body"].as_str().unwrap().contains(id), "{event}");
}

#[tokio::test]
async fn a_delivery_waiting_to_retry_at_sigterm_makes_its_last_attempt_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // A minute before the first retry: far beyond the shutdown grace.
    let mut server = hub_server(dir.path(), "60000");
    let subscriber = Subscriber::start(&["--fail-first", "1"]);
    subscribe(&server, &subscriber).await;
    publish(&server, &story(1)).await;
    let (_, failed) = subscriber
        .next_at("delivery", Duration::from_secs(5))
        .expect("the first attempt");
    assert_eq!(failed["status"], 500);
    let signalled = Instant::now();
    let exited = terminate(&mut server);
    assert!(
        exited - signalled < Duration::from_secs(5),
        "the server waited {:?} to exit",
        exited - signalled
    );
    let (_, retried) = subscriber
        .next_at("delivery", Duration::from_secs(1))
        .expect("the last attempt, made at shutdown");
    assert_eq!(retried["n"], 2);
    assert_eq!(retried["status"], 204);
}

#[test]
fn a_connection_that_never_speaks_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_HEADER_READ_TIMEOUT_SECS", "60");
    });
    // Connected, nothing sent: the server is still waiting for its first bytes.
    let _silent = std::net::TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    exits_promptly(&mut server, "a silent connection");
}

/// On PostgreSQL the change listener holds a connection open for ever; it holds nothing to
/// persist, so it does not hold up the exit either.
#[tokio::test]
async fn the_postgresql_change_listener_does_not_hold_up_shutdown() {
    let Some(schema) = common::pg::Schema::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), schema.configure("a"));
    let started = Instant::now();
    while server.get("/readyz").await.status() != 200 {
        assert!(started.elapsed() < Duration::from_secs(5), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    exits_promptly(&mut server, "the change listener");
}

/// SIGTERM, and the server is gone well within the drain's 10 s although `what` is open.
fn exits_promptly(server: &mut Server, what: &str) {
    let asked = Instant::now();
    terminate(server);
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "{what} held the exit for {took:?}"
    );
}

#[test]
fn a_keep_alive_connection_waiting_between_polls_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_KEEP_ALIVE_TIMEOUT_SECS", "60");
    });
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut poller = std::net::TcpStream::connect(&addr).unwrap();
    write!(poller, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = [0u8; 4096];
    let n = poller.read(&mut answer).unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    // Long enough for the server to park the waiting connection.
    std::thread::sleep(Duration::from_millis(500));
    exits_promptly(&mut server, "a waiting keep-alive connection");
    poller
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(
        poller.read(&mut answer).unwrap(),
        0,
        "the connection is closed"
    );
}

/// Sends a raw request line (so that nothing normalises the path) and returns the status.
fn raw_status(server: &Server, target: &str) -> u16 {
    let addr = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line for {target}: {answer:?}"))
}

#[test]
fn odd_paths_are_404_over_http_and_their_good_twins_are_not() {
    let server = Server::start();
    for (good, odd) in [
        ("/feeds/world.rss", "/feeds/World.rss"),
        ("/feeds/world.rss", "/feeds/world.rss/"),
        ("/feeds/world.rss", "/feeds/.rss"),
        ("/feeds/world.rss", "/feeds/a/b.rss"),
        ("/feeds/world.rss", "/feeds/a%2Fb.rss"),
        ("/feeds/world.rss", "/feeds/../feeds/world.rss"),
        ("/feeds/world.rss?page=1", "/feeds/world.rss?page=0"),
        ("/categories/world", "/categories/World"),
        ("/categories/world", "/categories/world/"),
        ("/categories/world", "/categories/..%2Fadmin"),
        ("/feeds.opml", "/feeds.opml/"),
        ("/healthz", "/healthz/"),
        ("/", "/articles/..%2F..%2Fetc%2Fpasswd"),
        ("/", "/articles/../etc/passwd"),
    ] {
        assert_eq!(raw_status(&server, good), 200, "{good}");
        assert_eq!(raw_status(&server, odd), 404, "{odd}");
    }
    // The ingest API refuses a bad id as a missing one, before asking for the token.
    assert_eq!(raw_status(&server, "/api/articles/a%2Fb"), 404);
    assert_eq!(raw_status(&server, "/api/articles/.."), 404);
}
