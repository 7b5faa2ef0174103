//! Writing many stories in one transaction with few round trips: the stored versions of the
//! whole batch are read with one query, every decision is made here, and the writes are sent
//! as one pipeline (tokio-postgres sends queued statements without waiting for each answer),
//! so an import costs a handful of round trips per batch instead of several per story.
//! The caller holds the write lock, so the change sequence numbers handed out here are the
//! next ones.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use deadpool_postgres::Transaction;
use futures_util::future::try_join_all;
use tokio_postgres::types::ToSql;

use super::CHANNEL;
use super::articles::{COUNT, INSERT_CHANGE, INSERT_TOUCHED, NOTIFY, UNFILE, change_head, slugs};
use crate::model::{Article, Change, touched_urgency};
use crate::store::{Expected, StoreError, WriteOutcome};
use crate::store::{from_nanos, nanos, parse_body};

/// What one story's write does, decided before anything is sent.
struct Planned<'a> {
    article: &'a Article,
    body: String,
    seq: i64,
    kind: &'static str,
    touched: Vec<String>,
    /// The most urgent level of the versions the change touches.
    urgency: i16,
    /// Categories of the live version being replaced, to unfile.
    unfile: Option<Vec<String>>,
}

type Pending<'t> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 't>>;

/// Creates or replaces every story of the batch, in order, each if what is stored under its id
/// is `expected`; returns one outcome per story. A killed story is never replaced.
pub async fn put_all(
    tx: &Transaction<'_>,
    articles: &[Article],
    expected: Expected,
) -> Result<Vec<WriteOutcome>, StoreError> {
    // One time for the whole batch.
    let (mut seq, at_ns) = change_head(tx).await?;

    let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
    let rows = tx
        .query(
            "SELECT id, body, killed_seq, seq FROM articles WHERE id = ANY($1)",
            &[&ids],
        )
        .await?;
    // id → (stored body, killed, the change that wrote it), kept current as the batch is
    // planned.
    let mut stored: HashMap<String, (String, bool, u64)> = rows
        .into_iter()
        .map(|r| {
            let killed: Option<i64> = r.get(2);
            (
                r.get::<_, String>(0),
                (
                    r.get::<_, String>(1),
                    killed.is_some(),
                    r.get::<_, i64>(3) as u64,
                ),
            )
        })
        .collect();
    // Held stories the desk dropped before their lift: their ids are killed too.
    let unknown: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    if !unknown.is_empty() {
        let dropped = tx
            .prepare_cached("SELECT id FROM held WHERE id = ANY($1) AND killed_seq IS NOT NULL")
            .await?;
        for row in tx.query(&dropped, &[&unknown]).await? {
            stored.insert(row.get(0), (String::new(), true, 0));
        }
    }

    let mut outcomes = Vec::with_capacity(articles.len());
    let mut plans = Vec::new();
    for article in articles {
        let body = article.to_json();
        let previous = stored.get(article.id.as_str());
        if previous.is_some_and(|(_, killed, _)| *killed) {
            outcomes.push(WriteOutcome::Killed);
            continue;
        }
        if !expected.holds(previous.map(|(_, killed, seq)| (*seq, *killed))) {
            outcomes.push(WriteOutcome::Moved);
            continue;
        }
        let previous_article = match previous {
            Some((old, _, _)) if *old == body => {
                outcomes.push(WriteOutcome::Unchanged);
                continue;
            }
            Some((old, _, _)) => Some(parse_body(old)?),
            None => None,
        };
        seq += 1;
        let change = Change {
            seq: seq as u64,
            at: from_nanos(at_ns),
        };
        let mut touched: Vec<String> = article
            .categories
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        let mut unfile = None;
        if let Some(old) = &previous_article {
            touched.extend(
                old.categories
                    .iter()
                    .filter(|c| !article.categories.contains(c))
                    .map(|c| c.as_str().to_owned()),
            );
            unfile = Some(
                old.categories
                    .iter()
                    .map(|c| c.as_str().to_owned())
                    .collect(),
            );
        }
        let urgency = i16::from(touched_urgency(
            std::iter::once(article).chain(previous_article.as_ref()),
        ));
        outcomes.push(if previous_article.is_some() {
            WriteOutcome::Updated(change)
        } else {
            WriteOutcome::Created(change)
        });
        stored.insert(
            article.id.as_str().to_owned(),
            (body.clone(), false, seq as u64),
        );
        plans.push(Planned {
            article,
            body,
            seq,
            kind: if previous_article.is_some() {
                "update"
            } else {
                "create"
            },
            touched,
            urgency,
            unfile,
        });
    }
    if plans.is_empty() {
        return Ok(outcomes);
    }

    let insert_change = tx.prepare_cached(INSERT_CHANGE).await?;
    let insert_touched = tx.prepare_cached(INSERT_TOUCHED).await?;
    let unfile = tx.prepare_cached(UNFILE).await?;
    let count = tx.prepare_cached(COUNT).await?;
    let upsert = tx
        .prepare_cached(
            "INSERT INTO articles (id, body, published_ns, seq, killed_seq, urgency, expires_ns)
             VALUES ($1, $2, $3, $4, NULL, $5, $6)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, published_ns = excluded.published_ns,
                 seq = excluded.seq, killed_seq = NULL, urgency = excluded.urgency,
                 expires_ns = excluded.expires_ns",
        )
        .await?;
    let file = tx
        .prepare_cached(
            "INSERT INTO article_categories (category, published_ns, article_id, seq)
             SELECT unnest($1::text[]), $2::bigint, $3::text, $4::bigint",
        )
        .await?;

    let published: Vec<i64> = plans.iter().map(|p| nanos(p.article.published)).collect();
    let urgencies: Vec<Option<i16>> = plans
        .iter()
        .map(|p| p.article.urgency.map(i16::from))
        .collect();
    let expiries: Vec<Option<i64>> = plans.iter().map(|p| p.article.expires.map(nanos)).collect();
    let filed: Vec<Vec<&str>> = plans.iter().map(|p| slugs(&p.article.categories)).collect();
    let unfiled: Vec<Option<Vec<&str>>> = plans
        .iter()
        .map(|p| {
            p.unfile
                .as_ref()
                .map(|c| c.iter().map(String::as_str).collect())
        })
        .collect();
    const PLUS: i64 = 1;
    const MINUS: i64 = -1;

    let ids: Vec<&str> = plans.iter().map(|p| p.article.id.as_str()).collect();
    let mut pipeline: Vec<Pending<'_>> = Vec::with_capacity(plans.len() * 8);
    // `execute_raw` takes its parameters by value, so each queued statement owns its list.
    macro_rules! queue {
        ($statement:expr, [$($param:expr),*]) => {
            pipeline.push(Box::pin(tx.execute_raw(
                $statement,
                vec![$($param as &(dyn ToSql + Sync)),*],
            )))
        };
    }
    for (i, plan) in plans.iter().enumerate() {
        queue!(
            &insert_change,
            [&plan.seq, &ids[i], &plan.kind, &at_ns, &plan.urgency]
        );
        queue!(&insert_touched, [&plan.touched, &plan.seq]);
        if let Some(old) = &unfiled[i] {
            queue!(&unfile, [&ids[i]]);
            queue!(&count, [old, &MINUS]);
        }
        queue!(
            &upsert,
            [
                &ids[i],
                &plan.body,
                &published[i],
                &plan.seq,
                &urgencies[i],
                &expiries[i]
            ]
        );
        queue!(&file, [&filed[i], &published[i], &ids[i], &plan.seq]);
        queue!(&count, [&filed[i], &PLUS]);
    }
    try_join_all(pipeline).await?;
    tx.execute(NOTIFY, &[&CHANNEL, &seq.to_string()]).await?;
    Ok(outcomes)
}
