//! How the cache follows the change bus: a change drops every cached document whose selection
//! it touched (a category it covers, or for the flash feed a version urgent enough or of
//! unknown urgency — see `Selection::touched_by`), raises the floor that keeps a build started before it from being kept, and a
//! kill also drops the last good copies (stale-if-error must never bring a killed story back).
//! A completed read of the change sequence moves the horizon that dates Last-Modified. When
//! the cache was told to ([`FeedCache::remake_after_changes`]), the subscription documents a
//! client had read are made again at once.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{FeedCache, Rendered, Stats};
use crate::changes::Follower;
use crate::model::{ChangeKind, ChangeRecord, Coding, FeedKey, Part, UNRANKED};

#[async_trait]
impl Follower for FeedCache {
    /// Drops every cached document the change touched. Safe to call more than once.
    async fn apply(&self, record: &ChangeRecord) {
        let seq = record.change.seq;
        {
            let mut floors = self.floors.lock().expect("floors lock");
            floors.any = floors.any.max(seq);
            if record.kind == ChangeKind::Killed {
                floors.remember_kill(record);
            }
            for category in &record.categories {
                let floor = floors.by_category.entry(category.clone()).or_default();
                *floor = (*floor).max(seq);
            }
            let urgency = usize::from(record.urgency.unwrap_or(0).min(UNRANKED));
            floors.by_urgency[urgency] = floors.by_urgency[urgency].max(seq);
        }
        let stale: Vec<(Arc<FeedKey>, Arc<Rendered>)> = self
            .entries
            .iter()
            .filter(|(_, entry)| entry.built_at_seq < seq && entry.def.selection.touched_by(record))
            .collect();
        let killed = record.kind == ChangeKind::Killed;
        let remaking = self.remaking();
        let remade: Vec<(FeedKey, Vec<Coding>)> = stale
            .iter()
            .filter(|(key, entry)| {
                remaking.is_some() && key.part == Part::Current && entry.was_read()
            })
            .map(|(key, entry)| {
                let codings = Coding::ALL
                    .into_iter()
                    .filter(|&c| c != Coding::Identity && entry.is_made(c))
                    .collect();
                (FeedKey::clone(key), codings)
            })
            .collect();
        for (key, entry) in stale {
            // Taken out rather than dropped blind: a build that saw this change (a reader's,
            // or a remake of an earlier one) may have replaced the stale version since the
            // walk above, and it stays.
            let removed = self.entries.remove(key.as_ref()).await;
            if let Some(now) = removed.as_ref().filter(|now| now.built_at_seq >= seq) {
                self.entries
                    .insert(FeedKey::clone(&key), Arc::clone(now))
                    .await;
                continue;
            }
            // A version that still shows a killed story is never served again, not even
            // through an outage: a withdrawn story may be defamatory or wrong.
            if !killed {
                self.last_good
                    .insert(FeedKey::clone(&key), removed.unwrap_or(entry));
            }
            // At once: the next drop may wait, and no memo may serve this one meanwhile.
            self.recent.forget_all();
            Stats::bump(&self.stats.invalidations);
        }
        // And after them all, whatever they were: a memo may hold a version the cache
        // evicted, which the walk above could not find.
        self.recent.forget_all();
        if let Some(cache) = remaking {
            cache.remake(remade);
        }
        if killed {
            let older: Vec<Arc<FeedKey>> = self
                .last_good
                .iter()
                .filter(|(_, entry)| entry.def.selection.touched_by(record))
                .map(|(key, _)| key)
                .collect();
            for key in older {
                self.last_good.invalidate(key.as_ref());
            }
        }
    }

    fn caught_up(&self, started: SystemTime) {
        let nanos = started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.horizon.fetch_max(nanos, Ordering::AcqRel);
    }
}
