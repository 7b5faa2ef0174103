//! Stories and the change sequence in the PostgreSQL store: [`ArticleStore`] for
//! [`PostgresStore`], with the statements every write sends (shared with `batch`). Writers hold
//! the schema's write lock while they take the next change numbers.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};

use super::held::due_by;
use super::{CHANNEL, PostgresStore, batch, scoped};
use crate::model::{
    Article, ArticleId, Category, Change, ChangeKind, ChangeRecord, Selection, Tombstone, UNRANKED,
    touched_urgency,
};
use crate::store::{
    ArticleStore, CategoryCount, Current, Due, Expected, ImportCounts, KillOutcome, Killed,
    StoreError, Window, WriteOutcome, from_nanos, nanos, parse_body, window,
};

/// A window query's arguments as tokio-postgres takes them.
fn pg_args(args: &[window::Arg]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    args.iter()
        .map(|a| match a {
            window::Arg::Int(n) => n as &(dyn tokio_postgres::types::ToSql + Sync),
            window::Arg::Text(t) => t as &(dyn tokio_postgres::types::ToSql + Sync),
        })
        .collect()
}

pub(super) fn slugs<'a>(categories: impl IntoIterator<Item = &'a Category>) -> Vec<&'a str> {
    categories.into_iter().map(Category::as_str).collect()
}

// Statements every write sends; `batch` pipelines them, `kill` sends them one by one.
pub(super) const INSERT_CHANGE: &str =
    "INSERT INTO changes (seq, article_id, kind, at_ns, urgency) VALUES ($1, $2, $3, $4, $5)";
pub(super) const INSERT_TOUCHED: &str = "INSERT INTO change_categories (category, seq)
     SELECT DISTINCT unnest($1::text[]), $2::bigint ON CONFLICT DO NOTHING";
pub(super) const NOTIFY: &str = "SELECT pg_notify($1, current_schema() || ':' || $2::text)";
pub(super) const COUNT: &str =
    "INSERT INTO category_counts (category, articles) SELECT unnest($1::text[]), $2::bigint
     ON CONFLICT (category) DO UPDATE SET articles = category_counts.articles + excluded.articles";
pub(super) const UNFILE: &str = "DELETE FROM article_categories WHERE article_id = $1";

