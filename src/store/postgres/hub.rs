//! WebSub subscriptions and delivery claims in the PostgreSQL store. Each statement stands
//! alone, so none needs the writers' advisory lock: subscriptions are not part of the change
//! sequence.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{PostgresStore, scoped};
use crate::store::{StoreError, Subscription, SubscriptionStore, from_nanos, nanos};

pub(super) async fn subscribe(
    client: &impl GenericClient,
    s: &Subscription,
) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO websub_subscriptions
                 (topic, callback, callback_host, secret, lease_seconds, expires_ns)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (topic, callback) DO UPDATE SET callback_host = excluded.callback_host,
                 secret = excluded.secret, lease_seconds = excluded.lease_seconds,
                 expires_ns = excluded.expires_ns",
        )
        .await?;
    client
        .execute(
            &stmt,
            &[
                &s.topic,
                &s.callback,
                &s.callback_host,
                &s.secret,
                &(s.lease_seconds as i64),
                &nanos(s.expires_at),
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn unsubscribe(
    client: &impl GenericClient,
    topic: &str,
    callback: &str,
) -> Result<bool, StoreError> {
    let gone = client
        .execute(
            "DELETE FROM websub_subscriptions WHERE topic = $1 AND callback = $2",
            &[&topic, &callback],
        )
        .await?;
    Ok(gone > 0)
}

fn subscription(row: &Row) -> Subscription {
    Subscription {
        topic: row.get(0),
        callback: row.get(1),
        callback_host: row.get(2),
        secret: row.get(3),
        lease_seconds: row.get::<_, i64>(4) as u64,
        expires_at: from_nanos(row.get(5)),
    }
}

pub(super) async fn subscribers(
    client: &impl GenericClient,
    topic: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Subscription>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT topic, callback, callback_host, secret, lease_seconds, expires_ns
             FROM websub_subscriptions WHERE topic = $1 AND expires_ns > $2 ORDER BY callback",
        )
        .await?;
    let rows = client.query(&stmt, &[&topic, &nanos(now)]).await?;
    Ok(rows.iter().map(subscription).collect())
}

pub(super) async fn subscribed_topics(
    client: &impl GenericClient,
    now: DateTime<Utc>,
) -> Result<Vec<(String, u64)>, StoreError> {
    let rows = client
        .query(
            "SELECT topic, count(*) FROM websub_subscriptions WHERE expires_ns > $1
             GROUP BY topic ORDER BY topic",
            &[&nanos(now)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
        .collect())
}

pub(super) async fn on_host(
    client: &impl GenericClient,
    host: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM websub_subscriptions WHERE callback_host = $1 AND expires_ns > $2",
            &[&host, &nanos(now)],
        )
        .await?;
    Ok(row.get::<_, i64>(0) as u64)
}

pub(super) async fn expire(
    client: &impl GenericClient,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let gone = client
        .execute(
            "DELETE FROM websub_subscriptions WHERE expires_ns <= $1",
            &[&nanos(now)],
        )
        .await?;
    client
        .execute(
            "DELETE FROM websub_claims WHERE claimed_ns < $1",
            &[&nanos(now - Duration::days(1))],
        )
        .await?;
    Ok(gone)
}

pub(super) async fn claim(
    client: &impl GenericClient,
    seq: u64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let claimed = client
        .execute(
            "INSERT INTO websub_claims (seq, claimed_ns) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&(seq as i64), &nanos(now)],
        )
        .await?;
    Ok(claimed == 1)
}

#[async_trait]
impl SubscriptionStore for PostgresStore {
    async fn subscribe(&self, subscription: &Subscription) -> Result<(), StoreError> {
        with_conn!(self, client, { subscribe(&**client, subscription).await })
    }

    async fn unsubscribe(&self, topic: &str, callback: &str) -> Result<bool, StoreError> {
        with_conn!(self, client, {
            unsubscribe(&**client, topic, callback).await
        })
    }

    async fn subscribers(
        &self,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError> {
        with_conn!(self, client, { subscribers(&**client, topic, now).await })
    }

    async fn subscribed_topics(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        with_conn!(self, client, { subscribed_topics(&**client, now).await })
    }

    async fn subscriptions_on_host(
        &self,
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        with_conn!(self, client, { on_host(&**client, host, now).await })
    }

    async fn expire_subscriptions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        with_conn!(self, client, { expire(&**client, now).await })
    }

    async fn claim_change(&self, seq: u64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        with_conn!(self, client, { claim(&**client, seq, now).await })
    }
}
