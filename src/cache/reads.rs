//! What the subscription documents of one feed read from the store, shared by their formats:
//! after a change the RSS, Atom and JSON documents of a feed (and their codings) are made from
//! one read of its stories, kills and paging counts instead of three. A read is keyed by the
//! change sequence it was made at, so it is never used for a later version of the wire; reads
//! of one moment are made once however many builds ask at the same time.

use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;

use super::history::{self, CurrentReads};
use super::{FeedCache, Stats};
use crate::model::{Change, FeedDef, Selection};
use crate::store::StoreError;

/// Reads kept: a few versions of every feed a change touches at once, in every view.
const KEPT: u64 = 64;
/// How long a read is kept: the formats of one version are asked for within seconds of each
/// other (a remake makes them back to back); a read is small next to the documents made
/// from it, but it holds a feed's stories.
const KEPT_FOR: Duration = Duration::from_secs(30);

/// Which read: a selection's newest `entries` stories and `notices` kills as of change `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ReadKey {
    selection: Selection,
    entries: usize,
    notices: usize,
    seq: u64,
}

/// One read: the selection's newest change, and what its subscription document holds.
#[derive(Debug)]
pub(super) struct Reads {
    pub(super) last_change: Option<Change>,
    pub(super) current: CurrentReads,
}

pub(super) type ReadCache = moka::future::Cache<ReadKey, Arc<Reads>>;

pub(super) fn cache() -> ReadCache {
    moka::future::Cache::builder()
        .max_capacity(KEPT)
        .time_to_live(KEPT_FOR)
        .build()
}

impl FeedCache {
    /// What the subscription document of `def` holds as of change `seq` (read after it),
    /// with up to `notices` withdrawal notices: read from the store once for all its formats.
    pub(super) async fn current_reads(
        &self,
        def: &FeedDef,
        notices: usize,
        seq: u64,
    ) -> Result<Arc<Reads>, StoreError> {
        let key = ReadKey {
            selection: def.selection.clone(),
            entries: def.entries,
            notices,
            seq,
        };
        let read = async {
            Stats::bump(&self.stats.store_reads);
            let last_change = self.store.last_change_in(&def.selection).await?;
            let current = history::read_current(
                self.store.as_ref(),
                def,
                self.kills_since(last_change),
                notices,
            )
            .await?;
            Ok(Arc::new(Reads {
                last_change,
                current,
            }))
        };
        self.reads
            .try_get_with(key, read)
            .await
            .map_err(|e: Arc<StoreError>| StoreError::clone(&e))
    }

    /// Since when a document carries a feed's kills: retention counts back from the feed's
    /// newest change, not from "now", so the same store always renders the same bytes.
    pub(super) fn kills_since(&self, last_change: Option<Change>) -> DateTime<chrono::Utc> {
        last_change.map_or(DateTime::UNIX_EPOCH, |c| c.at) - self.options.tombstone_retention
    }
}
