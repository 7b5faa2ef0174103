//! The change bus: the one place that follows the store's change sequence and tells everyone
//! who cares.
//!
//! Every write that changes what a reader could see gets a number in the store's change
//! sequence (see `store`). The bus reads that sequence — after each write this process makes
//! ([`ChangeBus::catch_up`] from the write path), on a timer for other processes on the same
//! SQLite file, and at once when PostgreSQL's LISTEN/NOTIFY wakes it — and hands each change,
//! in order and once, first to the [`Follower`]s that must act before anyone is told (the
//! feed cache drops what the change touched), then to every subscriber of its broadcast (the
//! WebSub hub). A subscriber that falls behind is told it lagged and treats everything as
//! touched.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Mutex, Notify, broadcast};

use crate::model::ChangeRecord;
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError};

/// Changes held for a slow subscriber before it is told it lagged.
const BUFFERED: usize = 4096;

/// Changes read from the store per query while catching up.
const BATCH: usize = 1000;

/// Something that must act on a change before the change is announced.
#[async_trait]
pub(crate) trait Follower: Send + Sync {
    /// Called once per change, in sequence order. Must be safe to call again for a change.
    async fn apply(&self, record: &ChangeRecord);

    /// Called after every complete read of the change sequence with the moment the read
    /// began: every change committed before then has been applied.
    fn caught_up(&self, _started: std::time::SystemTime) {}
}

pub(crate) struct ChangeBus {
    store: Arc<dyn Store>,
    /// The newest change handed on.
    seen: Mutex<u64>,
    followers: Vec<Arc<dyn Follower>>,
    announced: broadcast::Sender<ChangeRecord>,
}

impl ChangeBus {
    /// A bus over `store` whose `followers` act on each change, in the order given, before it
    /// is broadcast.
    pub(crate) fn new(store: Arc<dyn Store>, followers: Vec<Arc<dyn Follower>>) -> Self {
        Self {
            store,
            seen: Mutex::new(0),
            followers,
            announced: broadcast::channel(BUFFERED).0,
        }
    }

    /// Every change handed on from now on, after the followers acted on it.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ChangeRecord> {
        self.announced.subscribe()
    }

    /// Starts from the store's newest change: what came before is already in everything read
    /// from the store from now on.
    pub(crate) async fn start_at_current(&self) -> Result<(), StoreError> {
        *self.seen.lock().await = self.store.last_change().await?.map_or(0, |c| c.seq);
        Ok(())
    }

    /// Hands on every change the store has recorded since the last call. The write path calls
    /// it after each write, so a publisher's next read sees its own change.
    pub(crate) async fn catch_up(&self) -> Result<(), StoreError> {
        let mut seen = self.seen.lock().await;
        let started = std::time::SystemTime::now();
        loop {
            let records = self.store.changes_since(*seen, BATCH).await?;
            let Some(last) = records.last() else {
                for follower in &self.followers {
                    follower.caught_up(started);
                }
                return Ok(());
            };
            let newest = last.change.seq;
            for record in &records {
                for follower in &self.followers {
                    follower.apply(record).await;
                }
                // Nobody subscribed is fine: push is optional.
                let _ = self.announced.send(record.clone());
            }
            *seen = newest;
        }
    }

    /// Follows the store until shutdown: every `every`, and at once whenever `wake` is
    /// notified (by the PostgreSQL change listener). Notices that arrive while a catch-up runs
    /// are folded into the next one.
    pub(crate) async fn run(
        self: Arc<Self>,
        every: Duration,
        wake: Arc<Notify>,
        mut shutdown: Shutdown,
    ) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = wake.notified() => {}
                () = shutdown.recv() => return,
            }
            match self.catch_up().await {
                Ok(()) => {}
                // An outage is logged once by the store's health tracker.
                Err(e) if e.is_unavailable() => {
                    tracing::debug!(error = %e, "cannot read the change sequence; will retry");
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the change sequence; will retry"),
            }
        }
    }
}
