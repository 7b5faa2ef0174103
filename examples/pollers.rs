//! A bounded load test: many concurrent feed pollers (mostly conditional, as real feed readers
//! are) against a running wirefeed while a publisher posts stories continuously.
//!
//! Every poll must be a 200 with a feed that parses, or a 304 for the ETag the poller holds;
//! a poll of the `all` feed that starts after a publish was acknowledged must see that story
//! (in the body of a 200, or in the poller's copy when it gets a 304). At the end every
//! acknowledged story is read back through the API. Any failure makes the exit status 1.
//!
//! Run it with `bench/pollers.sh`, which starts a server on a temporary store; by hand:
//!
//! ```text
//! cargo run --release --example pollers -- --url http://127.0.0.1:8080 --token T \
//!     --pollers 1000 --seconds 30 --stories bench/fixtures/wire-50.ndjson
//! ```

use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Base URL of the server under test (127.0.0.1 only).
    #[arg(long)]
    url: String,
    /// Ingest token for the publisher.
    #[arg(long)]
    token: String,
    /// Concurrent pollers, each on its own connection.
    #[arg(long, default_value_t = 1000)]
    pollers: usize,
    /// How long to run.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Pause between one poller's polls, in milliseconds.
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
    /// Pause between publishes, in milliseconds.
    #[arg(long, default_value_t = 20)]
    publish_every_ms: u64,
    /// Percentage of polls sent with If-None-Match when the poller holds an ETag.
    #[arg(long, default_value_t = 90)]
    conditional_percent: u64,
    /// Article JSON lines the publisher re-publishes under fresh ids.
    #[arg(long)]
    stories: PathBuf,
}

const FEEDS: [&str; 12] = [
    "/feeds/all.rss",
    "/feeds/all.atom",
    "/feeds/all.json",
    "/feeds/world.rss",
    "/feeds/world.atom",
    "/feeds/world.json",
    "/feeds/g20.rss",
    "/feeds/g20.atom",
    "/feeds/g20.json",
    "/feeds/asia-pacific.rss",
    "/feeds/asia-pacific.atom",
    "/feeds/asia-pacific.json",
];

#[derive(Default)]
struct Tally {
    ok_200: AtomicU64,
    ok_304: AtomicU64,
    stale: AtomicU64,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
    poll_micros: Mutex<Vec<u64>>,
    publish_micros: Mutex<Vec<u64>>,
    /// Ids acknowledged by the server, in order.
    acked: Mutex<Vec<String>>,
}

impl Tally {
    fn error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().unwrap();
        if first.len() < 10 {
            first.push(message);
        }
    }

    fn last_acked(&self) -> Option<String> {
        self.acked.lock().unwrap().last().cloned()
    }
}

/// A small deterministic generator, so runs are repeatable without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    assert!(
        args.url.starts_with("http://127.0.0.1") || args.url.starts_with("http://[::1]"),
        "the load test only sends traffic to 127.0.0.1 or ::1"
    );
    let stories: Vec<serde_json::Value> = std::fs::read_to_string(&args.stories)
        .expect("read --stories")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a story per line"))
        .collect();
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();

    let publisher = tokio::spawn(publish(
        args.url.clone(),
        args.token.clone(),
        stories,
        Duration::from_millis(args.publish_every_ms),
        deadline,
        Arc::clone(&tally),
    ));
    let mut pollers = Vec::with_capacity(args.pollers);
    for n in 0..args.pollers {
        pollers.push(tokio::spawn(poll(
            n,
            args.url.clone(),
            Duration::from_millis(args.think_ms),
            args.conditional_percent,
            deadline,
            Arc::clone(&tally),
        )));
    }
    for poller in pollers {
        poller.await.expect("a poller panicked");
    }
    publisher.await.expect("the publisher panicked");
    let elapsed = started.elapsed().as_secs_f64();

    // Every acknowledged story must be readable.
    let client = reqwest::Client::new();
    let acked = tally.acked.lock().unwrap().clone();
    let mut missing = 0;
    for id in &acked {
        let response = client
            .get(format!("{}/api/articles/{id}", args.url))
            .bearer_auth(&args.token)
            .send()
            .await;
        if !matches!(response, Ok(r) if r.status() == 200) {
            missing += 1;
        }
    }

    let ok_200 = tally.ok_200.load(Ordering::Relaxed);
    let ok_304 = tally.ok_304.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed);
    let stale = tally.stale.load(Ordering::Relaxed);
    let polls = ok_200 + ok_304 + errors;
    let mut poll_micros = std::mem::take(&mut *tally.poll_micros.lock().unwrap());
    let mut publish_micros = std::mem::take(&mut *tally.publish_micros.lock().unwrap());
    println!(
        "pollers {}  duration {elapsed:.1} s  polls {polls}  ({:.0}/s)",
        args.pollers,
        polls as f64 / elapsed
    );
    println!(
        "  200 {ok_200}  304 {ok_304}  (304 share {:.1}%)  errors {errors}  stale reads {stale}",
        100.0 * ok_304 as f64 / polls.max(1) as f64
    );
    println!("  poll latency     {}", percentiles(&mut poll_micros));
    println!(
        "  publishes acked  {}  ({:.1}/s)  latency {}",
        acked.len(),
        acked.len() as f64 / elapsed,
        percentiles(&mut publish_micros)
    );
    println!("  acked stories missing afterwards: {missing}");
    for message in tally.first_errors.lock().unwrap().iter() {
        println!("  error: {message}");
    }
    if errors > 0 || stale > 0 || missing > 0 || acked.is_empty() {
        std::process::exit(1);
    }
}

