//! The [`HoldStore`] suite: stories held under embargo stay out of every public read, and are
//! released once, at their lift, as new live stories — on both backends, and by exactly one
//! of two stores racing over the same database.

use chrono::{DateTime, Utc};

use super::{category, ids, story};
use crate::model::{Article, ChangeKind, Selection};
use crate::store::{Current, HoldOutcome, Lookup, Store, WriteOutcome};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The communiqué of the G20 summit, written at nine and embargoed until noon.
fn communique() -> Article {
    let mut article = story("g20-communique", &["g20", "world"], "2026-11-25T09:00:00Z");
    article.embargo = Some(at("2026-11-25T12:00:00Z"));
    article
}

pub async fn a_held_story_is_in_no_public_read(store: &dyn Store) {
    store
        .put(story("ticker", &["world"], "2026-11-25T08:00:00Z"))
        .await
        .unwrap();
    let outcome = store.hold(communique()).await.unwrap();
    assert!(matches!(outcome, HoldOutcome::Held(_)));
    assert_eq!(
        store.hold(communique()).await.unwrap(),
        HoldOutcome::Unchanged
    );

    let world = Selection::Categories(vec![category("world")]);
    assert_eq!(
        ids(&store.latest(&Selection::All, 10).await.unwrap()),
        ["ticker"]
    );
    assert_eq!(ids(&store.latest(&world, 10).await.unwrap()), ["ticker"]);
    assert_eq!(store.count(&world).await.unwrap(), 1);
    assert_eq!(
        store.get(&communique().id).await.unwrap(),
        Lookup::Missing,
        "the public lookup does not see it"
    );
    assert_eq!(
        store.held(&communique().id).await.unwrap(),
        Some(communique())
    );
    assert_eq!(
        ids(&store.held_in(&world, 10).await.unwrap()),
        ["g20-communique"]
    );
    let china = Selection::Categories(vec![category("china")]);
    assert!(store.held_in(&china, 10).await.unwrap().is_empty());

    let changes = store.changes_since(0, 10).await.unwrap();
    assert_eq!(changes.last().unwrap().kind, ChangeKind::Held);
    assert_eq!(
        store
            .hold(story("ticker", &["world"], "2026-11-25T08:00:00Z").with_embargo())
            .await
            .unwrap(),
        HoldOutcome::Published,
        "a published story cannot be held"
    );
}

