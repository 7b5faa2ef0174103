//! `GET /api/stats`: readers per feed per day, like hosted feed services report them. Needs
//! an ingest token; `?days=N` (1 to 90, default 7) says how far back to go.

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::Serialize;

use super::App;
use super::error::HttpError;
use super::problem::Problem;
use super::response::Body;
use crate::audience::{FeedAudience, ServerAudience};

const MAX_DAYS: u32 = 90;

#[derive(Serialize)]
struct Stats {
    since: chrono::NaiveDate,
    feeds: Vec<FeedAudience>,
    /// The whole server's readers per day: distinct clients across feeds, not a sum.
    server: Vec<ServerAudience>,
}

pub(crate) async fn render(
    app: &App,
    request: &Request<Incoming>,
) -> Result<Response<Body>, HttpError> {
    app.tokens
        .check(request.headers())
        .map_err(super::api::unauthorized)?;
    let days = match super::feeds::query_value(request.uri().query(), "days") {
        None => 7,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "Bad days",
                    format!("days must be a whole number from 1 to {MAX_DAYS}"),
                )
            })?,
    };
    app.audience.flush().await?;
    let since = chrono::Utc::now().date_naive() - chrono::Days::new(u64::from(days - 1));
    let body = Stats {
        since,
        feeds: app.audience.figures(since).await?,
        server: app.audience.totals(since).await?,
    };
    let mut response = Response::new(Body::from(
        serde_json::to_vec(&body).expect("stats serialise"),
    ));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
