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

/// What one client saw of a request sent while the server was being stopped.
#[derive(Debug, PartialEq)]
enum Seen {
    /// A whole response.
    Complete(u16),
    /// No response at all: the connection was refused or closed before any answer.
    Refused,
    /// Headers arrived but the body was cut short: a torn write, never allowed.
    Torn(String),
}

async fn seen(request: reqwest::RequestBuilder) -> Seen {
    match request.send().await {
        Err(_) => Seen::Refused,
        Ok(response) => {
            let status = response.status().as_u16();
            let declared = response.content_length();
            match response.bytes().await {
                Ok(body) if declared.is_none_or(|n| n == body.len() as u64) => {
                    Seen::Complete(status)
                }
                Ok(body) => Seen::Torn(format!("{} of {declared:?} bytes", body.len())),
                Err(e) => Seen::Torn(e.to_string()),
            }
        }
    }
}

#[tokio::test]
async fn sigterm_under_load_finishes_requests_in_flight_and_tears_no_write() {
    const TOKEN: &str = "shutdown-test-token-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
    });
    let template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixture("publish-g20-bilateral.json")).unwrap(),
    )
    .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let url = server.base.clone();
        let template = template.clone();
        let stop = std::sync::Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut seen_list = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (kind, outcome) = if worker % 2 == 0 {
                    let id = format!("wf-shutdown-{worker}-{i:04}");
                    let mut story = template.clone();
                    story["id"] = id.clone().into();
                    let request = client
                        .post(format!("{url}/api/articles"))
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/json")
                        .body(story.to_string());
                    (Some(id), seen(request).await)
                } else {
                    let request = client
                        .get(format!("{url}/feeds/all.rss"))
                        .header("cache-control", "no-cache");
                    (None, seen(request).await)
                };
                if outcome == Seen::Refused {
                    break;
                }
                seen_list.push((kind, outcome));
                i += 1;
            }
            seen_list
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(15));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(status.success(), "exit status after SIGTERM: {status:?}");

    let mut acknowledged = Vec::new();
    let mut completed = 0;
    for task in tasks {
        for (id, outcome) in task.await.unwrap() {
            match outcome {
                Seen::Complete(code) => {
                    assert!(
                        matches!(code, 200 | 201),
                        "a request during shutdown got {code}"
                    );
                    completed += 1;
                    if let Some(id) = id {
                        acknowledged.push(id);
                    }
                }
                Seen::Torn(what) => panic!("a response was torn during shutdown: {what}"),
                Seen::Refused => unreachable!(),
            }
        }
    }
    assert!(completed > 8, "only {completed} requests completed");
    assert!(!acknowledged.is_empty());

    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
    });
    let client = reqwest::Client::new();
    for id in &acknowledged {
        let response = client
            .get(server.url(&format!("/api/articles/{id}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "acknowledged {id} was lost");
    }
    feed_rs::parser::parse(server.text("/feeds/all.atom").await.as_bytes()).unwrap();
}

/// Sends `request` on a new connection and reads until the server closes it.
fn exchange(server: &Server, request: &str) -> String {
    let mut stream = connect(server);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn an_http11_request_needs_exactly_one_host_and_http10_none() {
    let (_dir, server) = start(&[]);
    for (request, status) in [
        ("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", "400"),
        (
            "GET /feeds/world.rss HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
            "400",
        ),
        (
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "200",
        ),
        ("GET /healthz HTTP/1.0\r\n\r\n", "200"),
    ] {
        let answer = exchange(&server, request);
        let first = answer.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("HTTP/1.") && first.split(' ').nth(1) == Some(status),
            "{request:?} got {first:?}"
        );
        if status == "400" {
            assert!(answer.contains("application/problem+json"), "{answer}");
        }
    }
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_408_and_closes_while_a_slow_store_stays_503() {
    let (_dir, server) = start(&[
        ("WIREFEED_REQUEST_TIMEOUT_SECS", "1"),
        // Longer than the request timeout: the locked store below is still working when the
        // request's time is up.
        ("WIREFEED_STORE_TIMEOUT_MS", "10000"),
        ("WIREFEED_INGEST_TOKEN", "hardening-token"),
    ]);
    let story = serde_json::json!({
        "id": "wf-hardening-slow-body",
        "title": "A story sent slowly",
        "summary": "It arrives one piece at a time.",
        "categories": ["world"],
        "published": "2026-11-25T08:00:00Z",
    })
    .to_string();
    let head = format!(
        "POST /api/articles HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer hardening-token\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        story.len()
    );
    // The head and a few bytes of the body, then nothing: the client is the slow one.
    let mut slow = connect(&server);
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(&story.as_bytes()[..10]).unwrap();
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer)
        .expect("the connection is closed after the 408");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{answer}"
    );

    // The whole request at once while another process holds the store's write lock: the
    // server is the slow one, and that is still a 503.
    let store = rusqlite::Connection::open(server.data.join("wirefeed.sqlite3")).unwrap();
    store.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let whole = head.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n") + &story;
    let answer = exchange(&server, &whole);
    store.execute_batch("ROLLBACK").unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 5"), "{answer}");
}

#[tokio::test]
async fn two_host_lines_or_a_host_that_is_not_one_is_a_400_on_http10_and_http11() {
    let (_dir, server) = start(&[]);
    for version in ["HTTP/1.0", "HTTP/1.1"] {
        for (hosts, status) in [
            ("Host: a\r\nHost: b\r\n", "400"),
            ("Host: a\r\nHost: a\r\n", "400"),
            ("Host: a, b\r\n", "400"),
            ("Host: user@a\r\n", "400"),
            ("Host: a:port\r\n", "400"),
            ("Host: a:8080\r\n", "200"),
            ("Host: [::1]:8080\r\n", "200"),
        ] {
            for path in ["/healthz", "/feeds/world.rss"] {
                let request = format!("GET {path} {version}\r\n{hosts}Connection: close\r\n\r\n");
                let answer = exchange(&server, &request);
                let first = answer.lines().next().unwrap_or_default();
                assert_eq!(
                    first.split(' ').nth(1),
                    Some(status),
                    "{request:?} got {first:?}"
                );
                if status == "400" {
                    assert!(answer.contains("application/problem+json"), "{answer}");
                }
            }
        }
    }
}

#[tokio::test]
async fn a_client_that_half_closes_after_its_request_gets_the_whole_response() {
    let (_dir, server) = start(&[]);
    let whole = server.text("/feeds/world.rss").await;
    for attempt in 0..40 {
        let mut stream = connect(&server);
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(b"GET /feeds/world.rss HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        // As `nc -N` and some probes do: nothing more to send, so the sending side is shut.
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with(&whole),
            "attempt {attempt}: {} bytes: {:?}",
            answer.len(),
            &answer[..answer.len().min(200)]
        );
    }
}

#[tokio::test]
async fn cleartext_http2_with_prior_knowledge_is_served_beside_http11_even_when_its_preface_trickles()
 {
    let (_dir, server) = start(&[]);
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = h2.get(server.url("/feeds/world.rss")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let h1 = server.get("/feeds/world.rss").await;
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);

    // The preface in two pieces, the second a moment later: the server waits for the rest
    // instead of taking the connection for HTTP/1.1, then answers with its SETTINGS frame.
    let mut stream = connect(&server);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"PRI * HTTP/2").unwrap();
    std::thread::sleep(Duration::from_millis(150));
    stream.write_all(b".0\r\n\r\nSM\r\n\r\n").unwrap();
    // An empty SETTINGS frame of the client's own.
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let mut frame = [0u8; 9];
    stream.read_exact(&mut frame).unwrap();
    assert_eq!(
        frame[3], 4,
        "the server's first frame is SETTINGS: {frame:?}"
    );
}
