//! What the hub counts — requests, verifications, deliveries, retries, pings — for /metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the hub did, for /metrics.
#[derive(Debug, Default)]
pub(crate) struct HubStats {
    pub(crate) requests: AtomicU64,
    pub(crate) verified: AtomicU64,
    pub(crate) verify_failures: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    pub(crate) delivery_failures: AtomicU64,
    pub(crate) given_up: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) superseded: AtomicU64,
    pub(crate) pings: AtomicU64,
    pub(crate) ping_failures: AtomicU64,
}

impl HubStats {
    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `(name, help, value)` for /metrics.
    pub(crate) fn snapshot(&self) -> [(&'static str, &'static str, u64); 10] {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            (
                "websub_requests",
                "Subscription requests accepted for verification",
                get(&self.requests),
            ),
            (
                "websub_verified",
                "Subscriptions and unsubscriptions confirmed by the subscriber",
                get(&self.verified),
            ),
            (
                "websub_verify_failures",
                "Verifications of intent the subscriber did not confirm",
                get(&self.verify_failures),
            ),
            (
                "websub_deliveries",
                "Feed updates delivered (answered 2xx)",
                get(&self.deliveries),
            ),
            (
                "websub_delivery_failures",
                "Delivery attempts that failed (to be retried)",
                get(&self.delivery_failures),
            ),
            (
                "websub_given_up",
                "Deliveries given up after every attempt failed",
                get(&self.given_up),
            ),
            (
                "websub_dropped",
                "Deliveries dropped because the queue was full",
                get(&self.dropped),
            ),
            (
                "websub_superseded",
                "Waiting deliveries replaced by a newer one of the same feed",
                get(&self.superseded),
            ),
            (
                "websub_pings",
                "Publish pings accepted by the external hub",
                get(&self.pings),
            ),
            (
                "websub_ping_failures",
                "Publish pings the external hub did not accept",
                get(&self.ping_failures),
            ),
        ]
    }
}
