//! Readers per feed per day and polls per feed per hour in the SQLite store.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::SqliteStore;
use crate::store::{AudienceMerge, AudienceRow, AudienceStore, StoreError, TrafficRow};

pub(super) fn merge(
    tx: &Transaction<'_>,
    day: &str,
    feed: &str,
    merge: AudienceMerge,
) -> Result<(), StoreError> {
    let old = tx
        .prepare_cached("SELECT clients, agents FROM audience WHERE day = ?1 AND feed = ?2")?
        .query_row(params![day, feed], |r| {
            Ok(AudienceRow {
                clients: r.get(0)?,
                agents: r.get(1)?,
            })
        })
        .optional()?;
    let new = merge(old);
    tx.prepare_cached(
        "INSERT INTO audience (day, feed, clients, agents) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (day, feed) DO UPDATE SET clients = excluded.clients,
             agents = excluded.agents",
    )?
    .execute(params![day, feed, new.clients, new.agents])?;
    Ok(())
}

pub(super) fn days(
    conn: &Connection,
    since: &str,
) -> Result<Vec<(NaiveDate, String, AudienceRow)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, feed, clients, agents FROM audience WHERE day >= ?1 ORDER BY day, feed",
    )?;
    let rows = stmt.query_map(params![since], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            AudienceRow {
                clients: r.get(2)?,
                agents: r.get(3)?,
            },
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (day, feed, figures) = row?;
        let day = day
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("audience day {day:?}")))?;
        out.push((day, feed, figures));
    }
    Ok(out)
}

pub(super) fn add_traffic(tx: &Transaction<'_>, rows: &[TrafficRow]) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO traffic (hour, feed, polls, not_modified, bytes_sent, bytes_saved)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (hour, feed) DO UPDATE SET polls = traffic.polls + excluded.polls,
             not_modified = traffic.not_modified + excluded.not_modified,
             bytes_sent = traffic.bytes_sent + excluded.bytes_sent,
             bytes_saved = traffic.bytes_saved + excluded.bytes_saved",
    )?;
    for row in rows {
        stmt.execute(params![
            row.hour.timestamp(),
            row.feed,
            row.polls as i64,
            row.not_modified as i64,
            row.bytes_sent as i64,
            row.bytes_saved as i64,
        ])?;
    }
    Ok(())
}

pub(super) fn traffic(conn: &Connection, since: i64) -> Result<Vec<TrafficRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hour, feed, polls, not_modified, bytes_sent, bytes_saved FROM traffic
         WHERE hour >= ?1 ORDER BY hour, feed",
    )?;
    let rows = stmt.query_map(params![since], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            [r.get::<_, i64>(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (hour, feed, [polls, not_modified, sent, saved]) = row?;
        out.push(TrafficRow {
            hour: DateTime::<Utc>::from_timestamp(hour, 0)
                .ok_or_else(|| StoreError::Corrupt(format!("traffic hour {hour}")))?,
            feed,
            polls: polls as u64,
            not_modified: not_modified as u64,
            bytes_sent: sent as u64,
            bytes_saved: saved as u64,
        });
    }
    Ok(out)
}

pub(super) fn forget(tx: &Transaction<'_>, day: NaiveDate) -> Result<(), StoreError> {
    let hour = day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
    tx.prepare_cached("DELETE FROM audience WHERE day < ?1")?
        .execute(params![day.to_string()])?;
    tx.prepare_cached("DELETE FROM traffic WHERE hour < ?1")?
        .execute(params![hour])?;
    Ok(())
}

#[async_trait]
impl AudienceStore for SqliteStore {
    async fn merge_audience(
        &self,
        day: NaiveDate,
        feed: &str,
        merge: AudienceMerge,
    ) -> Result<(), StoreError> {
        let (day, feed) = (day.to_string(), feed.to_owned());
        self.write(move |tx| super::audience::merge(tx, &day, &feed, merge))
            .await
    }

    async fn audience(
        &self,
        since: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, AudienceRow)>, StoreError> {
        let since = since.to_string();
        self.read(move |conn| days(conn, &since)).await
    }

    async fn add_traffic(&self, rows: Vec<TrafficRow>) -> Result<(), StoreError> {
        self.write(move |tx| add_traffic(tx, &rows)).await
    }

    async fn traffic(&self, since: DateTime<Utc>) -> Result<Vec<TrafficRow>, StoreError> {
        let since = since.timestamp();
        self.read(move |conn| traffic(conn, since)).await
    }

    async fn forget_audience(&self, day: NaiveDate) -> Result<(), StoreError> {
        self.write(move |tx| forget(tx, day)).await
    }
}
