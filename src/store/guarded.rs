//! Every store call with a deadline, in one place: [`Guarded`] wraps a store, bounds each call
//! in time (`store_timeout_ms`) and tells [`Health`] how each call went. A call that runs out
//! of time is abandoned and answers [`StoreError::Timeout`]; dropping its future drops the
//! PostgreSQL connection it held, so a connection that hung is never handed out again (see
//! `postgres::Conn`). While the health probe ([`Guarded::watch`]) has confirmed an outage, no
//! call but the probe's reaches the store: each fails at once, as a circuit breaker.
//!
//! A write abandoned at its deadline may still commit: the publishing contract (README) is that
//! a 2xx is definitive and a 5xx may or may not have stored the story, and that an identical
//! retry is always safe.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::health::Health;
use super::{
    ArticleStore, AudienceMerge, AudienceRow, AudienceStore, CategoryCount, Current, Due, Expected,
    HoldOutcome, HoldStore, ImportCounts, KillOutcome, Store, StoreError, Subscription,
    SubscriptionStore, TrafficRow, UsageRow, UsageStore, Window, WriteOutcome,
};
use crate::model::{Article, ArticleId, Change, ChangeRecord, Selection, Tombstone};

/// How many times the single-call deadline a batch write (an import's `put_many`) may take.
const BATCH_DEADLINES: u32 = 10;

/// The longest a health probe waits for the store.
const PROBE_DEADLINE: Duration = Duration::from_secs(2);

pub(crate) struct Guarded {
    inner: Arc<dyn Store>,
    health: Arc<Health>,
    deadline: Duration,
}

impl Guarded {
    pub(crate) fn new(inner: Arc<dyn Store>, health: Arc<Health>, deadline: Duration) -> Self {
        Self {
            inner,
            health,
            deadline,
        }
    }

    /// `work` within `deadline`, its outcome told to [`Health`]. While a health probe has
    /// confirmed an outage, nothing is asked of the store: the call fails at once rather than
    /// wait out its deadline (a circuit breaker; the probe, every second, closes it again).
    async fn run<T>(
        &self,
        deadline: Duration,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.health.outage_confirmed() {
            self.health.turned_away.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Unavailable(
                "the store is unreachable (its health probe fails)".to_owned(),
            ));
        }
        self.attempt(deadline, work).await
    }

    /// [`Guarded::run`] even during a confirmed outage: what the probe does.
    async fn attempt<T>(
        &self,
        deadline: Duration,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout(deadline)),
        };
        match &result {
            Ok(_) => self.health.success(),
            Err(e) => self.health.failure(e),
        }
        result
    }

    /// One cheap read with a short deadline, to learn whether the store answers.
    pub(crate) async fn probe(&self) -> Result<(), StoreError> {
        let since = self.health.reached();
        let probed = self
            .attempt(self.deadline.min(PROBE_DEADLINE), self.inner.last_change())
            .await
            .map(|_| ());
        if probed.as_ref().is_err_and(StoreError::is_unavailable) {
            self.health.probe_failed(since);
        }
        probed
    }

    /// Probes the store every `every` (one indexed single-row read), so that readiness
    /// follows the store even without traffic: an outage is noticed within about `every` plus
    /// the probe's deadline, and its end within about `every`.
    pub(crate) async fn watch(self: Arc<Self>, every: Duration) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let _ = self.probe().await;
        }
    }
}

#[async_trait]
impl ArticleStore for Guarded {
    async fn put_if(
        &self,
        article: Article,
        expected: Expected,
    ) -> Result<WriteOutcome, StoreError> {
        self.run(self.deadline, self.inner.put_if(article, expected))
            .await
    }

    async fn put_many(&self, articles: Vec<Article>) -> Result<ImportCounts, StoreError> {
        self.run(
            self.deadline * BATCH_DEADLINES,
            self.inner.put_many(articles),
        )
        .await
    }

    async fn kill_if(&self, id: &ArticleId, expected: Expected) -> Result<KillOutcome, StoreError> {
        self.run(self.deadline, self.inner.kill_if(id, expected))
            .await
    }

    async fn current(&self, id: &ArticleId) -> Result<Current, StoreError> {
        self.run(self.deadline, self.inner.current(id)).await
    }

    async fn latest(
        &self,
        selection: &Selection,
        limit: usize,
    ) -> Result<Vec<Article>, StoreError> {
        self.run(self.deadline, self.inner.latest(selection, limit))
            .await
    }

    async fn window(
        &self,
        selection: &Selection,
        window: &Window,
    ) -> Result<Vec<Article>, StoreError> {
        self.run(self.deadline, self.inner.window(selection, window))
            .await
    }

