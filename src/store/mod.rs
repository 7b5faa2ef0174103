//! The article store: where accepted stories live, behind the [`Store`] trait.
//!
//! Everything else in wirefeed reaches stories only through this trait, so that the embedded
//! SQLite store ([`sqlite::SqliteStore`], the default) and the PostgreSQL store
//! ([`postgres::PostgresStore`], for several replicas) can be swapped
//! without touching http or render. Every write that changes what a reader could see is given a
//! number from one increasing *change sequence* and a wall-clock time, recorded against each
//! category it touched (before and after the write); caches and validators are derived from
//! those. The store knows nothing of HTTP or of feed formats.

pub mod guarded;
pub mod health;
pub mod listen;
pub mod postgres;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod tests;
mod window;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{Article, ArticleId, Category, Change, ChangeRecord, Selection, Tombstone};

/// A slice of a selection's live stories, for paged and archived feeds (RFC 5005). Bounds
/// combine; stories come newest first (ties broken by id, descending) unless `oldest_first`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    /// Only stories published at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only stories that come after this one in feed order: published earlier, or at the same
    /// time with a smaller id.
    pub before: Option<(DateTime<Utc>, ArticleId)>,
    /// Only stories published before this time.
    pub until: Option<DateTime<Utc>>,
    pub oldest_first: bool,
    pub offset: usize,
    pub limit: usize,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A story the store did not have.
    Created(Change),
    /// A new version of a story it had (a correction, or a story brought back after a kill).
    Updated(Change),
    /// The story was already stored exactly like this; nothing changed.
    Unchanged,
}

/// A killed story, as the store remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Killed {
    pub article: Article,
    pub killed: Change,
}

/// What the store knows about one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Live(Article),
    Killed(Killed),
    Missing,
}

/// A category and how many live stories are filed in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCount {
    pub category: Category,
    pub articles: u64,
}

/// A verified WebSub subscription: deliver `topic` to `callback` until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topic: String,
    pub callback: String,
    /// The callback's host, for per-host limits.
    pub callback_host: String,
    /// Key of the HMAC signature on each delivery, when the subscriber gave one.
    pub secret: Option<String>,
    pub lease_seconds: u64,
    pub expires_at: DateTime<Utc>,
}

/// One feed's readers on one UTC day, as the audience module keeps them: its own encodings of
/// the distinct direct clients and of what each aggregator reported. The store only keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AudienceRow {
    pub clients: String,
    pub agents: String,
}

/// One feed's polls in one UTC hour. Counts are added, never replaced, so the figures of
/// several replicas and flushes sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficRow {
    /// The start of the hour.
    pub hour: DateTime<Utc>,
    pub feed: String,
    pub polls: u64,
    pub not_modified: u64,
    pub bytes_sent: u64,
    pub bytes_saved: u64,
}

/// Merges new figures into a stored day (or into nothing, for a new day).
pub type AudienceMerge = Box<dyn FnOnce(Option<AudienceRow>) -> AudienceRow + Send>;

/// Counts from an import run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl ImportCounts {
    pub fn add(&mut self, outcome: WriteOutcome) {
        match outcome {
            WriteOutcome::Created(_) => self.created += 1,
            WriteOutcome::Updated(_) => self.updated += 1,
            WriteOutcome::Unchanged => self.unchanged += 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not open the SQLite store at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the store's schema is version {found}, newer than this wirefeed understands ({known}); upgrade wirefeed"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("SQLite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL error: {0}")]
    Postgres(String),
    #[error("no PostgreSQL connection available: {0}")]
    Pool(String),
    #[error("the store is misconfigured: {0}")]
    Config(String),
    #[error("a stored article could not be read back: {0}")]
    Corrupt(String),
    #[error("the store's worker thread stopped: {0}")]
    Worker(String),
    /// The store could not be reached or could not do the work just now (connection refused
    /// or lost, server shutting down, statement or lock timeout, disk full): a retry later
    /// may succeed.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The store did not answer within its deadline.
    #[error("the store did not answer within {0:?}")]
    Timeout(std::time::Duration),
}

impl StoreError {
    /// Whether the store could not be reached or did not answer in time: transient, worth a
    /// retry, answered 503 with Retry-After, and what marks the store down.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::Timeout(_) | StoreError::Pool(_) => true,
            StoreError::Sqlite(e) => sqlite_unavailable(e),
            StoreError::Open { source, .. } => sqlite_unavailable(source),
            _ => false,
        }
    }

    /// Whether what the store holds could not be understood: a bug or a damaged store, not
    /// something a retry mends (answered 500).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt(_) | StoreError::SchemaTooNew { .. } | StoreError::Config(_)
        )
    }
}

