//! The write path: the only code that writes stories. The ingest API (article JSON and
//! ninjs), `wirefeed import` and the sample wire all come through here.
//!
//! It owns, in order: validation (a draft becomes an [`Article`] or a list of field errors),
//! the rules for replacing a stored story (a POST never silently replaces a different story;
//! a correction's `updated` never moves backwards; `If-Match` gives optimistic concurrency),
//! the write itself, and the announcement of the change on the change bus — so that once a
//! caller hears back, every document of this process already shows the change.
//!
//! An embargoed story (an `embargo` still in the future) is held, not published: it reaches
//! readers when [`Desk::release_due`] — run by the `schedule` task of every process — files it
//! at its lift time, through the same store write and announcement as a publish. A `PUT` moves
//! the embargo, or lifts it at once when the new version has none.
//!
//! Writes through one [`Desk`] are serialised, so the read-compare-write of a correction is
//! atomic within a process. Two replicas correcting the same story at the same instant can
//! still both pass the check; the later write wins, as it would with any last-writer store.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::ninjs;
use crate::changes::ChangeBus;
use crate::model::{Article, ArticleDraft, ArticleId, FieldError};
use crate::store::{
    Due, HoldOutcome, ImportCounts, Killed, Lookup, Store, StoreError, WriteOutcome, released,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `POST`: create; an identical story is a harmless retry, a different one a conflict.
    Create,
    /// `PUT`: create or replace, if the stored version is `if_match` (when given).
    Replace { if_match: Option<String> },
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
    #[error("the story {id} is no longer at version {expected}")]
    VersionMismatch { id: ArticleId, expected: String },
    #[error("there is no story with the id {0}")]
    Missing(ArticleId),
    #[error("the story {0} has been published; it cannot be put under embargo")]
    AlreadyPublished(ArticleId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a `PUT`'s `If-Match` against the stored (or held) version.
fn if_match(mode: &Mode, id: &ArticleId, current: Option<&Article>) -> Result<(), PublishError> {
    let Mode::Replace {
        if_match: Some(expected),
    } = mode
    else {
        return Ok(());
    };
    let matches = current.is_some_and(|s| {
        expected.trim() == "*"
            || expected
                .split(',')
                .any(|tag| tag.trim().trim_start_matches("W/") == version(s))
    });
    if matches {
        Ok(())
    } else {
        Err(PublishError::VersionMismatch {
            id: id.clone(),
            expected: expected.clone(),
        })
    }
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
}

impl Desk {
    pub(crate) fn new(store: Arc<dyn Store>, bus: Arc<ChangeBus>) -> Self {
        Self {
            store,
            bus,
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// A desk whose changes no one in this process follows (a command-line import: serving
    /// processes follow the store's change sequence themselves).
    pub fn standalone(store: Arc<dyn Store>) -> Self {
        let bus = Arc::new(ChangeBus::new(Arc::clone(&store), Vec::new()));
        Self::new(store, bus)
    }

    /// Publishes or corrects one story.
    pub async fn publish(
        &self,
        submission: Submission,
        mode: Mode,
        now: DateTime<Utc>,
    ) -> Result<Published, PublishError> {
        let _writing = self.writing.lock().await;
        let Submission {
            mut article,
            updated_given,
        } = submission;
        let held = self.store.held(&article.id).await?;
        if article.embargo.is_some_and(|lift| lift > now) {
            return self.hold(article, held, &mode).await;
        }
        // An embargo that has already lifted is none: the story is published as at its lift.
        if article.embargo.is_some() {
            article = released(&article);
        }
        if let Some(held) = held {
            if let Some(published) = self.lift_early(&article, &held, &mode, now).await? {
                return Ok(published);
            }
        }
        self.write(article, updated_given, mode, now).await
    }

    /// Publishes or corrects a story that is not held (the caller holds `writing`).
    async fn write(
        &self,
        mut article: Article,
        updated_given: bool,
        mode: Mode,
        now: DateTime<Utc>,
    ) -> Result<Published, PublishError> {
        let id = article.id.clone();
        let (stored, live) = match self.store.get(&id).await? {
            Lookup::Live(stored) => (Some(stored), true),
            Lookup::Killed(Killed { article, .. }) => (Some(article), false),
            Lookup::Missing => (None, false),
        };
        if_match(&mode, &id, stored.as_ref())?;
        if let Some(stored) = &stored {
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
            if mode == Mode::Create && live && &article != stored {
                return Err(PublishError::Exists(id));
            }
        }
        let outcome = self.store.put(article.clone()).await?;
        self.announce().await;
        Ok(match outcome {
            WriteOutcome::Created(_) => Published::Created(article),
            WriteOutcome::Updated(_) => Published::Updated(article),
            WriteOutcome::Unchanged => Published::Unchanged(article),
        })
    }

    /// Kills a story. Killing a killed story again is a harmless retry (`Ok(None)`).
    pub async fn kill(&self, id: &ArticleId) -> Result<Option<Killed>, PublishError> {
        let _writing = self.writing.lock().await;
        match self.store.kill(id).await? {
            Some(killed) => {
                self.announce().await;
                Ok(Some(killed))
            }
            None => match self.store.get(id).await? {
                Lookup::Killed(_) => Ok(None),
                Lookup::Live(_) => Err(PublishError::Missing(id.clone())),
                // A held story killed before its lift was never seen by a reader: it is dropped.
                Lookup::Missing => match self.store.unhold(id).await? {
                    Some(_) => {
                        self.announce().await;
                        Ok(None)
                    }
                    None => Err(PublishError::Missing(id.clone())),
                },
            },
        }
    }

    /// Holds an embargoed story, or replaces a held one (the caller holds `writing`).
    async fn hold(
        &self,
        article: Article,
        held: Option<Article>,
        mode: &Mode,
    ) -> Result<Published, PublishError> {
        let id = article.id.clone();
        if held.is_some() {
            if_match(mode, &id, held.as_ref())?;
        }
        if *mode == Mode::Create && held.as_ref().is_some_and(|h| *h != article) {
            return Err(PublishError::Exists(id));
        }
        match self.store.hold(article.clone()).await? {
            HoldOutcome::Held(_) => {
                self.announce().await;
                Ok(match held {
                    None => Published::Held(article),
                    Some(_) => Published::Reheld(article),
                })
            }
            HoldOutcome::Unchanged => Ok(Published::Unchanged(article)),
            HoldOutcome::Published => Err(PublishError::AlreadyPublished(id)),
        }
    }

    /// A `PUT` without a (future) embargo for a held story lifts it now: the new version is
    /// held as lifting now and released at once, by the release every process runs. `None`
    /// when the story was released meanwhile (it is then an ordinary correction).
    async fn lift_early(
        &self,
        article: &Article,
        held: &Article,
        mode: &Mode,
        now: DateTime<Utc>,
    ) -> Result<Option<Published>, PublishError> {
        let id = &article.id;
        if_match(mode, id, Some(held))?;
        if *mode == Mode::Create {
            return Err(PublishError::Exists(id.clone()));
        }
        let mut lifting = article.clone();
        lifting.embargo = Some(now);
        if self.store.hold(lifting).await? == HoldOutcome::Published {
            return Ok(None);
        }
        let Some((story, _)) = self.store.release(id, now).await? else {
            return Ok(None);
        };
        tracing::info!(%id, "embargo lifted early");
        self.announce().await;
        Ok(Some(Published::Created(story)))
    }

    /// Releases every held story whose embargo has lifted by `now`, each exactly once however
    /// many processes share the store: a release that another process made first is skipped.
    pub async fn release_due(&self, now: DateTime<Utc>) -> Result<Pass, StoreError> {
        let _writing = self.writing.lock().await;
        let due = self.store.lifts(now, PER_PASS).await?;
        let mut pass = Pass::after(&due, now);
        for id in due.due {
            if let Some((story, _)) = self.store.release(&id, now).await? {
                tracing::info!(%id, published = %story.published.to_rfc3339(), "embargo lifted");
                pass.done.push(id);
            }
        }
        if !pass.done.is_empty() {
            self.announce().await;
        }
        Ok(pass)
    }

    /// Withdraws every live story whose `expires` has come by `now`, as a kill does (notice,
    /// tombstone, push). A story killed meanwhile, here or by another process, is skipped.
    pub async fn withdraw_due(&self, now: DateTime<Utc>) -> Result<Pass, StoreError> {
        let _writing = self.writing.lock().await;
        let due = self.store.expiring(now, PER_PASS).await?;
        let mut pass = Pass::after(&due, now);
        for id in due.due {
            if self.store.kill(&id).await?.is_some() {
                tracing::info!(%id, "story expired: withdrawn");
                pass.done.push(id);
            }
        }
        if !pass.done.is_empty() {
            self.announce().await;
        }
        Ok(pass)
    }

    /// Writes a batch of stories read from files (an import, the sample wire) in one
    /// transaction. Files are the desk's own record, so their `updated` is taken as given.
    pub async fn import(&self, articles: Vec<Article>) -> Result<ImportCounts, StoreError> {
        let _writing = self.writing.lock().await;
        let counts = self.store.put_many(articles).await?;
        self.announce().await;
        Ok(counts)
    }

    /// Makes this process's write visible to every follower before the caller hears back.
    async fn announce(&self) {
        if let Err(e) = self.bus.catch_up().await {
            tracing::warn!(error = %e, "could not announce a change; the change bus will retry");
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}
