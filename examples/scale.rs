//! Scale figures for a store backend (a benchmark, not a test): imports synthetic wire stories
//! in 50 categories in batches, and at 1,000 stories and at the full size measures how long a
//! 50-entry category feed takes to build on a cache miss (read the newest 50 and the
//! tombstones from the store, render RSS), reporting median and p99 over many categories.
//!
//! ```text
//! cargo run --release --example scale -- --backend sqlite --articles 1000000
//! cargo run --release --example scale -- --backend postgres --articles 1000000 \
//!     --postgres-url postgres://postgres@127.0.0.1:5432/test
//! ```
//! `bench/scale.sh` runs both and prints the figures.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use clap::{Parser, ValueEnum};
use wirefeed::model::{ArticleDraft, Category, FeedDef, FeedFormat};
use wirefeed::render::{self, FeedDoc};
use wirefeed::site::Site;
use wirefeed::store::Store;
use wirefeed::store::postgres::PostgresStore;
use wirefeed::store::sqlite::SqliteStore;

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Parser)]
struct Args {
    #[arg(long, value_enum)]
    backend: Backend,
    /// Stories to import in all.
    #[arg(long, default_value_t = 1_000_000)]
    articles: usize,
    #[arg(long, default_value_t = 50)]
    categories: usize,
    /// Stories per import transaction (as `wirefeed import` does).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Feed builds measured at each size.
    #[arg(long, default_value_t = 500)]
    samples: usize,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
    /// Keep the PostgreSQL schema afterwards (to inspect query plans).
    #[arg(long)]
    keep: bool,
    /// Directory for the SQLite file (default: a temporary directory).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

const HEADLINES: [&str; 8] = [
    "G20 finance ministers pledge to coordinate on debt relief for poorest nations",
    "Shanghai stocks close higher as property shares rally on policy hopes",
    "UN Security Council meets in emergency session on Red Sea shipping attacks",
    "Brazil's central bank holds rate as inflation eases for a third month",
    "Typhoon makes landfall in southern Japan; thousands evacuated",
    "EU and China open talks on electric vehicle tariffs in Brussels",
    "Oil prices steady as OPEC+ signals output cuts will continue",
    "African Union summit opens in Addis Ababa with focus on food security",
];

fn story(n: usize, categories: usize) -> wirefeed::model::Article {
    // Spread over ten years, one story every five minutes or so, in 1-3 categories.
    let base: DateTime<Utc> = Utc.with_ymd_and_hms(2016, 1, 1, 0, 0, 0).unwrap();
    let published = base + chrono::Duration::seconds(n as i64 * 307);
    let first = n % categories;
    let mut filed = vec![format!("desk-{first:02}")];
    if n % 3 == 0 {
        filed.push(format!("desk-{:02}", (first + 7) % categories));
    }
    if n % 5 == 0 {
        filed.push(format!("desk-{:02}", (first + 19) % categories));
    }
    let headline = HEADLINES[n % HEADLINES.len()];
    let paragraph = format!(
        "<p>BEIJING, (Wirefeed) — {headline}, officials said on story {n}. Analysts expect \
         the decision to weigh on markets in the region over the coming weeks, while \
         diplomats cautioned that talks would continue.</p>"
    );
    ArticleDraft {
        id: Some(format!("wf-scale-{n:08}")),
        title: Some(format!("{headline} ({n})")),
        summary: Some(format!(
            "{headline}. A synthetic wire story for the scale benchmark."
        )),
        content_html: Some(paragraph.repeat(4)),
        byline: vec!["Wirefeed Staff".into()],
        dateline: Some("BEIJING".into()),
        categories: filed,
        published: Some(published.to_rfc3339()),
        ..ArticleDraft::default()
    }
    .validate()
    .expect("synthetic stories are valid")
}

/// Median and p99 of building category feeds: first each category once (nothing about it read
/// before), then `samples` builds over the categories again (a replica's steady state, where a
/// miss follows a publish and the other stories of the feed were read before).
async fn measure(
    store: &dyn Store,
    categories: usize,
    samples: usize,
) -> ((Duration, Duration), (Duration, Duration)) {
    let first = build_feeds(store, categories, categories).await;
    let again = build_feeds(store, categories, samples).await;
    (first, again)
}

async fn build_feeds(store: &dyn Store, categories: usize, samples: usize) -> (Duration, Duration) {
    let site = Site::new(
        "https://wire.example.com",
        "Wirefeed",
        "wire.example.com,2026",
    );
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let category = Category::parse(&format!("desk-{:02}", (i * 13) % categories)).unwrap();
        let def = FeedDef::default_for(&category, "Wirefeed");
        let started = Instant::now();
        let articles = store.latest(&def.selection, def.entries).await.unwrap();
        let deleted = store
            .tombstones(&def.selection, DateTime::UNIX_EPOCH, None, 100)
            .await
            .unwrap();
        let doc = FeedDoc {
            site: &site,
            def: &def,
            articles: &articles,
            deleted: &deleted,
            history: &render::NO_HISTORY,
            updated: None,
            brand: None,
        };
        let bytes = render::feed(FeedFormat::Rss, &doc).unwrap();
        times.push(started.elapsed());
        assert!(!bytes.is_empty() && !articles.is_empty());
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let temp = tempfile::tempdir().unwrap();
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    let (store, name): (Box<dyn Store>, &str) = match args.backend {
        Backend::Sqlite => (
            Box::new(SqliteStore::open(&dir.join("scale.sqlite3")).unwrap()),
            "sqlite",
        ),
        Backend::Postgres => {
            let schema = format!("wf_scale_{}", std::process::id());
            (
                Box::new(
                    PostgresStore::open(&args.postgres_url, &schema)
                        .await
                        .unwrap(),
                ),
                "postgres",
            )
        }
    };
    let checkpoints = [1_000.min(args.articles), args.articles];
    let mut imported = 0;
    let mut import_time = Duration::ZERO;
    let mut small = None;
    for &target in &checkpoints {
        while imported < target {
            let end = (imported + args.batch).min(target);
            let batch: Vec<_> = (imported..end).map(|n| story(n, args.categories)).collect();
            let started = Instant::now();
            store.put_many(batch).await.unwrap();
            import_time += started.elapsed();
            imported = end;
            if imported % 100_000 == 0 {
                eprintln!(
                    "{name}: {imported} stories, {:.0}/s",
                    imported as f64 / import_time.as_secs_f64()
                );
            }
        }
        let ((cold50, cold99), (p50, p99)) =
            measure(store.as_ref(), args.categories, args.samples).await;
        println!(
            "{name}: {imported:>9} stories in {} categories: feed on a miss p50 {:.2} ms, p99 {:.2} ms \
             (first build of each category: p50 {:.2} ms, p99 {:.2} ms)",
            args.categories,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            cold50.as_secs_f64() * 1e3,
            cold99.as_secs_f64() * 1e3
        );
        if small.is_none() {
            small = Some((p50, cold50));
        } else if let Some((small, small_cold)) = small {
            println!(
                "{name}: import {:.0} stories/s; p50 at {imported} is {:.2}x the p50 at 1,000 \
                 (first builds: {:.2}x)",
                imported as f64 / import_time.as_secs_f64(),
                p50.as_secs_f64() / small.as_secs_f64(),
                cold50.as_secs_f64() / small_cold.as_secs_f64()
            );
        }
    }
    if let (Backend::Postgres, false) = (args.backend, args.keep) {
        let schema = format!("wf_scale_{}", std::process::id());
        let (client, connection) =
            tokio_postgres::connect(&args.postgres_url, tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }
}
