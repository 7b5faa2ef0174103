//! `/metrics`: everything [`crate::metrics`] counts, in the Prometheus text format.

use hyper::{Response, StatusCode};

use super::App;
use super::response::{self, Body};

pub async fn render(app: &App) -> Response<Body> {
    app.cache.settle().await;
    if let Err(e) = app.audience.flush().await {
        tracing::warn!(error = %e, "could not store reader counts before a scrape");
    }
    response::bytes(
        StatusCode::OK,
        crate::metrics::CONTENT_TYPE,
        app.metrics.encode(),
    )
}
