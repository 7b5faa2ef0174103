//! WebSub subscriptions and delivery claims: [`SubscriptionStore`], what the built-in hub keeps
//! in the store so that subscriptions survive restarts and are shared by replicas, and so that
//! each change is pushed once however many replicas see it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// A verified WebSub subscription: deliver `topic` to `callback` until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topic: String,
    pub callback: String,
    /// The callback's host, for per-host limits.
    pub callback_host: String,
    /// Key of the HMAC signature on each delivery, when the subscriber gave one.
    pub secret: Option<String>,
    pub lease_seconds: u64,
    pub expires_at: DateTime<Utc>,
}

/// WebSub subscriptions and which process pushes each change.
#[async_trait]
pub trait SubscriptionStore: Send + Sync + 'static {
    /// Creates a subscription, or renews it (new lease, new secret) when the topic and callback
    /// are already subscribed.
    async fn subscribe(&self, subscription: &Subscription) -> Result<(), StoreError>;

    /// Ends a subscription; `false` when there was none.
    async fn unsubscribe(&self, topic: &str, callback: &str) -> Result<bool, StoreError>;

    /// Subscriptions to `topic` whose lease runs past `now`.
    async fn subscribers(
        &self,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError>;

    /// Every topic with at least one subscription whose lease runs past `now`, with how many.
    async fn subscribed_topics(&self, now: DateTime<Utc>)
    -> Result<Vec<(String, u64)>, StoreError>;

    /// Live subscriptions whose callback is on `host`.
    async fn subscriptions_on_host(
        &self,
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Deletes subscriptions whose lease ended before `now`, and delivery claims older than a
    /// day; returns how many subscriptions went.
    async fn expire_subscriptions(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Claims the delivery of change `seq`: `true` for exactly one caller across every process
    /// sharing the store, so each publish is pushed once however many replicas see it.
    async fn claim_change(&self, seq: u64, now: DateTime<Utc>) -> Result<bool, StoreError>;
}
