//! The embedded store: one SQLite file in WAL mode, the default that needs no set-up.
//!
//! One writer connection (SQLite allows one writer at a time anyway) and a small pool of reader
//! connections, all used from tokio's blocking pool so no async task ever waits on disk. The
//! schema is created and migrated by [`schema::migrate`] from numbered steps, tracked in
//! `PRAGMA user_version`. `synchronous=FULL` makes a commit durable before `put` returns, so an
//! acknowledged story survives a crash of the process or of the machine.
//!
//! Every statement stays prepared (see [`open_connection`]), and every `LIMIT` or `OFFSET` is
//! bound as `+?N`: SQLite plans with a bare `?N`'s value there, so each new binding prepared
//! the statement again (a third of a feed build's store time).
//!
//! This file owns the connections; each concern's statements live beside it: `articles`
//! (stories and the change sequence), `hub` (WebSub), `audience` (reader figures), `schema`
//! (migrations) and `error` (what SQLite's errors mean).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};

mod articles;
mod audience;
mod error;
mod held;
mod hub;
mod schema;
mod usage;

use super::{StoreError, nanos};

/// Reader connections kept open between queries.
const READER_POOL: usize = 4;

pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// How long a statement waits for another writer's lock (SQLite's busy timeout).
    busy: std::time::Duration,
    /// Each call's deadline: a write that waited this long for the writer connection gives up
    /// without writing, as its caller already has.
    deadline: std::time::Duration,
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
        schema::migrate(&mut writer)?;
        Ok(Self {
            inner: Arc::new(Inner {
                busy,
                deadline,
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
        let asked = std::time::Instant::now();
        run_blocking(move || {
            let mut conn = inner.writer.lock().map_err(poisoned)?;
            // Queued behind a write that hung: the caller was answered at its deadline (a 5xx
            // that may or may not have written), so this write is not made any more.
            if asked.elapsed() >= inner.deadline {
                return Err(StoreError::Timeout(inner.deadline));
            }
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let head: Option<i64> = tx
                .prepare_cached("SELECT MAX(seq) FROM changes")?
                .query_row([], |r| r.get(0))?;
            let result = job(&tx)?;
            // The changes of a long write (a large import, a stalled disk) were stamped as
            // they were made: when the first is more than half a second old they are all
            // stamped again now, as it commits, so that none becomes visible long after its
            // time (which Last-Modified relies on; see `cache::rendered`).
            tx.prepare_cached(
                "UPDATE changes SET at_ns = MAX(at_ns, ?2) WHERE seq > ?1
                 AND (SELECT MIN(at_ns) FROM changes WHERE seq > ?1) < ?2 - 500000000",
            )?
            .execute(rusqlite::params![
                head.unwrap_or(0),
                nanos(chrono::Utc::now())
            ])?;
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

/// Prepared statements each connection keeps (see [`open_connection`]).
const STATEMENTS_KEPT: usize = 96;

fn open_connection(path: &Path, busy: std::time::Duration) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|source| StoreError::Open {
        path: path.display().to_string(),
        source: Box::new(source.into()),
    })?;
    conn.busy_timeout(busy)?;
    // Every statement the store runs (about fifty) stays prepared: rusqlite's default of 16
    // evicted the write path's statements between publishes, and parsing them again was ~7% of
    // a publish's CPU.
    conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::schema::MIGRATIONS;
    use super::*;
    use crate::model::{Article, ArticleDraft, Category, Selection};
    use crate::store::{ArticleStore, WriteOutcome};

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

    #[test]
    fn a_bound_limit_is_hidden_from_the_planner_so_statements_stay_prepared() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(
            &dir.path().join("t.sqlite3"),
            std::time::Duration::from_secs(1),
        )
        .unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
        let reprepares = |sql: &str| {
            let mut stmt = conn.prepare_cached(sql).unwrap();
            for limit in [5, 6, 7] {
                stmt.query(rusqlite::params![limit])
                    .unwrap()
                    .next()
                    .unwrap();
            }
            stmt.get_status(rusqlite::StatementStatus::RePrepare)
        };
        // What the bundled SQLite does (should it stop, the `+` can go)...
        assert!(reprepares("SELECT n FROM t ORDER BY n LIMIT ?1") > 0);
        assert_eq!(reprepares("SELECT n FROM t ORDER BY n LIMIT +?1"), 0);
        // ...and no statement of the store's binds a bare one.
        for source in [
            include_str!("articles.rs"),
            include_str!("held.rs"),
            include_str!("hub.rs"),
            include_str!("audience.rs"),
            include_str!("usage.rs"),
        ] {
            assert!(!source.contains(&["LIMIT", " ?"].concat()));
            assert!(!source.contains(&["OFFSET", " ?"].concat()));
        }
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

    /// A file written before urgency was kept gets it from each stored story's JSON.
    #[tokio::test]
    async fn the_urgency_step_fills_urgency_from_the_stored_stories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wire.sqlite3");
        let mut flash = story("flash");
        flash.urgency = Some(1);
        {
            let conn = Connection::open(&path).unwrap();
            for step in &MIGRATIONS[..3] {
                conn.execute_batch(step).unwrap();
            }
            conn.pragma_update(None, "user_version", 3).unwrap();
            conn.execute(
                "INSERT INTO articles (id, body, published_ns, seq) VALUES ('flash', ?1, 0, 1)",
                [flash.to_json()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO changes (article_id, kind, at_ns) VALUES ('flash', 'create', 0)",
                [],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let flashes = store.latest(&Selection::Urgent(2), 10).await.unwrap();
        assert_eq!(flashes, [flash]);
        // A change recorded before urgency was kept is of unknown urgency.
        assert_eq!(store.changes_since(0, 10).await.unwrap()[0].urgency, None);
    }

    /// The changes of a write that took long are stamped again as it commits; a quick one's
    /// keep their stamps.
    #[tokio::test]
    async fn a_long_write_is_stamped_as_it_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("wire.sqlite3")).unwrap();
        let now = nanos(chrono::Utc::now());
        for (id, at) in [
            ("late", now - 5_000_000_000),
            ("fresh", now + 60_000_000_000),
        ] {
            store
                .write(move |tx| {
                    tx.execute(
                        "INSERT INTO changes (article_id, kind, at_ns) VALUES (?1, 'create', ?2)",
                        rusqlite::params![id, at],
                    )?;
                    Ok(())
                })
                .await
                .unwrap();
        }
        let stamps: Vec<i64> = store
            .read(|conn| {
                let mut stmt = conn.prepare("SELECT at_ns FROM changes ORDER BY seq")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
            .unwrap();
        assert!(
            stamps[0] >= now && stamps[0] < now + 5_000_000_000,
            "{stamps:?}"
        );
        assert_eq!(stamps[1], now + 60_000_000_000, "{stamps:?}");
    }

    /// A story killed before a kill reached the feeds a correction had moved it out of gets
    /// its notice there, and its most urgent level back, when the file is opened.
    #[tokio::test]
    async fn the_filed_ever_step_gives_earlier_kills_their_notices() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wire.sqlite3");
        let store = SqliteStore::open(&path).unwrap();
        let mut first = story("moved");
        first.urgency = Some(1);
        store.put(first).await.unwrap();
        let mut moved = story("moved");
        moved.categories = vec![Category::parse("business").unwrap()];
        moved.urgency = Some(4);
        store.put(moved).await.unwrap();
        drop(store);
        {
            // The kill as it was written before: business alone, the last version's urgency.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "INSERT INTO changes (article_id, kind, at_ns, urgency) VALUES ('moved', 'kill', 5, 4);
                 INSERT INTO change_categories (category, seq) VALUES ('business', last_insert_rowid());
                 DELETE FROM article_categories WHERE article_id = 'moved';
                 UPDATE category_counts SET articles = 0;
                 INSERT INTO tombstones (category, killed_ns, article_id) VALUES ('business', 5, 'moved');
                 UPDATE articles SET killed_seq = 3, seq = 3, urgency = 4;
                 DROP INDEX changes_by_article;
                 DROP INDEX change_categories_by_seq;",
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 9).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let since = chrono::DateTime::UNIX_EPOCH;
        for selection in [
            Selection::Categories(vec![Category::parse("world").unwrap()]),
            Selection::Urgent(2),
        ] {
            let notices = store.tombstones(&selection, since, None, 10).await.unwrap();
            assert_eq!(notices.len(), 1, "{selection:?}");
            assert_eq!(notices[0].id.as_str(), "moved");
        }
    }

    #[tokio::test]
    async fn a_file_written_before_embargoes_keeps_its_change_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wire.sqlite3");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for step in &MIGRATIONS[..3] {
                tx.execute_batch(step).unwrap();
            }
            tx.pragma_update(None, "user_version", 3).unwrap();
            tx.execute_batch(
                "INSERT INTO changes (article_id, kind, at_ns) VALUES ('a', 'create', 1), ('b', 'create', 2), ('b', 'kill', 3);
                 DELETE FROM changes WHERE seq = 3;",
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let WriteOutcome::Created(change) = store.put(story("c")).await.unwrap() else {
            panic!("a new story")
        };
        assert_eq!(change.seq, 4, "numbers are never handed out twice");
        let kinds: Vec<String> = store
            .changes_since(0, 10)
            .await
            .unwrap()
            .iter()
            .map(|c| format!("{}:{}", c.change.seq, c.kind.as_str()))
            .collect();
        assert_eq!(kinds, ["1:create", "2:create", "4:create"]);
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
