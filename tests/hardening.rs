//! Hostile clients against the real server: slow headers, oversize headers, too many
//! connections. Each must be contained without hurting anyone else.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;

fn start(settings: &[(&'static str, &'static str)]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings.to_vec();
    let server = Server::start_in(dir.path(), move |cmd| {
        for (k, v) in &settings {
            cmd.env(k, v);
        }
    });
    (dir, server)
}

fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://")).unwrap()
}

#[tokio::test]
async fn a_slowloris_client_is_dropped_and_others_are_served_meanwhile() {
    let (_dir, server) = start(&[("WIREFEED_HEADER_READ_TIMEOUT_SECS", "1")]);
    let mut slow = connect(&server);
    slow.write_all(b"GET /feeds/world.rss HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        server.get("/feeds/world.rss").await.status(),
        200,
        "others are unaffected"
    );
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(4),
        "the slow client was held {waited:?}"
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(
        buf.is_empty() || text.starts_with("HTTP/1.1 408"),
        "unexpected answer: {text}"
    );
}

#[tokio::test]
async fn oversize_request_headers_get_431() {
    let (_dir, server) = start(&[("WIREFEED_MAX_HEADER_BYTES", "16384")]);
    let response = reqwest::Client::new()
        .get(server.url("/feeds/world.rss"))
        .header("x-padding", "a".repeat(32 * 1024))
        .send()
        .await;
    match response {
        Ok(r) => assert_eq!(r.status(), 431),
        Err(e) => panic!("expected a 431, got {e}"),
    }
    assert_eq!(server.get("/feeds/world.rss").await.status(), 200);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_a_slot_frees() {
    let (_dir, server) = start(&[
        ("WIREFEED_MAX_CONNECTIONS", "2"),
        ("WIREFEED_HEADER_READ_TIMEOUT_SECS", "30"),
    ]);
    let idle: Vec<TcpStream> = (0..2).map(|_| connect(&server)).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(700))
        .build()
        .unwrap();
    assert!(
        client.get(server.url("/healthz")).send().await.is_err(),
        "a third connection was served"
    );
    drop(idle);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert_eq!(
        client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn unconditional_polls_beyond_the_limit_get_429_but_conditional_ones_never_do() {
    let (_dir, server) = start(&[("WIREFEED_POLL_LIMIT_PER_MINUTE", "3")]);
    let mut etag = String::new();
    for _ in 0..3 {
        let response = server.get("/feeds/world.rss").await;
        assert_eq!(response.status(), 200);
        etag = response.headers()["etag"].to_str().unwrap().to_owned();
    }
    let limited = server.get("/feeds/world.rss").await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "60");
    let conditional = reqwest::Client::new()
        .get(server.url("/feeds/world.rss"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        conditional.status(),
        304,
        "conditional polls are never limited"
    );
    assert_eq!(
        server.get("/feeds/g20.rss").await.status(),
        200,
        "the limit is per feed"
    );
}
