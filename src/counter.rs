//! Counters that every serving thread bumps on every request (cache hits, requests by route
//! and status): one slot per thread, each on a cache line of its own, summed when read. One
//! shared atomic bumped by every request would pass its cache line from core to core on each
//! one; a slot is written by one thread (rarely two, when threads outnumber slots), so a bump
//! stays in its core's cache.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Slots per counter. Threads beyond this many share slots, which stays right, only slower.
const SLOTS: usize = 16;

/// A cache line's worth (two, for the prefetcher that fetches lines in pairs) per slot.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot(AtomicU64);

/// A counter summed from per-thread slots; see the module doc.
#[derive(Debug, Default)]
pub struct Striped {
    slots: [Slot; SLOTS],
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's slot, taken on its first bump of any counter.
    static SLOT: Cell<Option<usize>> = const { Cell::new(None) };
}

fn slot() -> usize {
    SLOT.with(|slot| {
        slot.get().unwrap_or_else(|| {
            let taken = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) % SLOTS;
            slot.set(Some(taken));
            taken
        })
    })
}

impl Striped {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.slots[slot()].0.fetch_add(n, Ordering::Relaxed);
    }

    /// The sum of every slot: exact once bumps have stopped, and while they go on, a value
    /// between the counts at the start and at the end of the reading.
    pub fn sum(&self) -> u64 {
        self.slots.iter().fold(0u64, |sum, slot| {
            sum.wrapping_add(slot.0.load(Ordering::Relaxed))
        })
    }
}

/// So that a Prometheus counter can be striped: `Counter<u64, Striped>`. Bump one through
/// `counter.inner().add(1)`: its `inc` reads every slot to return the sum before (as an
/// atomic's `fetch_add` would), which a hot path must not pay.
impl prometheus_client::metrics::counter::Atomic<u64> for Striped {
    fn inc(&self) -> u64 {
        self.inc_by(1)
    }

    /// Returns the sum before the addition (as an atomic's `fetch_add` would), read at once.
    fn inc_by(&self, v: u64) -> u64 {
        self.add(v);
        self.sum().wrapping_sub(v)
    }

    fn get(&self) -> u64 {
        self.sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;

    #[test]
    fn bumps_from_many_threads_all_count() {
        let counter = Striped::default();
        std::thread::scope(|scope| {
            for _ in 0..(SLOTS + 3) {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        counter.add(1);
                    }
                });
            }
        });
        counter.add(5);
        assert_eq!(counter.sum(), (SLOTS as u64 + 3) * 1000 + 5);
    }

    #[test]
    fn a_striped_prometheus_counter_counts() {
        let counter = Counter::<u64, Striped>::default();
        counter.inc();
        counter.inc_by(2);
        assert_eq!(counter.get(), 3);
    }
}
