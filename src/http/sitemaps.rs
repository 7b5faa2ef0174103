//! `/sitemap.xml` (the home page, every feed's page and the newest stories' pages) and
//! `/sitemap-news.xml` (the stories of the last 48 hours, Google News format). Each is built
//! from the store when first asked for after a change and kept until the next change (the
//! News sitemap also at most [`REFRESH`], since its window moves with the clock), and served
//! through an outage (see [`super::kept`]); it is answered as a [`Document`]: ETag, 304,
//! compression.
//!
//! The page sitemap lists at most [`SITEMAP_STORIES`] stories, so it never reaches the
//! 50,000 URLs one sitemap may hold and no sitemap index is needed; older stories are found
//! through the feeds' day archives.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::App;
use super::assets::Document;
use super::error::HttpError;
use super::kept::Shows;
use super::response::Body;
use crate::model::{Article, Selection};
use crate::render::sitemap;

/// Stories in the page sitemap, newest first.
pub(crate) const SITEMAP_STORIES: usize = 10_000;
/// Longest a built sitemap is kept while the store does not change.
const REFRESH: Duration = Duration::from_secs(300);
const XML: &str = "application/xml; charset=utf-8";
const CACHE_CONTROL: &str = "public, max-age=300";

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
    let build = async {
        let feeds = app.feeds().await?;
        let stories = public_stories(app, SITEMAP_STORIES).await?;
        let document = xml(sitemap::pages(&app.site, &feeds, &stories));
        Ok((document, Shows::Stories(Selection::All)))
    };
    app.kept
        .get_or_build(app, "/sitemap.xml", None, build)
        .await?
        .answer(request.headers())
}

fn xml(body: Vec<u8>) -> Document {
    Document::new(body, XML, CACHE_CONTROL, true)
}

/// `/sitemap-news.xml`.
pub(crate) async fn news(
    app: &App,
    request: &Request<Incoming>,
) -> Result<Response<Body>, HttpError> {
    let build = async {
        let stories = public_stories(app, sitemap::NEWS_MAX).await?;
        let document = xml(sitemap::news(&app.site, &stories, chrono::Utc::now()));
        Ok((document, Shows::Stories(Selection::All)))
    };
    app.kept
        .get_or_build(app, "/sitemap-news.xml", Some(REFRESH), build)
        .await?
        .answer(request.headers())
}
