//! The article store: where accepted stories live, behind one trait per concern.
//!
//! Everything else in wirefeed reaches stories only through these traits, so that the embedded
//! SQLite store ([`sqlite::SqliteStore`], the default) and the PostgreSQL store
//! ([`postgres::PostgresStore`], for several replicas) can be swapped without touching http or
//! render. The concerns are [`ArticleStore`] (stories and the change sequence),
//! [`HoldStore`] (stories under embargo), [`SubscriptionStore`] (WebSub subscriptions and
//! delivery claims), [`AudienceStore`] (reader and poll figures) and [`UsageStore`] (partners'
//! requests); [`Store`] is all of them, for the wiring and for consumers that need more than
//! one. Every write that changes what a reader could see is given a number from
//! one increasing *change sequence* and a wall-clock time, recorded against each category it
//! touched (before and after the write); caches and validators are derived from those. The
//! store knows nothing of HTTP or of feed formats, and no backend type leaves it.

mod articles;
mod audience;
mod error;
pub(crate) mod guarded;
pub(crate) mod health;
mod held;
pub(crate) mod listen;
pub mod postgres;
pub mod sqlite;
mod subscriptions;
#[cfg(test)]
pub(crate) mod tests;
pub(crate) mod url;
mod usage;
mod window;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use articles::{
    ArticleStore, CategoryCount, Current, Expected, ImportCounts, KillOutcome, Killed, Lookup,
    Window, WriteOutcome,
};
pub use audience::{AudienceMerge, AudienceRow, AudienceStore, TrafficRow};
pub use error::StoreError;
pub use held::{Due, HoldOutcome, HoldStore, MAX_HELD, released};
pub use subscriptions::{Subscription, SubscriptionStore};
pub use usage::{UsageRow, UsageStore};

use crate::model::Article;

/// The whole store: every concern at once. Implemented by anything that implements them all,
/// so `Arc<dyn Store>` works wherever one of them is wanted (it upcasts to
/// `Arc<dyn ArticleStore>` and the others).
pub trait Store: ArticleStore + HoldStore + SubscriptionStore + AudienceStore + UsageStore {}

impl<T: ArticleStore + HoldStore + SubscriptionStore + AudienceStore + UsageStore + ?Sized> Store
    for T
{
}

/// A time as the stores keep it: UTC nanoseconds since 1970 in an i64. Stories' times are
/// validated to fit; a time beyond either end (a query's bound) is taken as that end, which
/// compares with every stored time as the time itself would.
pub(crate) fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

pub(crate) fn from_nanos(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

/// A story from the JSON a store wrote with [`Article::to_json`].
pub(crate) fn parse_body(body: &str) -> Result<Article, StoreError> {
    Article::from_stored_json(body).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Log targets of the store's libraries quieted to errors unless a log filter names them: the
/// PostgreSQL pool (deadpool) warns once per pooled connection when the database goes away,
/// where the store's health tracker says it once.
pub const QUIET_LOG_TARGETS: &[&str] = &["deadpool"];

/// The deadline of each store call when none is configured (`store_timeout_ms`).
pub const DEFAULT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// An opened store, and for PostgreSQL what the change listener needs.
pub struct Opened {
    /// The store, each call bounded by the deadline and reported to `health`.
    pub store: Arc<dyn Store>,
    pub(crate) guarded: Arc<guarded::Guarded>,
    pub(crate) health: Arc<health::Health>,
    /// Where to `LISTEN` for other replicas' changes (PostgreSQL only), for [`listen::listen`].
    pub(crate) listener: Option<listen::Listener>,
    /// The PostgreSQL store, to migrate before use.
    postgres: Option<Arc<postgres::PostgresStore>>,
}

impl Opened {
    /// Readies the store: creates or migrates the PostgreSQL schema (the SQLite file was
    /// migrated when opened). Fails with an error that [`StoreError::is_unavailable`] when
    /// the database cannot be reached; call again to retry.
    pub async fn prepare(&self) -> Result<(), StoreError> {
        let Some(postgres) = &self.postgres else {
            return Ok(());
        };
        let result = postgres.migrate().await;
        match &result {
            Ok(()) => self.health.success(),
            Err(e) => self.health.failure(e),
        }
        result
    }
}

/// Opens the store the settings name and readies it ([`Opened::prepare`]): PostgreSQL for a
/// `postgres://` or `postgresql://` URL, the embedded SQLite file at `sqlite_path` when there
/// is no URL.
pub async fn open(
    url: Option<&str>,
    schema: &str,
    sqlite_path: &Path,
) -> Result<Opened, StoreError> {
    let opened = open_lazily(url, schema, sqlite_path, DEFAULT_DEADLINE)?;
    opened.prepare().await?;
    Ok(opened)
}

/// Opens the store without waiting for a database server: PostgreSQL connections are made
/// when first needed, so this succeeds while the database is away; call
/// [`Opened::prepare`] (until it succeeds) before use. Every store call gets `deadline`.
pub fn open_lazily(
    url: Option<&str>,
    schema: &str,
    sqlite_path: &Path,
    deadline: std::time::Duration,
) -> Result<Opened, StoreError> {
    let health = Arc::new(health::Health::new());
    let (inner, listener, postgres): (Arc<dyn Store>, _, _) = match url {
        None => (
            Arc::new(sqlite::SqliteStore::open_with(sqlite_path, deadline)?),
            None,
            None,
        ),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = Arc::new(postgres::PostgresStore::new(url, schema, deadline)?);
            let config = postgres::tuned_config(url, schema, deadline)?;
            (
                Arc::clone(&store) as Arc<dyn Store>,
                Some(listen::Listener::new(config, schema.to_owned())),
                Some(store),
            )
        }
        Some(_) => return Err(StoreError::Config(
            "store_url must be a postgres:// or postgresql:// URL; leave it unset for the embedded SQLite store".into(),
        )),
    };
    let guarded = Arc::new(guarded::Guarded::new(inner, Arc::clone(&health), deadline));
    Ok(Opened {
        store: Arc::clone(&guarded) as Arc<dyn Store>,
        guarded,
        health,
        listener,
        postgres,
    })
}
