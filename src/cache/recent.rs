//! Each serving thread's memo of the versions it took from the cache last, so that a hit — a
//! poll of a feed already answered — is a lookup in a map of the thread's own, not a read of
//! the shared cache (whose every read is also queued for its eviction policy: together about a
//! tenth of a 304's CPU).
//!
//! The rule that keeps a memo from ever serving a dropped version: the cache counts
//! (`epoch`) every time anything is dropped from it, *after* dropping it, and a thread keeps a
//! version only under the count it read *before* reading the cache. A version dropped while
//! a thread was reading it was therefore kept under a count that is already gone, and a memo
//! whose count is not the cache's is forgotten whole before it is used. A change on the wire
//! thus empties every memo; the polls between changes, nearly all of them, are memo hits.
//!
//! A memo holds at most [`KEPT`] versions, so what it keeps beyond the cache's own size bound
//! (a version the cache evicted for room while a memo still answers with it — still the
//! current version, so still right to send) is bounded too. A forgotten memo's versions are
//! released when its thread next looks one up, so a thread that has stopped answering may
//! hold up to [`KEPT`] dropped versions in memory, never to serve them. One lookup in
//! [`READ_THROUGH`] goes to the cache anyway, so that its eviction policy still sees which
//! documents are popular.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{KeyHasher, Rendered};
use crate::model::FeedKey;

/// Versions one thread's memo keeps, at most.
const KEPT: usize = 64;
/// One memo lookup in this many reads the cache instead.
const READ_THROUGH: u32 = 32;
/// Caches one thread keeps memos for (a server has one; tests make many).
const CACHES: usize = 4;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static MEMOS: RefCell<Vec<Memo>> = const { RefCell::new(Vec::new()) };
}

/// One thread's memo for one cache.
struct Memo {
    cache: u64,
    epoch: u64,
    lookups: u32,
    versions: HashMap<FeedKey, Arc<Rendered>, KeyHasher>,
}

/// The cache's side: its identity among the memos and its count of drops.
pub(super) struct Recent {
    id: u64,
    epoch: AtomicU64,
}

impl Recent {
    pub(super) fn new() -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            epoch: AtomicU64::new(0),
        }
    }

    /// The version of `key` this thread kept, when nothing was dropped from the cache since.
    pub(super) fn get(&self, key: &FeedKey) -> Option<Arc<Rendered>> {
        let epoch = self.epoch();
        self.with_memo(epoch, |memo| {
            memo.lookups = memo.lookups.wrapping_add(1);
            if memo.lookups % READ_THROUGH == 0 {
                return None;
            }
            memo.versions.get(key).cloned()
        })
    }

    /// The count of drops, to read before reading the cache and hand to [`Recent::keep`].
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Keeps `version` of `key`, read from the cache after `epoch` was read, unless something
    /// was dropped since.
    pub(super) fn keep(&self, epoch: u64, key: &FeedKey, version: &Arc<Rendered>) {
        self.with_memo(epoch, |memo| {
            if memo.epoch == epoch
                && (memo.versions.len() < KEPT || memo.versions.contains_key(key))
            {
                memo.versions.insert(key.clone(), Arc::clone(version));
            }
            None::<()>
        });
    }

    /// Something was dropped from the cache: every memo is to be forgotten. Called after the
    /// drop.
    pub(super) fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Runs `f` on this thread's memo, emptied first when it is older than `epoch`.
    fn with_memo<T>(&self, epoch: u64, f: impl FnOnce(&mut Memo) -> Option<T>) -> Option<T> {
        MEMOS.with(|memos| {
            let mut memos = memos.borrow_mut();
            let at = match memos.iter().position(|m| m.cache == self.id) {
                Some(at) => at,
                None => {
                    if memos.len() == CACHES {
                        memos.remove(0);
                    }
                    memos.push(Memo {
                        cache: self.id,
                        epoch,
                        lookups: 0,
                        versions: HashMap::default(),
                    });
                    memos.len() - 1
                }
            };
            let memo = &mut memos[at];
            if memo.epoch < epoch {
                memo.versions.clear();
                memo.epoch = epoch;
            }
            f(memo)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_read_before_a_drop_is_never_kept_past_it() {
        let recent = Recent::new();
        let key = crate::cache::tests::key("world");
        let version = crate::cache::tests::version();
        // Read the count, then (in the cache) the version; a drop lands in between.
        let epoch = recent.epoch();
        recent.forget_all();
        recent.keep(epoch, &key, &version);
        assert!(recent.get(&key).is_none());
        // Kept under the current count, it is found until the next drop.
        recent.keep(recent.epoch(), &key, &version);
        assert!(recent.get(&key).is_some());
        recent.forget_all();
        assert!(recent.get(&key).is_none());
    }

    #[test]
    fn every_few_lookups_go_to_the_cache_and_the_memo_is_bounded() {
        let recent = Recent::new();
        let version = crate::cache::tests::version();
        let epoch = recent.epoch();
        for n in 0..KEPT + 10 {
            recent.keep(
                epoch,
                &crate::cache::tests::key(&format!("feed-{n}")),
                &version,
            );
        }
        let held = MEMOS.with(|m| {
            let m = m.borrow();
            m.iter()
                .find(|m| m.cache == recent.id)
                .unwrap()
                .versions
                .len()
        });
        assert_eq!(held, KEPT);
        let key = crate::cache::tests::key("feed-0");
        let misses = (0..READ_THROUGH * 3)
            .filter(|_| recent.get(&key).is_none())
            .count();
        assert_eq!(misses, 3);
    }
}
