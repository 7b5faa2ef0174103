//! Stories under embargo in the PostgreSQL store: [`HoldStore`] for [`PostgresStore`]. Every
//! write takes the schema's write lock, so a release — deleting the held row and filing the
//! story in one transaction — happens on exactly one replica however many try at once: the
//! others find no row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::articles::record_change;
use super::{PostgresStore, batch, scoped};
use crate::model::touched_urgency;
use crate::model::{Article, ArticleId, Category, Change, Selection};
use crate::store::held::{Due, HoldOutcome, HoldStore, MAX_HELD, released, touched};
use crate::store::{Expected, StoreError, WriteOutcome, from_nanos, nanos, parse_body};

#[async_trait]
impl HoldStore for PostgresStore {
    async fn hold(&self, article: Article) -> Result<HoldOutcome, StoreError> {
        let Some(lift) = article.embargo else {
            return Err(StoreError::Corrupt(format!(
                "story {} has no embargo to hold it until",
                article.id
            )));
        };
        with_conn!(self, client, {
            let tx = client.transaction().await?;
            self.lock_writes(&tx).await?;
            let id = article.id.as_str();
            if let Some(row) = tx
                .query_opt("SELECT killed_seq FROM articles WHERE id = $1", &[&id])
                .await?
            {
                return Ok(match row.get::<_, Option<i64>>(0) {
                    Some(_) => HoldOutcome::Killed,
                    None => HoldOutcome::Published,
                });
            }
            let body = article.to_json();
            let previous = match tx
                .query_opt("SELECT body, killed_seq FROM held WHERE id = $1", &[&id])
                .await?
            {
                Some(row) if row.get::<_, Option<i64>>(1).is_some() => {
                    return Ok(HoldOutcome::Killed);
                }
                Some(row) => Some(row.get::<_, String>(0)),
                None => None,
            };
            if previous.as_deref() == Some(body.as_str()) {
                return Ok(HoldOutcome::Unchanged);
            }
            let old = previous.as_deref().map(parse_body).transpose()?;
            let touched = touched(&article, old.as_ref());
            let change = record_change(
                &tx,
                &article.id,
                "hold",
                &touched,
                touched_urgency([&article].into_iter().chain(old.as_ref())),
            )
            .await?;
            tx.execute(
                "INSERT INTO held (id, body, lift_ns, published_ns) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body, lift_ns = excluded.lift_ns,
                     published_ns = excluded.published_ns",
                &[&id, &body, &nanos(lift), &nanos(article.published)],
            )
            .await?;
            tx.commit().await?;
            Ok(HoldOutcome::Held(change))
        })
    }

    async fn held(&self, id: &ArticleId) -> Result<Option<Article>, StoreError> {
        with_conn!(self, client, {
            let row = client
                .query_opt(
                    "SELECT body FROM held WHERE id = $1 AND killed_seq IS NULL",
                    &[&id.as_str()],
                )
                .await?;
            row.map(|r| parse_body(r.get(0))).transpose()
        })
    }

    async fn held_in(
        &self,
        selection: &Selection,
        limit: usize,
    ) -> Result<Vec<Article>, StoreError> {
        with_conn!(self, client, {
            let rows = client
                .query(
                    "SELECT body FROM held WHERE killed_seq IS NULL
                     ORDER BY published_ns DESC, id DESC LIMIT $1",
                    &[&(MAX_HELD as i64)],
                )
                .await?;
            let mut out = Vec::new();
            for row in rows {
                let article = parse_body(row.get(0))?;
                if article.categories.iter().any(|c| selection.covers(c)) {
                    out.push(article);
                }
            }
            out.truncate(limit);
            Ok(out)
        })
    }

    async fn unhold(&self, id: &ArticleId) -> Result<Option<Change>, StoreError> {
        with_conn!(self, client, {
            let tx = client.transaction().await?;
            self.lock_writes(&tx).await?;
            let Some(row) = tx
                .query_opt(
                    "SELECT body FROM held WHERE id = $1 AND killed_seq IS NULL",
                    &[&id.as_str()],
                )
                .await?
            else {
                return Ok(None);
            };
            let article = parse_body(row.get(0))?;
            let touched: Vec<&Category> = article.categories.iter().collect();
            let change =
                record_change(&tx, id, "hold", &touched, touched_urgency([&article])).await?;
            // Kept, marked dropped: its id stays killed, and no reader ever sees it.
            tx.execute(
                "UPDATE held SET killed_seq = $2 WHERE id = $1",
                &[&id.as_str(), &(change.seq as i64)],
            )
            .await?;
            tx.commit().await?;
            Ok(Some(change))
        })
    }

    async fn release(
        &self,
        id: &ArticleId,
        now: DateTime<Utc>,
    ) -> Result<Option<(Article, WriteOutcome)>, StoreError> {
        with_conn!(self, client, {
            let tx = client.transaction().await?;
            self.lock_writes(&tx).await?;
            let Some(row) = tx
                .query_opt(
                    "DELETE FROM held WHERE id = $1 AND lift_ns <= $2 AND killed_seq IS NULL
                     RETURNING body",
                    &[&id.as_str(), &nanos(now)],
                )
                .await?
            else {
                return Ok(None);
            };
            let story = released(&parse_body(row.get(0))?);
            let outcome =
                batch::put_all(&tx, std::slice::from_ref(&story), Expected::Anything).await?[0];
            tx.commit().await?;
            Ok(Some((story, outcome)))
        })
    }

    async fn lifts(&self, now: DateTime<Utc>, limit: usize) -> Result<Due, StoreError> {
        with_conn!(self, client, {
            due_by(
                &**client,
                "SELECT id FROM held WHERE lift_ns <= $1 AND killed_seq IS NULL
                 ORDER BY lift_ns, id LIMIT $2",
                "SELECT MIN(lift_ns) FROM held WHERE lift_ns > $1 AND killed_seq IS NULL",
                now,
                limit,
            )
            .await
        })
    }
}

/// The ids `due_sql` lists as due by `now` (at most `limit`; it takes both, in that order),
/// and the next time `next_sql` finds after `now`: what held lifts and live expiries share.
pub(super) async fn due_by(
    client: &impl GenericClient,
    due_sql: &str,
    next_sql: &str,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Due, StoreError> {
    let rows = client
        .query(due_sql, &[&nanos(now), &(limit as i64)])
        .await?;
    let due = rows
        .iter()
        .map(|r| ArticleId::parse(r.get(0)).map_err(StoreError::Corrupt))
        .collect::<Result<_, _>>()?;
    let next: Option<i64> = client.query_one(next_sql, &[&nanos(now)]).await?.get(0);
    Ok(Due {
        due,
        next: next.map(from_nanos),
    })
}
