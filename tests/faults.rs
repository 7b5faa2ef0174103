//! Two replicas on PostgreSQL through a TCP proxy (tests/common/proxy.rs) that stalls, drops
//! and refuses their database connections while a publisher writes and readers poll:
//! cached feeds are served throughout; what needs the store is answered 503 with Retry-After
//! within the deadline, never 500 and never hung; `/readyz` follows the store; nothing
//! acknowledged is lost; changes cross replicas within a second once the database is back.
//! Also: a replica started while the database is stalled or down binds its port, answers
//! `/healthz`, says why it is not ready, and becomes ready when the database comes back.
//!
//! And a full disk on SQLite (the server's files may not grow: `RLIMIT_FSIZE`, with SIGXFSZ
//! ignored, as `prlimit` sets it): a write is answered 503 problem+json with `Retry-After`,
//! feeds are still served, and the same write succeeds once there is room again.
//!
//! Nothing here sleeps to wait for a state: every wait polls the state with a deadline.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;
use common::pg::{self, Schema};
use common::proxy::Proxy;

const TOKEN: &str = "fault-test-token-0123456789";
/// The store deadline the replicas run with (`store_timeout_ms`).
const DEADLINE: Duration = Duration::from_millis(1000);
/// What a request that needs the store may take at most: the page/build deadline (twice the
/// store's) and some slack for a loaded machine.
const ANSWER_WITHIN: Duration = Duration::from_millis(2 * 1000 + 1000);
/// What a request answered without the store may take at most: well under [`DEADLINE`], so
/// one that waited for the store cannot pass.
const AT_ONCE: Duration = Duration::from_millis(500);

