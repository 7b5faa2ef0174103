//! HTTP: the listener, routing, and the handlers that turn requests into responses.
//!
//! One file per concern: [`router`] maps paths to routes, [`feeds`] serves feed documents and
//! OPML, [`pages`] the HTML pages, [`response`] builds responses, [`error`] is the one place
//! where errors become status codes. Handlers reach stories only through the store trait and
//! documents only through `render`; nothing here builds XML.

pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod assets;
pub(crate) mod auth;
pub(crate) mod changes;
pub mod conditional;
pub(crate) mod cors;
pub(crate) mod dispatch;
pub mod encoding;
pub(crate) mod error;
pub(crate) mod feeds;
pub(crate) mod forwarded;
pub(crate) mod host;
pub(crate) mod hub;
pub(crate) mod idle;
pub(crate) mod kept;
pub(crate) mod metrics;
pub(crate) mod pages;
pub(crate) mod park;
pub(crate) mod partner;
pub(crate) mod politeness;
pub(crate) mod problem;
pub(crate) mod redirect;
pub(crate) mod response;
pub(crate) mod router;
// The one module allowed unsafe code: sending cached bodies with sendfile(2).
#[allow(unsafe_code)]
pub(crate) mod sendfile;
pub(crate) mod server;
pub(crate) mod sitemaps;
pub(crate) mod stats;
pub(crate) mod tls;

use std::sync::Arc;

use crate::cache::FeedCache;
use crate::catalog::Catalog;
use crate::model::{Category, FeedDef};
use crate::site::Site;
use crate::store::{Store, StoreError};

/// What every request handler shares.
pub(crate) struct App {
    pub store: Arc<dyn Store>,
    /// The write path: every publish, correction and kill.
    pub desk: Arc<crate::ingest::publish::Desk>,
    /// The change bus, for requests that wait for the next change (the change cursor).
    pub bus: Arc<crate::changes::ChangeBus>,
    /// Whether RFC 3229 `A-IM: feed` deltas are answered (off unless the operator turns them on).
    pub deltas: bool,
    pub catalog: Catalog,
    pub site: Site,
    pub cache: Arc<FeedCache>,
    /// Readers per feed per day.
    pub audience: Arc<crate::audience::Audience>,
    /// What the server counts, for /metrics.
    pub metrics: crate::metrics::Metrics,
    /// The WebSub hub, when push is on.
    pub hub: Option<Arc<crate::websub::Hub>>,
    pub tokens: auth::Tokens,
    /// The partners and their keys (reloaded when the file changes).
    pub partners: Arc<crate::partners::Partners>,
    /// Partners' requests, for quotas and the operator's page.
    pub usage: Arc<crate::partners::usage::Usage>,
    /// Largest ingest request body, in bytes.
    pub max_body_bytes: u64,
    /// Limit on unconditional polls per client per feed, when configured.
    pub poll_limiter: Option<politeness::PollLimiter>,
    /// The reverse proxies whose forwarding headers name the client (none by default).
    pub proxies: forwarded::Proxies,
    /// The pages, OPML list and sitemaps last built.
    pub kept: kept::Kept,
    /// Whether the store answers and start-up has finished, for `/readyz`.
    pub health: Arc<crate::store::health::Health>,
    /// Longest a page or a feed built afresh may take (each store call has its own, shorter
    /// deadline); beyond it the request is answered 503.
    pub deadline: std::time::Duration,
}

/// The address of a request's client, handed to its handler with the request: the
/// connection's peer, or, behind a trusted proxy, the client it names ([`forwarded`]; port 0
/// when it names none).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);

impl App {
    /// The feed at `slug`, if it is defined or names a category a story was ever filed in
    /// (one whose stories were all killed still carries their withdrawal notices).
    pub async fn feed(&self, slug: &str) -> Result<Option<FeedDef>, StoreError> {
        let categories = self.cache.categories().await?;
        Ok(self.catalog.feed(slug, |c| categories.contains(c)))
    }

    /// Every category with live stories.
    pub async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        self.cache.live_categories().await
    }

    /// Every feed worth listing: `all`, each definition, each category with stories.
    pub async fn feeds(&self) -> Result<Vec<FeedDef>, StoreError> {
        self.cache.feeds().await
    }
}
