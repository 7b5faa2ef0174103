//! `/metrics`: the feed cache's counters in the Prometheus text format, so an operator (and a
//! test) can see that hits cost no rendering, compression or store reads.

use hyper::{Response, StatusCode};

use super::App;
use super::response::{self, Body};

/// Counters in the Prometheus text format.
pub fn render(app: &App) -> Response<Body> {
    let mut out = String::new();
    for (name, value) in app.cache.stats.snapshot() {
        out.push_str(&format!(
            "# TYPE wirefeed_{name}_total counter\nwirefeed_{name}_total {value}\n"
        ));
    }
    if let Some(hub) = &app.hub {
        for (name, help, value) in hub.stats.snapshot() {
            out.push_str(&format!(
                "# HELP wirefeed_{name}_total {help}\n# TYPE wirefeed_{name}_total counter\nwirefeed_{name}_total {value}\n"
            ));
        }
    }
    response::bytes(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        out,
    )
}