/// SQLite errors that say "not now" rather than "never": busy or locked past the busy
/// timeout, disk full, I/O errors, a file that cannot be opened, an interrupted statement.
fn sqlite_unavailable(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(
            DatabaseBusy
                | DatabaseLocked
                | DiskFull
                | SystemIoFailure
                | CannotOpen
                | OperationInterrupted
                | OutOfMemory
        )
    )
}

/// SQLSTATE classes and codes that mean the server cannot do the work now but may later:
/// connection exceptions (08), insufficient resources (53, disk full among them), operator
/// intervention (57: shutdown, query cancelled by statement_timeout), lock not available
/// (55P03, lock_timeout), idle-in-transaction timeout (25P03), serialization failures (40).
fn postgres_transient(code: &str) -> bool {
    ["08", "53", "57", "40"]
        .iter()
        .any(|class| code.starts_with(class))
        || code == "55P03"
        || code == "25P03"
}

/// tokio-postgres errors print as "db error"; the server's own message is in the source.
/// Errors without a server message (I/O, a closed connection, a timed-out connect) and
/// transient SQLSTATEs become [`StoreError::Unavailable`].
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => {
                let message = format!("{} (SQLSTATE {})", db.message(), db.code().code());
                if postgres_transient(db.code().code()) {
                    StoreError::Unavailable(message)
                } else {
                    StoreError::Postgres(message)
                }
            }
            None => StoreError::Unavailable(match std::error::Error::source(&e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            }),
        }
    }
}

