//! The PostgreSQL store, for several replicas sharing one database: the same contract as the
//! embedded SQLite store, on tokio-postgres with a deadpool connection pool.
//!
//! Everything lives in one schema (config `store_schema`, default `public`). The schema is
//! created and migrated by the binary from numbered steps (`schema`); a session advisory lock
//! makes that safe when several replicas start at once. Writers take a transaction advisory
//! lock before they read the head of the change sequence, so sequence numbers are handed out
//! and committed in order: a replica that has caught up to change N can never later see a
//! change below N appear. Each write sends `NOTIFY wirefeed_changes` with `<schema>:<seq>` at
//! commit; [`super::listen`] turns those into cache invalidation on every replica. Text columns
//! use the "C" collation so ordering matches SQLite byte for byte.
//!
//! This file owns the store and its pool; each concern lives beside it: `articles` (stories and
//! the change sequence, with `batch` for imports), `hub` (WebSub), `audience` (reader figures),
//! `schema` (migrations), `pool` (connection settings and pooled connections) and `error` (what
//! the server's errors mean).

/// Runs `$body` with a pooled connection bound to `$client` (`&mut Conn`), keeping the
/// connection in the pool only if the body returned `Ok`.
macro_rules! with_conn {
    ($store:expr, $client:ident, $body:block) => {{
        let mut conn = $store.conn().await?;
        let result = scoped(async {
            let $client = &mut conn;
            $body
        })
        .await;
        if result.is_ok() {
            conn.keep();
        }
        result
    }};
}

mod articles;
mod audience;
mod batch;
mod error;
mod held;
mod hub;
mod pool;
mod schema;
mod usage;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use tokio_postgres::NoTls;

use super::StoreError;
use crate::model::Article;
use pool::Conn;
#[cfg(test)]
pub(crate) use pool::connection_config;
pub(crate) use pool::tuned_config;

/// The notification channel every replica listens on.
pub const CHANNEL: &str = "wirefeed_changes";

/// First key of the two-key advisory locks (`'wfd'`); the second is a hash of the schema, so
/// stores in different schemas of one database never wait for each other.
const LOCK_SPACE: i32 = 0x0077_6664;

/// Connections the pool keeps.
const POOL_SIZE: usize = 16;

/// Parsed stories kept per replica, by id with the version they were read at.
const ARTICLE_CACHE_ENTRIES: u64 = 20_000;

pub struct PostgresStore {
    pool: Pool,
    /// Connection settings, for migrations.
    config: tokio_postgres::Config,
    deadline: Duration,
    schema: String,
    /// id → (seq, story): a story read once is not read again until its version changes.
    articles: moka::sync::Cache<String, (i64, Arc<Article>)>,
}

impl PostgresStore {
    /// Connects, creates the schema if needed and brings it up to date, with the default
    /// deadline ([`super::DEFAULT_DEADLINE`]).
    pub async fn open(url: &str, schema: &str) -> Result<Self, StoreError> {
        let store = Self::new(url, schema, super::DEFAULT_DEADLINE)?;
        store.migrate().await?;
        Ok(store)
    }

    /// The store without touching the database: connections are made when first needed, so
    /// this succeeds while PostgreSQL is away. Call [`PostgresStore::migrate`] before use.
    /// `deadline` bounds each statement on the server (`statement_timeout`, `lock_timeout`),
    /// connecting, and waiting for a pooled connection.
    pub fn new(url: &str, schema: &str, deadline: Duration) -> Result<Self, StoreError> {
        let config = tuned_config(url, schema, deadline)?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                // A connection goes back to the pool only after work that succeeded on it
                // (see `Conn`); closed ones are found by `is_closed` when taken out.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(deadline))
            .create_timeout(Some(deadline))
            .recycle_timeout(Some(deadline))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        Ok(Self {
            pool,
            config,
            deadline,
            schema: schema.to_owned(),
            articles: moka::sync::Cache::new(ARTICLE_CACHE_ENTRIES),
        })
    }

