//! WebSub subscriptions and delivery claims in the SQLite store.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, Row, Transaction, params};

use super::SqliteStore;
use crate::store::{StoreError, Subscription, SubscriptionStore, from_nanos, nanos};

pub(super) fn subscribe(tx: &Transaction<'_>, s: &Subscription) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO websub_subscriptions
             (topic, callback, callback_host, secret, lease_seconds, expires_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (topic, callback) DO UPDATE SET callback_host = excluded.callback_host,
             secret = excluded.secret, lease_seconds = excluded.lease_seconds,
             expires_ns = excluded.expires_ns",
    )?
    .execute(params![
        s.topic,
        s.callback,
        s.callback_host,
        s.secret,
        s.lease_seconds as i64,
        nanos(s.expires_at)
    ])?;
    Ok(())
}

pub(super) fn unsubscribe(
    tx: &Transaction<'_>,
    topic: &str,
    callback: &str,
) -> Result<bool, StoreError> {
    let gone = tx
        .prepare_cached("DELETE FROM websub_subscriptions WHERE topic = ?1 AND callback = ?2")?
        .execute(params![topic, callback])?;
    Ok(gone > 0)
}

fn subscription(row: &Row<'_>) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        topic: row.get(0)?,
        callback: row.get(1)?,
        callback_host: row.get(2)?,
        secret: row.get(3)?,
        lease_seconds: row.get::<_, i64>(4)? as u64,
        expires_at: from_nanos(row.get(5)?),
    })
}

pub(super) fn subscribers(
    conn: &Connection,
    topic: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Subscription>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT topic, callback, callback_host, secret, lease_seconds, expires_ns
         FROM websub_subscriptions WHERE topic = ?1 AND expires_ns > ?2 ORDER BY callback",
    )?;
    let rows = stmt.query_map(params![topic, nanos(now)], subscription)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn subscribed_topics(
    conn: &Connection,
    now: DateTime<Utc>,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT topic, count(*) FROM websub_subscriptions WHERE expires_ns > ?1
         GROUP BY topic ORDER BY topic",
    )?;
    let rows = stmt.query_map(params![nanos(now)], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn on_host(
    conn: &Connection,
    host: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let count: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM websub_subscriptions WHERE callback_host = ?1 AND expires_ns > ?2",
        )?
        .query_row(params![host, nanos(now)], |r| r.get(0))?;
    Ok(count as u64)
}

pub(super) fn expire(tx: &Transaction<'_>, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let gone = tx
        .prepare_cached("DELETE FROM websub_subscriptions WHERE expires_ns <= ?1")?
        .execute(params![nanos(now)])?;
    tx.prepare_cached("DELETE FROM websub_claims WHERE claimed_ns < ?1")?
        .execute(params![nanos(now - Duration::days(1))])?;
    Ok(gone as u64)
}

pub(super) fn claim(
    tx: &Transaction<'_>,
    seq: u64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let claimed = tx
        .prepare_cached("INSERT OR IGNORE INTO websub_claims (seq, claimed_ns) VALUES (?1, ?2)")?
        .execute(params![seq as i64, nanos(now)])?;
    Ok(claimed == 1)
}

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn subscribe(&self, subscription: &Subscription) -> Result<(), StoreError> {
        let subscription = subscription.clone();
        self.write(move |tx| subscribe(tx, &subscription)).await
    }

    async fn unsubscribe(&self, topic: &str, callback: &str) -> Result<bool, StoreError> {
        let (topic, callback) = (topic.to_owned(), callback.to_owned());
        self.write(move |tx| unsubscribe(tx, &topic, &callback))
            .await
    }

    async fn subscribers(
        &self,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError> {
        let topic = topic.to_owned();
        self.read(move |conn| subscribers(conn, &topic, now)).await
    }

    async fn subscribed_topics(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.read(move |conn| subscribed_topics(conn, now)).await
    }

    async fn subscriptions_on_host(
        &self,
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let host = host.to_owned();
        self.read(move |conn| on_host(conn, &host, now)).await
    }

    async fn expire_subscriptions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.write(move |tx| expire(tx, now)).await
    }

    async fn claim_change(&self, seq: u64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.write(move |tx| claim(tx, seq, now)).await
    }
}
