//! Readers per feed per day and polls per feed per hour: [`AudienceStore`], what the audience
//! module keeps for the stats API, metrics and the operator's page. The store only keeps the
//! figures; their encodings and merging belong to the audience module.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// One feed's readers on one UTC day, as the audience module keeps them: its own encodings of
/// the distinct direct clients and of what each aggregator reported. The store only keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AudienceRow {
    pub clients: String,
    pub agents: String,
}

/// One feed's polls in one UTC hour. Counts are added, never replaced, so the figures of
/// several replicas and flushes sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficRow {
    /// The start of the hour.
    pub hour: DateTime<Utc>,
    pub feed: String,
    pub polls: u64,
    pub not_modified: u64,
    pub bytes_sent: u64,
    pub bytes_saved: u64,
}

/// Merges new figures into a stored day (or into nothing, for a new day).
pub type AudienceMerge = Box<dyn FnOnce(Option<AudienceRow>) -> AudienceRow + Send>;

/// Reader and poll figures, merged and added so that several replicas' figures all count.
#[async_trait]
pub trait AudienceStore: Send + Sync + 'static {
    /// Replaces `feed`'s figures for `day` with `merge` of the stored ones, atomically: figures
    /// merged at once by several replicas are all kept.
    async fn merge_audience(
        &self,
        day: chrono::NaiveDate,
        feed: &str,
        merge: AudienceMerge,
    ) -> Result<(), StoreError>;

    /// Every feed's figures from `since` on, by day then feed.
    async fn audience(
        &self,
        since: chrono::NaiveDate,
    ) -> Result<Vec<(chrono::NaiveDate, String, AudienceRow)>, StoreError>;

    /// Adds polls to the stored counts of their hour and feed.
    async fn add_traffic(&self, rows: Vec<TrafficRow>) -> Result<(), StoreError>;

    /// Every feed's polls from the hour `since` on, by hour then feed.
    async fn traffic(&self, since: DateTime<Utc>) -> Result<Vec<TrafficRow>, StoreError>;

    /// Deletes reader and poll figures from before `day`.
    async fn forget_audience(&self, day: chrono::NaiveDate) -> Result<(), StoreError>;
}
