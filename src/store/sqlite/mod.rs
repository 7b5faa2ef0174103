//! The embedded store: one SQLite file in WAL mode, the default that needs no set-up.
//!
//! One writer connection (SQLite allows one writer at a time anyway) and a small pool of reader
//! connections, all used from tokio's blocking pool so no async task ever waits on disk. The
//! schema is created and migrated by [`migrate`] from the numbered steps in [`MIGRATIONS`],
//! tracked in `PRAGMA user_version`. `synchronous=FULL` makes a commit durable before `put`
//! returns, so an acknowledged story survives a crash of the process or of the machine.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

mod audience;
mod hub;

use super::{
    AudienceMerge, AudienceRow, CategoryCount, ImportCounts, Killed, Lookup, Store, StoreError,
    Subscription, TrafficRow, Window, WriteOutcome, from_nanos, nanos, parse_body, window,
};
use crate::model::{Article, ArticleId, Category, Change, ChangeRecord, Selection, Tombstone};

/// The schema, one step per version. Never edit a step that has shipped: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: articles, their categories, and the change sequence.
    r#"
    CREATE TABLE articles (
        id           TEXT PRIMARY KEY,
        body         TEXT NOT NULL,      -- the article JSON, exactly as accepted
        published_ns INTEGER NOT NULL,   -- UTC nanoseconds since 1970, for ordering
        seq          INTEGER NOT NULL,   -- change that wrote this version
        killed_seq   INTEGER             -- set while the story is killed
    );
    CREATE INDEX articles_live_by_published ON articles (published_ns DESC, id DESC)
        WHERE killed_seq IS NULL;

    -- Live stories only: newest N of category C is a walk down this primary key.
    CREATE TABLE article_categories (
        category     TEXT NOT NULL,
        published_ns INTEGER NOT NULL,
        article_id   TEXT NOT NULL,
        PRIMARY KEY (category, published_ns, article_id)
    ) WITHOUT ROWID;
    CREATE INDEX article_categories_by_article ON article_categories (article_id);

    CREATE TABLE category_counts (
        category TEXT PRIMARY KEY,
        articles INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE changes (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        article_id TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('create', 'update', 'kill')),
        at_ns      INTEGER NOT NULL
    );
    CREATE TABLE change_categories (
        category TEXT NOT NULL,
        seq      INTEGER NOT NULL,
        PRIMARY KEY (category, seq)
    ) WITHOUT ROWID;
    "#,
    // 2: tombstones of killed stories per category, newest first, for RFC 6721 deleted-entry.
    r#"
    CREATE TABLE tombstones (
        category   TEXT NOT NULL,
        killed_ns  INTEGER NOT NULL,
        article_id TEXT NOT NULL,
        PRIMARY KEY (category, killed_ns, article_id)
    ) WITHOUT ROWID;
    CREATE INDEX tombstones_by_article ON tombstones (article_id);
    "#,
    // 3: WebSub subscriptions, which replica pushes each change, readers per feed per day.
    r#"
    CREATE TABLE websub_subscriptions (
        topic         TEXT NOT NULL,
        callback      TEXT NOT NULL,
        callback_host TEXT NOT NULL,
        secret        TEXT,
        lease_seconds INTEGER NOT NULL,
        expires_ns    INTEGER NOT NULL,
        PRIMARY KEY (topic, callback)
    ) WITHOUT ROWID;
    CREATE INDEX websub_subscriptions_by_host ON websub_subscriptions (callback_host);
    CREATE INDEX websub_subscriptions_by_expiry ON websub_subscriptions (expires_ns);
    CREATE TABLE websub_claims (
        seq        INTEGER PRIMARY KEY,
        claimed_ns INTEGER NOT NULL
    );

    -- Readers per feed per UTC day (YYYY-MM-DD).
    CREATE TABLE audience (
        day     TEXT NOT NULL,
        feed    TEXT NOT NULL,
        clients TEXT NOT NULL,
        agents  TEXT NOT NULL,
        PRIMARY KEY (day, feed)
    );

    -- Feed polls per UTC hour (Unix seconds at its start).
    CREATE TABLE traffic (
        hour         INTEGER NOT NULL,
        feed         TEXT NOT NULL,
        polls        INTEGER NOT NULL,
        not_modified INTEGER NOT NULL,
        bytes_sent   INTEGER NOT NULL,
        bytes_saved  INTEGER NOT NULL,
        PRIMARY KEY (hour, feed)
    ) WITHOUT ROWID;
    "#,
];

