//! The PostgreSQL store, for several replicas sharing one database: the same [`Store`] contract
//! as the embedded SQLite store, on tokio-postgres with a deadpool connection pool.
//!
//! Everything lives in one schema (config `store_schema`, default `public`). The schema is
//! created and migrated by the binary from the numbered steps in [`MIGRATIONS`]; a session
//! advisory lock makes that safe when several replicas start at once. Writers take a
//! transaction advisory lock before they read the head of the change sequence, so sequence
//! numbers are handed out and committed in order: a replica that has caught up to change N
//! can never later see a change below N appear. Each write sends `NOTIFY wirefeed_changes` with
//! `<schema>:<seq>` at commit; [`super::listen`] turns those into cache invalidation on every
//! replica. Text columns use the "C" collation so ordering matches SQLite byte for byte.

mod audience;
mod batch;
mod hub;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Transaction,
};
use tokio_postgres::NoTls;

use super::{
    AudienceMerge, AudienceRow, CategoryCount, ImportCounts, Killed, Lookup, Store, StoreError,
    Subscription, TrafficRow, Window, WriteOutcome, from_nanos, nanos, parse_body, window,
};
use crate::model::{Article, ArticleId, Category, Change, ChangeRecord, Selection, Tombstone};

/// The notification channel every replica listens on.
pub const CHANNEL: &str = "wirefeed_changes";

/// First key of the two-key advisory locks (`'wfd'`); the second is a hash of the schema, so
/// stores in different schemas of one database never wait for each other.
const LOCK_SPACE: i32 = 0x0077_6664;

/// Connections the pool keeps.
const POOL_SIZE: usize = 16;

/// The schema, one step per version. Never edit a step that has shipped: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: articles, their categories, the change sequence and tombstones (SQLite's steps 1-2).
    r#"
    CREATE TABLE articles (
        id           TEXT COLLATE "C" PRIMARY KEY,
        body         TEXT NOT NULL,
        published_ns BIGINT NOT NULL,
        seq          BIGINT NOT NULL,
        killed_seq   BIGINT
    );
    CREATE INDEX articles_live_by_published ON articles (published_ns DESC, id DESC)
        WHERE killed_seq IS NULL;

    CREATE TABLE article_categories (
        category     TEXT COLLATE "C" NOT NULL,
        published_ns BIGINT NOT NULL,
        article_id   TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (category, published_ns, article_id)
    );
    CREATE INDEX article_categories_by_article ON article_categories (article_id);

    CREATE TABLE category_counts (
        category TEXT COLLATE "C" PRIMARY KEY,
        articles BIGINT NOT NULL
    );

    CREATE TABLE changes (
        seq        BIGINT PRIMARY KEY,
        article_id TEXT COLLATE "C" NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('create', 'update', 'kill')),
        at_ns      BIGINT NOT NULL
    );
    CREATE TABLE change_categories (
        category TEXT COLLATE "C" NOT NULL,
        seq      BIGINT NOT NULL,
        PRIMARY KEY (category, seq)
    );
    CREATE INDEX change_categories_by_seq ON change_categories (seq);

    CREATE TABLE tombstones (
        category   TEXT COLLATE "C" NOT NULL,
        killed_ns  BIGINT NOT NULL,
        article_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (category, killed_ns, article_id)
    );
    CREATE INDEX tombstones_by_article ON tombstones (article_id);
    "#,
    // 2: the version (seq) of each filed story beside its place in the category, covered by
    // the index, so the newest N of a category is an index-only scan and stories the replica
    // already holds in memory at that version need not be fetched again.
    r#"
    ALTER TABLE article_categories ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
    UPDATE article_categories c SET seq = a.seq FROM articles a WHERE a.id = c.article_id;
    ALTER TABLE article_categories ALTER COLUMN seq DROP DEFAULT;
    ALTER TABLE article_categories DROP CONSTRAINT article_categories_pkey;
    CREATE UNIQUE INDEX article_categories_newest
        ON article_categories (category, published_ns, article_id) INCLUDE (seq);
    CREATE INDEX articles_live_by_published_seq ON articles (published_ns DESC, id DESC)
        INCLUDE (seq) WHERE killed_seq IS NULL;
    DROP INDEX articles_live_by_published;
    "#,
    // 3: WebSub subscriptions, which replica pushes each change, readers per feed per day (SQLite's step 3).
    r#"
    CREATE TABLE websub_subscriptions (
        topic         TEXT COLLATE "C" NOT NULL,
        callback      TEXT COLLATE "C" NOT NULL,
        callback_host TEXT COLLATE "C" NOT NULL,
        secret        TEXT,
        lease_seconds BIGINT NOT NULL,
        expires_ns    BIGINT NOT NULL,
        PRIMARY KEY (topic, callback)
    );
    CREATE INDEX websub_subscriptions_by_host ON websub_subscriptions (callback_host);
    CREATE INDEX websub_subscriptions_by_expiry ON websub_subscriptions (expires_ns);
    CREATE TABLE websub_claims (
        seq        BIGINT PRIMARY KEY,
        claimed_ns BIGINT NOT NULL
    );

    -- Readers per feed per UTC day (YYYY-MM-DD).
    CREATE TABLE audience (
        day     TEXT COLLATE "C" NOT NULL,
        feed    TEXT COLLATE "C" NOT NULL,
        clients TEXT NOT NULL,
        agents  TEXT NOT NULL,
        PRIMARY KEY (day, feed)
    );

    -- Feed polls per UTC hour (Unix seconds at its start).
    CREATE TABLE traffic (
        hour         BIGINT NOT NULL,
        feed         TEXT COLLATE "C" NOT NULL,
        polls        BIGINT NOT NULL,
        not_modified BIGINT NOT NULL,
        bytes_sent   BIGINT NOT NULL,
        bytes_saved  BIGINT NOT NULL,
        PRIMARY KEY (hour, feed)
    );
    "#,
];

