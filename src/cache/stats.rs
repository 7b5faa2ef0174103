//! What the cache counts: hits, misses, renders and what they cost. A hit must move nothing
//! but `hits`. The names under which /metrics shows them are the metrics module's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::counter::Striped;

/// Counters that show what the cache saved: a hit must move none but `hits`.
#[derive(Debug)]
pub struct Stats {
    /// Bumped by every serving thread on every hit: striped.
    pub hits: Striped,
    pub misses: AtomicU64,
    pub renders: AtomicU64,
    pub compressions: AtomicU64,
    pub store_reads: AtomicU64,
    pub invalidations: AtomicU64,
    /// Documents made again after a change before anyone asked (see
    /// `FeedCache::remake_after_changes`).
    pub remakes: AtomicU64,
    /// Requests answered with the last good version because the rebuild failed.
    pub stale_served: AtomicU64,
    /// Entries dropped to stay within `cache_max_bytes`.
    pub evictions: Arc<AtomicU64>,
    /// Render and compression time of each build, in seconds.
    pub render_seconds: prometheus_client::metrics::histogram::Histogram,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            hits: Striped::default(),
            misses: AtomicU64::new(0),
            renders: AtomicU64::new(0),
            compressions: AtomicU64::new(0),
            store_reads: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            remakes: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            evictions: Arc::new(AtomicU64::new(0)),
            // 50 µs to about 1.6 s.
            render_seconds: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.000_05, 2.0, 16),
            ),
        }
    }
}

impl Stats {
    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The counters' values at one moment, for /metrics (which names them).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub hits: u64,
    pub misses: u64,
    pub renders: u64,
    pub compressions: u64,
    pub store_reads: u64,
    pub invalidations: u64,
    pub remakes: u64,
    pub stale_served: u64,
    pub evictions: u64,
}

impl Stats {
    pub fn counts(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            hits: self.hits.sum(),
            misses: get(&self.misses),
            renders: get(&self.renders),
            compressions: get(&self.compressions),
            store_reads: get(&self.store_reads),
            invalidations: get(&self.invalidations),
            remakes: get(&self.remakes),
            stale_served: get(&self.stale_served),
            evictions: get(&self.evictions),
        }
    }
}
