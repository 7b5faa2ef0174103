//! The write path: the only code that writes stories. The ingest API (article JSON and
//! ninjs), `wirefeed import` and the sample wire all come through here.
//!
//! It owns, in order: validation (a draft becomes an [`Article`] or a list of field errors),
//! the rules for replacing a stored story (a kill is final: nothing brings a killed story
//! back; a POST never silently replaces a different story; a correction's `updated` never
//! moves backwards; a request's [`Preconditions`] give optimistic concurrency), the write
//! itself, and the announcement of the change on the change bus — so that once a caller hears
//! back, every document of this process already shows the change.
//!
//! An embargoed story (an `embargo` still in the future) is held, not published: it reaches
//! readers when [`Desk::release_due`] — run by the `schedule` task of every process — files it
//! at its lift time, through the same store write and announcement as a publish. A `PUT` moves
//! the embargo, or lifts it at once when the new version has none.
//!
//! Writes through one [`Desk`] are serialised, so the read-compare-write of a correction is
//! atomic within a process. Across processes (two servers on one SQLite file, replicas on
//! PostgreSQL) the write of a live story carries the version it was decided on
//! ([`Expected`]), which the store checks inside its write transaction under its write lock:
//! when another process wrote the story in between, nothing is written and the story is read
//! and decided again — the rules, the kill check and the preconditions all see the story the
//! write replaces. A held story (under embargo) is guarded by the desk's lock alone: two
//! replicas correcting the same held story at once both pass, and the later write wins.
//!
//! Each write — waiting for the desk's lock, the store's reads and writes, retries after a
//! moved story — is bounded by one deadline (`store_timeout_ms`), so that a publisher queued
//! behind a stalled store hears 503 within it, however many wait.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::time::Instant;

use super::ninjs;
use crate::changes::ChangeBus;
use crate::model::{Article, ArticleDraft, ArticleId, Change, FieldError};
use crate::store::{
    Current, Due, Expected, HoldOutcome, ImportCounts, KillOutcome, Killed, Store, StoreError,
    WriteOutcome, released,
};

/// What a request body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// wirefeed's own article JSON.
    Article,
    /// An IPTC ninjs 2.x document.
    Ninjs,
}

/// A validated story and what its sender said about it.
#[derive(Debug, Clone)]
pub struct Submission {
    pub article: Article,
    /// Whether the sender gave `updated`; when not, a correction is stamped with the time it
    /// is accepted.
    pub updated_given: bool,
}

/// What a request body asks for.
#[derive(Debug, Clone)]
pub enum Submitted {
    /// Publish or correct a story.
    Story(Box<Submission>),
    /// Withdraw a story, as `DELETE` does: ninjs `pubstatus` `canceled` or `withheld`, or an
    /// `expires` already past.
    Kill { id: ArticleId, reason: &'static str },
}

/// How a write may treat a story already stored under the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `POST`: create; an identical story is a harmless retry, a different one a conflict.
    Create,
    /// `PUT`: create or replace.
    Replace,
}

/// A story's validators, exactly as `GET /api/articles/{id}` sends them: what a write's
/// [`Preconditions`] are compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// The story's version (a strong ETag, quoted): [`version`].
    pub etag: String,
    /// When the stored story last changed — the time of the change that wrote its version —
    /// sent as Last-Modified. None for a held story.
    pub last_modified: Option<DateTime<Utc>>,
}

impl Validators {
    /// A live story's, written by `written`.
    pub fn live(article: &Article, written: &Change) -> Self {
        Self {
            etag: version(article),
            last_modified: Some(written.at),
        }
    }

    /// A held story's: it has a version but no modification date.
    pub fn held(article: &Article) -> Self {
        Self {
            etag: version(article),
            last_modified: None,
        }
    }
}

