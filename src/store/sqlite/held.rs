//! Stories under embargo in the SQLite store: [`HoldStore`] for [`SqliteStore`]. Held stories
//! have their own table; a release deletes the row and files the story in the one writer's
//! transaction, so it happens once however many processes share the file.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::SqliteStore;
use super::articles::{put_in, record_change};
use crate::model::touched_urgency;
use crate::model::{Article, ArticleId, Category, Change, Selection};
use crate::store::held::{Due, HoldOutcome, HoldStore, MAX_HELD, released, touched};
use crate::store::{Expected, StoreError, WriteOutcome, from_nanos, nanos, parse_body};

/// A held story's body, and whether the desk dropped it.
fn held_body(tx: &Transaction<'_>, id: &ArticleId) -> Result<Option<(String, bool)>, StoreError> {
    let row: Option<(String, Option<i64>)> = tx
        .prepare_cached("SELECT body, killed_seq FROM held WHERE id = ?1")?
        .query_row(params![id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.map(|(body, killed)| (body, killed.is_some())))
}

#[async_trait]
impl HoldStore for SqliteStore {
    async fn hold(&self, article: Article) -> Result<HoldOutcome, StoreError> {
        let Some(lift) = article.embargo else {
            return Err(StoreError::Corrupt(format!(
                "story {} has no embargo to hold it until",
                article.id
            )));
        };
        self.write(move |tx| {
            let stored: Option<Option<i64>> = tx
                .prepare_cached("SELECT killed_seq FROM articles WHERE id = ?1")?
                .query_row(params![article.id.as_str()], |r| r.get(0))
                .optional()?;
            match stored {
                Some(Some(_)) => return Ok(HoldOutcome::Killed),
                Some(None) => return Ok(HoldOutcome::Published),
                None => {}
            }
            let body = article.to_json();
            let previous = match held_body(tx, &article.id)? {
                Some((_, true)) => return Ok(HoldOutcome::Killed),
                Some((previous, false)) => Some(previous),
                None => None,
            };
            if previous.as_deref() == Some(body.as_str()) {
                return Ok(HoldOutcome::Unchanged);
            }
            let old = previous.as_deref().map(parse_body).transpose()?;
            let touched = touched(&article, old.as_ref());
            let change = record_change(
                tx,
                &article.id,
                "hold",
                &touched,
                touched_urgency([&article].into_iter().chain(old.as_ref())),
            )?;
            tx.prepare_cached(
                "INSERT INTO held (id, body, lift_ns, published_ns) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body, lift_ns = excluded.lift_ns,
                     published_ns = excluded.published_ns",
            )?
            .execute(params![
                article.id.as_str(),
                body,
                nanos(lift),
                nanos(article.published)
            ])?;
            Ok(HoldOutcome::Held(change))
        })
        .await
    }

    async fn held(&self, id: &ArticleId) -> Result<Option<Article>, StoreError> {
        let id = id.clone();
        self.read(move |conn| {
            let body: Option<String> = conn
                .prepare_cached("SELECT body FROM held WHERE id = ?1 AND killed_seq IS NULL")?
                .query_row(params![id.as_str()], |r| r.get(0))
                .optional()?;
            body.as_deref().map(parse_body).transpose()
        })
        .await
    }

    async fn held_in(
        &self,
        selection: &Selection,
        limit: usize,
    ) -> Result<Vec<Article>, StoreError> {
        let selection = selection.clone();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT body FROM held WHERE killed_seq IS NULL
                 ORDER BY published_ns DESC, id DESC LIMIT +?1",
            )?;
            let mut out = Vec::new();
            for body in stmt.query_map(params![MAX_HELD as i64], |r| r.get::<_, String>(0))? {
                let article = parse_body(&body?)?;
                if article.categories.iter().any(|c| selection.covers(c)) {
                    out.push(article);
                }
            }
            out.truncate(limit);
            Ok(out)
        })
        .await
    }

    async fn unhold(&self, id: &ArticleId) -> Result<Option<Change>, StoreError> {
        let id = id.clone();
        self.write(move |tx| {
            let Some((body, false)) = held_body(tx, &id)? else {
                return Ok(None);
            };
            let article = parse_body(&body)?;
            let touched: Vec<&Category> = article.categories.iter().collect();
            let change = record_change(tx, &id, "hold", &touched, touched_urgency([&article]))?;
            // Kept, marked dropped: its id stays killed, and no reader ever sees it.
            tx.prepare_cached("UPDATE held SET killed_seq = ?2 WHERE id = ?1")?
                .execute(params![id.as_str(), change.seq as i64])?;
            Ok(Some(change))
        })
        .await
    }

    async fn release(
        &self,
        id: &ArticleId,
        now: DateTime<Utc>,
    ) -> Result<Option<(Article, WriteOutcome)>, StoreError> {
        let id = id.clone();
        self.write(move |tx| {
            let body: Option<String> = tx
                .prepare_cached(
                    "DELETE FROM held WHERE id = ?1 AND lift_ns <= ?2 AND killed_seq IS NULL
                     RETURNING body",
                )?
                .query_row(params![id.as_str(), nanos(now)], |r| r.get(0))
                .optional()?;
            let Some(body) = body else { return Ok(None) };
            let story = released(&parse_body(&body)?);
            let outcome = put_in(tx, &story, Expected::Anything)?;
            Ok(Some((story, outcome)))
        })
        .await
    }

    async fn lifts(&self, now: DateTime<Utc>, limit: usize) -> Result<Due, StoreError> {
        self.read(move |conn| {
            due_by(
                conn,
                "SELECT id FROM held WHERE lift_ns <= ?1 AND killed_seq IS NULL
                 ORDER BY lift_ns, id LIMIT +?2",
                "SELECT MIN(lift_ns) FROM held WHERE lift_ns > ?1 AND killed_seq IS NULL",
                now,
                limit,
            )
        })
        .await
    }
}

/// The ids `due_sql` lists as due by `now` (at most `limit`; it takes both, in that order),
/// and the next time `next_sql` finds after `now`: what held lifts and live expiries share.
pub(super) fn due_by(
    conn: &Connection,
    due_sql: &str,
    next_sql: &str,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Due, StoreError> {
    let mut stmt = conn.prepare_cached(due_sql)?;
    let mut due = Vec::new();
    for id in stmt.query_map(params![nanos(now), limit as i64], |r| r.get::<_, String>(0))? {
        due.push(ArticleId::parse(&id?).map_err(StoreError::Corrupt)?);
    }
    let next: Option<i64> = conn.query_row(next_sql, params![nanos(now)], |r| r.get(0))?;
    Ok(Due {
        due,
        next: next.map(from_nanos),
    })
}