impl rusqlite::ToSql for window::Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            window::Arg::Int(n) => n.to_sql(),
            window::Arg::Text(t) => t.to_sql(),
        }
    }
}

/// Reader connections kept open between queries.
const READER_POOL: usize = 4;

pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// How long a statement waits for another writer's lock (SQLite's busy timeout).
    busy: std::time::Duration,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, crate::store::DEFAULT_DEADLINE)
    }

    /// Like [`SqliteStore::open`], with a deadline: a statement waiting for another writer's
    /// lock gives up (SQLITE_BUSY) after most of it, before the caller's deadline runs out.
    pub fn open_with(path: &Path, deadline: std::time::Duration) -> Result<Self, StoreError> {
        let busy = deadline * 4 / 5;
        let mut writer = open_connection(path, busy)?;
        migrate(&mut writer)?;
        Ok(Self {
            inner: Arc::new(Inner {
                busy,
                path: path.to_owned(),
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    async fn read<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            let pooled = inner.readers.lock().map_err(poisoned)?.pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_connection(&inner.path, inner.busy)?,
            };
            let result = job(&conn);
            let mut pool = inner.readers.lock().map_err(poisoned)?;
            if pool.len() < READER_POOL {
                pool.push(conn);
            }
            result
        })
        .await
    }

    async fn write<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            let mut conn = inner.writer.lock().map_err(poisoned)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let result = job(&tx)?;
            tx.commit()?;
            Ok(result)
        })
        .await
    }
}

async fn run_blocking<T, F>(job: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?
}

fn poisoned<T>(e: std::sync::PoisonError<T>) -> StoreError {
    StoreError::Worker(e.to_string())
}

fn open_connection(path: &Path, busy: std::time::Duration) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|source| StoreError::Open {
        path: path.display().to_string(),
        source,
    })?;
    conn.busy_timeout(busy)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Applies every migration step the file has not seen yet, each in its own transaction.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", step as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = step + 1, "migrated the SQLite store");
    }
    Ok(())
}

/// Appends one entry to the change sequence, recorded against every category it touched.
/// The recorded time never goes backwards, even if the wall clock does.
fn record_change(
    tx: &Transaction<'_>,
    id: &ArticleId,
    kind: &str,
    touched: &[&Category],
) -> Result<Change, StoreError> {
    let previous: Option<i64> = tx
        .query_row(
            "SELECT at_ns FROM changes ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let at_ns = nanos(Utc::now()).max(previous.unwrap_or(0));
    tx.execute(
        "INSERT INTO changes (article_id, kind, at_ns) VALUES (?1, ?2, ?3)",
        params![id.as_str(), kind, at_ns],
    )?;
    let seq = tx.last_insert_rowid();
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO change_categories (category, seq) VALUES (?1, ?2)",
    )?;
    for category in touched {
        insert.execute(params![category.as_str(), seq])?;
    }
    Ok(Change {
        seq: seq as u64,
        at: from_nanos(at_ns),
    })
}

fn adjust_counts(
    tx: &Transaction<'_>,
    categories: &[Category],
    delta: i64,
) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO category_counts (category, articles) VALUES (?1, ?2)
         ON CONFLICT (category) DO UPDATE SET articles = articles + excluded.articles",
    )?;
    for category in categories {
        upsert.execute(params![category.as_str(), delta])?;
    }
    tx.execute("DELETE FROM category_counts WHERE articles <= 0", [])?;
    Ok(())
}

