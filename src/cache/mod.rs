//! The feed cache: rendered feeds in every content coding, with their validators and headers
//! prebuilt, so that a hit is one lookup that hands out `Bytes` and `HeaderValue`s.
//!
//! Entries are keyed by feed and format and weighed by their bytes (Moka). A miss reads the
//! store, renders and compresses once — concurrent misses for one key wait for the same build.
//! Entries are invalidated precisely: each change of the store names the categories it touched
//! (before and after), and only feeds whose selection covers one of them are dropped. Changes
//! arrive from this process directly ([`FeedCache::apply`]) and from any other writer through
//! the [`watch`] task, which follows the store's change sequence.

pub mod coding;
pub mod history;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::header::HeaderValue;

pub use coding::Coding;
pub use history::Part;

use crate::catalog::{Catalog, FeedDef};
use crate::model::{Article, ArticleId, Category};
use crate::render::{self, FeedDoc, RenderError};
use crate::site::{FeedFormat, Site};
use crate::store::{ChangeRecord, Selection, Store, StoreError, Tombstone};

/// Which cached document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedKey {
    pub slug: String,
    pub format: FeedFormat,
    pub part: Part,
}

impl FeedKey {
    /// A feed's subscription document.
    pub fn current(slug: impl Into<String>, format: FeedFormat) -> Self {
        Self {
            slug: slug.into(),
            format,
            part: Part::Current,
        }
    }
}

/// One coding of one version of a feed.
#[derive(Debug, Clone)]
pub struct Variant {
    pub body: Bytes,
    pub etag: HeaderValue,
    /// Parsed once, for precondition checks.
    pub typed_etag: headers::ETag,
}

/// What identifies an entry's version, for RFC 3229 deltas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryStamp {
    pub id: ArticleId,
    pub updated: DateTime<Utc>,
}

/// One version of one feed in one format, ready to send.
#[derive(Debug)]
pub struct Rendered {
    pub def: FeedDef,
    pub format: FeedFormat,
    /// The store's change sequence before the stories were read.
    pub built_at_seq: u64,
    /// The content hash that every coding's ETag starts with.
    pub tag: String,
    /// Indexed by [`Coding::index`].
    pub variants: [Variant; 4],
    pub modified_at: SystemTime,
    pub last_modified: HeaderValue,
    pub cache_control: HeaderValue,
    pub content_type: HeaderValue,
    pub link: HeaderValue,
    pub stamps: Arc<[EntryStamp]>,
}

impl Rendered {
    pub fn variant(&self, coding: Coding) -> &Variant {
        &self.variants[coding.index()]
    }

    fn weight(&self) -> u32 {
        let bytes: usize = self.variants.iter().map(|v| v.body.len()).sum();
        u32::try_from(bytes + 1024 + self.stamps.len() * 64).unwrap_or(u32::MAX)
    }
}

/// Counters that show what the cache saved: a hit must move none but `hits`.
#[derive(Debug)]
pub struct Stats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub renders: AtomicU64,
    pub compressions: AtomicU64,
    pub store_reads: AtomicU64,
    pub invalidations: AtomicU64,
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
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            renders: AtomicU64::new(0),
            compressions: AtomicU64::new(0),
            store_reads: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
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
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `(name, help, value)` for /metrics.
    pub fn snapshot(&self) -> [(&'static str, &'static str, u64); 8] {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            (
                "cache_hits",
                "Feed requests answered from memory",
                get(&self.hits),
            ),
            (
                "cache_misses",
                "Feed requests that had to build the document",
                get(&self.misses),
            ),
            (
                "feed_renders",
                "Feed documents rendered",
                get(&self.renders),
            ),
            (
                "feed_compressions",
                "Compressed variants made (three per render)",
                get(&self.compressions),
            ),
            (
                "feed_store_reads",
                "Store reads for feeds",
                get(&self.store_reads),
            ),
            (
                "cache_invalidations",
                "Cached feeds dropped because a change touched them",
                get(&self.invalidations),
            ),
            (
                "cache_stale_served",
                "Feed requests answered with the last good version because the store failed",
                get(&self.stale_served),
            ),
            (
                "cache_evictions",
                "Cached feeds dropped to stay within cache_max_bytes",
                get(&self.evictions),
            ),
        ]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("no feed called {0:?}")]
    UnknownFeed(String),
    #[error("feed {0:?} has no such page or archive")]
    NoSuchPart(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("the render worker stopped: {0}")]
    Worker(String),
}

/// Freshness of an archive that can no longer change: a year, the longest RFC 9111 advises.
const IMMUTABLE_MAX_AGE: u32 = 31_536_000;

/// Versions of feeds remembered for deltas, by tag.
const VERSIONS_KEPT: u64 = 4096;

