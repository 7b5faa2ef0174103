//! The [`ArticleStore`] suite: stories, kills and tombstones, windows, and the change
//! sequence, on both backends.

use chrono::DateTime;

use super::{category, ids, story};
use crate::model::{ArticleId, Selection, Tombstone};
use crate::store::{ArticleStore, Current, Expected, KillOutcome, Lookup, Window, WriteOutcome};

fn buried(stones: &[Tombstone]) -> Vec<&str> {
    stones.iter().map(|t| t.id.as_str()).collect()
}

pub async fn changes_since_lists_each_change_with_the_categories_it_touched(
    store: &dyn ArticleStore,
) {
    store
        .put(story("a", &["world", "g20"], "2026-11-25T08:00:00Z"))
        .await
        .unwrap();
    store
        .put(story("b", &["china"], "2026-11-25T09:00:00Z"))
        .await
        .unwrap();
    store
        .put(story("a", &["world"], "2026-11-25T08:00:00Z"))
        .await
        .unwrap();
    let all = store.changes_since(0, 100).await.unwrap();
    let seqs: Vec<u64> = all.iter().map(|c| c.change.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    let touched = |i: usize| {
        all[i]
            .categories
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(touched(0), ["g20", "world"]);
    assert_eq!(
        touched(2),
        ["g20", "world"],
        "the correction touched the category it left"
    );
    assert_eq!(store.changes_since(1, 1).await.unwrap()[0].change.seq, 2);
    assert!(store.changes_since(3, 100).await.unwrap().is_empty());
}

pub async fn putting_the_same_story_twice_changes_nothing_the_second_time(
    store: &dyn ArticleStore,
) {
    let a = story("a1", &["world"], "2026-11-25T08:00:00Z");
    assert!(matches!(
        store.put(a.clone()).await.unwrap(),
        WriteOutcome::Created(_)
    ));
    let seq = store.last_change().await.unwrap().unwrap().seq;
    assert_eq!(store.put(a).await.unwrap(), WriteOutcome::Unchanged);
    assert_eq!(store.last_change().await.unwrap().unwrap().seq, seq);
}

pub async fn latest_merges_categories_newest_first_and_each_story_once(store: &dyn ArticleStore) {
    store
        .put_many(vec![
            story("a", &["world", "g20"], "2026-11-25T08:00:00Z"),
            story("b", &["g20"], "2026-11-25T09:00:00Z"),
            story("c", &["world"], "2026-11-25T07:00:00Z"),
            story("d", &["china"], "2026-11-25T10:00:00Z"),
        ])
        .await
        .unwrap();
    let both = Selection::Categories(vec![category("world"), category("g20")]);
    assert_eq!(
        ids(&store.latest(&both, 10).await.unwrap()),
        ["b", "a", "c"]
    );
    assert_eq!(ids(&store.latest(&both, 2).await.unwrap()), ["b", "a"]);
    assert_eq!(
        ids(&store.latest(&Selection::All, 10).await.unwrap()),
        ["d", "b", "a", "c"]
    );
}

pub async fn a_correction_that_moves_a_story_touches_old_and_new_categories(
    store: &dyn ArticleStore,
) {
    store
        .put(story("a", &["world"], "2026-11-25T08:00:00Z"))
        .await
        .unwrap();
    store
        .put(story("z", &["sports"], "2026-11-25T08:00:00Z"))
        .await
        .unwrap();
    let moved = store
        .put(story("a", &["china"], "2026-11-25T08:00:00Z"))
        .await
        .unwrap();
    let WriteOutcome::Updated(change) = moved else {
        panic!("{moved:?}")
    };
    for slug in ["world", "china"] {
        let sel = Selection::Categories(vec![category(slug)]);
        assert_eq!(
            store.last_change_in(&sel).await.unwrap(),
            Some(change),
            "{slug}"
        );
    }
    let sports = Selection::Categories(vec![category("sports")]);
    assert!(store.last_change_in(&sports).await.unwrap().unwrap().seq < change.seq);
    let world = Selection::Categories(vec![category("world")]);
    assert!(store.latest(&world, 10).await.unwrap().is_empty());
}

pub async fn a_kill_removes_the_story_from_feeds_and_counts_but_remembers_it(
    store: &dyn ArticleStore,
) {
    store
        .put(story("a", &["world"], "2026-11-25T08:00:00Z"))
        .await
        .unwrap();
    let id = ArticleId::parse("a").unwrap();
    let killed = store.kill(&id).await.unwrap().expect("live story");
    assert!(store.latest(&Selection::All, 10).await.unwrap().is_empty());
    // The category stays known, with no live story: its feeds carry the withdrawal notice.
    let world = store.categories().await.unwrap();
    assert_eq!(world.len(), 1);
    assert_eq!(
        (world[0].category.as_str(), world[0].articles),
        ("world", 0)
    );
    assert!(
        matches!(store.get(&id).await.unwrap(), Lookup::Killed(k) if k.killed == killed.killed)
    );
    assert_eq!(
        store.kill(&id).await.unwrap(),
        None,
        "a second kill finds nothing live"
    );
    let world = Selection::Categories(vec![category("world")]);
    assert_eq!(
        store.last_change_in(&world).await.unwrap(),
        Some(killed.killed)
    );
}

pub async fn a_kill_leaves_a_tombstone_in_each_category_and_is_final(store: &dyn ArticleStore) {
    store
        .put(story("a", &["world", "g20"], "2026-11-25T08:00:00Z"))
        .await
        .unwrap();
    let id = ArticleId::parse("a").unwrap();
    let killed = store.kill(&id).await.unwrap().unwrap();
    let epoch = DateTime::UNIX_EPOCH;
    for sel in [
        Selection::All,
        Selection::Categories(vec![category("g20"), category("world")]),
    ] {
        let stones = store.tombstones(&sel, epoch, None, 10).await.unwrap();
        assert_eq!(
            stones,
            [Tombstone {
                id: id.clone(),
                killed_at: killed.killed.at,
                article: killed.article.clone(),
            }]
        );
    }
    let china = Selection::Categories(vec![category("china")]);
    assert!(
        store
            .tombstones(&china, epoch, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = killed.killed.at + chrono::Duration::seconds(1);
    assert!(
        store
            .tombstones(&Selection::All, later, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A kill is final: the story sent again (a retry of its publish, a correction) is not
    // written, and the notice stays.
    let head = store.last_change().await.unwrap();
    for expected in [
        Expected::Anything,
        Expected::Nothing,
        Expected::At(killed.killed.seq),
    ] {
        assert_eq!(
            store
                .put_if(story("a", &["world"], "2026-11-25T08:00:00Z"), expected)
                .await
                .unwrap(),
            WriteOutcome::Killed
        );
    }
    assert_eq!(
        store.last_change().await.unwrap(),
        head,
        "no change recorded"
    );
    assert!(matches!(store.get(&id).await.unwrap(), Lookup::Killed(_)));
    assert_eq!(
        store
            .tombstones(&Selection::All, epoch, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.kill_if(&id, Expected::Anything).await.unwrap(),
        KillOutcome::AlreadyKilled
    );
}

pub async fn a_write_lands_only_on_the_version_it_expects(store: &dyn ArticleStore) {
    let id = ArticleId::parse("c").unwrap();
    let first = story("c", &["world"], "2026-11-25T08:00:00Z");
    assert_eq!(store.current(&id).await.unwrap(), Current::Missing);
    let WriteOutcome::Created(created) = store
        .put_if(first.clone(), Expected::Nothing)
        .await
        .unwrap()
    else {
        panic!("created")
    };
    let current = store.current(&id).await.unwrap();
    assert_eq!(
        current,
        Current::Live {
            article: first.clone(),
            written: created
        }
    );
    assert_eq!(current.expected(), Expected::At(created.seq));
    // Another write came first: nothing is written over it.
    let mut second = first.clone();
    second.title = "Corrected".into();
    assert_eq!(
        store
            .put_if(second.clone(), Expected::Nothing)
            .await
            .unwrap(),
        WriteOutcome::Moved
    );
    assert_eq!(
        store
            .put_if(second.clone(), Expected::At(created.seq + 1))
            .await
            .unwrap(),
        WriteOutcome::Moved
    );
    assert_eq!(store.get(&id).await.unwrap(), Lookup::Live(first));
    let WriteOutcome::Updated(updated) = store
        .put_if(second.clone(), Expected::At(created.seq))
        .await
        .unwrap()
    else {
        panic!("updated")
    };
    assert_eq!(
        store.kill_if(&id, Expected::At(created.seq)).await.unwrap(),
        KillOutcome::Moved
    );
    assert_eq!(store.get(&id).await.unwrap(), Lookup::Live(second));
    let KillOutcome::Killed(killed) = store.kill_if(&id, Expected::At(updated.seq)).await.unwrap()
    else {
        panic!("killed")
    };
    assert_eq!(store.current(&id).await.unwrap(), Current::Killed(*killed));
    assert_eq!(
        store
            .kill_if(&ArticleId::parse("nowhere").unwrap(), Expected::Anything)
            .await
            .unwrap(),
        KillOutcome::Missing
    );
}

pub async fn a_batch_naming_a_story_twice_keeps_the_last_version_once(store: &dyn ArticleStore) {
    store
        .put(story("k", &["sports"], "2026-11-25T06:00:00Z"))
        .await
        .unwrap();
    store.kill(&ArticleId::parse("k").unwrap()).await.unwrap();
    let counts = store
        .put_many(vec![
            story("a", &["world"], "2026-11-25T08:00:00Z"),
            story("a", &["china"], "2026-11-25T08:00:00Z"),
            story("a", &["china"], "2026-11-25T08:00:00Z"),
            story("k", &["sports"], "2026-11-25T06:00:00Z"),
        ])
        .await
        .unwrap();
    assert_eq!(
        (
            counts.created,
            counts.updated,
            counts.unchanged,
            counts.killed
        ),
        (1, 1, 1, 1),
        "created a, moved a, repeated a, left k killed"
    );
    let world = Selection::Categories(vec![category("world")]);
    let china = Selection::Categories(vec![category("china")]);
    assert!(store.latest(&world, 10).await.unwrap().is_empty());
    assert_eq!(ids(&store.latest(&china, 10).await.unwrap()), ["a"]);
    let counts: Vec<(String, u64)> = store
        .categories()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.category.as_str().to_owned(), c.articles))
        .collect();
    // Categories left with no live story keep their row, with 0.
    assert_eq!(
        counts,
        [
            ("china".to_owned(), 1),
            ("sports".to_owned(), 0),
            ("world".to_owned(), 0)
        ]
    );
    assert_eq!(
        buried(
            &store
                .tombstones(&Selection::All, DateTime::UNIX_EPOCH, None, 10)
                .await
                .unwrap()
        ),
        ["k"],
        "the killed story keeps its notice"
    );
    assert!(matches!(
        store.get(&ArticleId::parse("k").unwrap()).await.unwrap(),
        Lookup::Killed(_)
    ));
}

pub async fn a_correction_is_read_back_at_its_new_version(store: &dyn ArticleStore) {
    let world = Selection::Categories(vec![category("world")]);
    let mut first = story("c", &["world"], "2026-11-25T08:00:00Z");
    store.put(first.clone()).await.unwrap();
    assert_eq!(store.latest(&world, 10).await.unwrap(), [first.clone()]);
    first.title = "Corrected: death toll revised to 12".into();
    store.put(first.clone()).await.unwrap();
    for selection in [&world, &Selection::All] {
        let read = store.latest(selection, 10).await.unwrap();
        assert_eq!(read[0].title, "Corrected: death toll revised to 12");
    }
}

pub async fn windows_page_and_bound_a_selection_in_feed_order(store: &dyn ArticleStore) {
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    for (id, cats, at) in [
        ("a", &["world"][..], "2026-11-20T08:00:00Z"),
        ("b", &["world", "g20"][..], "2026-11-21T08:00:00Z"),
        ("c", &["g20"][..], "2026-11-21T08:00:00Z"),
        ("d", &["world"][..], "2026-11-22T08:00:00Z"),
        ("e", &["china"][..], "2026-11-23T08:00:00Z"),
    ] {
        store.put(story(id, cats, at)).await.unwrap();
    }
    store.kill(&ArticleId::parse("e").unwrap()).await.unwrap();
    let both = Selection::Categories(vec![category("world"), category("g20")]);
    let window =
        |w: Window| async move { ids(&store.window(&both_of(), &w).await.unwrap()).join(",") };
    fn both_of() -> Selection {
        Selection::Categories(vec![category("world"), category("g20")])
    }
    let all = Window {
        limit: 10,
        ..Window::default()
    };
    assert_eq!(window(all.clone()).await, "d,c,b,a");
    assert_eq!(
        window(Window {
            offset: 1,
            limit: 2,
            ..all.clone()
        })
        .await,
        "c,b"
    );
    let cursor = Some((t("2026-11-21T08:00:00Z"), ArticleId::parse("c").unwrap()));
    assert_eq!(
        window(Window {
            before: cursor.clone(),
            ..all.clone()
        })
        .await,
        "b,a"
    );
    assert_eq!(
        window(Window {
            from: Some(t("2026-11-21T00:00:00Z")),
            until: Some(t("2026-11-22T00:00:00Z")),
            ..all.clone()
        })
        .await,
        "c,b"
    );
    assert_eq!(
        window(Window {
            from: Some(t("2026-11-21T00:00:00Z")),
            oldest_first: true,
            limit: 2,
            ..all.clone()
        })
        .await,
        "b,c"
    );
    let every = store.window(&Selection::All, &all).await.unwrap();
    assert_eq!(ids(&every), ["d", "c", "b", "a"]);
    assert_eq!(store.count(&both).await.unwrap(), 4);
    assert_eq!(
        store
            .count(&Selection::Categories(vec![category("g20")]))
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.count(&Selection::All).await.unwrap(), 4);
}

/// Bounds beyond what the store keeps (i64 nanoseconds: 1677 to 2262) compare as the times
/// themselves would: the store answers, and never panics.
pub async fn windows_and_tombstones_bounded_beyond_the_stores_times_answer(
    store: &dyn ArticleStore,
) {
    store
        .put(story("a", &["world"], "2026-11-20T08:00:00Z"))
        .await
        .unwrap();
    store.kill(&ArticleId::parse("a").unwrap()).await.unwrap();
    store
        .put(story("b", &["world"], "2026-11-21T08:00:00Z"))
        .await
        .unwrap();
    let at = |t: &str| t.parse::<DateTime<chrono::Utc>>().unwrap();
    let (past, future) = (at("0001-01-01T00:00:00Z"), at("9999-12-31T00:00:00Z"));
    let world = &Selection::Categories(vec![category("world")]);
    let found = |from, until| async move {
        let window = Window {
            from: Some(from),
            until: Some(until),
            limit: 10,
            ..Window::default()
        };
        ids(&store.window(world, &window).await.unwrap()).join(",")
    };
    assert_eq!(found(past, future).await, "b");
    assert_eq!(found(future, future).await, "");
    assert_eq!(found(past, past).await, "");
    let kills = |from, until| async move {
        store
            .tombstones(world, DateTime::UNIX_EPOCH, Some((from, until)), 10)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(kills(past, future).await, 1);
    assert_eq!(kills(future, future).await, 0);
}

pub async fn expiring_lists_the_live_stories_due_and_the_next_expiry(store: &dyn ArticleStore) {
    let at = |t: &str| t.parse::<DateTime<chrono::Utc>>().unwrap();
    let mut due = story("ceasefire-talks", &["world"], "2026-11-25T08:00:00Z");
    due.expires = Some(at("2026-11-25T12:00:00Z"));
    let mut later = story("summit-schedule", &["g20"], "2026-11-25T08:30:00Z");
    later.expires = Some(at("2026-11-26T00:00:00Z"));
    for article in [
        due.clone(),
        later,
        story("ticker", &["world"], "2026-11-25T09:00:00Z"),
    ] {
        store.put(article).await.unwrap();
    }
    let found = store
        .expiring(at("2026-11-25T12:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(found.due, [due.id.clone()]);
    assert_eq!(found.next, Some(at("2026-11-26T00:00:00Z")));
    store.kill(&due.id).await.unwrap();
    let found = store
        .expiring(at("2026-11-25T12:00:00Z"), 10)
        .await
        .unwrap();
    assert!(found.due.is_empty(), "a killed story is not due again");
    let mut kept = due.clone();
    kept.expires = None;
    store.put(kept).await.unwrap();
    let found = store
        .expiring(at("2026-11-27T00:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(
        ids_of(&found.due),
        ["summit-schedule"],
        "an expiry taken away is gone"
    );
}

fn ids_of(ids: &[ArticleId]) -> Vec<&str> {
    ids.iter().map(ArticleId::as_str).collect()
}

suite!(
    windows_and_tombstones_bounded_beyond_the_stores_times_answer,
    expiring_lists_the_live_stories_due_and_the_next_expiry,
    windows_page_and_bound_a_selection_in_feed_order,
    a_correction_is_read_back_at_its_new_version,
    a_batch_naming_a_story_twice_keeps_the_last_version_once,
    changes_since_lists_each_change_with_the_categories_it_touched,
    putting_the_same_story_twice_changes_nothing_the_second_time,
    latest_merges_categories_newest_first_and_each_story_once,
    a_correction_that_moves_a_story_touches_old_and_new_categories,
    a_kill_removes_the_story_from_feeds_and_counts_but_remembers_it,
    a_kill_leaves_a_tombstone_in_each_category_and_is_final,
    a_write_lands_only_on_the_version_it_expects,
);
