//! RFC 3229 deltas (`A-IM: feed`), built from the same entries as the document itself, so a
//! delta carries corrections, withdrawal notices and tombstones exactly as the full document
//! does.

use chrono::{DateTime, Utc};

use super::{CacheError, EntryStamp, FeedCache, Rendered};
use crate::model::{Article, ArticleId, FeedKey, Tombstone};
use crate::render::{self, FeedDoc};

impl FeedCache {
    /// RFC 3229 `feed` delta: the document `current` with only the entries that are new or
    /// changed since the version whose entries were `old` — withdrawal notices and tombstones
    /// of kills included. `None` when the feed's entries in the store are no longer those of
    /// `current` (the caller sends the whole document instead). Changes elsewhere on the wire
    /// since `current` was built do not matter: on a busy wire the store's sequence always
    /// has moved on.
    pub async fn delta(
        &self,
        key: &FeedKey,
        current: &Rendered,
        old: &[EntryStamp],
    ) -> Result<Option<Vec<u8>>, CacheError> {
        let Some(gathered) = self.gather(key).await? else {
            return Ok(None);
        };
        let entries = gathered.entries.iter().map(|a| (&a.id, a.updated));
        if !entries.eq(current.stamps.iter().map(|s| (&s.id, s.updated))) {
            return Ok(None);
        }
        let unchanged = |id: &ArticleId, updated: DateTime<Utc>| {
            old.iter().any(|s| &s.id == id && s.updated == updated)
        };
        let entries: Vec<Article> = gathered
            .entries
            .into_iter()
            .filter(|a| !unchanged(&a.id, a.updated))
            .collect();
        // A tombstone for every kill the old version had not seen as a notice.
        let deleted: Vec<Tombstone> = gathered
            .deleted
            .into_iter()
            .filter(|t| !unchanged(&t.id, t.killed_at.max(t.article.updated)))
            .collect();
        let doc = FeedDoc {
            site: &self.site,
            def: &gathered.def,
            articles: &entries,
            deleted: &deleted,
            history: &render::NO_HISTORY,
            updated: Some(gathered.changed_at),
            brand: Some(&self.options.brand),
        };
        Ok(Some(render::feed(current.format, &doc)?))
    }
}
