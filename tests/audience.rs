//! Subscriber counts as hosted feed services report them: the figures real aggregators put in
//! their User-Agent (fixtures/user-agents.ndjson) plus distinct direct clients, read back from
//! the authenticated `GET /api/stats`, from `/metrics`, and again after a restart.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use common::{Server, fixture};
use serde_json::Value;

const TOKEN: &str = "stats-test-token";

fn start(data: &std::path::Path) -> Server {
    Server::start_in(data, |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
    })
}

/// (User-Agent, aggregator, subscribers) from the fixture.
fn agents() -> Vec<(String, Option<String>, Option<u64>)> {
    std::fs::read_to_string(fixture("user-agents.ndjson"))
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            (
                v["ua"].as_str().unwrap().to_owned(),
                v["aggregator"].as_str().map(str::to_owned),
                v["subscribers"].as_u64(),
            )
        })
        .collect()
}

async fn poll_from(server: &Server, from: IpAddr, user_agent: &str, path: &str) {
    assert_eq!(
        request_from(server, from, user_agent, path).await,
        200,
        "{user_agent}"
    );
}

async fn request_from(server: &Server, from: IpAddr, user_agent: &str, path: &str) -> u16 {
    let client = reqwest::Client::builder()
        .local_address(from)
        .user_agent(user_agent)
        .build()
        .unwrap();
    let response = client.get(server.url(path)).send().await.unwrap();
    response.status().as_u16()
}

async fn stats(server: &Server) -> Value {
    let response = reqwest::Client::new()
        .get(server.url("/api/stats?days=2"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "private, no-store");
    response.json().await.unwrap()
}

fn feed<'a>(stats: &'a Value, name: &str) -> &'a Value {
    stats["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feed"] == name)
        .unwrap_or_else(|| panic!("no figures for {name} in {stats}"))
}

#[tokio::test]
async fn aggregators_subscribers_and_distinct_readers_reach_the_stats_api_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let loopback = |n: u8| IpAddr::from([127, 0, 0, n]);
    // Each aggregator polls twice (the second report wins); each reader app polls three times.
    let mut expected = BTreeMap::new();
    let mut readers = BTreeSet::new();
    for (ua, aggregator, subscribers) in agents() {
        for _ in 0..2 {
            poll_from(&server, loopback(1), &ua, "/feeds/world.atom").await;
        }
        match (aggregator, subscribers) {
            (Some(name), Some(n)) => {
                expected.insert(name, n);
            }
            _ => {
                poll_from(&server, loopback(1), &ua, "/feeds/world.atom").await;
                readers.insert((1, ua));
            }
        }
    }
    // The same reader app on two more machines is two more readers.
    let newsboat = "newsboat/2.36.0 (Linux x86_64)";
    for n in [2, 3] {
        poll_from(&server, loopback(n), newsboat, "/feeds/world.atom").await;
        readers.insert((n, newsboat.to_owned()));
    }
    poll_from(&server, loopback(4), newsboat, "/feeds/g20.rss").await;
    // Pages of history are not subscriptions.
    let page = request_from(&server, loopback(5), newsboat, "/feeds/world.atom?page=2").await;
    assert!(page == 200 || page == 404);

    assert_eq!(server.get("/api/stats").await.status(), 401);
    let bad_days = reqwest::Client::new()
        .get(server.url("/api/stats?days=0"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_days.status(), 400);

    let stats = stats(&server).await;
    let world = feed(&stats, "world.atom");
    let aggregators: BTreeMap<String, u64> =
        serde_json::from_value(world["aggregators"].clone()).unwrap();
    assert_eq!(aggregators, expected);
    assert_eq!(world["direct_clients"], readers.len() as u64);
    let total = readers.len() as u64 + expected.values().sum::<u64>();
    assert_eq!(world["subscribers"], total);
    assert_eq!(feed(&stats, "g20.rss")["subscribers"], 1);

    let metrics = server.text("/metrics").await;
    let line = format!("wirefeed_feed_subscribers{{feed=\"world.atom\"}} {total}");
    assert!(
        metrics.lines().any(|l| l == line),
        "no {line:?} in\n{metrics}"
    );

    // The figures are in the store: a restart keeps them, and new polls add to them.
    server.stop();
    let server = start(dir.path());
    poll_from(&server, loopback(6), newsboat, "/feeds/world.atom").await;
    let stats = self::stats(&server).await;
    assert_eq!(feed(&stats, "world.atom")["subscribers"], total + 1);
}
