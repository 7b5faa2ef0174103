//! The cache-hit path: lookup, coding negotiation and precondition check, as a feed request
//! runs them. Run with `cargo bench --bench cache`.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use hyper::HeaderMap;
use hyper::header::{ACCEPT_ENCODING, HeaderValue, IF_NONE_MATCH};
use wirefeed::cache::FeedCache;
use wirefeed::catalog::Catalog;
use wirefeed::http::{conditional, encoding};
use wirefeed::ingest::import;
use wirefeed::model::{Coding, FeedFormat, FeedKey};
use wirefeed::site::Site;
use wirefeed::store::Store;
use wirefeed::store::sqlite::SqliteStore;

fn cache_hit(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("bench.sqlite3")).unwrap());
    let desk = wirefeed::ingest::publish::Desk::standalone(Arc::clone(&store));
    runtime
        .block_on(import::import_path(
            &desk,
            &root.join("bench/fixtures/wire-50.ndjson"),
        ))
        .unwrap();
    let catalog = Catalog::load(&root.join("bench/feeds"), "Wirefeed").unwrap();
    let site = Site::new(
        "https://wire.example.com",
        "Wirefeed",
        "wire.example.com,2026",
    );
    let cache = FeedCache::new(
        store,
        catalog,
        site,
        wirefeed::cache::Options {
            max_bytes: 64 << 20,
            tombstone_retention: chrono::Duration::days(30),
            withdrawal: wirefeed::model::Withdrawal::default(),
            identity_body: None,
            brand: wirefeed::render::Brand::default(),
        },
    );
    let key = FeedKey::current("bench", FeedFormat::Rss);
    let current = runtime.block_on(cache.get(&key)).unwrap();

    let mut gzip = HeaderMap::new();
    gzip.insert(
        ACCEPT_ENCODING,
        HeaderValue::from_static("gzip, deflate, br, zstd"),
    );
    let mut conditional_gzip = gzip.clone();
    conditional_gzip.insert(IF_NONE_MATCH, current.tag(Coding::Brotli).etag.clone());

    let mut group = c.benchmark_group("cache_hit");
    for (name, headers) in [("200 br", &gzip), ("304", &conditional_gzip)] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let entry = cache.get(&key).await.unwrap();
                let coding = encoding::negotiate(headers).unwrap();
                let dated = cache.is_dated(&entry);
                let fresh = conditional::not_modified(
                    headers,
                    &entry,
                    dated,
                    SystemTime::now,
                    coding,
                    |c| c == coding,
                );
                (cache.body(&entry, coding).await, fresh)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, cache_hit);
criterion_main!(benches);
