//! Stories and the change sequence in the SQLite store: [`ArticleStore`] for [`SqliteStore`].
//! Every write runs in the one writer's transaction, so change numbers are handed out and
//! committed in order; reads use the reader pool.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::SqliteStore;
use super::held::due_by;
use crate::model::{
    Article, ArticleId, Category, Change, ChangeKind, ChangeRecord, Selection, Tombstone, UNRANKED,
    touched_urgency,
};
use crate::store::{
    ArticleStore, CategoryCount, Current, Due, Expected, ImportCounts, KillOutcome, Killed,
    StoreError, Window, WriteOutcome, from_nanos, nanos, parse_body, window,
};

impl rusqlite::ToSql for window::Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            window::Arg::Int(n) => n.to_sql(),
            window::Arg::Text(t) => t.to_sql(),
        }
    }
}

/// Appends one entry to the change sequence, recorded against every category it touched and
/// with the most urgent level of the versions it touched. The recorded time never goes
/// backwards, even if the wall clock does.
pub(super) fn record_change(
    tx: &Transaction<'_>,
    id: &ArticleId,
    kind: &str,
    touched: &[&Category],
    urgency: u8,
) -> Result<Change, StoreError> {
    let previous: Option<i64> = tx
        .prepare_cached("SELECT at_ns FROM changes ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let at_ns = nanos(Utc::now()).max(previous.unwrap_or(0));
    tx.prepare_cached(
        "INSERT INTO changes (article_id, kind, at_ns, urgency) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id.as_str(), kind, at_ns, urgency])?;
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
    // A category left with no live story keeps its row (see `ArticleStore::categories`).
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
    tx.prepare_cached("DELETE FROM article_categories WHERE article_id = ?1")?
        .execute(params![article.id.as_str()])?;
    adjust_counts(tx, &article.categories, -1)
}

/// The write behind `put_if`, `put_many` and a release: nothing is written over a killed story
/// or a story that is not as `expected`.
pub(super) fn put_in(
    tx: &Transaction<'_>,
    article: &Article,
    expected: Expected,
) -> Result<WriteOutcome, StoreError> {
    let body = article.to_json();
    let existing: Option<(String, i64, Option<i64>)> = tx
        .prepare_cached("SELECT body, seq, killed_seq FROM articles WHERE id = ?1")?
        .query_row(params![article.id.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    if existing
        .as_ref()
        .is_some_and(|(_, _, killed)| killed.is_some())
        || (existing.is_none() && dropped(tx, &article.id)?.is_some())
    {
        return Ok(WriteOutcome::Killed);
    }
    if !expected.holds(existing.as_ref().map(|(_, seq, _)| (*seq as u64, false))) {
        return Ok(WriteOutcome::Moved);
    }
    let previous = match &existing {
        Some((old_body, _, _)) if *old_body == body => return Ok(WriteOutcome::Unchanged),
        Some((old_body, _, _)) => Some(parse_body(old_body)?),
        None => None,
    };

    let mut touched: Vec<&Category> = article.categories.iter().collect();
    if let Some(old) = &previous {
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
    let urgency = touched_urgency(std::iter::once(article).chain(previous.as_ref()));
    let change = record_change(tx, &article.id, kind, &touched, urgency)?;

    if let Some(old) = &previous {
        unfile_categories(tx, old)?;
    }
    tx.prepare_cached(
        "INSERT INTO articles (id, body, published_ns, seq, killed_seq, urgency, expires_ns)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET body = excluded.body, published_ns = excluded.published_ns,
             seq = excluded.seq, killed_seq = NULL, urgency = excluded.urgency,
             expires_ns = excluded.expires_ns",
    )?
    .execute(params![
        article.id.as_str(),
        body,
        nanos(article.published),
        change.seq as i64,
        article.urgency,
        article.expires.map(nanos)
    ])?;
    file_categories(tx, article)?;
    Ok(match previous {
        Some(_) => WriteOutcome::Updated(change),
        None => WriteOutcome::Created(change),
    })
}

/// Every category a public version of `article` (the live one included) was filed in, and
/// the most urgent level any of them had: a kill reaches every feed that showed the story,
/// also one a correction since moved it out of (by category or by urgency).
fn filed_ever(conn: &Connection, article: &Article) -> Result<(Vec<Category>, u8), StoreError> {
    let mut filed = article.categories.clone();
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT cc.category FROM changes c JOIN change_categories cc ON cc.seq = c.seq
         WHERE c.article_id = ?1 AND c.kind IN ('create', 'update')",
    )?;
    for slug in stmt.query_map(params![article.id.as_str()], |r| r.get::<_, String>(0))? {
        let category = Category::parse(&slug?).map_err(StoreError::Corrupt)?;
        if !filed.contains(&category) {
            filed.push(category);
        }
    }
    let peak: Option<i64> = conn
        .prepare_cached(
            "SELECT MIN(urgency) FROM changes WHERE article_id = ?1 AND kind IN ('create', 'update')",
        )?
        .query_row(params![article.id.as_str()], |r| r.get(0))?;
    let urgency = touched_urgency([article]);
    let urgency = peak.map_or(urgency, |peak| urgency.min(peak.clamp(0, 255) as u8));
    Ok((filed, urgency))
}

/// A selection as the killed-story queries filter it: by category (none: any), by urgency.
fn filter(selection: &Selection) -> (Option<Vec<Category>>, Option<u8>) {
    match selection {
        Selection::All => (None, None),
        Selection::Categories(list) => (Some(list.clone()), None),
        Selection::Urgent(level) => (None, Some(*level)),
    }
}

/// A held story the desk dropped before its lift, and the change that dropped it.
fn dropped(conn: &Connection, id: &ArticleId) -> Result<Option<(String, i64)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT body, killed_seq FROM held WHERE id = ?1 AND killed_seq IS NOT NULL",
        )?
        .query_row(params![id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

fn change_at(conn: &Connection, seq: i64) -> Result<Change, StoreError> {
    let at_ns: i64 = conn
        .prepare_cached("SELECT at_ns FROM changes WHERE seq = ?1")?
        .query_row(params![seq], |r| r.get(0))?;
    Ok(Change {
        seq: seq as u64,
        at: from_nanos(at_ns),
    })
}

#[async_trait]
impl ArticleStore for SqliteStore {
    async fn put_if(
        &self,
        article: Article,
        expected: Expected,
    ) -> Result<WriteOutcome, StoreError> {
        self.write(move |tx| put_in(tx, &article, expected)).await
    }

    async fn put_many(&self, articles: Vec<Article>) -> Result<ImportCounts, StoreError> {
        self.write(move |tx| {
            let mut counts = ImportCounts::default();
            for article in &articles {
                counts.add(put_in(tx, article, Expected::Anything)?);
            }
            Ok(counts)
        })
        .await
    }

    async fn kill_if(&self, id: &ArticleId, expected: Expected) -> Result<KillOutcome, StoreError> {
        let id = id.clone();
        self.write(move |tx| {
            let row: Option<(String, i64, Option<i64>)> = tx
                .prepare_cached("SELECT body, seq, killed_seq FROM articles WHERE id = ?1")?
                .query_row(params![id.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let body = match row {
                None => return Ok(KillOutcome::Missing),
                Some((_, _, Some(_))) => return Ok(KillOutcome::AlreadyKilled),
                Some((_, seq, None)) if !expected.holds(Some((seq as u64, false))) => {
                    return Ok(KillOutcome::Moved);
                }
                Some((body, _, None)) => body,
            };
            let article = parse_body(&body)?;
            let (filed, urgency) = filed_ever(tx, &article)?;
            let touched: Vec<&Category> = filed.iter().collect();
            let killed = record_change(tx, &id, "kill", &touched, urgency)?;
            unfile_categories(tx, &article)?;
            let mut bury = tx.prepare_cached(
                "INSERT OR REPLACE INTO tombstones (category, killed_ns, article_id) VALUES (?1, ?2, ?3)",
            )?;
            for category in &filed {
                bury.execute(params![category.as_str(), nanos(killed.at), id.as_str()])?;
            }
            tx.prepare_cached(
                "UPDATE articles SET killed_seq = ?2, seq = ?2, urgency = ?3 WHERE id = ?1",
            )?
            .execute(params![
                id.as_str(),
                killed.seq as i64,
                (urgency < UNRANKED).then_some(urgency)
            ])?;
            Ok(KillOutcome::Killed(Box::new(Killed { article, killed })))
        })
        .await
    }

    async fn current(&self, id: &ArticleId) -> Result<Current, StoreError> {
        let id = id.clone();
        self.read(move |conn| {
            let row: Option<(String, i64, Option<i64>)> = conn
                .prepare_cached("SELECT body, seq, killed_seq FROM articles WHERE id = ?1")?
                .query_row(params![id.as_str()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            Ok(match row {
                None => match dropped(conn, &id)? {
                    None => Current::Missing,
                    Some((body, seq)) => Current::Dropped(Killed {
                        article: parse_body(&body)?,
                        killed: change_at(conn, seq)?,
                    }),
                },
                Some((body, seq, None)) => Current::Live {
                    article: parse_body(&body)?,
                    written: change_at(conn, seq)?,
                },
                Some((body, _, Some(seq))) => Current::Killed(Killed {
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
        if let Selection::Urgent(_) = selection {
            let newest = Window {
                limit,
                ..Window::default()
            };
            return self.window(selection, &newest).await;
        }
        let selection = selection.clone();
        self.read(move |conn| {
            let limit = limit as i64;
            let mut rows: Vec<(i64, String, String)> = Vec::new();
            match &selection {
                Selection::All => {
                    let mut stmt = conn.prepare_cached(
                        "SELECT published_ns, id, body FROM articles WHERE killed_seq IS NULL
                         ORDER BY published_ns DESC, id DESC LIMIT +?1",
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
                         ORDER BY c.published_ns DESC, c.article_id DESC LIMIT +?2",
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
                Selection::Urgent(_) => unreachable!("read as a window above"),
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
            let seq: Option<i64> = conn
                .prepare_cached("SELECT MAX(seq) FROM changes")?
                .query_row([], |r| r.get(0))?;
            seq.map(|seq| change_at(conn, seq)).transpose()
        })
        .await
    }

    async fn last_change_in(&self, selection: &Selection) -> Result<Option<Change>, StoreError> {
        if let Selection::Urgent(level) = *selection {
            // One probe down the (urgency, seq) index per level, and one for changes of
            // unknown urgency.
            return self
                .read(move |conn| {
                    let mut stmt =
                        conn.prepare_cached("SELECT MAX(seq) FROM changes WHERE urgency IS ?1")?;
                    let mut newest: Option<i64> = None;
                    for urgency in std::iter::once(None).chain((1..=level).map(Some)) {
                        let seq: Option<i64> = stmt.query_row(params![urgency], |r| r.get(0))?;
                        newest = newest.max(seq);
                    }
                    newest.map(|seq| change_at(conn, seq)).transpose()
                })
                .await;
        }
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
        let (categories, urgency) = filter(selection);
        let (from, until) = published.map_or((i64::MIN, i64::MAX), |(f, u)| (nanos(f), nanos(u)));
        self.read(move |conn| {
            let mut rows: Vec<(i64, String, String)> = Vec::new();
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT t.killed_ns, t.article_id, a.body FROM tombstones t
                 JOIN articles a ON a.id = t.article_id AND a.killed_seq IS NOT NULL
                 WHERE (?1 IS NULL OR t.category = ?1) AND t.killed_ns >= ?2
                   AND a.published_ns >= ?3 AND a.published_ns < ?4
                   AND (?6 IS NULL OR a.urgency <= ?6)
                 ORDER BY t.killed_ns DESC, t.article_id DESC LIMIT +?5",
            )?;
            let slugs: Vec<Option<String>> = match &categories {
                None => vec![None],
                Some(list) => list.iter().map(|c| Some(c.as_str().to_owned())).collect(),
            };
            for slug in slugs {
                for row in stmt.query_map(
                    params![slug, nanos(since), from, until, limit as i64, urgency],
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

    async fn killed_published(
        &self,
        selection: &Selection,
        published: (DateTime<Utc>, DateTime<Utc>),
        newest: bool,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (categories, urgency) = filter(selection);
        let (from, until) = (nanos(published.0), nanos(published.1));
        self.read(move |conn| {
            // A walk down `articles_killed_by_published` from the newest (or oldest) end.
            macro_rules! walk {
                ($order:literal) => {
                    concat!(
                        "SELECT a.published_ns FROM articles a
                         WHERE a.killed_seq IS NOT NULL AND a.published_ns >= ?2
                           AND a.published_ns < ?3 AND (?4 IS NULL OR a.urgency <= ?4)
                           AND EXISTS (SELECT 1 FROM tombstones t WHERE t.article_id = a.id
                                       AND (?1 IS NULL OR t.category = ?1))
                         ORDER BY a.published_ns ",
                        $order,
                        " LIMIT 1"
                    )
                };
            }
            let sql = if newest { walk!("DESC") } else { walk!("ASC") };
            let mut stmt = conn.prepare_cached(sql)?;
            let slugs: Vec<Option<String>> = match &categories {
                None => vec![None],
                Some(list) => list.iter().map(|c| Some(c.as_str().to_owned())).collect(),
            };
            let mut found: Option<i64> = None;
            for slug in slugs {
                let ns: Option<i64> = stmt
                    .query_row(params![slug, from, until, urgency], |r| r.get(0))
                    .optional()?;
                found = match (found, ns) {
                    (Some(a), Some(b)) => Some(if newest { a.max(b) } else { a.min(b) }),
                    (a, b) => a.or(b),
                };
            }
            Ok(found.map(from_nanos))
        })
        .await
    }

    async fn filed_within(
        &self,
        selection: &Selection,
        published: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<bool, StoreError> {
        let (categories, urgency) = filter(selection);
        let (from, until) = (nanos(published.0), nanos(published.1));
        self.read(move |conn| {
            // The day's live stories (`articles_live_by_published`), each asked through
            // `changes_by_article` whether a public version was filed in the selection.
            let mut stmt = conn.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM articles a
                 WHERE a.killed_seq IS NULL AND a.published_ns >= ?2 AND a.published_ns < ?3
                   AND EXISTS (SELECT 1 FROM changes c JOIN change_categories cc ON cc.seq = c.seq
                               WHERE c.article_id = a.id AND c.kind IN ('create', 'update')
                                 AND (?1 IS NULL OR cc.category = ?1)
                                 AND (?4 IS NULL OR c.urgency <= ?4)))",
            )?;
            let slugs: Vec<Option<String>> = match &categories {
                None => vec![None],
                Some(list) => list.iter().map(|c| Some(c.as_str().to_owned())).collect(),
            };
            for slug in slugs {
                if stmt.query_row(params![slug, from, until, urgency], |r| r.get::<_, bool>(0))? {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await
    }

    async fn expiring(&self, now: DateTime<Utc>, limit: usize) -> Result<Due, StoreError> {
        self.read(move |conn| {
            due_by(
                conn,
                "SELECT id FROM articles WHERE killed_seq IS NULL AND expires_ns <= ?1
                 ORDER BY expires_ns, id LIMIT +?2",
                "SELECT MIN(expires_ns) FROM articles WHERE killed_seq IS NULL AND expires_ns > ?1",
                now,
                limit,
            )
        })
        .await
    }

    async fn changes_since(&self, seq: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT c.seq, c.at_ns, cc.category, c.article_id, c.kind, c.urgency FROM changes c
                 LEFT JOIN change_categories cc ON cc.seq = c.seq
                 WHERE c.seq IN (SELECT seq FROM changes WHERE seq > ?1 ORDER BY seq LIMIT +?2)
                 ORDER BY c.seq, cc.category",
            )?;
            let rows = stmt.query_map(params![seq as i64, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<u8>>(5)?,
                ))
            })?;
            let mut out: Vec<ChangeRecord> = Vec::new();
            for row in rows {
                let (seq, at_ns, category, article, kind, urgency) = row?;
                if out.last().is_none_or(|last| last.change.seq != seq as u64) {
                    out.push(ChangeRecord {
                        change: Change {
                            seq: seq as u64,
                            at: from_nanos(at_ns),
                        },
                        article: ArticleId::parse(&article).map_err(StoreError::Corrupt)?,
                        kind: ChangeKind::parse(&kind)
                            .ok_or_else(|| StoreError::Corrupt(format!("change kind {kind:?}")))?,
                        categories: Vec::new(),
                        urgency,
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
}
