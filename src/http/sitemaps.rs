//! `/sitemap.xml` (the home page, every feed's page and the newest stories' pages) and
//! `/sitemap-news.xml` (the stories of the last 48 hours, Google News format). Each is built
//! from the store when first asked for after a change and kept until the next change (the
//! News sitemap also at most [`REFRESH`], since its window moves with the clock); it is
//! answered as a [`Document`]: ETag, 304, compression.
//!
//! The page sitemap lists at most [`SITEMAP_STORIES`] stories, so it never reaches the
//! 50,000 URLs one sitemap may hold and no sitemap index is needed; older stories are found
//! through the feeds' day archives.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::App;
use super::assets::Document;
use super::error::HttpError;
use super::response::Body;
use crate::model::{Article, Selection};
use crate::render::sitemap;

/// Stories in the page sitemap, newest first.
pub(crate) const SITEMAP_STORIES: usize = 10_000;
/// Longest a built sitemap is kept while the store does not change.
const REFRESH: Duration = Duration::from_secs(300);
const XML: &str = "application/xml; charset=utf-8";
const CACHE_CONTROL: &str = "public, max-age=300";

/// The sitemaps last built, with the store's change sequence they were built at.
#[derive(Default)]
pub(crate) struct Sitemaps {
    pages: Mutex<Option<Built>>,
    news: Mutex<Option<Built>>,
}

#[derive(Clone)]
struct Built {
    seq: u64,
    at: Instant,
    document: Arc<Document>,
}

/// The built document in `slot`, when it is of the store's `seq` and young enough.
fn fresh(slot: &Mutex<Option<Built>>, seq: u64) -> Option<Arc<Document>> {
    let built = slot.lock().expect("never poisoned").clone()?;
    (built.seq == seq && built.at.elapsed() < REFRESH).then_some(built.document)
}

fn keep(slot: &Mutex<Option<Built>>, seq: u64, body: Vec<u8>) -> Arc<Document> {
    let document = Arc::new(Document::new(body, XML, CACHE_CONTROL, true));
    *slot.lock().expect("never poisoned") = Some(Built {
        seq,
        at: Instant::now(),
        document: Arc::clone(&document),
    });
    document
}

async fn store_seq(app: &App) -> Result<u64, HttpError> {
    Ok(app.store.last_change().await?.map_or(0, |c| c.seq))
}

/// The newest stories a reader without a key may see (partner-only ones left out).
async fn public_stories(app: &App, limit: usize) -> Result<Vec<Article>, HttpError> {
    let mut stories = app.store.latest(&Selection::All, limit).await?;
    stories.retain(|story| app.catalog.is_public(&story.categories));
    Ok(stories)
}

/// `/sitemap.xml`.
pub(crate) async fn pages(
    app: &App,
    request: &Request<Incoming>,
) -> Result<Response<Body>, HttpError> {
    let seq = store_seq(app).await?;
    let slot = &app.sitemaps.pages;
    let document = match fresh(slot, seq) {
        Some(document) => document,
        None => {
            let feeds = app.feeds().await?;
            let stories = public_stories(app, SITEMAP_STORIES).await?;
            keep(slot, seq, sitemap::pages(&app.site, &feeds, &stories))
        }
    };
    document.answer(request.headers())
}

/// `/sitemap-news.xml`.
pub(crate) async fn news(
    app: &App,
    request: &Request<Incoming>,
) -> Result<Response<Body>, HttpError> {
    let seq = store_seq(app).await?;
    let slot = &app.sitemaps.news;
    let document = match fresh(slot, seq) {
        Some(document) => document,
        None => {
            let stories = public_stories(app, sitemap::NEWS_MAX).await?;
            let body = sitemap::news(&app.site, &stories, chrono::Utc::now());
            keep(slot, seq, body)
        }
    };
    document.answer(request.headers())
}
