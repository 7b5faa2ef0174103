//! Partners' requests per hour in the SQLite store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, params};

use super::SqliteStore;
use crate::store::{StoreError, UsageRow, UsageStore};

fn add(tx: &Transaction<'_>, rows: &[UsageRow]) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO partner_usage (day, hour, partner, requests, not_modified, bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (hour, partner) DO UPDATE SET
             requests = partner_usage.requests + excluded.requests,
             not_modified = partner_usage.not_modified + excluded.not_modified,
             bytes = partner_usage.bytes + excluded.bytes",
    )?;
    for row in rows {
        stmt.execute(params![
            row.hour.date_naive().to_string(),
            row.hour.timestamp(),
            row.partner,
            row.requests as i64,
            row.not_modified as i64,
            row.bytes as i64,
        ])?;
    }
    Ok(())
}

fn since(conn: &Connection, since: i64) -> Result<Vec<UsageRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hour, partner, requests, not_modified, bytes FROM partner_usage
         WHERE hour >= ?1 ORDER BY hour, partner",
    )?;
    let rows = stmt.query_map(params![since], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            [r.get::<_, i64>(2)?, r.get(3)?, r.get(4)?],
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (hour, partner, [requests, not_modified, bytes]) = row?;
        out.push(UsageRow {
            hour: DateTime::<Utc>::from_timestamp(hour, 0)
                .ok_or_else(|| StoreError::Corrupt(format!("partner usage hour {hour}")))?,
            partner,
            requests: requests as u64,
            not_modified: not_modified as u64,
            bytes: bytes as u64,
        });
    }
    Ok(out)
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn add_usage(&self, rows: Vec<UsageRow>) -> Result<(), StoreError> {
        self.write(move |tx| add(tx, &rows)).await
    }

    async fn usage(&self, from: DateTime<Utc>) -> Result<Vec<UsageRow>, StoreError> {
        let from = from.timestamp();
        self.read(move |conn| since(conn, from)).await
    }

    async fn forget_usage(&self, before: DateTime<Utc>) -> Result<(), StoreError> {
        let before = before.timestamp();
        self.write(move |tx| {
            tx.prepare_cached("DELETE FROM partner_usage WHERE hour < ?1")?
                .execute(params![before])?;
            Ok(())
        })
        .await
    }
}