/// A request's preconditions (RFC 9110 §13.1: `If-Match`, `If-None-Match`,
/// `If-Unmodified-Since`), parsed by the HTTP layer and evaluated here, inside the write: after
/// the story is read under the desk's lock and before it is written with the version read as
/// [`Expected`], so no other write can come between the check and the write (see the module's
/// words on processes and replicas).
pub trait Preconditions: Send + Sync {
    /// Whether the write may go ahead, given the current story's validators (`None`: no story
    /// under that id).
    fn pass(&self, current: Option<&Validators>) -> bool;
}

/// A write without preconditions.
pub struct Unconditional;

impl Preconditions for Unconditional {
    fn pass(&self, _: Option<&Validators>) -> bool {
        true
    }
}

fn check(
    conditions: &dyn Preconditions,
    id: &ArticleId,
    current: Option<&Validators>,
) -> Result<(), PublishError> {
    if conditions.pass(current) {
        Ok(())
    } else {
        Err(PublishError::PreconditionFailed(id.clone()))
    }
}

/// What a write did, and the story as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    Created(Article),
    Updated(Article),
    Unchanged(Article),
    /// Held under embargo for the first time.
    Held(Article),
    /// A held story replaced (its embargo moved, or its text corrected before the lift).
    Reheld(Article),
}

impl Published {
    pub fn article(&self) -> &Article {
        match self {
            Published::Created(a)
            | Published::Updated(a)
            | Published::Unchanged(a)
            | Published::Held(a)
            | Published::Reheld(a) => a,
        }
    }
}

/// What one pass of [`Desk::release_due`] or [`Desk::withdraw_due`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Stories this process released (or withdrew).
    pub done: Vec<ArticleId>,
    /// When the next one is due, as far as the store knows now.
    pub next: Option<DateTime<Utc>>,
}

impl Pass {
    /// A pass over `due`: when it read a full batch, the next is due at once.
    fn after(due: &Due, now: DateTime<Utc>) -> Self {
        Self {
            done: Vec::new(),
            next: if due.due.len() == PER_PASS {
                Some(now)
            } else {
                due.next
            },
        }
    }
}