    async fn count(&self, selection: &Selection) -> Result<u64, StoreError> {
        self.run(self.deadline, self.inner.count(selection)).await
    }

    async fn categories(&self) -> Result<Vec<CategoryCount>, StoreError> {
        self.run(self.deadline, self.inner.categories()).await
    }

    async fn last_change(&self) -> Result<Option<Change>, StoreError> {
        self.run(self.deadline, self.inner.last_change()).await
    }

    async fn last_change_in(&self, selection: &Selection) -> Result<Option<Change>, StoreError> {
        self.run(self.deadline, self.inner.last_change_in(selection))
            .await
    }

    async fn tombstones(
        &self,
        selection: &Selection,
        since: DateTime<Utc>,
        published: Option<(DateTime<Utc>, DateTime<Utc>)>,
        limit: usize,
    ) -> Result<Vec<Tombstone>, StoreError> {
        self.run(
            self.deadline,
            self.inner.tombstones(selection, since, published, limit),
        )
        .await
    }

    async fn killed_published(
        &self,
        selection: &Selection,
        published: (DateTime<Utc>, DateTime<Utc>),
        newest: bool,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.run(
            self.deadline,
            self.inner.killed_published(selection, published, newest),
        )
        .await
    }

    async fn filed_within(
        &self,
        selection: &Selection,
        published: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<bool, StoreError> {
        self.run(self.deadline, self.inner.filed_within(selection, published))
            .await
    }

    async fn expiring(&self, now: DateTime<Utc>, limit: usize) -> Result<Due, StoreError> {
        self.run(self.deadline, self.inner.expiring(now, limit))
            .await
    }

    async fn changes_since(&self, seq: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        self.run(self.deadline, self.inner.changes_since(seq, limit))
            .await
    }
}

#[async_trait]
impl HoldStore for Guarded {
    async fn hold(&self, article: Article) -> Result<HoldOutcome, StoreError> {
        self.run(self.deadline, self.inner.hold(article)).await
    }

    async fn held(&self, id: &ArticleId) -> Result<Option<Article>, StoreError> {
        self.run(self.deadline, self.inner.held(id)).await
    }

    async fn held_in(
        &self,
        selection: &Selection,
        limit: usize,
    ) -> Result<Vec<Article>, StoreError> {
        self.run(self.deadline, self.inner.held_in(selection, limit))
            .await
    }

    async fn unhold(&self, id: &ArticleId) -> Result<Option<Change>, StoreError> {
        self.run(self.deadline, self.inner.unhold(id)).await
    }

    async fn release(
        &self,
        id: &ArticleId,
        now: DateTime<Utc>,
    ) -> Result<Option<(Article, WriteOutcome)>, StoreError> {
        self.run(self.deadline, self.inner.release(id, now)).await
    }

    async fn lifts(&self, now: DateTime<Utc>, limit: usize) -> Result<Due, StoreError> {
        self.run(self.deadline, self.inner.lifts(now, limit)).await
    }
}

#[async_trait]
impl SubscriptionStore for Guarded {
    async fn subscribe(&self, subscription: &Subscription) -> Result<(), StoreError> {
        self.run(self.deadline, self.inner.subscribe(subscription))
            .await
    }

    async fn unsubscribe(&self, topic: &str, callback: &str) -> Result<bool, StoreError> {
        self.run(self.deadline, self.inner.unsubscribe(topic, callback))
            .await
    }

    async fn subscribers(
        &self,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError> {
        self.run(self.deadline, self.inner.subscribers(topic, now))
            .await
    }

    async fn subscribed_topics(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.run(self.deadline, self.inner.subscribed_topics(now))
            .await
    }

    async fn subscriptions_on_host(
        &self,
        host: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.run(self.deadline, self.inner.subscriptions_on_host(host, now))
            .await
    }

    async fn expire_subscriptions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.run(self.deadline, self.inner.expire_subscriptions(now))
            .await
    }

    async fn claim_change(&self, seq: u64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.run(self.deadline, self.inner.claim_change(seq, now))
            .await
    }
}

#[async_trait]
impl UsageStore for Guarded {
    async fn add_usage(&self, rows: Vec<UsageRow>) -> Result<(), StoreError> {
        self.run(self.deadline, self.inner.add_usage(rows)).await
    }

    async fn usage(&self, since: DateTime<Utc>) -> Result<Vec<UsageRow>, StoreError> {
        self.run(self.deadline, self.inner.usage(since)).await
    }

