//! The [`SubscriptionStore`] suite: WebSub subscriptions, their leases, and delivery claims,
//! on both backends.

use chrono::DateTime;

use crate::store::{Subscription, SubscriptionStore};

pub async fn subscriptions_are_renewed_listed_by_lease_and_expired(store: &dyn SubscriptionStore) {
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let now = t("2026-11-25T12:00:00Z");
    let sub = |topic: &str, callback: &str, expires: &str| Subscription {
        topic: topic.into(),
        callback: callback.into(),
        callback_host: "reader.example.net".into(),
        secret: None,
        lease_seconds: 3600,
        expires_at: t(expires),
    };
    let world = "https://wire.example.com/feeds/world.atom";
    let g20 = "https://wire.example.com/feeds/g20.rss";
    store
        .subscribe(&sub(
            world,
            "https://reader.example.net/a",
            "2026-11-25T13:00:00Z",
        ))
        .await
        .unwrap();
    store
        .subscribe(&sub(
            world,
            "https://reader.example.net/b",
            "2026-11-25T11:00:00Z",
        ))
        .await
        .unwrap();
    store
        .subscribe(&sub(
            g20,
            "https://reader.example.net/a",
            "2026-11-26T12:00:00Z",
        ))
        .await
        .unwrap();
    // Renewing replaces the lease and the secret.
    let mut renewed = sub(
        world,
        "https://reader.example.net/b",
        "2026-11-25T14:00:00Z",
    );
    renewed.secret = Some("new secret".into());
    store.subscribe(&renewed).await.unwrap();

    let listed = store.subscribers(world, now).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1], renewed);
    assert_eq!(
        store.subscribed_topics(now).await.unwrap(),
        vec![(g20.to_owned(), 1), (world.to_owned(), 2)]
    );
    assert_eq!(
        store
            .subscriptions_on_host("reader.example.net", now)
            .await
            .unwrap(),
        3
    );

    let later = t("2026-11-25T13:30:00Z");
    assert_eq!(store.subscribers(world, later).await.unwrap().len(), 1);
    assert_eq!(store.expire_subscriptions(later).await.unwrap(), 1);
    assert!(
        store
            .unsubscribe(world, "https://reader.example.net/b")
            .await
            .unwrap()
    );
    assert!(
        !store
            .unsubscribe(world, "https://reader.example.net/b")
            .await
            .unwrap()
    );
    assert_eq!(
        store.subscribed_topics(later).await.unwrap(),
        vec![(g20.to_owned(), 1)]
    );

    assert!(store.claim_change(7, now).await.unwrap());
    assert!(!store.claim_change(7, now).await.unwrap());
    assert!(store.claim_change(8, now).await.unwrap());
}

suite!(subscriptions_are_renewed_listed_by_lease_and_expired);
