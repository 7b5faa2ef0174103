//! The store's change sequence as everyone else sees it: each write that changes what a reader
//! could see gets a number and a time ([`Change`]) and names the categories it touched
//! ([`ChangeRecord`]); a killed story leaves a [`Tombstone`].

use chrono::{DateTime, Utc};

use super::{ArticleId, Category};

/// One entry of the change sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Position in the store's change sequence; larger is newer.
    pub seq: u64,
    /// When the change was committed.
    pub at: DateTime<Utc>,
}

/// An entry of the change sequence with the categories it touched, for cache invalidation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    pub change: Change,
    pub categories: Vec<Category>,
}

/// A killed story as a feed remembers it (RFC 6721 `at:deleted-entry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub id: ArticleId,
    pub killed_at: DateTime<Utc>,
}