    async fn forget_usage(&self, before: DateTime<Utc>) -> Result<(), StoreError> {
        self.run(self.deadline, self.inner.forget_usage(before))
            .await
    }
}

#[async_trait]
impl AudienceStore for Guarded {
    async fn merge_audience(
        &self,
        day: chrono::NaiveDate,
        feed: &str,
        merge: AudienceMerge,
    ) -> Result<(), StoreError> {
        self.run(self.deadline, self.inner.merge_audience(day, feed, merge))
            .await
    }

    async fn audience(
        &self,
        since: chrono::NaiveDate,
    ) -> Result<Vec<(chrono::NaiveDate, String, AudienceRow)>, StoreError> {
        self.run(self.deadline, self.inner.audience(since)).await
    }

    async fn add_traffic(&self, rows: Vec<TrafficRow>) -> Result<(), StoreError> {
        self.run(self.deadline, self.inner.add_traffic(rows)).await
    }

    async fn traffic(&self, since: DateTime<Utc>) -> Result<Vec<TrafficRow>, StoreError> {
        self.run(self.deadline, self.inner.traffic(since)).await
    }

    async fn forget_audience(&self, day: chrono::NaiveDate) -> Result<(), StoreError> {
        self.run(self.deadline, self.inner.forget_audience(day))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// A store whose every call hangs, as behind a stalled connection.
    struct Hung;

    #[async_trait]
    impl ArticleStore for Hung {
        async fn put_if(&self, _: Article, _: Expected) -> Result<WriteOutcome, StoreError> {
            std::future::pending().await
        }
        async fn put_many(&self, _: Vec<Article>) -> Result<ImportCounts, StoreError> {
            std::future::pending().await
        }
        async fn kill_if(&self, _: &ArticleId, _: Expected) -> Result<KillOutcome, StoreError> {
            std::future::pending().await
        }
        async fn current(&self, _: &ArticleId) -> Result<Current, StoreError> {
            std::future::pending().await
        }
        async fn latest(&self, _: &Selection, _: usize) -> Result<Vec<Article>, StoreError> {
            std::future::pending().await
        }
        async fn window(&self, _: &Selection, _: &Window) -> Result<Vec<Article>, StoreError> {
            std::future::pending().await
        }
        async fn count(&self, _: &Selection) -> Result<u64, StoreError> {
            std::future::pending().await
        }
        async fn categories(&self) -> Result<Vec<CategoryCount>, StoreError> {
            std::future::pending().await
        }
        async fn last_change(&self) -> Result<Option<Change>, StoreError> {
            std::future::pending().await
        }
        async fn last_change_in(&self, _: &Selection) -> Result<Option<Change>, StoreError> {
            std::future::pending().await
        }
        async fn tombstones(
            &self,
            _: &Selection,
            _: DateTime<Utc>,
            _: Option<(DateTime<Utc>, DateTime<Utc>)>,
            _: usize,
        ) -> Result<Vec<Tombstone>, StoreError> {
            std::future::pending().await
        }
        async fn killed_published(
            &self,
            _: &Selection,
            _: (DateTime<Utc>, DateTime<Utc>),
            _: bool,
        ) -> Result<Option<DateTime<Utc>>, StoreError> {
            std::future::pending().await
        }
        async fn filed_within(
            &self,
            _: &Selection,
            _: (DateTime<Utc>, DateTime<Utc>),
        ) -> Result<bool, StoreError> {
            std::future::pending().await
        }
        async fn expiring(&self, _: DateTime<Utc>, _: usize) -> Result<Due, StoreError> {
            std::future::pending().await
        }
        async fn changes_since(&self, _: u64, _: usize) -> Result<Vec<ChangeRecord>, StoreError> {
            std::future::pending().await
        }
    }

    #[async_trait]
    impl HoldStore for Hung {
        async fn hold(&self, _: Article) -> Result<HoldOutcome, StoreError> {
            std::future::pending().await
        }
        async fn held(&self, _: &ArticleId) -> Result<Option<Article>, StoreError> {
            std::future::pending().await
        }
        async fn held_in(&self, _: &Selection, _: usize) -> Result<Vec<Article>, StoreError> {
            std::future::pending().await
        }
        async fn unhold(&self, _: &ArticleId) -> Result<Option<Change>, StoreError> {
            std::future::pending().await
        }
        async fn release(
            &self,
            _: &ArticleId,
            _: DateTime<Utc>,
        ) -> Result<Option<(Article, WriteOutcome)>, StoreError> {
            std::future::pending().await
        }
        async fn lifts(&self, _: DateTime<Utc>, _: usize) -> Result<Due, StoreError> {
            std::future::pending().await
        }
    }

    #[async_trait]
    impl SubscriptionStore for Hung {
        async fn subscribe(&self, _: &Subscription) -> Result<(), StoreError> {
            std::future::pending().await
        }
        async fn unsubscribe(&self, _: &str, _: &str) -> Result<bool, StoreError> {
            std::future::pending().await
        }
        async fn subscribers(
            &self,
            _: &str,
            _: DateTime<Utc>,
        ) -> Result<Vec<Subscription>, StoreError> {
            std::future::pending().await
        }
        async fn subscribed_topics(
            &self,
            _: DateTime<Utc>,
        ) -> Result<Vec<(String, u64)>, StoreError> {
            std::future::pending().await
        }
        async fn subscriptions_on_host(
            &self,
            _: &str,
            _: DateTime<Utc>,
        ) -> Result<u64, StoreError> {
            std::future::pending().await
        }
        async fn expire_subscriptions(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            std::future::pending().await
        }
        async fn claim_change(&self, _: u64, _: DateTime<Utc>) -> Result<bool, StoreError> {
            std::future::pending().await
        }
    }

    #[async_trait]
    impl UsageStore for Hung {
        async fn add_usage(&self, _: Vec<UsageRow>) -> Result<(), StoreError> {
            std::future::pending().await
        }
        async fn usage(&self, _: DateTime<Utc>) -> Result<Vec<UsageRow>, StoreError> {
            std::future::pending().await
        }
        async fn forget_usage(&self, _: DateTime<Utc>) -> Result<(), StoreError> {
            std::future::pending().await
        }
    }

    #[async_trait]
    impl AudienceStore for Hung {
        async fn merge_audience(
            &self,
            _: chrono::NaiveDate,
            _: &str,
            _: AudienceMerge,
        ) -> Result<(), StoreError> {
            std::future::pending().await
        }
        async fn audience(
            &self,
            _: chrono::NaiveDate,
        ) -> Result<Vec<(chrono::NaiveDate, String, AudienceRow)>, StoreError> {
            std::future::pending().await
        }
        async fn add_traffic(&self, _: Vec<TrafficRow>) -> Result<(), StoreError> {
            std::future::pending().await
        }
        async fn traffic(&self, _: DateTime<Utc>) -> Result<Vec<TrafficRow>, StoreError> {
            std::future::pending().await
        }
        async fn forget_audience(&self, _: chrono::NaiveDate) -> Result<(), StoreError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_hung_call_times_out_at_its_deadline_and_marks_the_store_down() {
        let health = Arc::new(Health::new());
        health.mark_started();
        let store = Guarded::new(
            Arc::new(Hung),
            Arc::clone(&health),
            Duration::from_millis(50),
        );
        let started = std::time::Instant::now();
        let err = store.categories().await.unwrap_err();
        assert!(matches!(err, StoreError::Timeout(_)), "{err}");
        assert!(err.is_unavailable());
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(health.readiness().is_err());
    }

    #[tokio::test]
    async fn once_a_probe_confirms_an_outage_calls_fail_at_once_until_a_probe_answers() {
        let dir = tempfile::tempdir().unwrap();
        let health = Arc::new(Health::new());
        health.mark_started();
        let deadline = Duration::from_millis(200);
        let hung = Guarded::new(Arc::new(Hung), Arc::clone(&health), deadline);
        // A call that timed out: unreachable, not yet confirmed; the next still waits.
        let started = std::time::Instant::now();
        assert!(hung.categories().await.is_err());
        assert!(started.elapsed() >= deadline);
        assert!(hung.probe().await.is_err());
        assert!(health.outage_confirmed());
        let started = std::time::Instant::now();
        let err = hung.categories().await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        assert!(started.elapsed() < deadline, "{:?}", started.elapsed());
        // The probe still asks the store; one that answers ends the outage.
        let answering = Guarded::new(
            Arc::new(SqliteStore::open(&dir.path().join("w.sqlite3")).unwrap()),
            Arc::clone(&health),
            deadline,
        );
        assert!(answering.categories().await.is_err(), "fails at once");
        answering.probe().await.unwrap();
        assert!(!health.outage_confirmed());
        assert!(answering.categories().await.is_ok());
    }

    #[tokio::test]
    async fn a_call_that_answers_marks_the_store_up() {
        let dir = tempfile::tempdir().unwrap();
        let health = Arc::new(Health::new());
        health.mark_started();
        health.failure(&StoreError::Unavailable("gone".into()));
        let store = Guarded::new(
            Arc::new(SqliteStore::open(&dir.path().join("w.sqlite3")).unwrap()),
            Arc::clone(&health),
            Duration::from_secs(5),
        );
        store.probe().await.unwrap();
        assert_eq!(health.readiness(), Ok(()));
    }
}
