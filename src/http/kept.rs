//! The documents built from the store outside the feed cache — the HTML pages, the OPML list
//! and the sitemaps — kept as [`Document`]s (ETag, 304, compression) until the change bus
//! brings a change, and served from what was kept while the store is unreachable (invariant
//! 8), except a document that may show a story killed since it was built.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::App;
use super::assets::Document;
use super::error::HttpError;

/// Bytes of documents kept at most, counting each twice for the compressed copies made of it
/// (article pages are many — a crawler walks them all; the rest are few).
const KEPT_BYTES: u64 = 64 << 20;

/// What a kept document shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shows {
    /// Stories (headlines, text, or their addresses, as the sitemaps list them): never served
    /// once a kill came after it was built.
    Stories,
    /// Only feeds (the OPML list): served through an outage whatever changed.
    Feeds,
}

struct Built {
    /// The change bus's newest change when it was built.
    seq: u64,
    at: Instant,
    document: Arc<Document>,
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
    /// younger than `refresh`, when given); otherwise one `build` makes now. While the store
    /// is unreachable — known to be, or failing this build — the one kept is served instead,
    /// however old, unless it `Shows` stories and a kill came since.
    pub(crate) async fn get_or_build(
        &self,
        app: &App,
        key: &str,
        refresh: Option<Duration>,
        shows: Shows,
        build: impl Future<Output = Result<Document, HttpError>>,
    ) -> Result<Arc<Document>, HttpError> {
        let (seq, killed) = app.cache.changes_seen();
        let kept = self.documents.get(key);
        if let Some(kept) = &kept
            && kept.seq == seq
            && refresh.is_none_or(|refresh| kept.at.elapsed() < refresh)
        {
            return Ok(Arc::clone(&kept.document));
        }
        let stand_in = kept.filter(|kept| shows == Shows::Feeds || kept.seq >= killed);
        if !app.health.store_up() {
            // Known to be away: the kept one at once, or a 503 at once rather than a build
            // that would wait out the deadline.
            return match &stand_in {
                Some(stand_in) => Ok(Arc::clone(&stand_in.document)),
                None => Err(HttpError::Unavailable(
                    "the store is unreachable".to_owned(),
                )),
            };
        }
        match build.await {
            Ok(document) => {
                let document = Arc::new(document);
                self.documents.insert(
                    key.to_owned(),
                    Arc::new(Built {
                        seq,
                        at: Instant::now(),
                        document: Arc::clone(&document),
                    }),
                );
                Ok(document)
            }
            Err(e) if e.is_unavailable() => match stand_in {
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