fn upstream() -> SocketAddr {
    let url = url::Url::parse(&pg::url()).unwrap();
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(5432);
    format!("{host}:{port}").parse().unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A replica on `schema` through `proxy`.
fn replica(
    schema: &Schema,
    proxy: &Proxy,
    dir: &std::path::Path,
    name: &str,
    remake: bool,
) -> Server {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let configure = schema.configure(name);
    let store_url = proxy.url(&format!(
        "{}?application_name={}",
        pg::url(),
        schema.application_name(name)
    ));
    Server::start_in(&data, |cmd| {
        configure(cmd);
        cmd.env("WIREFEED_STORE_URL", store_url)
            .env(
                "WIREFEED_STORE_TIMEOUT_MS",
                DEADLINE.as_millis().to_string(),
            )
            .env("WIREFEED_INGEST_TOKEN", TOKEN)
            .env("WIREFEED_REMAKE_AFTER_CHANGES", remake.to_string())
            .env("WIREFEED_LOG", "info");
    })
}

/// Polls `path` until its status is `want`, every 20 ms for up to `limit`; how long it took.
async fn until_status(server: &Server, path: &str, want: u16, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < limit {
        if let Ok(response) = client().get(server.url(path)).send().await {
            let status = response.status().as_u16();
            if status == want {
                return started.elapsed();
            }
            last = format!("{status} {}", response.text().await.unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = std::fs::read_to_string(server.data.join("server.log")).unwrap_or_default();
    panic!("{path} did not answer {want} within {limit:?} (last: {last})\n{log}");
}

struct Published {
    id: String,
    status: u16,
    took: Duration,
}

async fn publish(server: &Server, id: &str) -> Published {
    let started = Instant::now();
    let response = client()
        .post(server.url("/api/articles"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(common::story(id))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if !response.status().is_success() {
        assert_eq!(status, 503, "a failed publish is a 503");
        assert!(response.headers().contains_key("retry-after"));
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    Published {
        id: id.to_owned(),
        status,
        took: started.elapsed(),
    }
}

/// GETs `path`, checking a 503 carries Retry-After; the status and how long it took.
async fn timed_get(server: &Server, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let response = client()
        .get(server.url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_ne!(status, 500, "{path} answered 500");
    if status == 503 {
        assert!(
            response.headers().contains_key("retry-after"),
            "{path}: 503 without Retry-After"
        );
    }
    (status, started.elapsed())
}

/// How long until `server` shows `id` in `path`, polling every 20 ms for up to `limit`.
async fn until_shown(server: &Server, path: &str, id: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        let response = client().get(server.url(path)).send().await.unwrap();
        if response.status() == 200 && response.text().await.unwrap().contains(id) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} did not show {id} within {limit:?}");
}

/// Replicas A and B on a fresh schema through one proxy, both ready; `remake` is their
/// `remake_after_changes`.
async fn two_replicas(remake: bool) -> Option<(Schema, Proxy, tempfile::TempDir, Server, Server)> {
    let schema = Schema::fresh().await?;
    let proxy = Proxy::start(upstream()).await;
    let dir = tempfile::tempdir().unwrap();
    let a = replica(&schema, &proxy, dir.path(), "a", remake);
    until_status(&a, "/readyz", 200, Duration::from_secs(20)).await;
    let b = replica(&schema, &proxy, dir.path(), "b", remake);
    until_status(&b, "/readyz", 200, Duration::from_secs(20)).await;
    Some((schema, proxy, dir, a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_ride_out_a_stalled_a_restarted_and_a_stopped_database() {
    // Replicas that make a dropped feed again only when asked: B is to have nothing newer
    // than its last good version when the database stalls.
    let Some((_schema, proxy, _dir, a, b)) = two_replicas(false).await else {
        return;
    };

    // Cached on both before anything goes wrong.
    let cached = "/feeds/g20.atom";
    let etag_a = client().get(a.url(cached)).send().await.unwrap().headers()["etag"].clone();
    let etag_b = client().get(b.url(cached)).send().await.unwrap().headers()["etag"].clone();
    assert_eq!(etag_a, etag_b);
    // Pages, the OPML list and a sitemap B has built: kept, to be served through the outage.
    const KEPT: [&str; 3] = ["/feeds.opml", "/sitemap.xml", "/categories/g20"];
    for path in KEPT {
        assert_eq!(timed_get(&b, path).await.0, 200, "{path}");
    }

    // A publish through A drops B's copy of the feed just before the database stalls: B is
    // to serve its last good version (with its validators) while it cannot build a new one.
    let invalidated = common::counter(&b, "cache_invalidations").await;
    assert_eq!(publish(&a, "wf-fault-before").await.status, 201);
    let started = Instant::now();
    while common::counter(&b, "cache_invalidations").await == invalidated {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "B never heard of the publish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A publisher writes through A all along; every answer is recorded.
    let published: Arc<Mutex<Vec<Published>>> = Arc::default();
    let a = Arc::new(a);
    let stop = Arc::new(tokio::sync::Notify::new());
    let publisher = {
        let (a, published, stop) = (Arc::clone(&a), Arc::clone(&published), Arc::clone(&stop));
        tokio::spawn(async move {
            for n in 0.. {
                let outcome = publish(&a, &format!("wf-fault-{n}")).await;
                published.lock().unwrap().push(outcome);
                tokio::select! {
                    () = stop.notified() => return,
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        })
    };
    let mut worst = Duration::ZERO;

    // 1. The database stalls: bytes stop, nothing is closed.
    proxy.stall();
    let stalled = Instant::now();
    let to_not_ready_a = until_status(&a, "/readyz", 503, Duration::from_secs(5)).await;
    until_status(&b, "/readyz", 503, Duration::from_secs(5)).await;
    eprintln!("stall: /readyz 503 on A {to_not_ready_a:?} after the stall began");
    let stale = client().get(b.url(cached)).send().await.unwrap();
    assert_eq!(stale.status(), 200, "stale-if-error");
    assert_eq!(
        stale.headers()["etag"],
        etag_b,
        "the last good version, as it was"
    );
    assert!(common::counter(&b, "cache_stale_served").await > 0);
    for server in [&*a, &b] {
        for _ in 0..5 {
            let started = Instant::now();
            let response = client().get(server.url(cached)).send().await.unwrap();
            assert_eq!(
                response.status(),
                200,
                "a cached feed is served during a stall"
            );
            assert!(started.elapsed() < Duration::from_millis(500));
            worst = worst.max(started.elapsed());
        }
    }
    // What B had built from the store is served through the stall, though changes came since
    // (none a kill).
    for path in KEPT {
        let (status, took) = timed_get(&b, path).await;
        assert_eq!(status, 200, "{path} during a stall");
        assert!(took < Duration::from_millis(500), "{path} took {took:?}");
        worst = worst.max(took);
    }
    // Feeds, pages and the API that need the store: 503 + Retry-After within the deadline;
    // feeds and pages at once once a health probe (every second) has confirmed the outage
    // (a build would only wait).
    let not_ready = Instant::now();
    while timed_get(&a, "/feeds/world.rss").await.1 >= AT_ONCE {
        assert!(
            not_ready.elapsed() < 2 * ANSWER_WITHIN,
            "an unbuilt feed never answered at once during the stall"
        );
    }
    eprintln!(
        "stall: unbuilt feeds answered at once {:?} after /readyz said 503",
        not_ready.elapsed()
    );
    for (path, within) in [
        ("/feeds/world.rss", AT_ONCE),
        ("/feeds/all.json?page=2", AT_ONCE),
        ("/feeds/world/archive/2026-11-24.atom", AT_ONCE),
        ("/", AT_ONCE),
        ("/categories/world", AT_ONCE),
        ("/api/articles/wf-nothing-here", ANSWER_WITHIN),
    ] {
        let (status, took) = timed_get(&a, path).await;
        worst = worst.max(took);
        assert_eq!(status, 503, "{path} during a stall");
        assert!(took < within, "{path} took {took:?} during a stall");
        eprintln!("stall: {path} answered {status} in {took:?}");
    }
    let failed = publish(&a, "wf-fault-during-stall").await;
    assert_eq!(failed.status, 503);
    assert!(
        failed.took < ANSWER_WITHIN,
        "a publish took {:?}",
        failed.took
    );
    eprintln!("stall: a publish answered 503 in {:?}", failed.took);
    worst = worst.max(failed.took);
    eprintln!("stall lasted {:?}", stalled.elapsed());

    // Back: ready again within 2 s, and changes cross replicas within 1 s.
    proxy.pass();
    let to_ready_a = until_status(&a, "/readyz", 200, Duration::from_secs(10)).await;
    let to_ready_b = until_status(&b, "/readyz", 200, Duration::from_secs(10)).await;
    eprintln!("stall over: /readyz 200 on A after {to_ready_a:?}, on B after {to_ready_b:?}");
    assert!(to_ready_a.max(to_ready_b) < Duration::from_secs(2));
    // The publish that failed may or may not have been stored; the same retry is safe.
    let retried = publish(&a, "wf-fault-during-stall").await;
    assert!([200, 201].contains(&retried.status), "{}", retried.status);
    let seen = until_shown(&b, cached, "wf-fault-during-stall", Duration::from_secs(1)).await;
    eprintln!("stall over: B served A's publish {seen:?} after it was acknowledged");

    // 2. The database restarts: every connection is closed.
    proxy.drop_connections();
    let response = client().get(a.url(cached)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    until_status(&a, "/readyz", 200, Duration::from_secs(2)).await;
    until_status(&b, "/readyz", 200, Duration::from_secs(2)).await;
    let after_restart = publish(&a, "wf-fault-after-restart").await;
    // The first publish may meet a connection that was closed; an identical retry is safe.
    if after_restart.status == 503 {
        assert!([200, 201].contains(&publish(&a, "wf-fault-after-restart").await.status));
    }
    let seen = until_shown(&b, cached, "wf-fault-after-restart", Duration::from_secs(1)).await;
    eprintln!("restart: B served A's publish {seen:?} after it was acknowledged");

    // 3. The database is down: connections are refused.
    proxy.refuse();
    let to_not_ready = until_status(&a, "/readyz", 503, Duration::from_secs(5)).await;
    eprintln!("down: /readyz 503 on A {to_not_ready:?} after the database went away");
    let (status, took) = timed_get(&a, "/feeds/europe.json").await;
    assert_eq!(status, 503);
    assert!(took < ANSWER_WITHIN);
    worst = worst.max(took);
    let response = client().get(b.url(cached)).send().await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "a cached feed is served while the database is down"
    );
    let metrics = client()
        .get(a.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("wirefeed_store_up 0"), "{metrics}");
    assert!(
        metrics.contains("wirefeed_store_outages_total"),
        "{metrics}"
    );
    proxy.pass();
    let to_ready_a = until_status(&a, "/readyz", 200, Duration::from_secs(10)).await;
    let to_ready_b = until_status(&b, "/readyz", 200, Duration::from_secs(10)).await;
    eprintln!("down over: /readyz 200 on A after {to_ready_a:?}, on B after {to_ready_b:?}");
    assert!(to_ready_a.max(to_ready_b) < Duration::from_secs(2));

    // The publisher writes on until one of its publishes is acknowledged after the faults
    // (they can pass quickly: a confirmed outage answers at once), then stops.
    let recovering = Instant::now();
    while !published.lock().unwrap().iter().any(|p| p.status < 300) {
        assert!(
            recovering.elapsed() < Duration::from_secs(10),
            "no publish was acknowledged after the faults"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Nothing acknowledged was lost.
    stop.notify_one();
    publisher.await.unwrap();
    let published = std::mem::take(&mut *published.lock().unwrap());
    let acknowledged: Vec<&Published> = published.iter().filter(|p| p.status < 300).collect();
    let refused = published.len() - acknowledged.len();
    for p in &published {
        assert!(
            p.took < ANSWER_WITHIN + DEADLINE,
            "publish {} took {:?}",
            p.id,
            p.took
        );
        worst = worst.max(p.took);
    }
    for p in &acknowledged {
        let response = client()
            .get(b.url(&format!("/api/articles/{}", p.id)))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "acknowledged story {} is stored",
            p.id
        );
    }
    eprintln!(
        "publisher: {} acknowledged (all stored), {refused} refused with 503; worst latency of any request during the faults {worst:?}",
        acknowledged.len()
    );
    assert!(!acknowledged.is_empty() && refused > 0);
    // One WARN for the outage and one INFO when it ended, not one line per failed request.
    let log = std::fs::read_to_string(a.data.join("server.log")).unwrap();
    assert!(log.contains("the store is unreachable"), "{log}");
    assert!(log.contains("the store is reachable again"), "{log}");
    assert!(!log.contains(" ERROR "), "{log}");
    drop(proxy);
}

/// How long one publish may take while the database stalls: the store deadline, for the whole
/// write (waiting behind other publishes and the clock's releases included), and slack for a
/// loaded machine. A bound on hanging, not a measure of speed.
const PUBLISH_WITHIN: Duration = Duration::from_millis(1000 + 1500);

/// Publishes sent at once while the database stalls queue behind one another for the desk's
/// write lock; each must still hear 503 within one deadline, not its place in the queue times
/// the deadline. Once the database is back, retrying each until a 2xx stores each story exactly
/// once, whether or not its write committed after its 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publishes_queued_behind_a_stalled_database_each_get_503_within_the_deadline() {
    let Some(schema) = Schema::fresh().await else {
        return;
    };
    let proxy = Proxy::start(upstream()).await;
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(replica(&schema, &proxy, dir.path(), "a", false));
    until_status(&a, "/readyz", 200, Duration::from_secs(20)).await;
    assert_eq!(publish(&a, "wf-stall-before").await.status, 201);

    proxy.stall();
    let ids: Vec<String> = (0..6).map(|n| format!("wf-stall-{n}")).collect();
    let sent: Vec<_> = ids
        .iter()
        .map(|id| {
            let (a, id) = (Arc::clone(&a), id.clone());
            tokio::spawn(async move { publish(&a, &id).await })
        })
        .collect();
    for outcome in sent {
        let outcome = outcome.await.unwrap();
        assert_eq!(outcome.status, 503, "{} during the stall", outcome.id);
        assert!(
            outcome.took < PUBLISH_WITHIN,
            "{} answered after {:?}, beyond {PUBLISH_WITHIN:?}",
            outcome.id,
            outcome.took
        );
    }

    proxy.pass();
    until_status(&a, "/readyz", 200, Duration::from_secs(20)).await;
    for id in &ids {
        let started = Instant::now();
        loop {
            let outcome = publish(&a, id).await;
            if outcome.status == 201 || outcome.status == 200 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{id} not stored after 20 s of retries"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let changes: serde_json::Value = client()
        .get(a.url("/api/changes?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for id in &ids {
        let kinds: Vec<&str> = changes["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["id"] == id.as_str())
            .map(|c| c["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["create"], "{id} stored exactly once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_started_while_the_database_is_away_answers_healthz_and_waits() {
    let Some(schema) = Schema::fresh().await else {
        return;
    };
    let proxy = Proxy::start(upstream()).await;
    let dir = tempfile::tempdir().unwrap();
    for (fault, name) in [("stalled", "stalled"), ("down", "down")] {
        match fault {
            "stalled" => proxy.stall(),
            _ => proxy.refuse(),
        }
        let server = replica(&schema, &proxy, dir.path(), name, true);
        // The port is open at once: liveness yes, readiness no, with the reason.
        let health = client().get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let ready = client().get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 503);
        let reason = ready.text().await.unwrap();
        assert!(reason.starts_with("not ready:"), "{reason}");
        let (status, took) = timed_get(&server, "/feeds/g20.atom").await;
        assert_eq!(status, 503, "{fault}: a feed before start-up finished");
        assert!(took < ANSWER_WITHIN);
        // It says what it waits for, attempt by attempt.
        let started = Instant::now();
        while !std::fs::read_to_string(server.data.join("server.log"))
            .unwrap()
            .contains("waiting for the store")
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{fault}: no log line"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        proxy.pass();
        let waited = until_status(&server, "/readyz", 200, Duration::from_secs(10)).await;
        eprintln!("started while the database was {fault}: ready {waited:?} after it came back");
        assert_eq!(server.get("/feeds/g20.atom").await.status(), 200);
        server.stop();
    }
}

/// Stale-if-error never undoes a kill: a replica whose copy of a feed was dropped by a kill
/// answers 503 while the database is away, not the version that still holds the story.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_is_never_undone_by_serving_a_stale_copy() {
    kill_then_outage(false).await;
}

/// A replica that makes a read feed again as soon as a change drops it serves the version
/// made after the kill while the database is away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_made_again_after_a_kill_is_served_through_an_outage() {
    kill_then_outage(true).await;
}

/// A story published and read on B, killed through A, then the database refused.
async fn kill_then_outage(remake: bool) {
    let Some((_schema, proxy, _dir, a, b)) = two_replicas(remake).await else {
        return;
    };
    let feed = "/feeds/g20.atom";
    assert_eq!(publish(&a, "wf-fault-killed").await.status, 201);
    until_shown(&b, feed, "wf-fault-killed", Duration::from_secs(2)).await;
    // Documents B built from the store that list the story, and the OPML list, which lists
    // feeds only.
    const LISTING: [&str; 2] = ["/sitemap.xml", "/categories/g20"];
    for path in LISTING {
        let listed = client().get(b.url(path)).send().await.unwrap();
        assert!(
            listed.text().await.unwrap().contains("wf-fault-killed"),
            "{path}"
        );
    }
    assert_eq!(timed_get(&b, "/feeds.opml").await.0, 200);
    // Pages of the sample wire built on B too: one in a category of the story (world), which
    // may show it among the newest others; and two that show none of its categories.
    const TOUCHED: [&str; 1] = ["/articles/wf-20261125-world-ceasefire"];
    const UNTOUCHED: [&str; 2] = [
        "/categories/sports",
        "/articles/wf-20261125-sports-football",
    ];
    for path in TOUCHED.iter().chain(&UNTOUCHED) {
        assert_eq!(timed_get(&b, path).await.0, 200, "{path}");
    }

    let remakes = common::counter(&b, "feed_remakes").await;
    let invalidated = common::counter(&b, "cache_invalidations").await;
    let killed = client()
        .delete(a.url("/api/articles/wf-fault-killed"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(killed.status(), 204);
    let started = Instant::now();
    while common::counter(&b, "cache_invalidations").await == invalidated {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "B never heard of the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    if remake {
        // Nobody asked: B makes the feed again by itself.
        while common::counter(&b, "feed_remakes").await == remakes {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "B did not make the feed again"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    proxy.refuse();
    until_status(&b, "/readyz", 503, Duration::from_secs(5)).await;
    // What B kept from before the kill is not served; 503 at once, the outage being known.
    for path in LISTING.iter().chain(&TOUCHED) {
        let (status, took) = timed_get(&b, path).await;
        assert_eq!(status, 503, "{path} kept from before the kill");
        assert!(took < Duration::from_millis(500), "{path} took {took:?}");
    }
    // A kill in g20 and world leaves the pages of other categories' stories served.
    for path in UNTOUCHED {
        assert_eq!(
            timed_get(&b, path).await.0,
            200,
            "{path} shows no killed story"
        );
    }
    assert_eq!(timed_get(&b, "/feeds.opml").await.0, 200, "feeds only");
    let response = client().get(b.url(feed)).send().await.unwrap();
    if remake {
        assert_eq!(response.status(), 200, "the version made after the kill");
        let text = response.text().await.unwrap();
        assert!(text.contains("WITHDRAWN: "), "{text}");
    } else {
        assert_eq!(
            response.status(),
            503,
            "the pre-kill version must not be served"
        );
        assert!(response.headers().contains_key("retry-after"));
    }

    proxy.pass();
    until_status(&b, "/readyz", 200, Duration::from_secs(10)).await;
    let now = client()
        .get(b.url(feed))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(now.contains("WITHDRAWN: "), "{now}");
    drop(proxy);
}

/// Publishes `body` through the ingest API.
async fn post_story(server: &Server, body: &serde_json::Value) -> reqwest::Response {
    client()
        .post(server.url("/api/articles"))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_full_disk_is_a_503_problem_with_retry_after_until_there_is_room() {
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "prlimit (util-linux) is missing"
        );
        eprintln!("SKIPPED: the full-disk test needs prlimit (util-linux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A first start writes the store and the sample wire.
    Server::start_in(dir.path(), |_| {}).stop();
    // No file the server writes may grow past 256 KiB from now on: the store's next large
    // write fails as on a full disk (SQLite: "database or disk is full" or a write error).
    let mut wrapped = std::process::Command::new("sh");
    wrapped
        .arg("-c")
        .arg("trap '' XFSZ; exec prlimit --fsize=262144:unlimited -- \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_wirefeed"));
    for (name, value) in common::wirefeed(dir.path()).get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    wrapped.env("WIREFEED_INGEST_TOKEN", TOKEN);
    let server = Server::start_command(dir.path(), wrapped);
    let mut story: serde_json::Value = serde_json::from_str(&common::story("full-disk")).unwrap();
    story["content_html"] =
        format!("<p>{}</p>", "Lorem ipsum dolor sit amet. ".repeat(14_000)).into();

    let refused = post_story(&server, &story).await;
    assert_eq!(refused.status(), 503, "{:?}", refused.text().await);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(refused.headers()["retry-after"], "5");
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    assert_eq!(
        server.get("/feeds/world.rss").await.status(),
        200,
        "feeds are still served"
    );

    let room = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", server.pid()))
        .arg("--fsize=unlimited:unlimited")
        .status()
        .unwrap();
    assert!(room.success());
    let stored = post_story(&server, &story).await;
    assert!(stored.status().is_success(), "{:?}", stored.text().await);
    let page = server.get("/articles/full-disk").await;
    assert_eq!(page.status(), 200);
}
