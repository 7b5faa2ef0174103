//! The [`AudienceStore`] suite: reader figures merged per day and poll counts added per hour,
//! on both backends.

use chrono::DateTime;

use crate::store::{AudienceMerge, AudienceRow, AudienceStore, TrafficRow};

pub async fn reader_figures_merge_and_poll_counts_add_up_until_forgotten(
    store: &dyn AudienceStore,
) {
    let day = |d: &str| d.parse::<chrono::NaiveDate>().unwrap();
    let append = |tag: &'static str| -> AudienceMerge {
        Box::new(move |old: Option<AudienceRow>| {
            let old = old.unwrap_or_default();
            AudienceRow {
                clients: format!("{}{tag}", old.clients),
                agents: format!("{}{tag}", old.agents),
            }
        })
    };
    store
        .merge_audience(day("2026-11-30"), "world.atom", append("a"))
        .await
        .unwrap();
    store
        .merge_audience(day("2026-11-30"), "world.atom", append("b"))
        .await
        .unwrap();
    store
        .merge_audience(day("2026-12-01"), "g20.rss", append("c"))
        .await
        .unwrap();
    let days = store.audience(day("2026-11-30")).await.unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!(
        (days[0].0, days[0].1.as_str()),
        (day("2026-11-30"), "world.atom")
    );
    assert_eq!(days[0].2.clients, "ab");
    assert_eq!(store.audience(day("2026-12-01")).await.unwrap().len(), 1);

    let hour = |h: &str| DateTime::parse_from_rfc3339(h).unwrap().to_utc();
    let row = |h: &str, feed: &str, polls: u64| TrafficRow {
        hour: hour(h),
        feed: feed.into(),
        polls,
        not_modified: polls - 1,
        bytes_sent: 1000,
        bytes_saved: polls * 240_000,
    };
    let first = vec![
        row("2026-11-30T23:00:00Z", "world.atom", 3),
        row("2026-12-01T00:00:00Z", "world.atom", 5),
    ];
    store.add_traffic(first).await.unwrap();
    // A second replica's counts for the same hour add to the first's.
    store
        .add_traffic(vec![row("2026-12-01T00:00:00Z", "world.atom", 2)])
        .await
        .unwrap();
    let hours = store.traffic(hour("2026-12-01T00:00:00Z")).await.unwrap();
    assert_eq!(hours.len(), 1);
    assert_eq!(hours[0].polls, 7);
    assert_eq!(hours[0].not_modified, 5);
    assert_eq!(hours[0].bytes_sent, 2000);
    assert_eq!(hours[0].bytes_saved, 7 * 240_000);
    assert_eq!(
        store
            .traffic(hour("2026-11-30T00:00:00Z"))
            .await
            .unwrap()
            .len(),
        2
    );

    store.forget_audience(day("2026-12-01")).await.unwrap();
    assert_eq!(store.audience(day("2026-01-01")).await.unwrap().len(), 1);
    let left = store.traffic(hour("2026-01-01T00:00:00Z")).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].hour, hour("2026-12-01T00:00:00Z"));
}

suite!(reader_figures_merge_and_poll_counts_add_up_until_forgotten);
