//! Readers per feed per day and polls per feed per hour in the PostgreSQL store. A day's
//! figures are merged under a row lock, so merges from several replicas queue up; hourly
//! counts are added in one statement each, so they need no lock.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;

use super::{PostgresStore, scoped};
use crate::store::{AudienceMerge, AudienceRow, AudienceStore, StoreError, TrafficRow};

pub(super) async fn merge(
    client: &mut deadpool_postgres::Object,
    day: &str,
    feed: &str,
    merge: AudienceMerge,
) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    // The row exists and is locked before it is read, so merges from replicas queue up.
    tx.execute(
        "INSERT INTO audience (day, feed, clients, agents) VALUES ($1, $2, '', '')
         ON CONFLICT (day, feed) DO NOTHING",
        &[&day, &feed],
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT clients, agents FROM audience WHERE day = $1 AND feed = $2 FOR UPDATE",
            &[&day, &feed],
        )
        .await?;
    let old = AudienceRow {
        clients: row.get(0),
        agents: row.get(1),
    };
    let new = merge((!old.clients.is_empty() || !old.agents.is_empty()).then_some(old));
    tx.execute(
        "UPDATE audience SET clients = $3, agents = $4 WHERE day = $1 AND feed = $2",
        &[&day, &feed, &new.clients, &new.agents],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn days(
    client: &impl GenericClient,
    since: &str,
) -> Result<Vec<(NaiveDate, String, AudienceRow)>, StoreError> {
    let rows = client
        .query(
            "SELECT day, feed, clients, agents FROM audience WHERE day >= $1 ORDER BY day, feed",
            &[&since],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let day: &str = r.get(0);
            let day = day
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("audience day {day:?}")))?;
            Ok((
                day,
                r.get(1),
                AudienceRow {
                    clients: r.get(2),
                    agents: r.get(3),
                },
            ))
        })
        .collect()
}

pub(super) async fn add_traffic(
    client: &impl GenericClient,
    rows: &[TrafficRow],
) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO traffic (hour, feed, polls, not_modified, bytes_sent, bytes_saved)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (hour, feed) DO UPDATE SET polls = traffic.polls + excluded.polls,
                 not_modified = traffic.not_modified + excluded.not_modified,
                 bytes_sent = traffic.bytes_sent + excluded.bytes_sent,
                 bytes_saved = traffic.bytes_saved + excluded.bytes_saved",
        )
        .await?;
    for row in rows {
        let counts =
            [row.polls, row.not_modified, row.bytes_sent, row.bytes_saved].map(|n| n as i64);
        client
            .execute(
                &stmt,
                &[
                    &row.hour.timestamp(),
                    &row.feed,
                    &counts[0],
                    &counts[1],
                    &counts[2],
                    &counts[3],
                ],
            )
            .await?;
    }
    Ok(())
}

pub(super) async fn traffic(
    client: &impl GenericClient,
    since: i64,
) -> Result<Vec<TrafficRow>, StoreError> {
    let rows = client
        .query(
            "SELECT hour, feed, polls, not_modified, bytes_sent, bytes_saved FROM traffic
             WHERE hour >= $1 ORDER BY hour, feed",
            &[&since],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let hour: i64 = r.get(0);
            Ok(TrafficRow {
                hour: DateTime::<Utc>::from_timestamp(hour, 0)
                    .ok_or_else(|| StoreError::Corrupt(format!("traffic hour {hour}")))?,
                feed: r.get(1),
                polls: r.get::<_, i64>(2) as u64,
                not_modified: r.get::<_, i64>(3) as u64,
                bytes_sent: r.get::<_, i64>(4) as u64,
                bytes_saved: r.get::<_, i64>(5) as u64,
            })
        })
        .collect()
}

pub(super) async fn forget(client: &impl GenericClient, day: NaiveDate) -> Result<(), StoreError> {
    let hour = day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
    client
        .execute("DELETE FROM audience WHERE day < $1", &[&day.to_string()])
        .await?;
    client
        .execute("DELETE FROM traffic WHERE hour < $1", &[&hour])
        .await?;
    Ok(())
}

#[async_trait]
impl AudienceStore for PostgresStore {
    async fn merge_audience(
        &self,
        day: NaiveDate,
        feed: &str,
        merge: AudienceMerge,
    ) -> Result<(), StoreError> {
        with_conn!(self, client, {
            super::audience::merge(client, &day.to_string(), feed, merge).await
        })
    }

    async fn audience(
        &self,
        since: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, AudienceRow)>, StoreError> {
        with_conn!(self, client, { days(&**client, &since.to_string()).await })
    }

    async fn add_traffic(&self, rows: Vec<TrafficRow>) -> Result<(), StoreError> {
        // In one transaction: a failure partway adds none of them, so the caller's retry
        // adds each once.
        with_conn!(self, client, {
            let tx = client.transaction().await?;
            add_traffic(&tx, &rows).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn traffic(&self, since: DateTime<Utc>) -> Result<Vec<TrafficRow>, StoreError> {
        with_conn!(self, client, {
            traffic(&**client, since.timestamp()).await
        })
    }

    async fn forget_audience(&self, day: NaiveDate) -> Result<(), StoreError> {
        with_conn!(self, client, { forget(&**client, day).await })
    }
}
