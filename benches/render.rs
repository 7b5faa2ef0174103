//! Rendering a 50-entry feed (~4 KB of HTML per story) in each format, and compressing it in
//! each coding at the levels the cache uses: together, the cost of a cache miss. Run with
//! `cargo bench --bench render`.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use wirefeed::cache::coding::encode;
use wirefeed::catalog::Catalog;
use wirefeed::ingest::files;
use wirefeed::model::{Article, Coding, FeedDef, FeedFormat};
use wirefeed::render::{self, FeedDoc};
use wirefeed::site::Site;

pub fn bench_articles() -> Vec<Article> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/fixtures/wire-50.ndjson");
    let mut articles = Vec::new();
    files::read_file(&path, |_, record, _| {
        articles.push(record.expect("valid fixture"))
    })
    .unwrap();
    articles.sort_by(|a, b| (b.published, &b.id).cmp(&(a.published, &a.id)));
    articles
}

/// The site and the 50-entry feed's definition the benches render.
fn bench_feed() -> (Site, FeedDef) {
    let site = Site::new(
        "https://wire.example.com",
        "Wirefeed",
        "wire.example.com,2026",
    );
    let catalog = Catalog::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/feeds"),
        "Wirefeed",
    )
    .unwrap();
    (site, catalog.feed("bench", |_| true).unwrap())
}

fn render_50(c: &mut Criterion) {
    let (site, def) = bench_feed();
    let articles = bench_articles();
    let doc = FeedDoc {
        site: &site,
        def: &def,
        articles: &articles,
        deleted: &[],
        history: &render::NO_HISTORY,
        updated: None,
        brand: None,
    };
    let mut group = c.benchmark_group("render_50_entries");
    for format in FeedFormat::ALL {
        let bytes = render::feed(format, &doc).unwrap().len();
        group.bench_function(
            format!("{} ({} KB)", format.extension(), bytes / 1024),
            |b| b.iter(|| render::feed(format, &doc).unwrap()),
        );
    }
    group.finish();
}

/// One compression of the 50-entry RSS document per coding: what the first client to ask for
/// a coding of a new version waits for.
fn compress_50(c: &mut Criterion) {
    let (site, def) = bench_feed();
    let articles = bench_articles();
    let doc = FeedDoc {
        site: &site,
        def: &def,
        articles: &articles,
        deleted: &[],
        history: &render::NO_HISTORY,
        updated: None,
        brand: None,
    };
    let body = render::feed(FeedFormat::Rss, &doc).unwrap();
    let mut group = c.benchmark_group("compress_50_entries_rss");
    for coding in [Coding::Gzip, Coding::Brotli, Coding::Zstd] {
        let size = encode(coding, &body).len();
        group.bench_function(format!("{} ({} KB)", coding.token(), size / 1024), |b| {
            b.iter(|| encode(coding, &body))
        });
    }
    group.finish();
}

criterion_group!(benches, render_50, compress_50);
criterion_main!(benches);