/// A window query's arguments as tokio-postgres takes them.
fn pg_args(args: &[window::Arg]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    args.iter()
        .map(|a| match a {
            window::Arg::Int(n) => n as &(dyn tokio_postgres::types::ToSql + Sync),
            window::Arg::Text(t) => t as &(dyn tokio_postgres::types::ToSql + Sync),
        })
        .collect()
}

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
        migrate(&self.config, &self.schema, self.deadline).await
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
            Ok(object) => Ok(Conn {
                object: Some(object),
                keep: false,
            }),
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

/// Parses the URL and pins every connection to the store's schema, with the default deadline.
pub fn connection_config(url: &str, schema: &str) -> Result<tokio_postgres::Config, StoreError> {
    tuned_config(url, schema, super::DEFAULT_DEADLINE)
}

/// TCP keepalive: first probe after this much idleness ...
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
/// ... then one probe this often ...
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// ... and the peer is dead after this many unanswered.
const KEEPALIVE_RETRIES: u32 = 3;
/// Longest that sent data may stay unacknowledged before the kernel drops the connection.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(8);

/// Parses the URL and pins every connection to the store's schema, with deadlines: connecting
/// within `deadline`; on the server, each statement within most of it (`statement_timeout`,
/// so a slow statement fails cleanly before the client gives up), each lock wait within half
/// (`lock_timeout`, the write lock among them), and a transaction left idle — its client gone
/// — ended after twice the deadline, so that the write lock it held is released. Dead peers
/// are found by TCP keepalive on both sides within seconds, not the system's two hours.
pub fn tuned_config(
    url: &str,
    schema: &str,
    deadline: Duration,
) -> Result<tokio_postgres::Config, StoreError> {
    check_schema_name(schema)?;
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| StoreError::Config(e.to_string()))?;
    let ms = deadline.as_millis().max(1);
    config.options(format!(
        "-c search_path={schema} -c statement_timeout={} -c lock_timeout={} \
         -c idle_in_transaction_session_timeout={} -c tcp_keepalives_idle={} \
         -c tcp_keepalives_interval={} -c tcp_keepalives_count={KEEPALIVE_RETRIES}",
        (ms * 4 / 5).max(1),
        (ms / 2).max(1),
        (ms * 2).max(1000),
        KEEPALIVE_IDLE.as_secs(),
        KEEPALIVE_INTERVAL.as_secs(),
    ));
    if config.get_application_name().is_none() {
        config.application_name("wirefeed");
    }
    config
        .connect_timeout(deadline)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES)
        .tcp_user_timeout(TCP_USER_TIMEOUT);
    Ok(config)
}

