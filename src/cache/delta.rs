//! RFC 3229 deltas (`A-IM: feed`), built from the same entries as the document itself, so a
//! delta carries corrections, withdrawal notices and tombstones exactly as the full document
//! does.

use chrono::{DateTime, Utc};

use super::{CacheError, EntryStamp, FeedCache, Rendered};
use crate::model::{Article, ArticleId, FeedKey, Tombstone};
use crate::render::{self, FeedDoc};
use crate::store::Lookup;

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
        let mut entries: Vec<Article> = gathered
            .entries
            .iter()
            .filter(|a| !unchanged(&a.id, a.updated))
            .cloned()
            .collect();
        // A tombstone for every kill the old version had not seen as a notice.
        let mut deleted: Vec<Tombstone> = gathered
            .deleted
            .iter()
            .filter(|t| !unchanged(&t.id, t.killed_at.max(t.article.updated)))
            .cloned()
            .collect();
        // And for every story the client holds that was killed since, even one whose notice
        // the current document no longer has room for (a burst of kills): a kill must reach
        // every reader that has the story.
        let missed = self.kills_left_out(old, &gathered.entries).await?;
        for missed in missed
            .into_iter()
            .filter(|t| !unchanged(&t.id, t.killed_at.max(t.article.updated)))
        {
            entries.push(self.options.withdrawal.notice_for(&missed));
            deleted.push(missed);
        }
        entries.sort_by(|a, b| (b.published, &b.id).cmp(&(a.published, &a.id)));
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

    /// The stories of `old` (a client's version) that were killed since and that `current`
    /// (the entries of the document now, notices included) does not carry: each read from the
    /// store, which is asked only for the stories `old` had and `current` has not — one per
    /// story pushed out of the document since, in the common case.
    async fn kills_left_out(
        &self,
        old: &[EntryStamp],
        current: &[Article],
    ) -> Result<Vec<Tombstone>, CacheError> {
        let mut missed = Vec::new();
        for stamp in old.iter().filter(|s| !current.iter().any(|a| a.id == s.id)) {
            if let Lookup::Killed(killed) = self.store.get(&stamp.id).await? {
                missed.push(Tombstone {
                    id: stamp.id.clone(),
                    killed_at: killed.killed.at,
                    article: killed.article,
                });
            }
        }
        Ok(missed)
    }
}