fn file_categories(tx: &Transaction<'_>, article: &Article) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO article_categories (category, published_ns, article_id) VALUES (?1, ?2, ?3)",
    )?;
    for category in &article.categories {
        insert.execute(params![
            category.as_str(),
            nanos(article.published),
            article.id.as_str()
        ])?;
    }
    adjust_counts(tx, &article.categories, 1)
}

fn unfile_categories(tx: &Transaction<'_>, article: &Article) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM article_categories WHERE article_id = ?1",
        params![article.id.as_str()],
    )?;
    adjust_counts(tx, &article.categories, -1)
}

/// The write behind both `put` and `put_many`.
fn put_in(tx: &Transaction<'_>, article: &Article) -> Result<WriteOutcome, StoreError> {
    let body = article.to_json();
    let existing: Option<(String, Option<i64>)> = tx
        .query_row(
            "SELECT body, killed_seq FROM articles WHERE id = ?1",
            params![article.id.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let previous = match &existing {
        Some((old_body, None)) if *old_body == body => return Ok(WriteOutcome::Unchanged),
        Some((old_body, killed)) => Some((parse_body(old_body)?, killed.is_some())),
        None => None,
    };

    let mut touched: Vec<&Category> = article.categories.iter().collect();
    if let Some((old, _)) = &previous {
        touched.extend(
            old.categories
                .iter()
                .filter(|c| !article.categories.contains(c)),
        );
    }
    let kind = if previous.is_some() {
        "update"
    } else {
        "create"
    };
    let change = record_change(tx, &article.id, kind, &touched)?;

    if let Some((old, was_killed)) = &previous {
        if !was_killed {
            unfile_categories(tx, old)?;
        }
    }
    tx.execute(
        "INSERT INTO articles (id, body, published_ns, seq, killed_seq) VALUES (?1, ?2, ?3, ?4, NULL)
         ON CONFLICT (id) DO UPDATE SET body = excluded.body, published_ns = excluded.published_ns,
             seq = excluded.seq, killed_seq = NULL",
        params![article.id.as_str(), body, nanos(article.published), change.seq as i64],
    )?;
    file_categories(tx, article)?;
    tx.execute(
        "DELETE FROM tombstones WHERE article_id = ?1",
        params![article.id.as_str()],
    )?;
    Ok(match previous {
        Some(_) => WriteOutcome::Updated(change),
        None => WriteOutcome::Created(change),
    })
}

fn change_at(conn: &Connection, seq: i64) -> Result<Change, StoreError> {
    let at_ns: i64 = conn.query_row(
        "SELECT at_ns FROM changes WHERE seq = ?1",
        params![seq],
        |r| r.get(0),
    )?;
    Ok(Change {
        seq: seq as u64,
        at: from_nanos(at_ns),
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn put(&self, article: Article) -> Result<WriteOutcome, StoreError> {
        self.write(move |tx| put_in(tx, &article)).await
    }

    async fn put_many(&self, articles: Vec<Article>) -> Result<ImportCounts, StoreError> {
        self.write(move |tx| {
            let mut counts = ImportCounts::default();
            for article in &articles {
                counts.add(put_in(tx, article)?);
            }
            Ok(counts)
        })
        .await
    }

    async fn kill(&self, id: &ArticleId) -> Result<Option<Killed>, StoreError> {
        let id = id.clone();
        self.write(move |tx| {
            let body: Option<String> = tx
                .query_row(
                    "SELECT body FROM articles WHERE id = ?1 AND killed_seq IS NULL",
                    params![id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(body) = body else { return Ok(None) };
            let article = parse_body(&body)?;
            let touched: Vec<&Category> = article.categories.iter().collect();
            let killed = record_change(tx, &id, "kill", &touched)?;
            unfile_categories(tx, &article)?;
            let mut bury = tx.prepare_cached(
                "INSERT OR REPLACE INTO tombstones (category, killed_ns, article_id) VALUES (?1, ?2, ?3)",
            )?;
            for category in &article.categories {
                bury.execute(params![category.as_str(), nanos(killed.at), id.as_str()])?;
            }
            tx.execute(
                "UPDATE articles SET killed_seq = ?2, seq = ?2 WHERE id = ?1",
                params![id.as_str(), killed.seq as i64],
            )?;
            Ok(Some(Killed { article, killed }))
        })
        .await
    }

    async fn get(&self, id: &ArticleId) -> Result<Lookup, StoreError> {
        let id = id.clone();
        self.read(move |conn| {
            let row: Option<(String, Option<i64>)> = conn
                .query_row(
                    "SELECT body, killed_seq FROM articles WHERE id = ?1",
                    params![id.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(match row {
                None => Lookup::Missing,
                Some((body, None)) => Lookup::Live(parse_body(&body)?),
                Some((body, Some(seq))) => Lookup::Killed(Killed {
                    article: parse_body(&body)?,
                    killed: change_at(conn, seq)?,
                }),
            })
        })
        .await
    }

    async fn latest(
        &self,
        selection: &Selection,
        limit: usize,
    ) -> Result<Vec<Article>, StoreError> {
        let selection = selection.clone();
        self.read(move |conn| {
            let limit = limit as i64;
            let mut rows: Vec<(i64, String, String)> = Vec::new();
            match &selection {
                Selection::All => {
                    let mut stmt = conn.prepare_cached(
                        "SELECT published_ns, id, body FROM articles WHERE killed_seq IS NULL
                         ORDER BY published_ns DESC, id DESC LIMIT ?1",
                    )?;
                    for row in
                        stmt.query_map(params![limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    {
                        rows.push(row?);
                    }
                }
                // The newest N of a union lies within the union of each category's newest N,
                // so each category is read down its own index and the lists are merged here.
                Selection::Categories(categories) => {
                    let mut stmt = conn.prepare_cached(
                        "SELECT c.published_ns, c.article_id, a.body
                         FROM article_categories c JOIN articles a ON a.id = c.article_id
                         WHERE c.category = ?1
                         ORDER BY c.published_ns DESC, c.article_id DESC LIMIT ?2",
                    )?;
                    for category in categories {
                        for row in stmt.query_map(params![category.as_str(), limit], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })? {
                            rows.push(row?);
                        }
                    }
                    rows.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
                    rows.dedup_by(|a, b| a.1 == b.1);
                    rows.truncate(limit as usize);
                }
            }
            rows.iter().map(|(_, _, body)| parse_body(body)).collect()
        })
        .await
    }

    async fn window(
        &self,
        selection: &Selection,
        window: &Window,
    ) -> Result<Vec<Article>, StoreError> {
        let query = window::select(window::Dialect::Sqlite, selection, window);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&query.sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(query.args.iter()), |r| {
                r.get::<_, String>(0)
            })?;
            rows.map(|body| parse_body(&body?)).collect()
        })
        .await
    }

    async fn count(&self, selection: &Selection) -> Result<u64, StoreError> {
        let query = window::count(window::Dialect::Sqlite, selection);
        self.read(move |conn| {
            let n: i64 = conn
                .prepare_cached(&query.sql)?
                .query_row(rusqlite::params_from_iter(query.args.iter()), |r| r.get(0))?;
            Ok(n as u64)
        })
        .await
    }

    async fn categories(&self) -> Result<Vec<CategoryCount>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT category, articles FROM category_counts ORDER BY category",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (slug, articles) = row?;
                let category = Category::parse(&slug).map_err(StoreError::Corrupt)?;
                out.push(CategoryCount {
                    category,
                    articles: articles as u64,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn last_change(&self) -> Result<Option<Change>, StoreError> {
        self.read(|conn| {
            let seq: Option<i64> =
                conn.query_row("SELECT MAX(seq) FROM changes", [], |r| r.get(0))?;
            seq.map(|seq| change_at(conn, seq)).transpose()
        })
        .await
    }

    async fn last_change_in(&self, selection: &Selection) -> Result<Option<Change>, StoreError> {
        let Selection::Categories(categories) = selection.clone() else {
            return self.last_change().await;
        };
        self.read(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT MAX(seq) FROM change_categories WHERE category = ?1")?;
            let mut newest: Option<i64> = None;
            for category in &categories {
                let seq: Option<i64> = stmt.query_row(params![category.as_str()], |r| r.get(0))?;
                newest = newest.max(seq);
            }
            newest.map(|seq| change_at(conn, seq)).transpose()
        })
        .await
    }

    async fn tombstones(
        &self,
        selection: &Selection,
        since: DateTime<Utc>,
        published: Option<(DateTime<Utc>, DateTime<Utc>)>,
        limit: usize,
    ) -> Result<Vec<Tombstone>, StoreError> {
        let categories = match selection {
            Selection::All => None,
            Selection::Categories(list) => Some(list.clone()),
        };
        let (from, until) = published.map_or((i64::MIN, i64::MAX), |(f, u)| (nanos(f), nanos(u)));
        self.read(move |conn| {
            let mut rows: Vec<(i64, String, String)> = Vec::new();
            let mut stmt = conn.prepare_cached(
                "SELECT t.killed_ns, t.article_id, a.body FROM tombstones t
                 JOIN articles a ON a.id = t.article_id AND a.killed_seq IS NOT NULL
                 WHERE (?1 IS NULL OR t.category = ?1) AND t.killed_ns >= ?2
                   AND a.published_ns >= ?3 AND a.published_ns < ?4
                 ORDER BY t.killed_ns DESC, t.article_id DESC LIMIT ?5",
            )?;
            let slugs: Vec<Option<String>> = match &categories {
                None => vec![None],
                Some(list) => list.iter().map(|c| Some(c.as_str().to_owned())).collect(),
            };
            for slug in slugs {
                for row in stmt.query_map(
                    params![slug, nanos(since), from, until, limit as i64],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )? {
                    rows.push(row?);
                }
            }
            rows.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
            rows.dedup_by(|a, b| a.1 == b.1);
            rows.truncate(limit);
            rows.into_iter()
                .map(|(ns, id, body)| {
                    Ok(Tombstone {
                        id: ArticleId::parse(&id).map_err(StoreError::Corrupt)?,
                        killed_at: from_nanos(ns),
                        article: parse_body(&body)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn changes_since(&self, seq: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT c.seq, c.at_ns, cc.category FROM changes c
                 LEFT JOIN change_categories cc ON cc.seq = c.seq
                 WHERE c.seq IN (SELECT seq FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2)
                 ORDER BY c.seq, cc.category",
            )?;
            let rows = stmt.query_map(params![seq as i64, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })?;
            let mut out: Vec<ChangeRecord> = Vec::new();
            for row in rows {
                let (seq, at_ns, category) = row?;
                if out.last().is_none_or(|last| last.change.seq != seq as u64) {
                    out.push(ChangeRecord {
                        change: Change {
                            seq: seq as u64,
                            at: from_nanos(at_ns),
                        },
                        categories: Vec::new(),
                    });
                }
                if let Some(slug) = category {
                    let category = Category::parse(&slug).map_err(StoreError::Corrupt)?;
                    out.last_mut()
                        .expect("pushed above")
                        .categories
                        .push(category);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn subscribe(&self, subscription: &Subscription) -> Result<(), StoreError> {
        let subscription = subscription.clone();
        self.write(move |tx| hub::subscribe(tx, &subscription))
            .await
    }

    async fn unsubscribe(&self, topic: &str, callback: &str) -> Result<bool, StoreError> {
        let (topic, callback) = (topic.to_owned(), callback.to_owned());
        self.write(move |tx| hub::unsubscribe(tx, &topic, &callback))
            .await
    }

    async fn subscribers(
        &self,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError> {
        let topic = topic.to_owned();
        self.read(move |conn| hub::subscribers(conn, &topic, now))
            .await
    }

    async fn subscribed_topics(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.read(move |conn| hub::subscribed_topics(conn, now))
            .await
    }

    async fn subscriptions_on_host(
        &self,
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let host = host.to_owned();
        self.read(move |conn| hub::on_host(conn, &host, now)).await
    }

    async fn expire_subscriptions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.write(move |tx| hub::expire(tx, now)).await
    }

    async fn claim_change(&self, seq: u64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.write(move |tx| hub::claim(tx, seq, now)).await
    }

    async fn merge_audience(
        &self,
        day: chrono::NaiveDate,
        feed: &str,
        merge: AudienceMerge,
    ) -> Result<(), StoreError> {
        let (day, feed) = (day.to_string(), feed.to_owned());
        self.write(move |tx| audience::merge(tx, &day, &feed, merge))
            .await
    }

    async fn audience(
        &self,
        since: chrono::NaiveDate,
    ) -> Result<Vec<(chrono::NaiveDate, String, AudienceRow)>, StoreError> {
        let since = since.to_string();
        self.read(move |conn| audience::days(conn, &since)).await
    }

    async fn add_traffic(&self, rows: Vec<TrafficRow>) -> Result<(), StoreError> {
        self.write(move |tx| audience::add_traffic(tx, &rows)).await
    }

    async fn traffic(&self, since: DateTime<Utc>) -> Result<Vec<TrafficRow>, StoreError> {
        let since = since.timestamp();
        self.read(move |conn| audience::traffic(conn, since)).await
    }

    async fn forget_audience(&self, day: chrono::NaiveDate) -> Result<(), StoreError> {
        self.write(move |tx| audience::forget(tx, day)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ArticleDraft;

    fn story(id: &str) -> Article {
        ArticleDraft {
            id: Some(id.into()),
            title: Some(format!("Story {id}")),
            summary: Some("Summary.".into()),
            categories: vec!["world".into()],
            published: Some("2026-11-25T08:00:00Z".into()),
            ..ArticleDraft::default()
        }
        .validate()
        .unwrap()
    }

    #[tokio::test]
    async fn a_reopened_file_keeps_its_stories_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wire.sqlite3");
        SqliteStore::open(&path)
            .unwrap()
            .put(story("a"))
            .await
            .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.categories().await.unwrap()[0].articles, 1);
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[tokio::test]
    async fn a_file_from_a_newer_wirefeed_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wire.sqlite3");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::SchemaTooNew { found: 99, .. })
        ));
    }

    #[tokio::test]
    async fn a_full_disk_is_unavailable_and_the_store_works_again_once_there_is_room() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("wire.sqlite3")).unwrap();
        store.put(story("a")).await.unwrap();
        // The file may not grow: what SQLite reports when the disk is full.
        let set_room = |pages: Option<i64>| {
            let conn = store.inner.writer.lock().unwrap();
            let now: i64 = conn
                .pragma_query_value(None, "page_count", |r| r.get(0))
                .unwrap();
            conn.pragma_update(None, "max_page_count", pages.unwrap_or(now))
                .unwrap();
        };
        set_room(None);
        let mut big = story("b");
        big.content_html = Some(format!("<p>{}</p>", "x".repeat(64 * 1024)));
        let err = store.put(big.clone()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "SQLite error: database or disk is full",
            "SQLITE_FULL expected"
        );
        assert!(err.is_unavailable(), "disk full is transient: {err}");
        set_room(Some(1 << 30));
        store.put(big).await.unwrap();
        assert_eq!(store.categories().await.unwrap()[0].articles, 2);
    }
}
