//! `/metrics`: everything [`crate::metrics`] counts, in the Prometheus text format.

use hyper::{Response, StatusCode};

use super::App;
use super::response::{self, Body};

pub(crate) async fn render(app: &App) -> Response<Body> {
    app.cache.settle().await;
    // During an outage the scrape answers at once, with the store's state, instead of
    // waiting for a flush that would fail at its deadline.
    if app.health.store_up() {
        match app.audience.flush().await {
            Ok(()) => {}
            Err(e) if e.is_unavailable() => {
                tracing::debug!(error = %e, "could not store reader counts before a scrape")
            }
            Err(e) => tracing::warn!(error = %e, "could not store reader counts before a scrape"),
        }
    }
    response::bytes(
        StatusCode::OK,
        crate::metrics::CONTENT_TYPE,
        app.metrics.encode(),
    )
}