pub struct FeedCache {
    entries: moka::future::Cache<FeedKey, Arc<Rendered>>,
    /// Entry lists of recent versions, by content tag, for RFC 3229 deltas.
    versions: moka::sync::Cache<String, Arc<[EntryStamp]>>,
    /// Newest change seen per category, and overall: an entry built before the floor of any
    /// category it covers is stale.
    floors: Mutex<Floors>,
    store: Arc<dyn Store>,
    catalog: Catalog,
    site: Site,
    /// How long a killed story stays in Atom feeds as a deleted-entry.
    tombstone_retention: chrono::Duration,
    /// The newest change applied by [`FeedCache::catch_up`].
    seen: tokio::sync::Mutex<u64>,
    /// Every change applied, for whoever pushes updates (the WebSub hub).
    changes: tokio::sync::broadcast::Sender<ChangeRecord>,
    pub stats: Stats,
    /// Stale-if-error: the last good version of each feed invalidated since, served while
    /// building its successor fails for want of the store.
    last_good: moka::sync::Cache<FeedKey, Arc<Rendered>>,
    /// Longest a build may take, when set.
    build_deadline: Option<Duration>,
    /// The store's health: during a known outage the last good version is served at once.
    health: Option<Arc<crate::store::health::Health>>,
}

/// Changes held for a slow listener before it is told it lagged.
const CHANGES_BUFFERED: usize = 4096;

#[derive(Default)]
struct Floors {
    any: u64,
    by_category: HashMap<Category, u64>,
}

impl Floors {
    fn of(&self, selection: &Selection) -> u64 {
        match selection {
            Selection::All => self.any,
            Selection::Categories(list) => list
                .iter()
                .filter_map(|c| self.by_category.get(c).copied())
                .max()
                .unwrap_or(0),
        }
    }
}

