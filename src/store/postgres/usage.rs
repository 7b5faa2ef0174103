//! Partners' requests per hour in the PostgreSQL store: each row is added in one statement,
//! so replicas flushing at once need no lock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::{PostgresStore, scoped};
use crate::store::{StoreError, UsageRow, UsageStore};

async fn add(client: &impl GenericClient, rows: &[UsageRow]) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO partner_usage (day, hour, partner, requests, not_modified, bytes)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (hour, partner) DO UPDATE SET
                 requests = partner_usage.requests + excluded.requests,
                 not_modified = partner_usage.not_modified + excluded.not_modified,
                 bytes = partner_usage.bytes + excluded.bytes",
        )
        .await?;
    for row in rows {
        let counts = [row.requests, row.not_modified, row.bytes].map(|n| n as i64);
        client
            .execute(
                &stmt,
                &[
                    &row.hour.date_naive().to_string(),
                    &row.hour.timestamp(),
                    &row.partner,
                    &counts[0],
                    &counts[1],
                    &counts[2],
                ],
            )
            .await?;
    }
    Ok(())
}

async fn since(client: &impl GenericClient, since: i64) -> Result<Vec<UsageRow>, StoreError> {
    let rows = client
        .query(
            "SELECT hour, partner, requests, not_modified, bytes FROM partner_usage
             WHERE hour >= $1 ORDER BY hour, partner",
            &[&since],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let hour: i64 = r.get(0);
            Ok(UsageRow {
                hour: DateTime::<Utc>::from_timestamp(hour, 0)
                    .ok_or_else(|| StoreError::Corrupt(format!("partner usage hour {hour}")))?,
                partner: r.get(1),
                requests: r.get::<_, i64>(2) as u64,
                not_modified: r.get::<_, i64>(3) as u64,
                bytes: r.get::<_, i64>(4) as u64,
            })
        })
        .collect()
}

#[async_trait]
impl UsageStore for PostgresStore {
    async fn add_usage(&self, rows: Vec<UsageRow>) -> Result<(), StoreError> {
        with_conn!(self, client, { add(&**client, &rows).await })
    }

    async fn usage(&self, from: DateTime<Utc>) -> Result<Vec<UsageRow>, StoreError> {
        with_conn!(self, client, { since(&**client, from.timestamp()).await })
    }

    async fn forget_usage(&self, before: DateTime<Utc>) -> Result<(), StoreError> {
        with_conn!(self, client, {
            client
                .execute(
                    "DELETE FROM partner_usage WHERE hour < $1",
                    &[&before.timestamp()],
                )
                .await?;
            Ok(())
        })
    }
}