/// A pooled connection that goes back to the pool only when the work done on it succeeded
/// ([`Conn::keep`]). Dropped otherwise — after an error, or with its call abandoned at its
/// deadline while a statement may still be in flight — it is taken out of the pool and
/// closed, so that a connection that hung or broke is never handed to the next request.
struct Conn {
    object: Option<deadpool_postgres::Object>,
    keep: bool,
}

impl Conn {
    fn keep(&mut self) {
        self.keep = true;
    }
}

impl std::ops::Deref for Conn {
    type Target = deadpool_postgres::Object;
    fn deref(&self) -> &Self::Target {
        self.object.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.object.as_mut().expect("present until dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let (false, Some(object)) = (self.keep, self.object.take()) {
            // Closes the connection (its driver task is aborted) and shrinks the pool.
            drop(deadpool_postgres::Object::take(object));
        }
    }
}

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

/// Pins an async block's output to a store result, so that `?` inside it converts errors.
async fn scoped<T>(
    work: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    work.await
}

/// Schema names go into SQL unquoted, so only plain identifiers are accepted.
fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "store_schema {schema:?} must be a lower-case identifier such as \"wirefeed\" (letters, digits, '_')"
        )))
    }
}

/// Applies every migration step the schema has not seen, under a session advisory lock held
/// on a connection of its own (so a failure releases the lock with the connection).
async fn migrate(
    config: &tokio_postgres::Config,
    schema: &str,
    deadline: Duration,
) -> Result<(), StoreError> {
    // Connecting is bounded (a stalled server must not hang start-up); the steps are not, as
    // a step may rewrite a large table.
    let (mut client, connection) = tokio::time::timeout(deadline, config.connect(NoTls))
        .await
        .map_err(|_| StoreError::Timeout(deadline))??;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the migration connection ended with an error");
        }
    });
    // A step may rewrite a large table: no server-side statement or lock deadline here.
    let setup = client.batch_execute(
        "SET client_min_messages TO warning; SET statement_timeout = 0; SET lock_timeout = 0",
    );
    tokio::time::timeout(deadline, setup)
        .await
        .map_err(|_| StoreError::Timeout(deadline))??;
    // Another replica may be migrating: wait for it, saying so now and then.
    {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&LOCK_SPACE, &schema];
        let lock = client.execute("SELECT pg_advisory_lock($1, hashtext($2))", &params);
        let mut lock = std::pin::pin!(lock);
        loop {
            match tokio::time::timeout(deadline.max(Duration::from_secs(5)), &mut lock).await {
                Ok(locked) => {
                    locked?;
                    break;
                }
                Err(_) => {
                    tracing::info!(schema, "waiting for another replica to finish migrating")
                }
            }
        }
    }
    let create = format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.wirefeed_schema (version INTEGER NOT NULL);
         INSERT INTO {schema}.wirefeed_schema (version)
             SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM {schema}.wirefeed_schema);"
    );
    tokio::time::timeout(deadline, client.batch_execute(&create))
        .await
        .map_err(|_| StoreError::Timeout(deadline))??;
    let found: i32 = tokio::time::timeout(
        deadline,
        client.query_one("SELECT version FROM wirefeed_schema", &[]),
    )
    .await
    .map_err(|_| StoreError::Timeout(deadline))??
    .get(0);
    let known = MIGRATIONS.len() as i32;
    if found > known {
        return Err(StoreError::SchemaTooNew {
            found: i64::from(found),
            known: i64::from(known),
        });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "UPDATE wirefeed_schema SET version = $1",
            &[&(step as i32 + 1)],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version = step + 1, schema, "migrated the PostgreSQL store");
    }
    client
        .execute(
            "SELECT pg_advisory_unlock($1, hashtext($2))",
            &[&LOCK_SPACE, &schema],
        )
        .await?;
    drop(client);
    let _ = driver.await;
    Ok(())
}

fn slugs<'a>(categories: impl IntoIterator<Item = &'a Category>) -> Vec<&'a str> {
    categories.into_iter().map(Category::as_str).collect()
}

