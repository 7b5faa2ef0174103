//! Whether the store can be reached, as the outcomes of store calls say: what `/readyz`
//! answers from, what `/metrics` shows, and the one place that logs an outage — one WARN when
//! the store becomes unreachable (with the reason), a reminder every [`REMINDER`] while it
//! stays so, one INFO when it is back (with the outage's length). Errors of single calls
//! during a known outage are logged at DEBUG only.
//!
//! Fed by [`super::guarded::Guarded`] (every store call), the PostgreSQL change listener
//! (whether it is connected) and start-up (whether it has finished).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::StoreError;

/// How often a continuing outage is logged again.
const REMINDER: Duration = Duration::from_secs(30);

/// The change listener's state (PostgreSQL only).
const LISTENER_NONE: u8 = 0;
const LISTENER_UP: u8 = 1;
const LISTENER_DOWN: u8 = 2;

#[derive(Debug)]
pub(crate) struct Health {
    /// The last store call reached the store (true until a call says otherwise).
    up: AtomicBool,
    /// A health probe (a read) failed since the store was last found unreachable, and no
    /// call reached the store while it ran: the outage is not just a failed write (a full
    /// disk), and reads would only wait out their deadline. Never true while `up` is.
    confirmed: AtomicBool,
    /// Calls that reached the store, ever: a probe's failure confirms an outage only if none
    /// did while it ran.
    reached: AtomicU64,
    /// Told when the store is reached again after an outage.
    back: tokio::sync::Notify,
    started: AtomicBool,
    started_notify: tokio::sync::Notify,
    listener: AtomicU8,
    outage: Mutex<Outage>,
    /// Calls that failed, by kind.
    pub(crate) timeouts: AtomicU64,
    pub(crate) unavailable: AtomicU64,
    pub(crate) other_errors: AtomicU64,
    /// Calls not made during a confirmed outage (failed at once).
    pub(crate) turned_away: AtomicU64,
    /// Times the store went from reachable to unreachable.
    pub(crate) outages: AtomicU64,
}

#[derive(Debug, Default)]
struct Outage {
    since: Option<Instant>,
    reason: String,
    reminded: Option<Instant>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    pub(crate) fn new() -> Self {
        Self {
            up: AtomicBool::new(true),
            confirmed: AtomicBool::new(false),
            reached: AtomicU64::new(0),
            back: tokio::sync::Notify::new(),
            started: AtomicBool::new(false),
            started_notify: tokio::sync::Notify::new(),
            listener: AtomicU8::new(LISTENER_NONE),
            outage: Mutex::new(Outage::default()),
            timeouts: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
            other_errors: AtomicU64::new(0),
            turned_away: AtomicU64::new(0),
            outages: AtomicU64::new(0),
        }
    }

    /// A store call succeeded (or failed for a reason that proves the store answered).
    pub(crate) fn success(&self) {
        self.reached.fetch_add(1, Ordering::AcqRel);
        if self.up.load(Ordering::Acquire) {
            return;
        }
        let mut outage = self.outage.lock().expect("health lock");
        // Cleared before `up` is set, under the lock `probe_failed` sets it under: a new
        // outage never sees the last one's confirmation.
        self.confirmed.store(false, Ordering::Release);
        if self.up.swap(true, Ordering::AcqRel) {
            return;
        }
        self.back.notify_waiters();
        let lasted = outage.since.take().map(|since| since.elapsed());
        tracing::info!(
            outage = ?lasted.unwrap_or_default(),
            "the store is reachable again"
        );
        *outage = Outage::default();
    }

    /// A store call failed. Only errors that say the store cannot be reached or did not
    /// answer in time mark it down; the others are counted.
    pub(crate) fn failure(&self, error: &StoreError) {
        if !error.is_unavailable() {
            self.other_errors.fetch_add(1, Ordering::Relaxed);
            // The store answered: it is reachable.
            self.success();
            return;
        }
        if matches!(error, StoreError::Timeout(_)) {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
        } else {
            self.unavailable.fetch_add(1, Ordering::Relaxed);
        }
        let mut outage = self.outage.lock().expect("health lock");
        let now = Instant::now();
        if self.up.swap(false, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(reason = %error, "the store is unreachable; answering 503 for what is not cached");
            *outage = Outage {
                since: Some(now),
                reason: error.to_string(),
                reminded: Some(now),
            };
            return;
        }
        outage.reason = error.to_string();
        tracing::debug!(error = %error, "store call failed during a known outage");
        if outage.reminded.is_none_or(|at| now - at >= REMINDER) {
            outage.reminded = Some(now);
            let since = outage.since.map(|s| now - s).unwrap_or_default();
            tracing::warn!(reason = %error, down_for = ?since, "the store is still unreachable");
        }
    }

    /// Whether the last store call reached the store.
    pub(crate) fn store_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// How many calls have reached the store so far: what a probe reads as it starts.
    pub(crate) fn reached(&self) -> u64 {
        self.reached.load(Ordering::Acquire)
    }

    /// A health probe that began when [`Health::reached`] said `since` failed: while the
    /// store stays unreachable, the outage is confirmed — unless a call reached the store
    /// meanwhile (a probe held up behind busy connections says nothing then).
    pub(crate) fn probe_failed(&self, since: u64) {
        let _outage = self.outage.lock().expect("health lock");
        if !self.up.load(Ordering::Acquire) && self.reached() == since {
            self.confirmed.store(true, Ordering::Release);
        }
    }

