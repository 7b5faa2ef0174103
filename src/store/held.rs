//! Stories under embargo: [`HoldStore`]. A held story lives apart from the live ones (its own
//! table), so no query behind a public feed, page, archive, count or push can see it; it joins
//! them only when released, by the same write a publish makes. Releasing takes the held row
//! away in the transaction that files the story, so of several processes releasing at once
//! exactly one files it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreError, WriteOutcome};
use crate::model::{Article, ArticleId, Category, Change, Selection};

/// Most held stories one query returns.
pub const MAX_HELD: usize = 1_000;

/// What holding a story did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldOutcome {
    /// The story is held (newly, or a changed version of a held story).
    Held(Change),
    /// The same story was already held exactly like this.
    Unchanged,
    /// A live story has this id: it has been published, so it cannot be held.
    Published,
    /// A killed story has this id (killed after publication, or dropped while held): a kill
    /// is final, so nothing was held.
    Killed,
}

/// Stories whose time has come (held stories to release, live ones to withdraw), and when the
/// next one's comes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    pub due: Vec<ArticleId>,
    pub next: Option<DateTime<Utc>>,
}

/// The held stories. Every write is recorded in the change sequence as a `hold` change against
/// the story's categories (no public document changes; partners who see embargoed stories
/// early do), and a release as the `create` of the story.
#[async_trait]
pub trait HoldStore: Send + Sync + 'static {
    /// Holds a story until its `embargo` (which must be set), or replaces a held one.
    async fn hold(&self, article: Article) -> Result<HoldOutcome, StoreError>;

    /// A held story, as held.
    async fn held(&self, id: &ArticleId) -> Result<Option<Article>, StoreError>;

    /// The held stories filed in the selection, newest `published` first, at most `limit`.
    async fn held_in(
        &self,
        selection: &Selection,
        limit: usize,
    ) -> Result<Vec<Article>, StoreError>;

    /// Drops a held story before its lift (the desk withdrew it): `None` when none was held.
    /// No reader saw it, so no public read ever finds it, but its id stays killed for the
    /// write path ([`Current::Dropped`](super::Current::Dropped)), so that a retry of the
    /// embargoed publish, or a later version, can neither hold nor publish it again.
    async fn unhold(&self, id: &ArticleId) -> Result<Option<Change>, StoreError>;

    /// Releases a held story whose embargo has lifted by `now`: it leaves the held stories and
    /// is filed as a new live story ([`released`]) in one transaction. `None` when no such
    /// story is held — not yet due, or already released by another process. A held story whose
    /// id has been killed meanwhile is dropped and not filed ([`WriteOutcome::Killed`]).
    async fn release(
        &self,
        id: &ArticleId,
        now: DateTime<Utc>,
    ) -> Result<Option<(Article, WriteOutcome)>, StoreError>;

    /// The held stories due by `now` (at most `limit`), and the next lift time after them.
    async fn lifts(&self, now: DateTime<Utc>, limit: usize) -> Result<Due, StoreError>;
}

/// A held story as it is published at its lift: no longer under embargo, `published` at the
/// lift time unless the desk set a later one, `updated` never before `published`.
pub fn released(held: &Article) -> Article {
    let mut story = held.clone();
    if let Some(lift) = story.embargo.take() {
        story.published = story.published.max(lift);
    }
    story.updated = story.updated.max(story.published);
    story
}

/// The categories a new version of a held story touches: its own and those it left.
pub(super) fn touched<'a>(article: &'a Article, old: Option<&'a Article>) -> Vec<&'a Category> {
    let mut touched: Vec<&Category> = article.categories.iter().collect();
    if let Some(old) = old {
        touched.extend(
            old.categories
                .iter()
                .filter(|c| !article.categories.contains(c)),
        );
    }
    touched
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::story;

    #[test]
    fn a_release_is_published_at_the_lift_unless_the_desk_said_later() {
        let lift: DateTime<Utc> = "2026-11-25T12:00:00Z".parse().unwrap();
        let mut held = story("g20-communique", &["g20"], "2026-11-25T09:00:00Z");
        held.embargo = Some(lift);
        let out = released(&held);
        assert_eq!(out.embargo, None);
        assert_eq!(out.published, lift);
        assert_eq!(out.updated, lift);

        let later: DateTime<Utc> = "2026-11-25T12:30:00Z".parse().unwrap();
        held.published = later;
        held.updated = later;
        assert_eq!(released(&held).published, later);
    }
}