    /// Creates the schema if needed and brings it up to date. Safe to call again, and from
    /// several replicas at once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        schema::migrate(&self.config, &self.schema, self.deadline).await
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    #[cfg(test)]
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Pool(e.to_string()))
    }

    /// A pooled connection that returns to the pool only if [`Conn::keep`] is called.
    async fn conn(&self) -> Result<Conn, StoreError> {
        match self.pool.get().await {
            Ok(object) => Ok(Conn::new(object)),
            Err(deadpool_postgres::PoolError::Backend(e)) => Err(e.into()),
            Err(e) => Err(StoreError::Pool(e.to_string())),
        }
    }

    /// Serialises writers of this schema until the transaction ends.
    async fn lock_writes(&self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))",
            &[&LOCK_SPACE],
        )
        .await?;
        Ok(())
    }
}

/// Pins an async block's output to a store result, so that `?` inside it converts errors.
async fn scoped<T>(work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    work.await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::schema::MIGRATIONS;
    use super::*;
    use crate::store::ArticleStore;
    use crate::store::listen::Listener;
    use crate::store::tests::pg::{FreshSchema, url};
    use crate::store::tests::story;

    #[tokio::test]
    async fn replicas_starting_at_once_migrate_the_schema_once() {
        let Some(schema) = FreshSchema::create().await else {
            return;
        };
        let url = url();
        let opens = (0..4).map(|_| PostgresStore::open(&url, &schema.name));
        for opened in futures_util::future::join_all(opens).await {
            opened.expect("every replica opens");
        }
        let store = schema.open().await;
        let client = store.client().await.unwrap();
        let version: i32 = client
            .query_one("SELECT version FROM wirefeed_schema", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(version, MIGRATIONS.len() as i32);
    }

    /// A change whose commit reaches the server long after it was stamped is stamped again at
    /// the commit, and never before the change ahead of it; one committed at once keeps its
    /// stamp.
    #[tokio::test]
    async fn a_change_committed_late_is_stamped_at_its_commit() {
        let Some(schema) = FreshSchema::create().await else {
            return;
        };
        let store = schema.open().await;
        let mut client = store.client().await.unwrap();
        let now = crate::store::nanos(chrono::Utc::now());
        let tx = client.transaction().await.unwrap();
        tx.batch_execute(&format!(
            "INSERT INTO changes (seq, article_id, kind, at_ns) VALUES
                 (1, 'late', 'create', {late}), (2, 'then', 'create', {late}),
                 (3, 'fresh', 'create', {fresh})",
            late = now - 5_000_000_000,
            fresh = now + 60_000_000_000,
        ))
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let stamps: Vec<i64> = client
            .query("SELECT at_ns FROM changes ORDER BY seq", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(
            stamps[0] >= now && stamps[0] < now + 5_000_000_000,
            "{stamps:?}"
        );
        assert!(stamps[1] >= stamps[0], "{stamps:?}");
        assert_eq!(stamps[2], now + 60_000_000_000, "kept: {stamps:?}");
    }

    #[tokio::test]
    async fn a_connection_whose_work_failed_or_was_abandoned_leaves_the_pool() {
        let Some(schema) = FreshSchema::create().await else {
            return;
        };
        let store = schema.open().await;
        let pid = async |store: &PostgresStore| -> Result<i32, StoreError> {
            with_conn!(store, client, {
                Ok(client
                    .query_one("SELECT pg_backend_pid()", &[])
                    .await?
                    .get(0))
            })
        };
        let first = pid(&store).await.unwrap();
        assert_eq!(pid(&store).await.unwrap(), first, "kept after success");
        // Abandoned mid-statement, as at a deadline.
        let slow = async {
            with_conn!(store, client, {
                client.batch_execute("SELECT pg_sleep(5)").await?;
                Ok(())
            })
        };
        assert!(
            tokio::time::timeout(Duration::from_millis(100), slow)
                .await
                .is_err()
        );
        let second = pid(&store).await.unwrap();
        assert_ne!(second, first, "a new connection after an abandoned call");
        // Failed.
        let failed: Result<(), StoreError> = with_conn_fails(&store).await;
        assert!(failed.is_err());
        assert_ne!(pid(&store).await.unwrap(), second, "and after a failed one");
    }

    async fn with_conn_fails(store: &PostgresStore) -> Result<(), StoreError> {
        with_conn!(store, client, {
            client.batch_execute("SELECT no_such_column").await?;
            Ok(())
        })
    }

    #[tokio::test]
    async fn a_schema_from_a_newer_wirefeed_is_refused() {
        let Some(schema) = FreshSchema::create().await else {
            return;
        };
        let store = schema.open().await;
        store
            .client()
            .await
            .unwrap()
            .execute("UPDATE wirefeed_schema SET version = 99", &[])
            .await
            .unwrap();
        assert!(matches!(
            PostgresStore::open(&url(), &schema.name).await,
            Err(StoreError::SchemaTooNew { found: 99, .. })
        ));
    }

    #[tokio::test]
    async fn concurrent_writers_on_two_replicas_get_one_gapless_sequence() {
        let Some(schema) = FreshSchema::create().await else {
            return;
        };
        let a = Arc::new(schema.open().await);
        let b = Arc::new(schema.open().await);
        let mut writes = Vec::new();
        for i in 0..40 {
            let store = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            writes.push(tokio::spawn(async move {
                let published = format!("2026-11-25T08:{:02}:00Z", i);
                store
                    .put(story(&format!("s{i}"), &["world"], &published))
                    .await
                    .unwrap()
            }));
        }
        for write in writes {
            write.await.unwrap();
        }
        let changes = a.changes_since(0, 1000).await.unwrap();
        let seqs: Vec<u64> = changes.iter().map(|c| c.change.seq).collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<u64>>());
        assert!(changes.windows(2).all(|w| w[0].change.at <= w[1].change.at));
        assert_eq!(b.categories().await.unwrap()[0].articles, 40);
    }

    #[tokio::test]
    async fn a_write_wakes_a_listener_on_the_same_schema_only() {
        let Some(schema) = FreshSchema::create().await else {
            return;
        };
        let Some(other) = FreshSchema::create().await else {
            return;
        };
        let store = schema.open().await;
        let elsewhere = other.open().await;
        let wake = Arc::new(tokio::sync::Notify::new());
        let config = connection_config(&url(), &schema.name).unwrap();
        let health = Arc::new(crate::store::health::Health::new());
        let trigger = crate::shutdown::Trigger::new();
        let listener = tokio::spawn(crate::store::listen::listen(
            Listener::new(config, schema.name.clone()),
            Arc::clone(&wake),
            Arc::clone(&health),
            {
                let mut shutdown = trigger.subscribe();
                async move { shutdown.recv().await }
            },
        ));
        // The first wake-up comes with the connection.
        tokio::time::timeout(Duration::from_secs(5), wake.notified())
            .await
            .expect("woken on connecting");
        assert_eq!(health.listener_up(), Some(true));
        elsewhere
            .put(story("x", &["world"], "2026-11-25T08:00:00Z"))
            .await
            .unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), wake.notified())
                .await
                .is_err(),
            "a write to another schema must not wake this one"
        );
        store
            .put(story("y", &["world"], "2026-11-25T08:00:00Z"))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(1), wake.notified())
            .await
            .expect("woken within 1 s of a commit");
        // It holds nothing: it stops as soon as the shutdown fires.
        trigger.fire();
        tokio::time::timeout(Duration::from_secs(1), listener)
            .await
            .expect("the listener stops at the shutdown")
            .unwrap();
    }
}