fn percentiles(micros: &mut [u64]) -> String {
    if micros.is_empty() {
        return "n/a".into();
    }
    micros.sort_unstable();
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    format!(
        "p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

async fn publish(
    url: String,
    token: String,
    stories: Vec<serde_json::Value>,
    every: Duration,
    deadline: Instant,
    tally: Arc<Tally>,
) {
    let client = reqwest::Client::new();
    let mut n = 0usize;
    while Instant::now() < deadline {
        let mut story = stories[n % stories.len()].clone();
        let id = format!("load-{n:06}");
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        story["id"] = id.clone().into();
        story["published"] = now.clone().into();
        story["updated"] = now.into();
        let started = Instant::now();
        let response = client
            .post(format!("{url}/api/articles"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(story.to_string())
            .send()
            .await;
        match response {
            Ok(r) if r.status() == 201 => {
                tally
                    .publish_micros
                    .lock()
                    .unwrap()
                    .push(started.elapsed().as_micros() as u64);
                tally.acked.lock().unwrap().push(id);
            }
            Ok(r) => tally.error(format!("publish {id}: status {}", r.status())),
            Err(e) => tally.error(format!("publish {id}: {e}")),
        }
        n += 1;
        tokio::time::sleep(every).await;
    }
}

async fn poll(
    n: usize,
    url: String,
    think: Duration,
    conditional_percent: u64,
    deadline: Instant,
    tally: Arc<Tally>,
) {
    // One connection per poller, as separate feed readers would have.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1));
    let path = FEEDS[n % FEEDS.len()];
    let gzip = n % 2 == 1;
    let watches_all = path.starts_with("/feeds/all.");
    let mut held: Option<(String, HashSet<String>)> = None;
    while Instant::now() < deadline {
        let must_see = if watches_all {
            tally.last_acked()
        } else {
            None
        };
        let mut request = client.get(format!("{url}{path}"));
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        let conditional = rng.next() % 100 < conditional_percent;
        if let (true, Some((etag, _))) = (conditional, &held) {
            request = request.header("if-none-match", etag);
        }
        let started = Instant::now();
        let outcome = request.send().await;
        let response = match outcome {
            Ok(r) => r,
            Err(e) => {
                tally.error(format!("{path}: {e}"));
                continue;
            }
        };
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let coded = response
            .headers()
            .get("content-encoding")
            .is_some_and(|v| v == "gzip");
        let body = response.bytes().await;
        tally
            .poll_micros
            .lock()
            .unwrap()
            .push(started.elapsed().as_micros() as u64);
        match (status, etag, body) {
            (304, Some(etag), Ok(_)) if held.as_ref().is_some_and(|(h, _)| *h == etag) => {
                tally.ok_304.fetch_add(1, Ordering::Relaxed);
            }
            (200, Some(etag), Ok(body)) => match parse(&body, coded) {
                Ok(ids) => {
                    tally.ok_200.fetch_add(1, Ordering::Relaxed);
                    held = Some((etag, ids));
                }
                Err(e) => {
                    tally.error(format!("{path}: invalid feed: {e}"));
                    held = None;
                }
            },
            (status, etag, body) => {
                tally.error(format!(
                    "{path}: status {status}, etag {etag:?}, body {:?}",
                    body.map(|b| b.len())
                ));
                held = None;
            }
        }
        if let (Some(id), Some((_, ids))) = (must_see, &held) {
            if !ids.iter().any(|seen| seen.contains(id.as_str())) {
                tally.stale.fetch_add(1, Ordering::Relaxed);
                tally.error(format!(
                    "{path}: a poll after {id} was acknowledged did not show it"
                ));
            }
        }
        if !think.is_zero() {
            tokio::time::sleep(think).await;
        }
    }
}

/// Parses a feed body and returns its entry ids.
fn parse(body: &[u8], gzip: bool) -> Result<HashSet<String>, String> {
    let mut plain = Vec::new();
    let body = if gzip {
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut plain)
            .map_err(|e| format!("gzip: {e}"))?;
        &plain[..]
    } else {
        body
    };
    let feed = feed_rs::parser::parse(body).map_err(|e| e.to_string())?;
    Ok(feed.entries.into_iter().map(|e| e.id).collect())
}
