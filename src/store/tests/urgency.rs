//! The flash feed's store queries ([`Selection::Urgent`]) and the urgency each change records,
//! on both backends.

use super::{category, ids, story};
use crate::model::{Article, Selection, UNRANKED};
use crate::store::{ArticleStore, Window};

fn urgent(id: &str, urgency: Option<u8>, published: &str) -> Article {
    Article {
        urgency,
        ..story(id, &["world"], published)
    }
}

pub async fn the_urgent_selection_holds_live_stories_at_its_level_newest_first(
    store: &dyn ArticleStore,
) {
    // One through the single write, the rest through a batch (PostgreSQL pipelines those).
    store
        .put(urgent("flash-1", Some(1), "2026-11-25T08:00:00Z"))
        .await
        .unwrap();
    store
        .put_many(vec![
            urgent("bulletin-2", Some(2), "2026-11-25T09:00:00Z"),
            urgent("routine-5", Some(5), "2026-11-25T10:00:00Z"),
            urgent("unranked", None, "2026-11-25T11:00:00Z"),
        ])
        .await
        .unwrap();
    let flash = Selection::Urgent(2);
    assert_eq!(
        ids(&store.latest(&flash, 10).await.unwrap()),
        ["bulletin-2", "flash-1"]
    );
    assert_eq!(
        ids(&store.latest(&Selection::Urgent(1), 10).await.unwrap()),
        ["flash-1"]
    );
    assert_eq!(store.count(&flash).await.unwrap(), 2);
    let second = Window {
        offset: 1,
        limit: 1,
        ..Window::default()
    };
    assert_eq!(
        ids(&store.window(&flash, &second).await.unwrap()),
        ["flash-1"]
    );

    // A correction that lowers the urgency takes the story out; a kill leaves a tombstone.
    store
        .put(urgent("bulletin-2", Some(4), "2026-11-25T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!(ids(&store.latest(&flash, 10).await.unwrap()), ["flash-1"]);
    store
        .kill(&crate::model::ArticleId::parse("flash-1").unwrap())
        .await
        .unwrap();
    assert!(store.latest(&flash, 10).await.unwrap().is_empty());
    let stones = store
        .tombstones(&flash, chrono::DateTime::UNIX_EPOCH, None, 10)
        .await
        .unwrap();
    assert_eq!(stones.len(), 1);
    assert_eq!(stones[0].id.as_str(), "flash-1");
    let world = Selection::Categories(vec![category("world")]);
    assert_eq!(store.count(&world).await.unwrap(), 3);
}

pub async fn each_change_records_the_most_urgent_version_it_touched(store: &dyn ArticleStore) {
    store
        .put(urgent("a", Some(1), "2026-11-25T08:00:00Z"))
        .await
        .unwrap();
    store
        .put(urgent("a", Some(6), "2026-11-25T08:00:00Z"))
        .await
        .unwrap();
    let flash_change = store.last_change().await.unwrap().unwrap();
    store
        .put(urgent("b", None, "2026-11-25T09:00:00Z"))
        .await
        .unwrap();
    store
        .put(urgent("c", Some(7), "2026-11-25T10:00:00Z"))
        .await
        .unwrap();
    let flash = Selection::Urgent(2);
    assert_eq!(
        store.last_change_in(&flash).await.unwrap(),
        Some(flash_change),
        "later changes touched no flash"
    );
    store
        .kill(&crate::model::ArticleId::parse("a").unwrap())
        .await
        .unwrap();
    let recorded: Vec<Option<u8>> = store
        .changes_since(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.urgency)
        .collect();
    // The correction from 1 to 6 touched a flash; so did the kill of a story a flash feed
    // showed before the correction, whose readers hold it.
    assert_eq!(
        recorded,
        [Some(1), Some(1), Some(UNRANKED), Some(7), Some(1)]
    );
    let killed = store.last_change().await.unwrap();
    assert_eq!(store.last_change_in(&flash).await.unwrap(), killed);
    assert_eq!(
        store
            .tombstones(&flash, chrono::DateTime::UNIX_EPOCH, None, 10)
            .await
            .unwrap()
            .len(),
        1,
        "the flash feed carries the notice"
    );
}

suite!(
    the_urgent_selection_holds_live_stories_at_its_level_newest_first,
    each_change_records_the_most_urgent_version_it_touched,
);
