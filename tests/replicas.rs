//! Two wirefeed replicas on one PostgreSQL schema, as behind a load balancer: a publish through
//! one reaches the other within a second, both serve the same bytes and validators, and a
//! dropped change listener reconnects and misses nothing.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use common::pg::{self, Schema};

const TOKEN: &str = "replica-test-token-0123456789";

/// Replica A (with the ingest API on) and replica B on one fresh schema.
async fn replicas() -> Option<(Schema, tempfile::TempDir, Server, Server)> {
    let schema = Schema::fresh().await?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let configure_a = schema.configure("a");
    let a = Server::start_in(&dir.path().join("a"), |cmd| {
        configure_a(cmd);
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
    });
    let b = Server::start_in(&dir.path().join("b"), schema.configure("b"));
    Some((schema, dir, a, b))
}

async fn publish(a: &Server, id: &str) {
    let response = reqwest::Client::new()
        .post(a.url("/api/articles"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(common::story(id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "publish {id} through A");
}

/// How long until `server` shows `id` in `path`, polling every 20 ms for up to `limit`.
async fn time_until_shown(server: &Server, path: &str, id: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        if server.text(path).await.contains(id) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} did not show {id} within {limit:?}");
}

#[tokio::test]
async fn a_publish_through_a_is_served_by_b_within_a_second() {
    let Some((_schema, _dir, a, b)) = replicas().await else {
        return;
    };
    // B has the feed cached before the publish.
    assert!(!b.text("/feeds/g20.atom").await.contains("wf-replica-1"));
    publish(&a, "wf-replica-1").await;
    let waited = time_until_shown(
        &b,
        "/feeds/g20.atom",
        "wf-replica-1",
        Duration::from_secs(1),
    )
    .await;
    eprintln!("B served the story {waited:?} after A acknowledged it");
    // And the kill, likewise.
    let response = reqwest::Client::new()
        .delete(a.url("/api/articles/wf-replica-1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let started = Instant::now();
    // B shows the withdrawal notice in the story's place.
    while !b.text("/feeds/g20.rss").await.contains("WITHDRAWN: ") {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "B still shows the killed story"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(b.get("/articles/wf-replica-1").await.status(), 410);
}

#[tokio::test]
async fn both_replicas_serve_identical_bytes_and_validators_for_every_feed_and_coding() {
    let Some((_schema, _dir, a, b)) = replicas().await else {
        return;
    };
    publish(&a, "wf-replica-2").await;
    time_until_shown(
        &b,
        "/feeds/all.json",
        "wf-replica-2",
        Duration::from_secs(1),
    )
    .await;
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let mut compared = 0;
    for slug in ["all", "world", "g20", "asia-pacific"] {
        for ext in ["rss", "atom", "json"] {
            for coding in ["identity", "gzip", "br", "zstd"] {
                let path = format!("/feeds/{slug}.{ext}");
                let get = |server: &Server| {
                    client
                        .get(server.url(&path))
                        .header("accept-encoding", coding)
                        .send()
                };
                // Both hand out Last-Modified a few seconds after the change (see the cache's
                // rule for one-second dates); wait for it.
                let deadline = Instant::now() + Duration::from_secs(15);
                let (from_a, from_b) = loop {
                    let (ra, rb) = (get(&a).await.unwrap(), get(&b).await.unwrap());
                    if ra.headers().contains_key("last-modified")
                        && rb.headers().contains_key("last-modified")
                    {
                        break (ra, rb);
                    }
                    assert!(Instant::now() < deadline, "no Last-Modified on {path}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                };
                assert_eq!(from_a.status(), 200);
                assert_eq!(from_b.status(), 200);
                for header in ["etag", "last-modified", "content-encoding", "cache-control"] {
                    assert_eq!(
                        from_a.headers().get(header),
                        from_b.headers().get(header),
                        "{header} of {path} ({coding})"
                    );
                }
                let etag = from_a.headers()["etag"].clone();
                let modified = from_a.headers()["last-modified"].clone();
                let (body_a, body_b) =
                    (from_a.bytes().await.unwrap(), from_b.bytes().await.unwrap());
                assert!(body_a == body_b, "bodies of {path} ({coding}) differ");
                // A's validators are good at B.
                let revalidated = client
                    .get(b.url(&path))
                    .header("accept-encoding", coding)
                    .header("if-none-match", etag)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    revalidated.status(),
                    304,
                    "If-None-Match on {path} ({coding})"
                );
                let by_date = client
                    .get(b.url(&path))
                    .header("accept-encoding", coding)
                    .header("if-modified-since", modified)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    by_date.status(),
                    304,
                    "If-Modified-Since on {path} ({coding})"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 48);
}

#[tokio::test]
async fn a_terminated_listener_reconnects_and_catches_up_on_what_it_missed() {
    let Some((schema, _dir, a, b)) = replicas().await else {
        return;
    };
    let admin = pg::connect().await.unwrap();
    for round in 0..3 {
        // B's listener: after start-up, or reconnected from the previous round.
        b.text("/feeds/g20.atom").await;
        let started = Instant::now();
        loop {
            let terminated = admin
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE application_name = $1 AND query LIKE 'LISTEN%'",
                    &[&schema.application_name("b")],
                )
                .await
                .unwrap();
            if terminated.len() == 1 {
                break;
            }
            assert!(
                terminated.is_empty() && started.elapsed() < Duration::from_secs(10),
                "round {round}: B's listener was not found once ({} found)",
                terminated.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Published while B is not listening: only the catch-up after reconnecting can bring it.
        let id = format!("wf-replica-missed-{round}");
        publish(&a, &id).await;
        let waited = time_until_shown(&b, "/feeds/g20.atom", &id, Duration::from_secs(1)).await;
        eprintln!("round {round}: B caught up {waited:?} after its listener was terminated");
    }
}