/// The article store. Writes are durable when they return `Ok`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or replaces a story, keyed by id. Storing a story identical to the stored one
    /// changes nothing and reports [`WriteOutcome::Unchanged`].
    async fn put(&self, article: Article) -> Result<WriteOutcome, StoreError>;

    /// Stores many stories in one transaction: either all are stored or none.
    async fn put_many(&self, articles: Vec<Article>) -> Result<ImportCounts, StoreError>;

    /// Kills a story: it leaves every feed, and the store remembers it as killed. Returns `None`
    /// when there is no live story with that id.
    async fn kill(&self, id: &ArticleId) -> Result<Option<Killed>, StoreError>;

    async fn get(&self, id: &ArticleId) -> Result<Lookup, StoreError>;

    /// The newest `limit` live stories in the selection, newest `published` first (ties broken
    /// by id, descending), each story once however many selected categories it is filed in.
    async fn latest(&self, selection: &Selection, limit: usize)
    -> Result<Vec<Article>, StoreError>;

    /// The stories of a [`Window`] of the selection.
    async fn window(
        &self,
        selection: &Selection,
        window: &Window,
    ) -> Result<Vec<Article>, StoreError>;

    /// How many live stories the selection holds (each once).
    async fn count(&self, selection: &Selection) -> Result<u64, StoreError>;

    /// Every category that has at least one live story, in slug order.
    async fn categories(&self) -> Result<Vec<CategoryCount>, StoreError>;

    /// The newest change of the whole store, or `None` for a store never written to.
    async fn last_change(&self) -> Result<Option<Change>, StoreError>;

    /// The newest change that touched any category of the selection (a publish, a correction
    /// or a kill, counting the categories a story had before and after).
    async fn last_change_in(&self, selection: &Selection) -> Result<Option<Change>, StoreError>;

    /// Stories killed at or after `since` that were filed in the selection — only those
    /// published within `published` (start inclusive, end exclusive) when given — newest kill
    /// first, each with the story as it was when killed.
    async fn tombstones(
        &self,
        selection: &Selection,
        since: DateTime<Utc>,
        published: Option<(DateTime<Utc>, DateTime<Utc>)>,
        limit: usize,
    ) -> Result<Vec<Tombstone>, StoreError>;

    /// Changes after `seq`, oldest first, at most `limit` of them: how a cache catches up with
    /// writes made by another process or replica.
    async fn changes_since(&self, seq: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError>;

    // WebSub subscriptions, kept here so they survive restarts and are shared by replicas.

    /// Creates a subscription, or renews it (new lease, new secret) when the topic and callback
    /// are already subscribed.
    async fn subscribe(&self, subscription: &Subscription) -> Result<(), StoreError>;

    /// Ends a subscription; `false` when there was none.
    async fn unsubscribe(&self, topic: &str, callback: &str) -> Result<bool, StoreError>;

    /// Subscriptions to `topic` whose lease runs past `now`.
    async fn subscribers(
        &self,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError>;

    /// Every topic with at least one subscription whose lease runs past `now`, with how many.
    async fn subscribed_topics(&self, now: DateTime<Utc>)
    -> Result<Vec<(String, u64)>, StoreError>;

    /// Live subscriptions whose callback is on `host`.
    async fn subscriptions_on_host(
        &self,
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Deletes subscriptions whose lease ended before `now`, and delivery claims older than a
    /// day; returns how many subscriptions went.
    async fn expire_subscriptions(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Claims the delivery of change `seq`: `true` for exactly one caller across every process
    /// sharing the store, so each publish is pushed once however many replicas see it.
    async fn claim_change(&self, seq: u64, now: DateTime<Utc>) -> Result<bool, StoreError>;

    // Readers per feed per day (the stats API, metrics and the operator's page).

    /// Replaces `feed`'s figures for `day` with `merge` of the stored ones, atomically: figures
    /// merged at once by several replicas are all kept.
    async fn merge_audience(
        &self,
        day: chrono::NaiveDate,
        feed: &str,
        merge: AudienceMerge,
    ) -> Result<(), StoreError>;

    /// Every feed's figures from `since` on, by day then feed.
    async fn audience(
        &self,
        since: chrono::NaiveDate,
    ) -> Result<Vec<(chrono::NaiveDate, String, AudienceRow)>, StoreError>;

    /// Adds polls to the stored counts of their hour and feed.
    async fn add_traffic(&self, rows: Vec<TrafficRow>) -> Result<(), StoreError>;

    /// Every feed's polls from the hour `since` on, by hour then feed.
    async fn traffic(&self, since: DateTime<Utc>) -> Result<Vec<TrafficRow>, StoreError>;

    /// Deletes reader and poll figures from before `day`.
    async fn forget_audience(&self, day: chrono::NaiveDate) -> Result<(), StoreError>;
}

/// A time as the stores keep it: UTC nanoseconds since 1970 in an i64.
pub(crate) fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt()
        .expect("article times are validated to fit in i64 nanoseconds")
}

pub(crate) fn from_nanos(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

/// A story from the JSON a store wrote with [`Article::to_json`].
pub(crate) fn parse_body(body: &str) -> Result<Article, StoreError> {
    Article::from_stored_json(body).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The deadline of each store call when none is configured (`store_timeout_ms`).
pub const DEFAULT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// An opened store, and for PostgreSQL what the change listener needs.
pub struct Opened {
    /// The store, each call bounded by the deadline and reported to `health`.
    pub store: Arc<dyn Store>,
    pub guarded: Arc<guarded::Guarded>,
    pub health: Arc<health::Health>,
    /// Connection settings and schema to `LISTEN` with (PostgreSQL only).
    pub listener: Option<(tokio_postgres::Config, String)>,
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
                Some((config, schema.to_owned())),
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
