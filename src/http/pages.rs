//! The HTML pages: home, category and article permalink. Pages are public: partner-only
//! categories and the stories filed only in them are left out (404 at their own address).
//! Each is kept until the next change and served through an outage ([`super::kept`]), with
//! an ETag, 304s and compression; it is revalidated on every use (`no-cache`), so a kill
//! reaches a reader's browser at once.

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::App;
use super::assets::Document;
use super::error::HttpError;
use super::kept::Shows;
use super::response::{self, Body};
use crate::model::{ALL_SLUG, ArticleId, Selection};
use crate::render::html;
use crate::store::Lookup;

/// Headlines on the home page.
const HOME_HEADLINES: usize = 30;
/// Related headlines beside a story.
const RELATED: usize = 6;

const CACHE_CONTROL: &str = "public, no-cache";

fn page(body: String) -> Document {
    Document::new(body, response::HTML, CACHE_CONTROL, true)
}

/// The page at `path`, kept or built by `build` (its HTML and the selection of stories it
/// shows), answered to `request`.
async fn kept(
    app: &App,
    request: &Request<Incoming>,
    path: &str,
    build: impl Future<Output = Result<(String, Shows), HttpError>>,
) -> Result<Response<Body>, HttpError> {
    let build = async {
        let (body, shows) = build.await?;
        Ok((page(body), shows))
    };
    app.kept
        .get_or_build(app, path, None, build)
        .await?
        .answer(request.headers())
}

pub(crate) async fn index(
    app: &App,
    request: &Request<Incoming>,
) -> Result<Response<Body>, HttpError> {
    kept(app, request, "/", async {
        let feeds = app.feeds().await?;
        let categories = app.categories().await?;
        let open = app
            .catalog
            .public_selection(&Selection::All, &categories)
            .unwrap_or(Selection::All);
        let latest = app.store.latest(&open, HOME_HEADLINES).await?;
        let shows = Shows::Stories(Selection::All);
        Ok((html::index(&app.site, &feeds, &latest), shows))
    })
    .await
}

pub(crate) async fn category(
    app: &App,
    request: &Request<Incoming>,
    slug: &str,
) -> Result<Response<Body>, HttpError> {
    let path = format!("/categories/{slug}");
    kept(app, request, &path, category_page(app, slug)).await
}

async fn category_page(app: &App, slug: &str) -> Result<(String, Shows), HttpError> {
    let def = match app.feed(slug).await? {
        Some(def) if def.slug != ALL_SLUG && !app.catalog.partners_only(slug) => def,
        _ => {
            return Err(HttpError::NotFound(format!(
                "There is no category called “{slug}”: no story has been filed in it."
            )));
        }
    };
    let selection = app
        .catalog
        .public_selection(&def.selection, &[])
        .unwrap_or(def.selection.clone());
    let articles = app.store.latest(&selection, def.entries).await?;
    let page = html::category(&app.site, &def, &articles);
    Ok((page, Shows::Stories(selection)))
}

pub(crate) async fn article(
    app: &App,
    request: &Request<Incoming>,
    id: &ArticleId,
) -> Result<Response<Body>, HttpError> {
    let path = format!("/articles/{id}");
    kept(app, request, &path, article_page(app, id)).await
}

async fn article_page(app: &App, id: &ArticleId) -> Result<(String, Shows), HttpError> {
    match app.store.get(id).await? {
        Lookup::Live(article) if app.catalog.is_public(&article.categories) => {
            let open: Vec<_> = article
                .categories
                .iter()
                .filter(|c| !app.catalog.restricted().contains(c))
                .cloned()
                .collect();
            let mut feeds = Vec::new();
            for category in &open {
                feeds.extend(app.feed(category.as_str()).await?);
            }
            // "Off the wire": the newest other stories from the same categories.
            let selection = Selection::Categories(open);
            let related: Vec<_> = app
                .store
                .latest(&selection, RELATED + 1)
                .await?
                .into_iter()
                .filter(|other| other.id != article.id)
                .take(RELATED)
                .collect();
            // The others shown are of its categories: a kill of any of them touches one.
            let shows = Shows::Story(
                article.id.clone(),
                Selection::Categories(article.categories.clone()),
            );
            Ok((html::article(&app.site, &article, &feeds, &related), shows))
        }
        Lookup::Killed(_) => Err(HttpError::Gone(format!(
            "The story “{id}” was withdrawn by the wire desk and is no longer available."
        ))),
        Lookup::Live(_) | Lookup::Missing => Err(HttpError::NotFound(format!(
            "There is no story with the id “{id}”."
        ))),
    }
}
