//! The one shutdown signal every background task holds (after mini-redis's `Shutdown`).
//!
//! The entry point keeps the [`Trigger`]; each task gets a [`Shutdown`] and selects on
//! [`Shutdown::recv`] beside its own work. When the trigger fires, every task finishes or
//! persists what it holds (reader counts, queued pushes) and returns, and the entry point waits
//! for them for a bounded grace period.

use tokio::sync::watch;

/// Fires the shutdown for every [`Shutdown`] made from it.
pub(crate) struct Trigger(watch::Sender<bool>);

/// A task's view of the shutdown signal. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Shutdown(watch::Receiver<bool>);

impl Trigger {
    pub(crate) fn new() -> Self {
        Self(watch::channel(false).0)
    }

    /// A new receiver of the signal.
    pub(crate) fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }

    /// Tells every holder to stop.
    pub(crate) fn fire(&self) {
        self.0.send_replace(true);
    }

    /// Whether it has been fired.
    pub(crate) fn is_fired(&self) -> bool {
        *self.0.borrow()
    }
}

impl Default for Trigger {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub(crate) fn is_fired(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the shutdown has been fired (at once if it already was).
    pub(crate) async fn recv(&mut self) {
        // An error means the trigger was dropped without firing: treat it as a shutdown too,
        // since nobody is left to fire it.
        let _ = self.0.wait_for(|fired| *fired).await;
    }
}

/// Runs `work` every `every` (the first time at once) until the shutdown fires, and once
/// more then, so what it persists is persisted before the process ends.
pub(crate) async fn every<F, Fut>(every: std::time::Duration, mut shutdown: Shutdown, mut work: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            () = shutdown.recv() => true,
        };
        work().await;
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_holder_hears_the_trigger_even_if_it_subscribed_late() {
        let trigger = Trigger::new();
        let mut early = trigger.subscribe();
        trigger.fire();
        let mut late = trigger.subscribe();
        early.recv().await;
        late.recv().await;
        assert!(late.is_fired());
    }
}
