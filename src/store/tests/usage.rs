//! The [`UsageStore`] suite: partners' requests added per hour, so replicas' flushes sum, on
//! both backends.

use chrono::{DateTime, Utc};

use crate::store::{UsageRow, UsageStore};

pub async fn partner_requests_add_up_per_hour_until_forgotten(store: &dyn UsageStore) {
    let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
    let row = |hour: &str, partner: &str, requests: u64, not_modified: u64| UsageRow {
        hour: at(hour),
        partner: partner.to_owned(),
        requests,
        not_modified,
        bytes: requests * 100,
    };
    // Two replicas flushing the same hour, and another hour and partner.
    store
        .add_usage(vec![row("2026-12-01T10:00:00Z", "Gulf Daily", 3, 1)])
        .await
        .unwrap();
    store
        .add_usage(vec![
            row("2026-12-01T10:00:00Z", "Gulf Daily", 2, 2),
            row("2026-12-01T11:00:00Z", "Gulf Daily", 1, 0),
            row("2026-12-01T10:00:00Z", "Harbour Post", 7, 0),
        ])
        .await
        .unwrap();
    let rows = store.usage(at("2026-12-01T00:00:00Z")).await.unwrap();
    assert_eq!(
        rows,
        vec![
            row("2026-12-01T10:00:00Z", "Gulf Daily", 5, 3),
            row("2026-12-01T10:00:00Z", "Harbour Post", 7, 0),
            row("2026-12-01T11:00:00Z", "Gulf Daily", 1, 0),
        ]
    );
    assert_eq!(
        store.usage(at("2026-12-01T11:00:00Z")).await.unwrap().len(),
        1
    );
    store
        .forget_usage(at("2026-12-01T11:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        store.usage(at("2026-01-01T00:00:00Z")).await.unwrap().len(),
        1
    );
}

suite!(partner_requests_add_up_per_hour_until_forgotten);
