//! `/metrics` scraped and parsed with an independent Prometheus text-format parser, and the
//! JSON logs carrying each request's id.

mod common;

use common::{Server, fixture};
use prometheus_parse::{Sample, Scrape, Value};

const TOKEN: &str = "metrics-test-token";

async fn scrape(server: &Server) -> Scrape {
    let response = server.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    Scrape::parse(lines).unwrap()
}

fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let sample: &Sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {name} {labels:?}"));
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{name} is {other:?}"),
    }
}

#[tokio::test]
async fn metrics_count_requests_polls_renders_and_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
    });
    let client = reqwest::Client::new();
    let first = server.get("/feeds/world.atom").await;
    let etag = first.headers()["etag"].clone();
    for _ in 0..3 {
        let polled = client
            .get(server.url("/feeds/world.atom"))
            .header("if-none-match", etag.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(polled.status(), 304);
    }
    assert_eq!(server.get("/feeds/no-such-desk.rss").await.status(), 404);
    let story: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("publish-g20-bilateral.json")).unwrap(),
    )
    .unwrap();
    let publish = |body: serde_json::Value| {
        client
            .post(server.url("/api/articles"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    assert_eq!(publish(story.clone()).await.unwrap().status(), 201);
    let mut bad = story.clone();
    bad["title"] = serde_json::json!("");
    assert_eq!(publish(bad).await.unwrap().status(), 422);
    assert_eq!(server.get("/feeds/g20.rss").await.status(), 200);

    let scrape = scrape(&server).await;
    assert_eq!(
        value(
            &scrape,
            "wirefeed_http_requests_total",
            &[("route", "feed"), ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &scrape,
            "wirefeed_http_requests_total",
            &[("route", "feed"), ("status", "304")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &scrape,
            "wirefeed_http_requests_total",
            &[("route", "feed"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "wirefeed_http_requests_total",
            &[("route", "api"), ("status", "201")]
        ),
        1.0
    );
    assert_eq!(value(&scrape, "wirefeed_feed_not_modified_ratio", &[]), 0.6);
    assert_eq!(
        value(&scrape, "wirefeed_ingest_total", &[("outcome", "created")]),
        1.0
    );
    assert_eq!(
        value(&scrape, "wirefeed_ingest_total", &[("outcome", "rejected")]),
        1.0
    );
    assert_eq!(value(&scrape, "wirefeed_cache_hits_total", &[]), 3.0);
    assert!(value(&scrape, "wirefeed_cache_bytes", &[]) > 1000.0);
    let renders = scrape
        .samples
        .iter()
        .find(|s| s.metric == "wirefeed_render_seconds")
        .expect("the render time histogram");
    let Value::Histogram(buckets) = &renders.value else {
        panic!("render_seconds is {:?}", renders.value)
    };
    assert!(buckets.iter().any(|b| b.count >= 1.0), "{buckets:?}");
}

#[tokio::test]
async fn json_logs_carry_the_request_id_of_every_line_about_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN)
            .env("WIREFEED_LOG", "info")
            .env("WIREFEED_LOG_FORMAT", "json");
    });
    let story: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("publish-g20-bilateral.json")).unwrap(),
    )
    .unwrap();
    let response = reqwest::Client::new()
        .post(server.url("/api/articles"))
        .bearer_auth(TOKEN)
        .header("x-request-id", "desk-7f3a")
        .json(&story)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-request-id"], "desk-7f3a");
    // A request without an id gets one.
    let generated = server.get("/healthz").await;
    assert!(!generated.headers()["x-request-id"].is_empty());

    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let stored = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "article stored")
        .unwrap_or_else(|| panic!("no JSON line for the publish in:\n{log}"));
    assert_eq!(stored["span"]["id"], "desk-7f3a", "{stored}");
    assert_eq!(stored["span"]["path"], "/api/articles");
    assert_eq!(stored["level"], "INFO");
}

/// Polls repeated on one connection are answered from the serving thread's memory after the
/// first ones: every answer, the first and the remembered, carries its own request id, the
/// CORS header for a cross-origin reader and the same validators, and is counted once.
#[tokio::test]
async fn repeated_polls_each_carry_their_id_and_are_each_counted_once() {
    let server = Server::start();
    let client = reqwest::Client::new();
    let first = server.get("/feeds/world.rss").await;
    let etag = first.headers()["etag"].clone();
    let before = scrape(&server).await;
    let counted = |scrape: &Scrape, status: &str| {
        value(
            scrape,
            "wirefeed_http_requests_total",
            &[("route", "feed"), ("status", status)],
        )
    };
    const POLLS: usize = 100;
    for n in 0..POLLS {
        let id = format!("desk-poll-{n}");
        let conditional = n % 2 == 0;
        let mut request = client
            .get(server.url("/feeds/world.rss"))
            .header("x-request-id", &id)
            .header("origin", "https://reader.example");
        if conditional {
            request = request.header("if-none-match", etag.clone());
        }
        let polled = request.send().await.unwrap();
        assert_eq!(
            polled.status(),
            if conditional { 304 } else { 200 },
            "poll {n}"
        );
        assert_eq!(polled.headers()["x-request-id"], id.as_str(), "poll {n}");
        assert_eq!(
            polled.headers()["access-control-allow-origin"],
            "*",
            "poll {n}"
        );
        assert_eq!(polled.headers()["etag"], etag, "poll {n}");
        if !conditional {
            assert_eq!(
                polled.bytes().await.unwrap().len(),
                first_len(&first),
                "poll {n}"
            );
        }
    }
    let after = scrape(&server).await;
    assert_eq!(
        counted(&after, "304") - counted_or_zero(&before, "304"),
        (POLLS / 2) as f64
    );
    assert_eq!(
        counted(&after, "200") - counted(&before, "200"),
        (POLLS / 2) as f64
    );
}

fn first_len(response: &reqwest::Response) -> usize {
    response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn counted_or_zero(scrape: &Scrape, status: &str) -> f64 {
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "wirefeed_http_requests_total"
                && s.labels.get("route") == Some("feed")
                && s.labels.get("status") == Some(status)
        })
        .map_or(0.0, |s| match s.value {
            Value::Counter(v) => v,
            _ => 0.0,
        })
}

/// A poll that must wait (here for a coding nobody asked for before) after finding its
/// version in the serving thread's memory is still one cache hit, as is every other poll.
#[tokio::test]
async fn each_poll_is_one_cache_hit_whether_answered_at_once_or_after_a_wait() {
    let server = Server::start();
    let client = reqwest::Client::new();
    let poll = |encoding: &'static str| {
        client
            .get(server.url("/feeds/world.rss"))
            .header("accept-encoding", encoding)
            .send()
    };
    // Built on this first request: a miss.
    assert_eq!(poll("identity").await.unwrap().status(), 200);
    let hits = |scrape: &Scrape| value(scrape, "wirefeed_cache_hits_total", &[]);
    let before = hits(&scrape(&server).await);
    const POLLS: usize = 12;
    for n in 0..POLLS {
        // The third asks for brotli alone, not made yet: compressed while it waits.
        let encoding = if n == 2 {
            "br, identity;q=0"
        } else {
            "identity"
        };
        let polled = poll(encoding).await.unwrap();
        assert_eq!(polled.status(), 200, "poll {n}");
        if n == 2 {
            assert_eq!(polled.headers()["content-encoding"], "br");
        }
    }
    assert_eq!(hits(&scrape(&server).await) - before, POLLS as f64);
}