    /// Waits until the store is reached again after an outage.
    pub(crate) async fn reached_again(&self) {
        self.back.notified().await;
    }

    /// Whether the store is unreachable and a health probe has said so since: what needs the
    /// store is then answered 503 at once rather than after its deadline. (A store found
    /// unreachable by a failed write alone, as on a full disk, may still answer reads; the
    /// next probe, within a second, tells.)
    pub(crate) fn outage_confirmed(&self) -> bool {
        !self.up.load(Ordering::Acquire) && self.confirmed.load(Ordering::Acquire)
    }

    /// Start-up has finished: the store is open and migrated, background work is running.
    pub(crate) fn mark_started(&self) {
        self.started.store(true, Ordering::Release);
        self.started_notify.notify_waiters();
    }

    pub(crate) fn started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Waits up to `limit` for start-up to finish; `true` once it has.
    pub(crate) async fn wait_started(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.started_notify.notified();
            if self.started() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.started();
            }
        }
    }

    /// The PostgreSQL change listener connected (`true`) or lost its connection.
    pub(crate) fn set_listener(&self, up: bool) {
        self.listener.store(
            if up { LISTENER_UP } else { LISTENER_DOWN },
            Ordering::Release,
        );
    }

    /// `Some(connected)` when there is a change listener.
    pub(crate) fn listener_up(&self) -> Option<bool> {
        match self.listener.load(Ordering::Acquire) {
            LISTENER_NONE => None,
            state => Some(state == LISTENER_UP),
        }
    }

    /// `Ok` when the server can serve everything, or a short reason why not.
    pub(crate) fn readiness(&self) -> Result<(), String> {
        if !self.store_up() {
            let outage = self.outage.lock().expect("health lock");
            let since = outage.since.map(|s| s.elapsed()).unwrap_or_default();
            return Err(format!(
                "store unreachable for {:.1}s: {}",
                since.as_secs_f64(),
                outage.reason
            ));
        }
        if !self.started() {
            return Err("starting: waiting for the store".to_owned());
        }
        if self.listener_up() == Some(false) {
            return Err("change listener disconnected".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_begins_with_an_unreachable_store_and_ends_with_the_next_success() {
        let health = Health::new();
        health.mark_started();
        assert_eq!(health.readiness(), Ok(()));
        health.failure(&StoreError::Corrupt("bad row".into()));
        assert_eq!(
            health.readiness(),
            Ok(()),
            "a store that answers is reachable"
        );
        health.failure(&StoreError::Timeout(Duration::from_secs(1)));
        health.failure(&StoreError::Unavailable("connection refused".into()));
        let reason = health.readiness().unwrap_err();
        assert!(reason.contains("connection refused"), "{reason}");
        assert_eq!(health.outages.load(Ordering::Relaxed), 1);
        assert_eq!(health.timeouts.load(Ordering::Relaxed), 1);
        assert_eq!(health.unavailable.load(Ordering::Relaxed), 1);
        health.success();
        assert_eq!(health.readiness(), Ok(()));
    }

    #[test]
    fn an_outage_is_confirmed_by_a_failed_probe_until_the_store_is_reached() {
        let health = Health::new();
        health.probe_failed(health.reached());
        assert!(!health.outage_confirmed(), "the store is up");
        // A write that failed on a full disk: unreachable, not confirmed.
        let full = StoreError::Database {
            message: "database or disk is full".into(),
            transient: true,
        };
        health.failure(&full);
        assert!(!health.store_up());
        assert!(!health.outage_confirmed());
        // A probe during which another call reached the store confirms nothing.
        let since = health.reached();
        health.success();
        health.failure(&full);
        health.probe_failed(since);
        assert!(!health.outage_confirmed());
        health.probe_failed(health.reached());
        assert!(health.outage_confirmed());
        health.success();
        assert!(!health.outage_confirmed());
        // A new outage starts unconfirmed, whatever the last one was.
        health.failure(&StoreError::Timeout(Duration::from_secs(1)));
        assert!(!health.outage_confirmed());
    }

    #[tokio::test]
    async fn waiters_hear_when_the_store_is_reached_again() {
        let health = std::sync::Arc::new(Health::new());
        health.failure(&StoreError::Unavailable("connection refused".into()));
        let waiter = tokio::spawn({
            let health = std::sync::Arc::clone(&health);
            async move { health.reached_again().await }
        });
        tokio::task::yield_now().await;
        health.success();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken when the store was reached again")
            .unwrap();
    }

    #[test]
    fn not_ready_until_started_and_while_the_listener_is_away() {
        let health = Health::new();
        assert!(health.readiness().unwrap_err().contains("starting"));
        health.mark_started();
        health.set_listener(false);
        assert!(health.readiness().unwrap_err().contains("listener"));
        health.set_listener(true);
        assert_eq!(health.readiness(), Ok(()));
    }

    #[tokio::test]
    async fn waiting_for_start_up_ends_when_it_finishes_or_at_the_limit() {
        let health = std::sync::Arc::new(Health::new());
        assert!(!health.wait_started(Duration::from_millis(20)).await);
        let starter = std::sync::Arc::clone(&health);
        tokio::spawn(async move { starter.mark_started() });
        assert!(health.wait_started(Duration::from_secs(5)).await);
    }
}