/// Stories released or withdrawn per store read; more wait for the next pass, straight away.
const PER_PASS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the story is not valid")]
    Invalid(Vec<FieldError>),
    #[error("a different story with the id {0} exists")]
    Exists(ArticleId),
    #[error("the story {id} was last updated at {stored}, later than the {given} sent")]
    Outdated {
        id: ArticleId,
        stored: DateTime<Utc>,
        given: DateTime<Utc>,
    },
    #[error("the story {id} is at version {stored}, later than the version {given} sent")]
    OlderVersion {
        id: ArticleId,
        stored: u64,
        given: u64,
    },
    #[error("the preconditions sent for the story {0} do not hold")]
    PreconditionFailed(ArticleId),
    /// A kill is final: a killed story's id is never published or corrected again.
    #[error("the story {0} was killed")]
    Killed(ArticleId),
    #[error("there is no story with the id {0}")]
    Missing(ArticleId),
    #[error("the story {0} has been published; it cannot be put under embargo")]
    AlreadyPublished(ArticleId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A story's version, as its ETag on `GET /api/articles/{id}`: a hash of the stored story.
pub fn version(article: &Article) -> String {
    format!(
        "\"{:016x}\"",
        xxhash_rust::xxh3::xxh3_64(article.to_json().as_bytes())
    )
}

/// Validates a request body (already parsed as a JSON object). A `path_id` (from a PUT's URL)
/// names the story; a body naming another id is refused. A story whose `expires` is already
/// past at `now`, or a ninjs document whose `pubstatus` withdraws it, becomes a kill.
pub fn submission(
    format: InputFormat,
    value: serde_json::Value,
    path_id: Option<&ArticleId>,
    now: DateTime<Utc>,
) -> Result<Submitted, Vec<FieldError>> {
    let submitted = match story_or_kill(format, value, path_id, now)? {
        Submitted::Story(s) if s.article.expires.is_some_and(|t| t <= now) => Submitted::Kill {
            id: s.article.id.clone(),
            reason: "expired",
        },
        submitted => submitted,
    };
    Ok(submitted)
}

fn story_or_kill(
    format: InputFormat,
    value: serde_json::Value,
    path_id: Option<&ArticleId>,
    now: DateTime<Utc>,
) -> Result<Submitted, Vec<FieldError>> {
    let one = |message: String| {
        vec![FieldError {
            pointer: String::new(),
            message,
        }]
    };
    match format {
        InputFormat::Article => {
            let mut draft = ArticleDraft::deserialize(value).map_err(|e| one(e.to_string()))?;
            if let Some(id) = path_id {
                match draft.id.as_deref() {
                    None => draft.id = Some(id.to_string()),
                    Some(given) if given == id.as_str() => {}
                    Some(_) => {
                        return Err(vec![FieldError {
                            pointer: "/id".to_owned(),
                            message: format!("must match the id in the URL, {id}"),
                        }]);
                    }
                }
            }
            let updated_given = draft.updated.is_some();
            Ok(Submitted::Story(Box::new(Submission {
                article: draft.validate_at(now)?,
                updated_given,
            })))
        }
        InputFormat::Ninjs => {
            let Some(object) = value.as_object() else {
                return Err(one("must be one JSON object".to_owned()));
            };
            let mut mapped = ninjs::to_draft(object)?;
            // A PUT names the story in its URL; a POST takes the id from the ninjs `uri`.
            if let Some(id) = path_id {
                mapped.draft.id = Some(id.to_string());
            }
            if let Some(reason) = mapped.withdrawn {
                // Only the id matters: a cancellation need not repeat the story.
                let id = match mapped.draft.id.as_deref() {
                    None => Err("is required".to_owned()),
                    Some(raw) => ArticleId::parse(raw),
                };
                return id
                    .map(|id| Submitted::Kill { id, reason })
                    .map_err(|message| {
                        vec![FieldError {
                            pointer: "/uri".to_owned(),
                            message,
                        }]
                    });
            }
            let updated_given = mapped.draft.updated.is_some();
            Ok(Submitted::Story(Box::new(Submission {
                article: mapped.validate_at(now)?,
                updated_given,
            })))
        }
    }
}

/// The write path of one process.
pub struct Desk {
    store: Arc<dyn Store>,
    bus: Arc<ChangeBus>,
    writing: tokio::sync::Mutex<()>,
    /// What one write may take in all, waiting for `writing` included.
    deadline: Duration,
}

/// A kill as the desk carried it out.
enum Killing {
    Killed(Box<Killed>),
    /// A held story dropped before its lift.
    Dropped,
    /// Killed before: nothing to do.
    AlreadyKilled,
}

impl Desk {
    /// The desk of a serving process: each write within `deadline` (`store_timeout_ms`).
    pub(crate) fn new(store: Arc<dyn Store>, bus: Arc<ChangeBus>, deadline: Duration) -> Self {
        Self {
            store,
            bus,
            writing: tokio::sync::Mutex::new(()),
            deadline,
        }
    }

    /// A desk whose changes no one in this process follows (a command-line import: serving
    /// processes follow the store's change sequence themselves).
    pub fn standalone(store: Arc<dyn Store>) -> Self {
        let bus = Arc::new(ChangeBus::new(Arc::clone(&store), Vec::new()));
        Self::new(store, bus, crate::store::DEFAULT_DEADLINE)
    }

    /// Takes the desk's write lock, waiting no later than `until`.
    async fn lock(&self, until: Instant) -> Result<tokio::sync::MutexGuard<'_, ()>, StoreError> {
        tokio::time::timeout_at(until, self.writing.lock())
            .await
            .map_err(|_| StoreError::Timeout(self.deadline))
    }

    /// `work`, abandoned at `until`. A write abandoned mid-way may still commit (the
    /// publishing contract: a 5xx may or may not have stored the story).
    async fn within<T, E: From<StoreError>>(
        &self,
        until: Instant,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        tokio::time::timeout_at(until, work)
            .await
            .unwrap_or_else(|_| Err(StoreError::Timeout(self.deadline).into()))
    }

    /// Publishes or corrects one story, if `conditions` hold for the story it replaces.
    pub async fn publish(
        &self,
        submission: Submission,
        mode: Mode,
        conditions: &dyn Preconditions,
        now: DateTime<Utc>,
    ) -> Result<Published, PublishError> {
        let until = Instant::now() + self.deadline;
        let _writing = self.lock(until).await?;
        let published = self
            .within(until, async {
                loop {
                    // `None`: another process wrote the story meanwhile; decide again.
                    if let Some(published) =
                        self.try_publish(&submission, mode, conditions, now).await?
                    {
                        return Ok::<_, PublishError>(published);
                    }
                }
            })
            .await?;
        self.announce(until).await;
        Ok(published)
    }

    /// One attempt at [`Desk::publish`] (the caller holds `writing`).
    async fn try_publish(
        &self,
        submission: &Submission,
        mode: Mode,
        conditions: &dyn Preconditions,
        now: DateTime<Utc>,
    ) -> Result<Option<Published>, PublishError> {
        let mut article = submission.article.clone();
        let held = self.store.held(&article.id).await?;
        if article.embargo.is_some_and(|lift| lift > now) {
            return self.hold(article, held, mode, conditions).await.map(Some);
        }
        // An embargo that has already lifted is none: the story is published as at its lift.
        if article.embargo.is_some() {
            article = released(&article);
        }
        if let Some(held) = held {
            if let Some(published) = self
                .lift_early(&article, &held, mode, conditions, now)
                .await?
            {
                return Ok(Some(published));
            }
        }
        self.write(article, submission.updated_given, mode, conditions, now)
            .await
    }

    /// Publishes or corrects a story that is not held (the caller holds `writing`). `None`
    /// when the store found the story changed since it was read here.
    async fn write(
        &self,
        mut article: Article,
        updated_given: bool,
        mode: Mode,
        conditions: &dyn Preconditions,
        now: DateTime<Utc>,
    ) -> Result<Option<Published>, PublishError> {
        let id = article.id.clone();
        let current = self.store.current(&id).await?;
        let stored = match &current {
            Current::Killed(_) | Current::Dropped(_) => return Err(PublishError::Killed(id)),
            Current::Live { article, written } => {
                check(conditions, &id, Some(&Validators::live(article, written)))?;
                Some(article)
            }
            Current::Missing => {
                check(conditions, &id, None)?;
                None
            }
        };
        if let Some(stored) = stored {
            if let (Some(given), Some(held)) = (article.version, stored.version) {
                if given < held {
                    return Err(PublishError::OlderVersion {
                        id,
                        stored: held,
                        given,
                    });
                }
            }
            if updated_given && article.updated < stored.updated {
                return Err(PublishError::Outdated {
                    id,
                    stored: stored.updated,
                    given: article.updated,
                });
            }
            if !updated_given {
                // The same story sent again is a retry; a changed one is a correction made
                // now — never earlier than the version it replaces.
                article.updated = stored.updated;
                if &article != stored {
                    article.updated = now.max(stored.updated).max(article.published);
                }
            }
            if mode == Mode::Create && &article != stored {
                return Err(PublishError::Exists(id));
            }
        }
        Ok(
            match self
                .store
                .put_if(article.clone(), current.expected())
                .await?
            {
                WriteOutcome::Created(_) => Some(Published::Created(article)),
                WriteOutcome::Updated(_) => Some(Published::Updated(article)),
                WriteOutcome::Unchanged => Some(Published::Unchanged(article)),
                WriteOutcome::Killed => return Err(PublishError::Killed(id)),
                WriteOutcome::Moved => None,
            },
        )
    }

    /// Kills a story, if `conditions` hold for it. Killing a killed story again is a harmless
    /// retry (`Ok(None)`, whatever its preconditions: the kill they were for is done), and so
    /// is dropping a held story before its lift (no reader saw it: no notice).
    pub async fn kill(
        &self,
        id: &ArticleId,
        conditions: &dyn Preconditions,
    ) -> Result<Option<Killed>, PublishError> {
        let until = Instant::now() + self.deadline;
        let _writing = self.lock(until).await?;
        let killing = self
            .within(until, async {
                loop {
                    if let Some(killing) = self.try_kill(id, conditions).await? {
                        return Ok::<_, PublishError>(killing);
                    }
                }
            })
            .await?;
        match killing {
            Killing::Killed(killed) => {
                self.announce(until).await;
                Ok(Some(*killed))
            }
            Killing::Dropped => {
                self.announce(until).await;
                Ok(None)
            }
            Killing::AlreadyKilled => Ok(None),
        }
    }

    /// One attempt at [`Desk::kill`] (the caller holds `writing`); `None` when the story
    /// changed (another process wrote, released or killed it) between the read and the kill.
    async fn try_kill(
        &self,
        id: &ArticleId,
        conditions: &dyn Preconditions,
    ) -> Result<Option<Killing>, PublishError> {
        match self.store.current(id).await? {
            Current::Killed(_) | Current::Dropped(_) => Ok(Some(Killing::AlreadyKilled)),
            Current::Live { article, written } => {
                check(conditions, id, Some(&Validators::live(&article, &written)))?;
                Ok(
                    match self.store.kill_if(id, Expected::At(written.seq)).await? {
                        KillOutcome::Killed(killed) => Some(Killing::Killed(killed)),
                        KillOutcome::AlreadyKilled => Some(Killing::AlreadyKilled),
                        KillOutcome::Missing | KillOutcome::Moved => None,
                    },
                )
            }
            // A held story killed before its lift was never seen by a reader: it is dropped,
            // and its id stays killed.
            Current::Missing => match self.store.held(id).await? {
                None => Err(PublishError::Missing(id.clone())),
                Some(held) => {
                    check(conditions, id, Some(&Validators::held(&held)))?;
                    Ok(self.store.unhold(id).await?.map(|_| Killing::Dropped))
                }
            },
        }
    }

    /// Holds an embargoed story, or replaces a held one (the caller holds `writing`).
    async fn hold(
        &self,
        article: Article,
        held: Option<Article>,
        mode: Mode,
        conditions: &dyn Preconditions,
    ) -> Result<Published, PublishError> {
        let id = article.id.clone();
        match &held {
            Some(held) => check(conditions, &id, Some(&Validators::held(held)))?,
            None => match self.store.current(&id).await? {
                Current::Killed(_) | Current::Dropped(_) => return Err(PublishError::Killed(id)),
                Current::Live { article, written } => {
                    check(conditions, &id, Some(&Validators::live(&article, &written)))?;
                    return Err(PublishError::AlreadyPublished(id));
                }
                Current::Missing => check(conditions, &id, None)?,
            },
        }
        if mode == Mode::Create && held.as_ref().is_some_and(|h| *h != article) {
            return Err(PublishError::Exists(id));
        }
        match self.store.hold(article.clone()).await? {
            HoldOutcome::Held(_) => Ok(match held {
                None => Published::Held(article),
                Some(_) => Published::Reheld(article),
            }),
            HoldOutcome::Unchanged => Ok(Published::Unchanged(article)),
            HoldOutcome::Published => Err(PublishError::AlreadyPublished(id)),
            HoldOutcome::Killed => Err(PublishError::Killed(id)),
        }
    }

    /// A `PUT` without a (future) embargo for a held story lifts it now: the new version is
    /// held as lifting now and released at once, by the release every process runs. `None`
    /// when the story was released meanwhile (it is then an ordinary correction).
    async fn lift_early(
        &self,
        article: &Article,
        held: &Article,
        mode: Mode,
        conditions: &dyn Preconditions,
        now: DateTime<Utc>,
    ) -> Result<Option<Published>, PublishError> {
        let id = &article.id;
        check(conditions, id, Some(&Validators::held(held)))?;
        if mode == Mode::Create {
            return Err(PublishError::Exists(id.clone()));
        }
        let mut lifting = article.clone();
        lifting.embargo = Some(now);
        match self.store.hold(lifting).await? {
            HoldOutcome::Published => return Ok(None),
            HoldOutcome::Killed => return Err(PublishError::Killed(id.clone())),
            HoldOutcome::Held(_) | HoldOutcome::Unchanged => {}
        }
        let Some((story, outcome)) = self.store.release(id, now).await? else {
            return Ok(None);
        };
        if outcome == WriteOutcome::Killed {
            return Err(PublishError::Killed(id.clone()));
        }
        tracing::info!(%id, "embargo lifted early");
        Ok(Some(Published::Created(story)))
    }

    /// Releases every held story whose embargo has lifted by `now`, each exactly once however
    /// many processes share the store: a release that another process made first is skipped,
    /// and a held story whose id was killed meanwhile is dropped, not published. One pass
    /// holds the write lock for at most the deadline; what it did not reach waits for the next.
    pub async fn release_due(&self, now: DateTime<Utc>) -> Result<Pass, StoreError> {
        let until = Instant::now() + self.deadline;
        let due = self.within(until, self.store.lifts(now, PER_PASS)).await?;
        let mut pass = Pass::after(&due, now);
        if due.due.is_empty() {
            return Ok(pass);
        }
        let _writing = self.lock(until).await?;
        let released = self
            .within(until, async {
                let mut done = Vec::new();
                for id in due.due {
                    match self.store.release(&id, now).await? {
                        Some((_, WriteOutcome::Killed)) => {
                            tracing::info!(%id, "embargo lifted on a killed story: dropped");
                        }
                        Some((story, _)) => {
                            tracing::info!(%id, published = %story.published.to_rfc3339(), "embargo lifted");
                            done.push(id);
                        }
                        None => {}
                    }
                }
                Ok::<_, StoreError>(done)
            })
            .await;
        self.announce(until).await;
        pass.done = released?;
        Ok(pass)
    }

    /// Withdraws every live story whose `expires` has come by `now`, as a kill does (notice,
    /// tombstone, push). A story killed meanwhile, here or by another process, is skipped.
    pub async fn withdraw_due(&self, now: DateTime<Utc>) -> Result<Pass, StoreError> {
        let until = Instant::now() + self.deadline;
        let due = self
            .within(until, self.store.expiring(now, PER_PASS))
            .await?;
        let mut pass = Pass::after(&due, now);
        if due.due.is_empty() {
            return Ok(pass);
        }
        let _writing = self.lock(until).await?;
        let withdrawn = self
            .within(until, async {
                let mut done = Vec::new();
                for id in due.due {
                    if self.store.kill(&id).await?.is_some() {
                        tracing::info!(%id, "story expired: withdrawn");
                        done.push(id);
                    }
                }
                Ok::<_, StoreError>(done)
            })
            .await;
        self.announce(until).await;
        pass.done = withdrawn?;
        Ok(pass)
    }

    /// Writes a batch of stories read from files (an import, the sample wire) in one
    /// transaction. Files are the desk's own record, so their `updated` is taken as given.
    /// A story whose id was killed is left killed and counted as such.
    pub async fn import(&self, articles: Vec<Article>) -> Result<ImportCounts, StoreError> {
        let _writing = self.writing.lock().await;
        let counts = self.store.put_many(articles).await?;
        self.announce(Instant::now() + self.deadline).await;
        Ok(counts)
    }

    /// Makes this process's write visible to every follower before the caller hears back, by
    /// `until` at the latest: a write already made is not failed for its announcement, which
    /// the change bus makes on its own soon after.
    async fn announce(&self, until: Instant) {
        match tokio::time::timeout_at(until, self.bus.catch_up()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not announce a change; the change bus will retry");
            }
            Err(_) => tracing::warn!(
                "could not announce a change within the deadline; the change bus will retry"
            ),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}
