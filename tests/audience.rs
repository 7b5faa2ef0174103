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

/// GET `path` with the ingest token as a bearer token.
async fn with_token(server: &Server, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
}

async fn stats(server: &Server) -> Value {
    let response = with_token(server, "/api/stats?days=2").await;
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
    assert_eq!(with_token(&server, "/api/stats?days=0").await.status(), 400);

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

/// The cells of the operator's page's row for `feed`, after the chart.
fn admin_row(html: &str, feed: &str) -> Vec<String> {
    let start = html
        .find(&format!(">{feed}</a>"))
        .unwrap_or_else(|| panic!("no row for {feed}"));
    let row = &html[start..start + html[start..].find("</tr>").unwrap()];
    row.split("<td>")
        .skip(2)
        .map(|cell| cell.split("</td>").next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_operators_page_shows_where_the_polls_go_and_who_reads() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let client = reqwest::Client::new();
    let feedly = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 1,024 subscribers; )";
    let first = client
        .get(server.url("/feeds/world.rss"))
        .header("user-agent", feedly)
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].clone();
    let whole = first.bytes().await.unwrap().len();
    for _ in 0..3 {
        let polled = client
            .get(server.url("/feeds/world.rss"))
            .header("user-agent", feedly)
            .header("if-none-match", etag.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(polled.status(), 304);
    }

    // Signing in: a browser is asked for Basic credentials; a wrong password is refused.
    let anonymous = server.get("/admin").await;
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );
    let wrong = client
        .get(server.url("/admin"))
        .basic_auth("editor", Some("not-the-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let page = client
        .get(server.url("/admin"))
        .basic_auth("editor", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "private, no-store");
    let html = page.text().await.unwrap();

    // Polls, per hour over 24 hours, last hour, answered 304, bytes saved, bytes sent,
    // readers today, WebSub subscriptions.
    let cells = admin_row(&html, "world.rss");
    assert_eq!(cells[0], "4");
    assert_eq!(cells[2], "4");
    assert_eq!(cells[3], "75.0%");
    assert_eq!(cells[7], "0");
    assert!(
        cells[5].ends_with(" B") || cells[5].ends_with("KiB"),
        "{cells:?}"
    );
    assert!(html.contains("Feedly 1,024"));
    assert_eq!(cells[6], "1,024");
    // Three whole feeds not sent.
    let saved_kib = 3.0 * whole as f64 / 1024.0;
    assert!(
        cells[4] == format!("{saved_kib:.1} KiB"),
        "{cells:?} vs {saved_kib}"
    );
    // Every feed has a row and a chart; the page has one more for the whole server.
    assert!(html.contains(">g20.json</a>"));
    assert_eq!(html.matches("<svg").count(), html.matches("<tr>").count());
    assert_eq!(with_token(&server, "/admin").await.status(), 200);
}

/// (User-Agent, aggregator, subscribers) from fixtures/forged-user-agents.ndjson: forged and
/// malformed reports, with what each may be believed to say.
fn forged_agents() -> Vec<(String, Option<String>, Option<u64>)> {
    std::fs::read_to_string(fixture("forged-user-agents.ndjson"))
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

/// The stats body and the operator's page, as text.
async fn pages(server: &Server) -> (String, String) {
    let stats = with_token(server, "/api/stats?days=1").await;
    assert_eq!(stats.status(), 200);
    let admin = with_token(server, "/admin").await;
    assert_eq!(admin.status(), 200);
    (stats.text().await.unwrap(), admin.text().await.unwrap())
}

#[tokio::test]
async fn forged_agents_and_invented_feed_ids_leave_figures_and_pages_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let loopback = |n: u8| IpAddr::from([127, 0, 0, n]);
    poll_from(
        &server,
        loopback(2),
        "newsboat/2.36.0 (Linux x86_64)",
        "/feeds/world.rss",
    )
    .await;
    let (stats_before, admin_before) = pages(&server).await;

    // Forged agents on world.rss: only known shapes are believed, and at most 10 million each.
    let mut forged_direct = 0;
    for (ua, aggregator, _) in forged_agents() {
        poll_from(&server, loopback(1), &ua, "/feeds/world.rss").await;
        forged_direct += u64::from(aggregator.is_none());
    }
    // Ten thousand invented Feedbin feed ids on g20.rss, answered 304 (as real polls mostly
    // are, and never limited): only the hundred largest reports are kept.
    let client = reqwest::Client::new();
    let first = client
        .get(server.url("/feeds/g20.rss"))
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].clone();
    for id in 1..=10_000_u64 {
        let polled = client
            .get(server.url("/feeds/g20.rss"))
            .header(
                "user-agent",
                format!("Feedbin feed-id:{id} - {id} subscribers"),
            )
            .header("if-none-match", etag.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(polled.status(), 304);
    }
    // One FreshRSS polling fifteen feeds is fifteen feeds' reader, and one reader of the server.
    let freshrss = "FreshRSS/1.24.1 (Linux; https://freshrss.org)";
    let mut documents = 0;
    for slug in ["all", "world", "g20", "asia-pacific", "sports"] {
        for ext in ["rss", "atom", "json"] {
            poll_from(
                &server,
                loopback(3),
                freshrss,
                &format!("/feeds/{slug}.{ext}"),
            )
            .await;
            documents += 1;
        }
    }
    assert_eq!(documents, 15);

    let (stats_after, admin_after) = pages(&server).await;
    let stats: Value = serde_json::from_str(&stats_after).unwrap();
    let world = feed(&stats, "world.rss");
    let aggregators: BTreeMap<String, u64> =
        serde_json::from_value(world["aggregators"].clone()).unwrap();
    // Feedly's last word was "1 subscriber"; Feedbin's u64::MAX + 1 was clamped.
    assert_eq!(
        aggregators,
        BTreeMap::from([("Feedbin".into(), 10_000_000), ("Feedly".into(), 1)])
    );
    // Refused reports are polls like any other: each distinct agent one direct client.
    let direct = forged_direct + 2;
    assert_eq!(world["direct_clients"], direct);
    assert_eq!(world["subscribers"], direct + 10_000_001);
    let g20 = feed(&stats, "g20.rss");
    let top_hundred: u64 = (9_901..=10_000).sum();
    assert_eq!(g20["aggregators"]["Feedbin"], top_hundred);
    // Its direct clients: the first, unconditional fetch (no User-Agent) and FreshRSS.
    assert_eq!(g20["subscribers"], top_hundred + 2);
    for f in stats["feeds"].as_array().unwrap() {
        assert!(f["subscribers"].as_u64().unwrap() <= 100 * 10_000_000 + 1_000);
    }
    // The server's readers: every distinct client once, each aggregator at its largest.
    let server_today = &stats["server"][0];
    // Newsboat, FreshRSS, the agent-less first fetch and each refused agent; Feedbin at its
    // largest (world.rss's clamped figure) and Feedly's one.
    let everyone = forged_direct + 3;
    assert_eq!(server_today["direct_clients"], everyone);
    assert_eq!(server_today["subscribers"], everyone + 10_000_000 + 1);
    let per_feed_sum: u64 = stats["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["direct_clients"].as_u64().unwrap())
        .sum();
    assert!(
        per_feed_sum >= forged_direct + 16,
        "FreshRSS in fifteen feeds"
    );

    // Bounded whatever clients send: the stats grow by a few hundred bytes (two aggregators'
    // names, fifteen feeds' rows), the operator's page by the aggregators it names.
    eprintln!(
        "stats {} -> {} bytes, admin {} -> {} bytes",
        stats_before.len(),
        stats_after.len(),
        admin_before.len(),
        admin_after.len()
    );
    assert!(stats_after.len() < 4 * 1024, "{}", stats_after.len());
    assert!(
        admin_after.len() < admin_before.len() + 1024,
        "{} -> {}",
        admin_before.len(),
        admin_after.len()
    );
    assert!(!admin_after.contains("Evil"));
    assert!(admin_after.contains("Feedbin 995,050"));
    // The operator's page shows the server's readers, not the sum of its feeds'.
    let readers = server_today["subscribers"].as_u64().unwrap();
    let shown = readers
        .to_string()
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        admin_after.contains(&format!("<dd>{shown}</dd>")),
        "{shown}"
    );
}