pub async fn a_release_files_the_story_once_at_its_lift(store: &dyn Store) {
    store.hold(communique()).await.unwrap();
    let id = communique().id;
    assert_eq!(
        store
            .release(&id, at("2026-11-25T11:59:59Z"))
            .await
            .unwrap(),
        None
    );
    let lifts = store.lifts(at("2026-11-25T11:00:00Z"), 10).await.unwrap();
    assert!(lifts.due.is_empty());
    assert_eq!(lifts.next, Some(at("2026-11-25T12:00:00Z")));
    let lifts = store.lifts(at("2026-11-25T12:00:00Z"), 10).await.unwrap();
    assert_eq!(lifts.due, std::slice::from_ref(&id));
    assert_eq!(lifts.next, None);

    let (story, outcome) = store
        .release(&id, at("2026-11-25T12:00:00Z"))
        .await
        .unwrap()
        .expect("due");
    assert!(matches!(outcome, WriteOutcome::Created(_)));
    assert_eq!(story.embargo, None);
    assert_eq!(story.published, at("2026-11-25T12:00:00Z"));
    assert_eq!(store.get(&id).await.unwrap(), Lookup::Live(story.clone()));
    assert_eq!(
        store
            .release(&id, at("2026-11-25T12:00:01Z"))
            .await
            .unwrap(),
        None,
        "released once"
    );
    assert_eq!(store.held(&id).await.unwrap(), None);
    let kinds: Vec<ChangeKind> = store
        .changes_since(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(kinds, [ChangeKind::Held, ChangeKind::Created]);
}

pub async fn an_unheld_story_is_gone_without_a_trace_in_public_and_stays_killed(store: &dyn Store) {
    store.hold(communique()).await.unwrap();
    let id = communique().id;
    assert!(store.unhold(&id).await.unwrap().is_some());
    assert_eq!(store.unhold(&id).await.unwrap(), None);
    assert_eq!(store.held(&id).await.unwrap(), None);
    assert_eq!(
        store
            .release(&id, at("2026-11-26T00:00:00Z"))
            .await
            .unwrap(),
        None
    );
    // Killed for the desk, so that a retry of its publish cannot hold or publish it again,
    // but found by no public read: no reader saw it.
    assert!(matches!(
        store.current(&id).await.unwrap(),
        Current::Dropped(_)
    ));
    assert_eq!(store.get(&id).await.unwrap(), Lookup::Missing);
    assert_eq!(store.held_in(&Selection::All, 10).await.unwrap(), []);
    assert_eq!(
        store
            .lifts(at("2026-11-26T00:00:00Z"), 10)
            .await
            .unwrap()
            .due,
        []
    );
    assert_eq!(store.hold(communique()).await.unwrap(), HoldOutcome::Killed);
    assert_eq!(
        store
            .put(story("g20-communique", &["g20"], "2026-11-25T12:00:00Z"))
            .await
            .unwrap(),
        WriteOutcome::Killed
    );
    let epoch = DateTime::UNIX_EPOCH;
    assert!(
        store
            .tombstones(&Selection::All, epoch, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.latest(&Selection::All, 10).await.unwrap().is_empty());
    assert!(store.categories().await.unwrap().is_empty());
}

pub async fn a_killed_id_is_never_held_nor_released(store: &dyn Store) {
    let id = communique().id;
    // Held on one replica while another published the same id, and then killed it.
    store.hold(communique()).await.unwrap();
    store
        .put(story("g20-communique", &["g20"], "2026-11-25T09:00:00Z"))
        .await
        .unwrap();
    store.kill(&id).await.unwrap().expect("killed");
    assert_eq!(store.hold(communique()).await.unwrap(), HoldOutcome::Killed);
    let (_, outcome) = store
        .release(&id, at("2026-11-25T12:00:00Z"))
        .await
        .unwrap()
        .expect("the held row is taken");
    assert_eq!(outcome, WriteOutcome::Killed);
    assert_eq!(store.held(&id).await.unwrap(), None, "dropped");
    assert!(matches!(store.get(&id).await.unwrap(), Lookup::Killed(_)));
    assert!(store.latest(&Selection::All, 10).await.unwrap().is_empty());
}

suite!(
    a_held_story_is_in_no_public_read,
    a_release_files_the_story_once_at_its_lift,
    an_unheld_story_is_gone_without_a_trace_in_public_and_stays_killed,
    a_killed_id_is_never_held_nor_released,
);

trait WithEmbargo {
    fn with_embargo(self) -> Self;
}

impl WithEmbargo for Article {
    fn with_embargo(mut self) -> Self {
        self.embargo = Some(at("2026-11-25T12:00:00Z"));
        self
    }
}

/// Two stores on one database release the same due stories at once: each story is filed by
/// exactly one of them.
async fn race(first: &dyn Store, second: &dyn Store) {
    for n in 0..20 {
        let mut article = communique();
        article.id = crate::model::ArticleId::parse(&format!("g20-embargoed-{n}")).unwrap();
        first.hold(article).await.unwrap();
    }
    let lift = at("2026-11-25T12:00:00Z");
    let mut filed = 0;
    for n in 0..20 {
        let id = crate::model::ArticleId::parse(&format!("g20-embargoed-{n}")).unwrap();
        let (a, b) = tokio::join!(first.release(&id, lift), second.release(&id, lift));
        filed += usize::from(a.unwrap().is_some()) + usize::from(b.unwrap().is_some());
    }
    assert_eq!(filed, 20, "each story released exactly once");
    let creates = first
        .changes_since(0, 100)
        .await
        .unwrap()
        .iter()
        .filter(|c| c.kind == ChangeKind::Created)
        .count();
    assert_eq!(creates, 20);
}

#[tokio::test]
async fn two_sqlite_stores_release_each_story_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wire.sqlite3");
    let first = crate::store::sqlite::SqliteStore::open(&path).unwrap();
    let second = crate::store::sqlite::SqliteStore::open(&path).unwrap();
    race(&first, &second).await;
}

#[tokio::test]
async fn two_postgres_replicas_release_each_story_once() {
    let Some(schema) = super::pg::FreshSchema::create().await else {
        return;
    };
    race(&schema.open().await, &schema.open().await).await;
}