// Statements every write sends; `batch` pipelines them, `kill` sends them one by one.
const INSERT_CHANGE: &str =
    "INSERT INTO changes (seq, article_id, kind, at_ns) VALUES ($1, $2, $3, $4)";
const INSERT_TOUCHED: &str = "INSERT INTO change_categories (category, seq)
     SELECT DISTINCT unnest($1::text[]), $2::bigint ON CONFLICT DO NOTHING";
const NOTIFY: &str = "SELECT pg_notify($1, current_schema() || ':' || $2::text)";
const COUNT: &str =
    "INSERT INTO category_counts (category, articles) SELECT unnest($1::text[]), $2::bigint
     ON CONFLICT (category) DO UPDATE SET articles = category_counts.articles + excluded.articles";
const UNFILE: &str = "DELETE FROM article_categories WHERE article_id = $1";

/// The newest change's number, and the time to record for the next ones: now, but never
/// earlier than the newest change, even if a replica's clock is behind. The caller holds the
/// write lock, so the next numbers are its own.
async fn change_head(tx: &Transaction<'_>) -> Result<(i64, i64), StoreError> {
    let head = tx
        .query_opt(
            "SELECT seq, at_ns FROM changes ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await?;
    let (seq, previous_at) = head.map_or((0, 0), |r| (r.get::<_, i64>(0), r.get(1)));
    Ok((seq, nanos(Utc::now()).max(previous_at)))
}

/// Appends one entry to the change sequence (the caller holds the write lock), recorded
/// against every category it touched, and queues the notification sent at commit.
async fn record_change(
    tx: &Transaction<'_>,
    id: &ArticleId,
    kind: &str,
    touched: &[&Category],
) -> Result<Change, StoreError> {
    let (previous_seq, at_ns) = change_head(tx).await?;
    let seq = previous_seq + 1;
    let insert = tx.prepare_cached(INSERT_CHANGE).await?;
    tx.execute(&insert, &[&seq, &id.as_str(), &kind, &at_ns])
        .await?;
    let categories = tx.prepare_cached(INSERT_TOUCHED).await?;
    tx.execute(&categories, &[&slugs(touched.iter().copied()), &seq])
        .await?;
    let notify = tx.prepare_cached(NOTIFY).await?;
    tx.execute(&notify, &[&CHANNEL, &seq.to_string()]).await?;
    Ok(Change {
        seq: seq as u64,
        at: from_nanos(at_ns),
    })
}

async fn adjust_counts(
    tx: &Transaction<'_>,
    categories: &[Category],
    delta: i64,
) -> Result<(), StoreError> {
    let upsert = tx.prepare_cached(COUNT).await?;
    tx.execute(&upsert, &[&slugs(categories), &delta]).await?;
    if delta < 0 {
        let prune = tx
            .prepare_cached(
                "DELETE FROM category_counts WHERE category = ANY($1) AND articles <= 0",
            )
            .await?;
        tx.execute(&prune, &[&slugs(categories)]).await?;
    }
    Ok(())
}

async fn unfile_categories(tx: &Transaction<'_>, article: &Article) -> Result<(), StoreError> {
    let delete = tx.prepare_cached(UNFILE).await?;
    tx.execute(&delete, &[&article.id.as_str()]).await?;
    adjust_counts(tx, &article.categories, -1).await
}

async fn change_at(client: &impl GenericClient, seq: i64) -> Result<Change, StoreError> {
    let row = client
        .query_one("SELECT at_ns FROM changes WHERE seq = $1", &[&seq])
        .await?;
    Ok(Change {
        seq: seq as u64,
        at: from_nanos(row.get(0)),
    })
}

fn category_from(slug: &str) -> Result<Category, StoreError> {
    Category::parse(slug).map_err(StoreError::Corrupt)
}

#[async_trait]
impl Store for PostgresStore {
    async fn put(&self, article: Article) -> Result<WriteOutcome, StoreError> {
        with_conn!(self, client, {
            let tx = client.transaction().await?;
            self.lock_writes(&tx).await?;
            let outcome = batch::put_all(&tx, std::slice::from_ref(&article)).await?;
            tx.commit().await?;
            Ok(outcome[0])
        })
    }

    async fn put_many(&self, articles: Vec<Article>) -> Result<ImportCounts, StoreError> {
        with_conn!(self, client, {
            let tx = client.transaction().await?;
            self.lock_writes(&tx).await?;
            let mut counts = ImportCounts::default();
            for outcome in batch::put_all(&tx, &articles).await? {
                counts.add(outcome);
            }
            tx.commit().await?;
            Ok(counts)
        })
    }

    async fn kill(&self, id: &ArticleId) -> Result<Option<Killed>, StoreError> {
        with_conn!(self, client, {
            let tx = client.transaction().await?;
            self.lock_writes(&tx).await?;
            let row = tx
                .query_opt(
                    "SELECT body FROM articles WHERE id = $1 AND killed_seq IS NULL",
                    &[&id.as_str()],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            let article = parse_body(row.get(0))?;
            let touched: Vec<&Category> = article.categories.iter().collect();
            let killed = record_change(&tx, id, "kill", &touched).await?;
            unfile_categories(&tx, &article).await?;
            tx.execute(
                "INSERT INTO tombstones (category, killed_ns, article_id)
             SELECT unnest($1::text[]), $2::bigint, $3::text ON CONFLICT DO NOTHING",
                &[&slugs(&article.categories), &nanos(killed.at), &id.as_str()],
            )
            .await?;
            tx.execute(
                "UPDATE articles SET killed_seq = $2, seq = $2 WHERE id = $1",
                &[&id.as_str(), &(killed.seq as i64)],
            )
            .await?;
            tx.commit().await?;
            Ok(Some(Killed { article, killed }))
        })
    }

    async fn get(&self, id: &ArticleId) -> Result<Lookup, StoreError> {
        with_conn!(self, client, {
            let select = client
                .prepare_cached("SELECT body, killed_seq FROM articles WHERE id = $1")
                .await?;
            let Some(row) = client.query_opt(&select, &[&id.as_str()]).await? else {
                return Ok(Lookup::Missing);
            };
            let article = parse_body(row.get(0))?;
            Ok(match row.get::<_, Option<i64>>(1) {
                None => Lookup::Live(article),
                Some(seq) => Lookup::Killed(Killed {
                    article,
                    killed: change_at(&**client, seq).await?,
                }),
            })
        })
    }

    async fn latest(
        &self,
        selection: &Selection,
        limit: usize,
    ) -> Result<Vec<Article>, StoreError> {
        with_conn!(self, client, {
            let limit = limit as i64;
            // First which stories, at which versions: from the indexes alone.
            let rows = match selection {
                Selection::All => {
                    let stmt = client
                        .prepare_cached(
                            "SELECT published_ns, id, seq FROM articles WHERE killed_seq IS NULL
                         ORDER BY published_ns DESC, id DESC LIMIT $1",
                        )
                        .await?;
                    client.query(&stmt, &[&limit]).await?
                }
                // Each category's newest N down its own index, then merged: the newest N of the
                // union lies within the union of each category's newest N.
                Selection::Categories(categories) => {
                    let stmt = client
                        .prepare_cached(
                            "SELECT DISTINCT ON (c.published_ns, c.article_id)
                                c.published_ns, c.article_id, c.seq
                         FROM unnest($1::text[]) AS s(category)
                         CROSS JOIN LATERAL (
                             SELECT published_ns, article_id, seq FROM article_categories
                             WHERE category = s.category
                             ORDER BY published_ns DESC, article_id DESC LIMIT $2
                         ) c
                         ORDER BY c.published_ns DESC, c.article_id DESC LIMIT $2",
                        )
                        .await?;
                    client.query(&stmt, &[&slugs(categories), &limit]).await?
                }
            };
            let wanted: Vec<(String, i64)> = rows.iter().map(|r| (r.get(1), r.get(2))).collect();
            // Then only the stories not already held at that version.
            let mut found: std::collections::HashMap<&str, Arc<Article>> =
                std::collections::HashMap::with_capacity(wanted.len());
            let mut missing: Vec<&str> = Vec::new();
            for (id, seq) in &wanted {
                match self.articles.get(id) {
                    Some((held, article)) if held == *seq => {
                        found.insert(id.as_str(), article);
                    }
                    _ => missing.push(id.as_str()),
                }
            }
            if !missing.is_empty() {
                let stmt = client
                    .prepare_cached("SELECT id, seq, body FROM articles WHERE id = ANY($1)")
                    .await?;
                for row in client.query(&stmt, &[&missing]).await? {
                    let id: &str = row.get(0);
                    let article = Arc::new(parse_body(row.get(2))?);
                    self.articles
                        .insert(id.to_owned(), (row.get(1), Arc::clone(&article)));
                    if let Some(key) = missing.iter().find(|m| **m == id) {
                        found.insert(key, article);
                    }
                }
            }
            wanted
                .iter()
                .map(|(id, _)| {
                    found
                        .get(id.as_str())
                        .map(|article| Article::clone(article))
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("story {id} is filed but missing"))
                        })
                })
                .collect()
        })
    }

    async fn window(
        &self,
        selection: &Selection,
        window: &Window,
    ) -> Result<Vec<Article>, StoreError> {
        let query = window::select(window::Dialect::Postgres, selection, window);
        with_conn!(self, client, {
            let stmt = client.prepare_cached(&query.sql).await?;
            let rows = client.query(&stmt, &pg_args(&query.args)).await?;
            rows.iter().map(|r| parse_body(r.get(0))).collect()
        })
    }

    async fn count(&self, selection: &Selection) -> Result<u64, StoreError> {
        let query = window::count(window::Dialect::Postgres, selection);
        with_conn!(self, client, {
            let row = client.query_one(&query.sql, &pg_args(&query.args)).await?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    async fn categories(&self) -> Result<Vec<CategoryCount>, StoreError> {
        with_conn!(self, client, {
            let rows = client
                .query(
                    "SELECT category, articles FROM category_counts ORDER BY category",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(CategoryCount {
                        category: category_from(r.get(0))?,
                        articles: r.get::<_, i64>(1) as u64,
                    })
                })
                .collect()
        })
    }

    async fn last_change(&self) -> Result<Option<Change>, StoreError> {
        with_conn!(self, client, {
            let row = client
                .query_opt(
                    "SELECT seq, at_ns FROM changes ORDER BY seq DESC LIMIT 1",
                    &[],
                )
                .await?;
            Ok(row.map(|r| Change {
                seq: r.get::<_, i64>(0) as u64,
                at: from_nanos(r.get(1)),
            }))
        })
    }

    async fn last_change_in(&self, selection: &Selection) -> Result<Option<Change>, StoreError> {
        let Selection::Categories(categories) = selection else {
            return self.last_change().await;
        };
        with_conn!(self, client, {
            let stmt = client
                .prepare_cached(
                    "SELECT c.seq, c.at_ns FROM changes c
                 WHERE c.seq = (SELECT MAX(m.seq) FROM unnest($1::text[]) AS s(category)
                     CROSS JOIN LATERAL (SELECT MAX(seq) AS seq FROM change_categories
                                         WHERE category = s.category) m)",
                )
                .await?;
            let row = client.query_opt(&stmt, &[&slugs(categories)]).await?;
            Ok(row.map(|r| Change {
                seq: r.get::<_, i64>(0) as u64,
                at: from_nanos(r.get(1)),
            }))
        })
    }

    async fn tombstones(
        &self,
        selection: &Selection,
        since: DateTime<Utc>,
        published: Option<(DateTime<Utc>, DateTime<Utc>)>,
        limit: usize,
    ) -> Result<Vec<Tombstone>, StoreError> {
        let categories: Option<Vec<&str>> = match selection {
            Selection::All => None,
            Selection::Categories(list) => Some(slugs(list)),
        };
        let (from, until) = published.map_or((i64::MIN, i64::MAX), |(f, u)| (nanos(f), nanos(u)));
        with_conn!(self, client, {
            let stmt = client
                .prepare_cached(
                    "SELECT t.killed_ns, t.article_id, a.body FROM (
                         SELECT MAX(killed_ns) AS killed_ns, article_id FROM tombstones
                         WHERE ($1::text[] IS NULL OR category = ANY($1)) AND killed_ns >= $2
                         GROUP BY article_id
                     ) t
                     JOIN articles a ON a.id = t.article_id AND a.killed_seq IS NOT NULL
                     WHERE a.published_ns >= $3 AND a.published_ns < $4
                     ORDER BY t.killed_ns DESC, t.article_id DESC LIMIT $5",
                )
                .await?;
            let rows = client
                .query(
                    &stmt,
                    &[&categories, &nanos(since), &from, &until, &(limit as i64)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(Tombstone {
                        id: ArticleId::parse(r.get(1)).map_err(StoreError::Corrupt)?,
                        killed_at: from_nanos(r.get(0)),
                        article: parse_body(r.get(2))?,
                    })
                })
                .collect()
        })
    }

    async fn changes_since(&self, seq: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        with_conn!(self, client, {
            let stmt = client
            .prepare_cached(
                "SELECT c.seq, c.at_ns, cc.category FROM changes c
                 LEFT JOIN change_categories cc ON cc.seq = c.seq
                 WHERE c.seq > $1 AND c.seq IN (SELECT seq FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2)
                 ORDER BY c.seq, cc.category",
            )
            .await?;
            let rows = client
                .query(&stmt, &[&(seq as i64), &(limit as i64)])
                .await?;
            let mut out: Vec<ChangeRecord> = Vec::new();
            for row in rows {
                let seq = row.get::<_, i64>(0) as u64;
                if out.last().is_none_or(|last| last.change.seq != seq) {
                    out.push(ChangeRecord {
                        change: Change {
                            seq,
                            at: from_nanos(row.get(1)),
                        },
                        categories: Vec::new(),
                    });
                }
                if let Some(slug) = row.get::<_, Option<&str>>(2) {
                    out.last_mut()
                        .expect("pushed above")
                        .categories
                        .push(category_from(slug)?);
                }
            }
            Ok(out)
        })
    }

    async fn subscribe(&self, subscription: &Subscription) -> Result<(), StoreError> {
        with_conn!(self, client, {
            hub::subscribe(&**client, subscription).await
        })
    }

    async fn unsubscribe(&self, topic: &str, callback: &str) -> Result<bool, StoreError> {
        with_conn!(self, client, {
            hub::unsubscribe(&**client, topic, callback).await
        })
    }

    async fn subscribers(
        &self,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError> {
        with_conn!(self, client, {
            hub::subscribers(&**client, topic, now).await
        })
    }

    async fn subscribed_topics(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        with_conn!(self, client, {
            hub::subscribed_topics(&**client, now).await
        })
    }

    async fn subscriptions_on_host(
        &self,
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        with_conn!(self, client, { hub::on_host(&**client, host, now).await })
    }

    async fn expire_subscriptions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        with_conn!(self, client, { hub::expire(&**client, now).await })
    }

    async fn claim_change(&self, seq: u64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        with_conn!(self, client, { hub::claim(&**client, seq, now).await })
    }

    async fn merge_audience(
        &self,
        day: chrono::NaiveDate,
        feed: &str,
        merge: AudienceMerge,
    ) -> Result<(), StoreError> {
        with_conn!(self, client, {
            audience::merge(client, &day.to_string(), feed, merge).await
        })
    }

    async fn audience(
        &self,
        since: chrono::NaiveDate,
    ) -> Result<Vec<(chrono::NaiveDate, String, AudienceRow)>, StoreError> {
        with_conn!(self, client, {
            audience::days(&**client, &since.to_string()).await
        })
    }

    async fn add_traffic(&self, rows: Vec<TrafficRow>) -> Result<(), StoreError> {
        with_conn!(self, client, {
            audience::add_traffic(&**client, &rows).await
        })
    }

    async fn traffic(&self, since: DateTime<Utc>) -> Result<Vec<TrafficRow>, StoreError> {
        with_conn!(self, client, {
            audience::traffic(&**client, since.timestamp()).await
        })
    }

    async fn forget_audience(&self, day: chrono::NaiveDate) -> Result<(), StoreError> {
        with_conn!(self, client, { audience::forget(&**client, day).await })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
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
        let listener = tokio::spawn(crate::store::listen::listen(
            config,
            schema.name.clone(),
            Arc::clone(&wake),
            Arc::clone(&health),
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
        listener.abort();
    }
}
