//! The documents built from the store outside the feed cache — the HTML pages, the OPML list
//! and the sitemaps — kept as [`Document`]s (ETag, 304, compression) until the change bus
//! brings a change, and served from what was kept while the store is unreachable (invariant
//! 8), except a document that may show a story killed since it was built: one whose
//! selection of stories (a story's categories, a category's, or all) a kill since touched.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::App;
use super::assets::Document;
use super::error::HttpError;
use crate::model::{ArticleId, Selection};

/// Bytes of documents kept at most, counting each twice for the compressed copies made of it
/// (article pages are many — a crawler walks them all; the rest are few).
const KEPT_BYTES: u64 = 64 << 20;

/// What a kept document shows, as its build says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shows {
    /// Stories of this selection (headlines, text, or their addresses, as the sitemaps list
    /// them): never served in place of a build once a kill touching the selection came after
    /// it was built — a category page shows its category's; the home page and the sitemaps
    /// any.
    Stories(Selection),
    /// A story's page: the story, and the newest others of its categories. Likewise, and
    /// after the story's own kill whatever its categories have become.
    Story(ArticleId, Selection),
    /// Only feeds (the OPML list): served through an outage whatever changed.
    Feeds,
}

struct Built {
    /// The change bus's newest change when it was built.
    seq: u64,
    at: Instant,
    document: Arc<Document>,
    shows: Shows,
}

impl Built {
    /// Whether it may be served while the store is away: unless it shows stories a kill
    /// since touched. (Asked only then: it reads the kills the cache remembers.)
    fn may_stand_in(&self, app: &App) -> bool {
        match &self.shows {
            Shows::Feeds => true,
            Shows::Stories(selection) => !app.cache.killed_since(selection, None, self.seq),
            Shows::Story(id, selection) => !app.cache.killed_since(selection, Some(id), self.seq),
        }
    }
}

pub(crate) struct Kept {
    documents: moka::sync::Cache<String, Arc<Built>>,
}

impl Default for Kept {
    fn default() -> Self {
        Self {
            documents: moka::sync::Cache::builder()
                .max_capacity(KEPT_BYTES)
                .weigher(|key: &String, built: &Arc<Built>| {
                    let weight = key.len() + 2 * built.document.len() + 256;
                    u32::try_from(weight).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }
}

impl Kept {
    /// The document kept under `key` while no change came since it was built (and it is
    /// younger than `refresh`, when given); otherwise one `build` makes now, with what it
    /// [`Shows`]. While the store is unreachable — known to be, or failing this build — the
    /// one kept is served instead, however old, unless it shows stories a kill since touched.
    pub(crate) async fn get_or_build(
        &self,
        app: &App,
        key: &str,
        refresh: Option<Duration>,
        build: impl Future<Output = Result<(Document, Shows), HttpError>>,
    ) -> Result<Arc<Document>, HttpError> {
        let seq = app.cache.changes_seen();
        let kept = self.documents.get(key);
        if let Some(kept) = &kept
            && kept.seq == seq
            && refresh.is_none_or(|refresh| kept.at.elapsed() < refresh)
        {
            return Ok(Arc::clone(&kept.document));
        }
        // Known to be away: the kept one at once. (Without one, the build fails at once
        // during an outage a probe has confirmed: see `store::guarded`.)
        if !app.health.store_up()
            && let Some(stand_in) = kept.as_ref().filter(|kept| kept.may_stand_in(app))
        {
            return Ok(Arc::clone(&stand_in.document));
        }
        match build.await {
            Ok((document, shows)) => {
                let document = Arc::new(document);
                self.documents.insert(
                    key.to_owned(),
                    Arc::new(Built {
                        seq,
                        at: Instant::now(),
                        document: Arc::clone(&document),
                        shows,
                    }),
                );
                Ok(document)
            }
            Err(e) if e.is_unavailable() => match kept.filter(|kept| kept.may_stand_in(app)) {
                Some(stand_in) => {
                    tracing::debug!(error = %e, key, "the store failed; served the document kept");
                    Ok(Arc::clone(&stand_in.document))
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }
}
