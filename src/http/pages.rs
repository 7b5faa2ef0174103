//! The HTML pages: home, category and article permalink. Pages are public: partner-only
//! categories and the stories filed only in them are left out (404 at their own address).

use hyper::{Response, StatusCode};

use super::App;
use super::error::HttpError;
use super::response::{self, Body};
use crate::model::{ALL_SLUG, ArticleId, Selection};
use crate::render::html;
use crate::store::Lookup;

/// Headlines on the home page.
const HOME_HEADLINES: usize = 30;
/// Related headlines beside a story.
const RELATED: usize = 6;

pub(crate) async fn index(app: &App) -> Result<Response<Body>, HttpError> {
    let feeds = app.feeds().await?;
    let categories = app.categories().await?;
    let open = app
        .catalog
        .public_selection(&Selection::All, &categories)
        .unwrap_or(Selection::All);
    let latest = app.store.latest(&open, HOME_HEADLINES).await?;
    Ok(response::bytes(
        StatusCode::OK,
        response::HTML,
        html::index(&app.site, &feeds, &latest),
    ))
}

pub(crate) async fn category(app: &App, slug: &str) -> Result<Response<Body>, HttpError> {
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
    Ok(response::bytes(
        StatusCode::OK,
        response::HTML,
        html::category(&app.site, &def, &articles),
    ))
}

pub(crate) async fn article(app: &App, id: &ArticleId) -> Result<Response<Body>, HttpError> {
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
            Ok(response::bytes(
                StatusCode::OK,
                response::HTML,
                html::article(&app.site, &article, &feeds, &related),
            ))
        }
        Lookup::Killed(_) => Err(HttpError::Gone(format!(
            "The story “{id}” was withdrawn by the wire desk and is no longer available."
        ))),
        Lookup::Live(_) | Lookup::Missing => Err(HttpError::NotFound(format!(
            "There is no story with the id “{id}”."
        ))),
    }
}
