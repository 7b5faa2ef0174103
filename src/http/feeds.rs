//! Feed documents and the OPML list: find the feed, read its newest stories, render, and
//! send with the headers a polling client needs.

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::App;
use super::error::HttpError;
use super::response::{self, Body};
use crate::render::{self, FeedDoc};
use crate::site::FeedFormat;

pub async fn feed(app: &App, slug: &str, format: FeedFormat) -> Result<Response<Body>, HttpError> {
    let def = app.feed(slug).await?.ok_or_else(|| {
        HttpError::NotFound(format!(
            "There is no feed called “{slug}”: no story has been filed in that category."
        ))
    })?;
    let articles = app.store.latest(&def.selection, def.entries).await?;
    let body = render::feed(
        format,
        &FeedDoc {
            site: &app.site,
            def: &def,
            articles: &articles,
        },
    )?;
    let mut response = response::bytes(
        StatusCode::OK,
        &format!("{}; charset=utf-8", format.media_type()),
        body,
    );
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        response::cache_control(def.max_age, def.stale_while_revalidate),
    );
    let link = format!("<{}>; rel=\"self\"", app.site.feed_url(&def.slug, format));
    headers.insert(
        header::LINK,
        HeaderValue::from_str(&link).expect("feed URLs are ASCII"),
    );
    Ok(response)
}

pub async fn opml(app: &App) -> Result<Response<Body>, HttpError> {
    let feeds = app.feeds().await?;
    Ok(response::bytes(
        StatusCode::OK,
        response::OPML,
        render::opml::render(&app.site, &feeds),
    ))
}