/// The newest change's number, and the time to record for the next ones: now, but never
/// earlier than the newest change, even if a replica's clock is behind. The caller holds the
/// write lock, so the next numbers are its own.
pub(super) async fn change_head(tx: &Transaction<'_>) -> Result<(i64, i64), StoreError> {
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
/// against every category it touched and with the most urgent level of the versions it
/// touched, and queues the notification sent at commit.
pub(super) async fn record_change(
    tx: &Transaction<'_>,
    id: &ArticleId,
    kind: &str,
    touched: &[&Category],
    urgency: u8,
) -> Result<Change, StoreError> {
    let (previous_seq, at_ns) = change_head(tx).await?;
    let seq = previous_seq + 1;
    let insert = tx.prepare_cached(INSERT_CHANGE).await?;
    tx.execute(
        &insert,
        &[&seq, &id.as_str(), &kind, &at_ns, &i16::from(urgency)],
    )
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

/// A selection as the killed-story queries filter it: by category (none: any), by urgency.
fn filter(selection: &Selection) -> (Option<Vec<&str>>, Option<i16>) {
    match selection {
        Selection::All => (None, None),
        Selection::Categories(list) => (Some(slugs(list)), None),
        Selection::Urgent(level) => (None, Some(i16::from(*level))),
    }
}

/// Every category a public version of `article` (the live one included) was filed in, and
/// the most urgent level any of them had: a kill reaches every feed that showed the story,
/// also one a correction since moved it out of (by category or by urgency).
async fn filed_ever(
    tx: &Transaction<'_>,
    article: &Article,
) -> Result<(Vec<Category>, u8), StoreError> {
    let row = tx
        .query_one(
            "SELECT ARRAY(SELECT DISTINCT cc.category FROM changes c
                          JOIN change_categories cc ON cc.seq = c.seq
                          WHERE c.article_id = $1 AND c.kind IN ('create', 'update')),
                    (SELECT MIN(urgency) FROM changes
                     WHERE article_id = $1 AND kind IN ('create', 'update'))",
            &[&article.id.as_str()],
        )
        .await?;
    let mut filed = article.categories.clone();
    for slug in row.get::<_, Vec<String>>(0) {
        let category = Category::parse(&slug).map_err(StoreError::Corrupt)?;
        if !filed.contains(&category) {
            filed.push(category);
        }
    }
    let urgency = touched_urgency([article]);
    let urgency = row
        .get::<_, Option<i16>>(1)
        .map_or(urgency, |peak| urgency.min(peak.clamp(0, 255) as u8));
    Ok((filed, urgency))
}

async fn adjust_counts(
    tx: &Transaction<'_>,
    categories: &[Category],
    delta: i64,
) -> Result<(), StoreError> {
    let upsert = tx.prepare_cached(COUNT).await?;
    tx.execute(&upsert, &[&slugs(categories), &delta]).await?;
    // A category left with no live story keeps its row (see `ArticleStore::categories`).
    Ok(())
}

async fn unfile_categories(tx: &Transaction<'_>, article: &Article) -> Result<(), StoreError> {
    let delete = tx.prepare_cached(UNFILE).await?;
    tx.execute(&delete, &[&article.id.as_str()]).await?;
    adjust_counts(tx, &article.categories, -1).await
}

fn category_from(slug: &str) -> Result<Category, StoreError> {
    Category::parse(slug).map_err(StoreError::Corrupt)
}

#[async_trait]
impl ArticleStore for PostgresStore {
    async fn put_if(
        &self,
        article: Article,
        expected: Expected,
    ) -> Result<WriteOutcome, StoreError> {
        with_conn!(self, client, {
            let tx = client.transaction().await?;
            self.lock_writes(&tx).await?;
            let outcome = batch::put_all(&tx, std::slice::from_ref(&article), expected).await?;
            tx.commit().await?;
            Ok(outcome[0])
        })
    }

    async fn put_many(&self, articles: Vec<Article>) -> Result<ImportCounts, StoreError> {
        with_conn!(self, client, {
            let tx = client.transaction().await?;
            self.lock_writes(&tx).await?;
            let mut counts = ImportCounts::default();
            for outcome in batch::put_all(&tx, &articles, Expected::Anything).await? {
                counts.add(outcome);
            }
            tx.commit().await?;
            Ok(counts)
        })
    }

    async fn kill_if(&self, id: &ArticleId, expected: Expected) -> Result<KillOutcome, StoreError> {
        with_conn!(self, client, {
            let tx = client.transaction().await?;
            self.lock_writes(&tx).await?;
            let row = tx
                .query_opt(
                    "SELECT body, seq, killed_seq FROM articles WHERE id = $1",
                    &[&id.as_str()],
                )
                .await?;
            let Some(row) = row else {
                return Ok(KillOutcome::Missing);
            };
            if row.get::<_, Option<i64>>(2).is_some() {
                return Ok(KillOutcome::AlreadyKilled);
            }
            if !expected.holds(Some((row.get::<_, i64>(1) as u64, false))) {
                return Ok(KillOutcome::Moved);
            }
            let article = parse_body(row.get(0))?;
            let (filed, urgency) = filed_ever(&tx, &article).await?;
            let touched: Vec<&Category> = filed.iter().collect();
            let killed = record_change(&tx, id, "kill", &touched, urgency).await?;
            unfile_categories(&tx, &article).await?;
            tx.execute(
                "INSERT INTO tombstones (category, killed_ns, article_id)
             SELECT unnest($1::text[]), $2::bigint, $3::text ON CONFLICT DO NOTHING",
                &[&slugs(&filed), &nanos(killed.at), &id.as_str()],
            )
            .await?;
            tx.execute(
                "UPDATE articles SET killed_seq = $2, seq = $2, urgency = $3 WHERE id = $1",
                &[
                    &id.as_str(),
                    &(killed.seq as i64),
                    &(urgency < UNRANKED).then_some(i16::from(urgency)),
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(KillOutcome::Killed(Box::new(Killed { article, killed })))
        })
    }

    async fn current(&self, id: &ArticleId) -> Result<Current, StoreError> {
        with_conn!(self, client, {
            let select = client
                .prepare_cached(
                    "SELECT a.body, a.killed_seq, a.seq, c.at_ns FROM articles a
                     LEFT JOIN changes c ON c.seq = a.seq WHERE a.id = $1",
                )
                .await?;
            let Some(row) = client.query_opt(&select, &[&id.as_str()]).await? else {
                let dropped = client
                    .prepare_cached(
                        "SELECT h.body, c.seq, c.at_ns FROM held h
                         JOIN changes c ON c.seq = h.killed_seq WHERE h.id = $1",
                    )
                    .await?;
                return match client.query_opt(&dropped, &[&id.as_str()]).await? {
                    None => Ok(Current::Missing),
                    Some(row) => Ok(Current::Dropped(Killed {
                        article: parse_body(row.get(0))?,
                        killed: Change {
                            seq: row.get::<_, i64>(1) as u64,
                            at: from_nanos(row.get(2)),
                        },
                    })),
                };
            };
            let article = parse_body(row.get(0))?;
            let seq: i64 = row.get(2);
            let at_ns: Option<i64> = row.get(3);
            let written = Change {
                seq: seq as u64,
                at: from_nanos(at_ns.ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "story {id} was written by change {seq}, which is missing"
                    ))
                })?),
            };
            Ok(match row.get::<_, Option<i64>>(1) {
                None => Current::Live { article, written },
                // A kill writes the row's version too: `seq` is the kill's.
                Some(_) => Current::Killed(Killed {
                    article,
                    killed: written,
                }),
            })
        })
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
                Selection::Urgent(_) => unreachable!("read as a window above"),
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
        if let Selection::Urgent(level) = *selection {
            // One probe down the (urgency, seq) index per level, and one for changes of
            // unknown urgency.
            return with_conn!(self, client, {
                let stmt = client
                    .prepare_cached(
                        "SELECT c.seq, c.at_ns FROM changes c WHERE c.seq = (
                             SELECT MAX(m.seq) FROM (
                                 SELECT (SELECT MAX(seq) FROM changes WHERE urgency IS NULL) AS seq
                                 UNION ALL
                                 SELECT (SELECT MAX(seq) FROM changes WHERE urgency = u)
                                 FROM generate_series(1, $1::smallint) AS u
                             ) m)",
                    )
                    .await?;
                let row = client.query_opt(&stmt, &[&i16::from(level)]).await?;
                Ok(row.map(|r| Change {
                    seq: r.get::<_, i64>(0) as u64,
                    at: from_nanos(r.get(1)),
                }))
            });
        }
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
        let (categories, urgency) = filter(selection);
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
                       AND ($6::smallint IS NULL OR a.urgency <= $6)
                     ORDER BY t.killed_ns DESC, t.article_id DESC LIMIT $5",
                )
                .await?;
            let rows = client
                .query(
                    &stmt,
                    &[
                        &categories,
                        &nanos(since),
                        &from,
                        &until,
                        &(limit as i64),
                        &urgency,
                    ],
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

    async fn killed_published(
        &self,
        selection: &Selection,
        published: (DateTime<Utc>, DateTime<Utc>),
        newest: bool,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (categories, urgency) = filter(selection);
        let (from, until) = (nanos(published.0), nanos(published.1));
        with_conn!(self, client, {
            // A walk down `articles_killed_by_published` from the newest (or oldest) end.
            macro_rules! walk {
                ($order:literal) => {
                    concat!(
                        "SELECT a.published_ns FROM articles a
                         WHERE a.killed_seq IS NOT NULL AND a.published_ns >= $2
                           AND a.published_ns < $3 AND ($4::smallint IS NULL OR a.urgency <= $4)
                           AND EXISTS (SELECT 1 FROM tombstones t WHERE t.article_id = a.id
                                       AND ($1::text[] IS NULL OR t.category = ANY($1)))
                         ORDER BY a.published_ns ",
                        $order,
                        " LIMIT 1"
                    )
                };
            }
            let sql = if newest { walk!("DESC") } else { walk!("ASC") };
            let stmt = client.prepare_cached(sql).await?;
            let row = client
                .query_opt(&stmt, &[&categories, &from, &until, &urgency])
                .await?;
            Ok(row.map(|r| from_nanos(r.get::<_, i64>(0))))
        })
    }

    async fn filed_within(
        &self,
        selection: &Selection,
        published: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<bool, StoreError> {
        let (categories, urgency) = filter(selection);
        let (from, until) = (nanos(published.0), nanos(published.1));
        with_conn!(self, client, {
            // The day's live stories, each asked through `changes_by_article` whether a
            // public version was filed in the selection.
            let stmt = client
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM articles a
                     WHERE a.killed_seq IS NULL AND a.published_ns >= $2 AND a.published_ns < $3
                       AND EXISTS (SELECT 1 FROM changes c
                                   JOIN change_categories cc ON cc.seq = c.seq
                                   WHERE c.article_id = a.id AND c.kind IN ('create', 'update')
                                     AND ($1::text[] IS NULL OR cc.category = ANY($1))
                                     AND ($4::smallint IS NULL OR c.urgency <= $4)))",
                )
                .await?;
            let row = client
                .query_one(&stmt, &[&categories, &from, &until, &urgency])
                .await?;
            Ok(row.get::<_, bool>(0))
        })
    }

    async fn expiring(&self, now: DateTime<Utc>, limit: usize) -> Result<Due, StoreError> {
        with_conn!(self, client, {
            due_by(
                &**client,
                "SELECT id FROM articles WHERE killed_seq IS NULL AND expires_ns <= $1
                 ORDER BY expires_ns, id LIMIT $2",
                "SELECT MIN(expires_ns) FROM articles WHERE killed_seq IS NULL AND expires_ns > $1",
                now,
                limit,
            )
            .await
        })
    }

    async fn changes_since(&self, seq: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        with_conn!(self, client, {
            let stmt = client
            .prepare_cached(
                "SELECT c.seq, c.at_ns, cc.category, c.article_id, c.kind, c.urgency FROM changes c
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
                    let kind: &str = row.get(4);
                    out.push(ChangeRecord {
                        change: Change {
                            seq,
                            at: from_nanos(row.get(1)),
                        },
                        article: ArticleId::parse(row.get(3)).map_err(StoreError::Corrupt)?,
                        kind: ChangeKind::parse(kind)
                            .ok_or_else(|| StoreError::Corrupt(format!("change kind {kind:?}")))?,
                        categories: Vec::new(),
                        urgency: row
                            .get::<_, Option<i16>>(5)
                            .and_then(|u| u8::try_from(u).ok()),
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
}
