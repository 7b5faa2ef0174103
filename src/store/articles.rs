//! The stories and the change sequence: [`ArticleStore`], what the ingest path writes and what
//! the cache and the change bus read, with the words of its answers. Kept apart from
//! subscriptions and reader figures so that a consumer of stories needs nothing else.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Due, StoreError};
use crate::model::{Article, ArticleId, Category, Change, ChangeRecord, Selection, Tombstone};

/// A slice of a selection's live stories, for paged and archived feeds (RFC 5005). Bounds
/// combine; stories come newest first (ties broken by id, descending) unless `oldest_first`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    /// Only stories published at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only stories that come after this one in feed order: published earlier, or at the same
    /// time with a smaller id.
    pub before: Option<(DateTime<Utc>, ArticleId)>,
    /// Only stories published before this time.
    pub until: Option<DateTime<Utc>>,
    pub oldest_first: bool,
    pub offset: usize,
    pub limit: usize,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A story the store did not have.
    Created(Change),
    /// A new version of a story it had (a correction, or a story brought back after a kill).
    Updated(Change),
    /// The story was already stored exactly like this; nothing changed.
    Unchanged,
}

/// A killed story, as the store remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Killed {
    pub article: Article,
    pub killed: Change,
}

/// What the store knows about one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Live(Article),
    Killed(Killed),
    Missing,
}

/// A category and how many live stories are filed in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCount {
    pub category: Category,
    pub articles: u64,
}

/// Counts from an import run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl ImportCounts {
    pub fn add(&mut self, outcome: WriteOutcome) {
        match outcome {
            WriteOutcome::Created(_) => self.created += 1,
            WriteOutcome::Updated(_) => self.updated += 1,
            WriteOutcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// Stories and the change sequence. Writes are durable when they return `Ok`. Every write
/// that changes what a reader could see is given the next number of the change sequence and a
/// wall-clock time, recorded against each category it touched (before and after the write).
#[async_trait]
pub trait ArticleStore: Send + Sync + 'static {
    /// Creates or replaces a story, keyed by id. Storing a story identical to the stored one
    /// changes nothing and reports [`WriteOutcome::Unchanged`].
    async fn put(&self, article: Article) -> Result<WriteOutcome, StoreError>;

    /// Stores many stories in one transaction: either all are stored or none.
    async fn put_many(&self, articles: Vec<Article>) -> Result<ImportCounts, StoreError>;

    /// Kills a story: it leaves every feed, and the store remembers it as killed. Returns `None`
    /// when there is no live story with that id.
    async fn kill(&self, id: &ArticleId) -> Result<Option<Killed>, StoreError>;

    async fn get(&self, id: &ArticleId) -> Result<Lookup, StoreError>;

    /// The newest `limit` live stories in the selection, newest `published` first (ties broken
    /// by id, descending), each story once however many selected categories it is filed in.
    async fn latest(&self, selection: &Selection, limit: usize)
    -> Result<Vec<Article>, StoreError>;

    /// The stories of a [`Window`] of the selection.
    async fn window(
        &self,
        selection: &Selection,
        window: &Window,
    ) -> Result<Vec<Article>, StoreError>;

    /// How many live stories the selection holds (each once).
    async fn count(&self, selection: &Selection) -> Result<u64, StoreError>;

    /// Every category a story was ever filed in, in slug order, with how many live stories it
    /// holds now: one whose stories were all killed or moved still has its feeds (where its
    /// withdrawal notices are), with a count of 0.
    async fn categories(&self) -> Result<Vec<CategoryCount>, StoreError>;

    /// The newest change of the whole store, or `None` for a store never written to.
    async fn last_change(&self) -> Result<Option<Change>, StoreError>;

    /// The newest change that touched any category of the selection (a publish, a correction
    /// or a kill, counting the categories a story had before and after).
    async fn last_change_in(&self, selection: &Selection) -> Result<Option<Change>, StoreError>;

    /// Stories killed at or after `since` that were filed in the selection — only those
    /// published within `published` (start inclusive, end exclusive) when given — newest kill
    /// first, each with the story as it was when killed.
    async fn tombstones(
        &self,
        selection: &Selection,
        since: DateTime<Utc>,
        published: Option<(DateTime<Utc>, DateTime<Utc>)>,
        limit: usize,
    ) -> Result<Vec<Tombstone>, StoreError>;

    /// When the newest (or, not `newest`, the oldest) killed story filed in the selection and
    /// published within `published` (start inclusive, end exclusive) was published: how the
    /// archives find the days that hold withdrawal notices.
    async fn killed_published(
        &self,
        selection: &Selection,
        published: (DateTime<Utc>, DateTime<Utc>),
        newest: bool,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Live stories whose `expires` has come by `now` (at most `limit`), and the next expiry
    /// after them.
    async fn expiring(&self, now: DateTime<Utc>, limit: usize) -> Result<Due, StoreError>;

    /// Changes after `seq`, oldest first, at most `limit` of them: how a cache catches up with
    /// writes made by another process or replica.
    async fn changes_since(&self, seq: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError>;
}