impl FeedCache {
    pub fn new(
        store: Arc<dyn Store>,
        catalog: Catalog,
        site: Site,
        max_bytes: u64,
        tombstone_retention: chrono::Duration,
    ) -> Self {
        let stats = Stats::default();
        let evictions = Arc::clone(&stats.evictions);
        Self {
            entries: moka::future::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_key: &FeedKey, value: &Arc<Rendered>| value.weight())
                .eviction_listener(move |_key, _value, cause| {
                    if cause == moka::notification::RemovalCause::Size {
                        evictions.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .build(),
            versions: moka::sync::Cache::new(VERSIONS_KEPT),
            floors: Mutex::new(Floors::default()),
            store,
            catalog,
            site,
            tombstone_retention,
            seen: tokio::sync::Mutex::new(0),
            changes: tokio::sync::broadcast::channel(CHANGES_BUFFERED).0,
            stats,
            last_good: moka::sync::Cache::builder()
                .max_capacity(max_bytes / 2)
                .weigher(|_key: &FeedKey, value: &Arc<Rendered>| value.weight())
                .build(),
            build_deadline: None,
            health: None,
        }
    }

    /// During an outage `health` knows of, a feed with a last good version is answered with
    /// it at once instead of after a failed build.
    pub fn with_health(mut self, health: Arc<crate::store::health::Health>) -> Self {
        self.health = Some(health);
        self
    }

    /// Bounds every build (a miss) in time: past `deadline` the request gets the last good
    /// version when there is one, or an error.
    pub fn with_build_deadline(mut self, deadline: Duration) -> Self {
        self.build_deadline = Some(deadline);
        self
    }

    /// The current version of a feed: from memory, or built once however many ask at once.
    pub async fn get(&self, key: &FeedKey) -> Result<Arc<Rendered>, Arc<CacheError>> {
        if let Some(hit) = self.entries.get(key).await {
            Stats::bump(&self.stats.hits);
            return Ok(hit);
        }
        Stats::bump(&self.stats.misses);
        // Boxed, so the future of a hit stays small: a miss holds a whole render.
        Box::pin(self.miss_or_stale(key)).await
    }

    /// A miss, bounded by the build deadline; when the store fails or is too slow, the last
    /// good version (with its own validators) if the feed had one.
    async fn miss_or_stale(&self, key: &FeedKey) -> Result<Arc<Rendered>, Arc<CacheError>> {
        if self.health.as_ref().is_some_and(|h| !h.store_up()) {
            if let Some(stale) = self.last_good.get(key) {
                Stats::bump(&self.stats.stale_served);
                return Ok(stale);
            }
        }
        let built = match self.build_deadline {
            Some(deadline) => tokio::time::timeout(deadline, self.miss(key))
                .await
                .unwrap_or_else(|_| Err(Arc::new(StoreError::Timeout(deadline).into()))),
            None => self.miss(key).await,
        };
        match built {
            Ok(entry) => {
                self.last_good.invalidate(key);
                Ok(entry)
            }
            Err(e) if matches!(&*e, CacheError::Store(s) if !s.is_internal()) => {
                match self.last_good.get(key) {
                    Some(stale) => {
                        Stats::bump(&self.stats.stale_served);
                        tracing::debug!(error = %e, slug = key.slug, "served the last good version");
                        Ok(stale)
                    }
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn miss(&self, key: &FeedKey) -> Result<Arc<Rendered>, Arc<CacheError>> {
        loop {
            let entry = self
                .entries
                .try_get_with(key.clone(), self.build(key))
                .await?;
            // A change may have been applied while this entry was being built; if so the
            // entry is already stale and is built again (see `apply`).
            let floor = self
                .floors
                .lock()
                .expect("floors lock")
                .of(&entry.def.selection);
            if entry.built_at_seq >= floor {
                return Ok(entry);
            }
            self.entries.invalidate(key).await;
        }
    }

    /// The entries of an earlier version of this feed, if it is still remembered.
    pub fn version(&self, tag: &str) -> Option<Arc<[EntryStamp]>> {
        self.versions.get(tag)
    }

    /// The stories of a feed as it is now, for a delta response.
    pub async fn articles(&self, def: &FeedDef) -> Result<Vec<Article>, StoreError> {
        Stats::bump(&self.stats.store_reads);
        self.store.latest(&def.selection, def.entries).await
    }

    pub fn site(&self) -> &Site {
        &self.site
    }

    /// Finishes the cache's pending bookkeeping, so [`FeedCache::size`] is exact.
    pub async fn settle(&self) {
        self.entries.run_pending_tasks().await;
    }

    /// Bytes and documents held, as of the last [`FeedCache::settle`].
    pub fn size(&self) -> (u64, u64) {
        (self.entries.weighted_size(), self.entries.entry_count())
    }

    /// Every change applied from now on, after the feeds it touched were dropped.
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<ChangeRecord> {
        self.changes.subscribe()
    }

    /// Every feed worth listing, as the store stands now.
    pub async fn feeds(&self) -> Result<Vec<FeedDef>, StoreError> {
        let categories: Vec<Category> = self
            .store
            .categories()
            .await?
            .into_iter()
            .map(|c| c.category)
            .collect();
        Ok(self.catalog.list(&categories))
    }

    async fn build(&self, key: &FeedKey) -> Result<Arc<Rendered>, CacheError> {
        Stats::bump(&self.stats.store_reads);
        let built_at_seq = self.store.last_change().await?.map_or(0, |c| c.seq);
        let categories: Vec<Category> = self
            .store
            .categories()
            .await?
            .into_iter()
            .map(|c| c.category)
            .collect();
        let def = self
            .catalog
            .feed(&key.slug, |c| categories.contains(c))
            .ok_or_else(|| CacheError::UnknownFeed(key.slug.clone()))?;
        let Some(selected) =
            history::select(self.store.as_ref(), &self.site, &def, key.format, key.part).await?
        else {
            return Err(CacheError::NoSuchPart(key.slug.clone()));
        };
        let last_change = self.store.last_change_in(&def.selection).await?;
        // Retention counts back from the feed's newest change, not from "now", so the same
        // store always renders the same bytes. Only the subscription document has tombstones.
        let deleted = if key.part == Part::Current {
            let since =
                last_change.map_or(DateTime::UNIX_EPOCH, |c| c.at) - self.tombstone_retention;
            self.store
                .tombstones(&def.selection, since, def.entries)
                .await?
        } else {
            Vec::new()
        };

        let site = self.site.clone();
        let format = key.format;
        let started = std::time::Instant::now();
        let rendered = tokio::task::spawn_blocking(move || {
            assemble(
                &site,
                def,
                format,
                &selected,
                &deleted,
                built_at_seq,
                last_change.map(|c| c.at),
            )
        })
        .await
        .map_err(|e| CacheError::Worker(e.to_string()))??;
        self.stats
            .render_seconds
            .observe(started.elapsed().as_secs_f64());
        Stats::bump(&self.stats.renders);
        self.stats
            .compressions
            .fetch_add(Coding::ALL.len() as u64 - 1, Ordering::Relaxed);
        self.versions
            .insert(rendered.tag.clone(), Arc::clone(&rendered.stamps));
        Ok(Arc::new(rendered))
    }

    /// Applies every change the store has recorded since the last call. Called after each
    /// write this process makes (so its own publishes are visible at once) and by [`watch`].
    pub async fn catch_up(&self) -> Result<(), StoreError> {
        let mut seen = self.seen.lock().await;
        loop {
            let records = self.store.changes_since(*seen, 1000).await?;
            let Some(last) = records.last() else {
                return Ok(());
            };
            let newest = last.change.seq;
            for record in &records {
                self.apply(record).await;
            }
            *seen = newest;
        }
    }

    /// Starts following the store from its newest change: nothing before it can be cached yet.
    pub async fn start_at_current(&self) -> Result<(), StoreError> {
        *self.seen.lock().await = self.store.last_change().await?.map_or(0, |c| c.seq);
        Ok(())
    }

    /// Drops every cached feed the change touched. Safe to call more than once for a change.
    pub async fn apply(&self, record: &ChangeRecord) {
        let seq = record.change.seq;
        {
            let mut floors = self.floors.lock().expect("floors lock");
            floors.any = floors.any.max(seq);
            for category in &record.categories {
                let floor = floors.by_category.entry(category.clone()).or_default();
                *floor = (*floor).max(seq);
            }
        }
        let stale: Vec<(Arc<FeedKey>, Arc<Rendered>)> = self
            .entries
            .iter()
            .filter(|(_, entry)| {
                entry.built_at_seq < seq
                    && record
                        .categories
                        .iter()
                        .any(|c| entry.def.selection.covers(c))
            })
            .collect();
        for (key, entry) in stale {
            self.last_good.insert(FeedKey::clone(&key), entry);
            self.entries.invalidate(key.as_ref()).await;
            Stats::bump(&self.stats.invalidations);
        }
        // Nobody listening is fine: push is optional.
        let _ = self.changes.send(record.clone());
    }
}

/// Renders, compresses and prebuilds every header of one version. Pure CPU work.
fn assemble(
    site: &Site,
    def: FeedDef,
    format: FeedFormat,
    selected: &history::Selected,
    deleted: &[Tombstone],
    built_at_seq: u64,
    last_change: Option<DateTime<Utc>>,
) -> Result<Rendered, RenderError> {
    let articles = selected.articles.as_slice();
    let doc = FeedDoc {
        site,
        def: &def,
        articles,
        deleted,
        history: &selected.history,
    };
    let body = render::feed(format, &doc)?;
    let tag = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&body));
    let variants = Coding::ALL.map(|coding| {
        let etag = format!("\"{tag}{}\"", coding.etag_suffix());
        Variant {
            body: coding.encode(&body),
            typed_etag: etag.parse().expect("a quoted hex string is a valid ETag"),
            etag: HeaderValue::from_str(&etag).expect("ASCII"),
        }
    });

    // Last-Modified: the newest change to the feed's stories or to its definition, in whole
    // seconds, never in the future.
    let changed = last_change
        .max(def.defined_at)
        .unwrap_or(DateTime::UNIX_EPOCH);
    let changed = changed.min(Utc::now());
    let modified_at =
        SystemTime::UNIX_EPOCH + Duration::from_secs(changed.timestamp().max(0) as u64);
    let last_modified = HeaderValue::from_str(&httpdate(modified_at)).expect("ASCII");

    let mut link = format!("<{}>; rel=\"self\"", doc.self_url(format));
    if let Some(hub) = doc.hub() {
        link.push_str(&format!(", <{hub}>; rel=\"hub\""));
    }
    let cache_control = if selected.immutable {
        format!("public, max-age={IMMUTABLE_MAX_AGE}, immutable")
    } else {
        format!(
            "public, max-age={}, stale-while-revalidate={}",
            def.max_age, def.stale_while_revalidate
        )
    };
    Ok(Rendered {
        cache_control: HeaderValue::from_str(&cache_control).expect("ASCII"),
        content_type: HeaderValue::from_str(&format!("{}; charset=utf-8", format.media_type()))
            .expect("ASCII"),
        link: HeaderValue::from_str(&link).expect("feed URLs are ASCII"),
        stamps: articles
            .iter()
            .map(|a| EntryStamp {
                id: a.id.clone(),
                updated: a.updated,
            })
            .collect(),
        def,
        format,
        built_at_seq,
        tag,
        variants,
        modified_at,
        last_modified,
    })
}

/// An IMF-fixdate (RFC 9110 §5.6.7).
pub fn httpdate(t: SystemTime) -> String {
    DateTime::<Utc>::from(t)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Follows the store's change sequence, so writes by other processes (an import, another
/// replica) reach the cache within `every`. Call [`FeedCache::start_at_current`] first.
pub async fn watch(cache: Arc<FeedCache>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = cache.catch_up().await {
            log_catch_up(&e);
        }
    }
}

/// Catches up each time `wake` is notified (by the PostgreSQL change listener); notices that
/// arrive while a catch-up runs are folded into the next one.
pub async fn follow(cache: Arc<FeedCache>, wake: Arc<tokio::sync::Notify>) {
    loop {
        wake.notified().await;
        if let Err(e) = cache.catch_up().await {
            log_catch_up(&e);
        }
    }
}

/// An outage is logged by the store's health tracker; only other failures here.
fn log_catch_up(e: &StoreError) {
    if e.is_unavailable() {
        tracing::debug!(error = %e, "cannot read the change sequence; will retry");
    } else {
        tracing::warn!(error = %e, "cannot read the change sequence; will retry");
    }
}
