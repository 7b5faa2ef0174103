//! `/metrics`: everything [`crate::metrics`] counts, in the Prometheus text format.

use std::sync::Arc;
use std::time::Duration;

use hyper::{Response, StatusCode};

use super::App;
use super::response::{self, Body};

/// How long a scrape waits for reader counts to be stored.
const FLUSH_WAIT: Duration = Duration::from_secs(1);

pub(crate) async fn render(app: &App) -> Response<Body> {
    app.cache.settle().await;
    // Reader counts are stored first, so the figures are fresh; but a scrape waits at most
    // `FLUSH_WAIT` for that (the flush goes on by itself), and none during an outage or while
    // another flush runs: a scrape answers well within a scraper's timeout whatever the store
    // does.
    if app.health.store_up() && !app.audience.flushing() {
        let audience = Arc::clone(&app.audience);
        let flush = tokio::spawn(async move { audience.flush().await });
        match tokio::time::timeout(FLUSH_WAIT, flush).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) if e.is_unavailable() => {
                tracing::debug!(error = %e, "could not store reader counts before a scrape")
            }
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "could not store reader counts before a scrape")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "storing reader counts failed"),
            Err(_) => tracing::debug!("reader counts still being stored; scraped without them"),
        }
    }
    response::bytes(
        StatusCode::OK,
        crate::metrics::CONTENT_TYPE,
        app.metrics.encode(),
    )
}
