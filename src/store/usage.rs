//! Partners' requests per UTC hour: [`UsageStore`], what the partners' usage module keeps so
//! that quotas and the operator's page sum every replica's requests.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// One partner's requests in one UTC hour. Counts are added, never replaced, so the figures
/// of several replicas and flushes sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// The start of the hour.
    pub hour: DateTime<Utc>,
    pub partner: String,
    /// Requests answered, 304s included.
    pub requests: u64,
    /// Of which answered 304 Not Modified.
    pub not_modified: u64,
    /// Body bytes sent.
    pub bytes: u64,
}

/// Partner usage, added so that several replicas' requests all count.
#[async_trait]
pub trait UsageStore: Send + Sync + 'static {
    /// Adds requests to the stored counts of their hour and partner.
    async fn add_usage(&self, rows: Vec<UsageRow>) -> Result<(), StoreError>;

    /// Every partner's requests from the hour `since` on, by hour then partner.
    async fn usage(&self, since: DateTime<Utc>) -> Result<Vec<UsageRow>, StoreError>;

    /// Deletes usage from before `before`.
    async fn forget_usage(&self, before: DateTime<Utc>) -> Result<(), StoreError>;
}
