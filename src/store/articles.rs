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

/// What a write expects to find under the story's id. The store checks it inside the write's
/// transaction, under its write lock, so that what the write path decided on the version it
/// read (the replacement rules, a request's preconditions) still holds when the write lands —
/// also against a write made meanwhile by another process on the SQLite file or another
/// replica on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Whatever is stored (an import, a release, the clock's withdrawals).
    Anything,
    /// No story with that id, live or killed.
    Nothing,
    /// The live story at the version written by the change with this sequence number.
    At(u64),
}

impl Expected {
    /// Whether a stored row — the change that wrote its version, and whether it is killed —
    /// is what was expected (`None`: no row).
    pub(crate) fn holds(self, row: Option<(u64, bool)>) -> bool {
        match (self, row) {
            (Expected::Anything, _) | (Expected::Nothing, None) => true,
            (Expected::At(seq), Some((written, false))) => seq == written,
            _ => false,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A story the store did not have.
    Created(Change),
    /// A new version of a live story it had (a correction).
    Updated(Change),
    /// The story was already stored exactly like this; nothing changed.
    Unchanged,
    /// The id is a killed story's (killed after publication, or a held story dropped before
    /// its lift). A kill is final — a retry of the publish or a later version must not bring
    /// the story back — so nothing was written.
    Killed,
    /// The story was not as [`Expected`]: another write came between the read and this one.
    /// Nothing was written; read again and decide again.
    Moved,
}

/// What a kill did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillOutcome {
    /// The live story is killed now.
    Killed(Box<Killed>),
    /// It was killed before: nothing changed (a retry).
    AlreadyKilled,
    /// No live or killed story has that id (a held one is [`HoldStore::unhold`]'s, and a held
    /// one dropped was never published).
    ///
    /// [`HoldStore::unhold`]: super::HoldStore::unhold
    Missing,
    /// The story was not as [`Expected`]; nothing changed.
    Moved,
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

/// What the write path knows about one id: a live story with the change that wrote its version
/// (what a conditional write expects, [`Expected::At`], and when the story last changed), or
/// a kill, or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    Live {
        article: Article,
        written: Change,
    },
    Killed(Killed),
    /// A held story the desk dropped before its lift: killed for the desk, but no reader ever
    /// saw it, so every public read ([`ArticleStore::get`]) finds nothing.
    Dropped(Killed),
    Missing,
}

impl Current {
    /// What a write of this story expects to find still stored.
    pub fn expected(&self) -> Expected {
        match self {
            Current::Live { written, .. } => Expected::At(written.seq),
            Current::Killed(_) | Current::Dropped(_) | Current::Missing => Expected::Nothing,
        }
    }

    /// Whether the id is a killed story's (killed after publication, or dropped while held).
    pub fn is_killed(&self) -> bool {
        matches!(self, Current::Killed(_) | Current::Dropped(_))
    }
}

impl From<Current> for Lookup {
    fn from(current: Current) -> Self {
        match current {
            Current::Live { article, .. } => Lookup::Live(article),
            Current::Killed(killed) => Lookup::Killed(killed),
            Current::Dropped(_) | Current::Missing => Lookup::Missing,
        }
    }
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
    /// Stories whose id had been killed: left killed, nothing written.
    pub killed: u64,
}

impl ImportCounts {
    pub fn add(&mut self, outcome: WriteOutcome) {
        match outcome {
            WriteOutcome::Created(_) => self.created += 1,
            WriteOutcome::Updated(_) => self.updated += 1,
            // An import expects nothing in particular, so it is never moved.
            WriteOutcome::Unchanged | WriteOutcome::Moved => self.unchanged += 1,
            WriteOutcome::Killed => self.killed += 1,
        }
    }

    /// Every count of `other` added to these.
    pub fn merge(&mut self, other: ImportCounts) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.killed += other.killed;
    }

    /// Every story counted.
    pub fn total(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.killed
    }
}

/// Stories and the change sequence. Writes are durable when they return `Ok`. Every write
/// that changes what a reader could see is given the next number of the change sequence and a
/// wall-clock time, recorded against each category it touched (before and after the write).
#[async_trait]
pub trait ArticleStore: Send + Sync + 'static {
    /// Creates or replaces a story, keyed by id, if what is stored under the id is `expected`
    /// ([`WriteOutcome::Moved`] otherwise). Storing a story identical to the stored one
    /// changes nothing and reports [`WriteOutcome::Unchanged`]; a killed story is never
    /// replaced ([`WriteOutcome::Killed`]).
    async fn put_if(
        &self,
        article: Article,
        expected: Expected,
    ) -> Result<WriteOutcome, StoreError>;

    /// [`ArticleStore::put_if`] whatever is stored.
    async fn put(&self, article: Article) -> Result<WriteOutcome, StoreError> {
        self.put_if(article, Expected::Anything).await
    }

    /// Stores many stories in one transaction: either all are written or none. A story whose
    /// id was killed is left killed and counted as such.
    async fn put_many(&self, articles: Vec<Article>) -> Result<ImportCounts, StoreError>;

    /// Kills a story, if it is `expected`: it leaves every feed, and the store remembers it
    /// as killed.
    async fn kill_if(&self, id: &ArticleId, expected: Expected) -> Result<KillOutcome, StoreError>;

    /// Kills the live story with that id, if there is one.
    async fn kill(&self, id: &ArticleId) -> Result<Option<Killed>, StoreError> {
        Ok(match self.kill_if(id, Expected::Anything).await? {
            KillOutcome::Killed(killed) => Some(*killed),
            _ => None,
        })
    }

    /// The story with that id and the change that wrote its version.
    async fn current(&self, id: &ArticleId) -> Result<Current, StoreError>;

    /// The story with that id as readers may know it.
    async fn get(&self, id: &ArticleId) -> Result<Lookup, StoreError> {
        self.current(id).await.map(Lookup::from)
    }

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

    /// Whether a live story published within `published` (start inclusive, end exclusive) was
    /// ever filed in the selection by a public version, also one a correction has since moved
    /// out of it: how a day archive whose stories all moved away still answers (invariant 4).
    async fn filed_within(
        &self,
        selection: &Selection,
        published: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<bool, StoreError>;

    /// Live stories whose `expires` has come by `now` (at most `limit`), and the next expiry
    /// after them.
    async fn expiring(&self, now: DateTime<Utc>, limit: usize) -> Result<Due, StoreError>;

    /// Changes after `seq`, oldest first, at most `limit` of them: how a cache catches up with
    /// writes made by another process or replica.
    async fn changes_since(&self, seq: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError>;
}
