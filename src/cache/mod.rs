//! The feed cache: rendered documents in every content coding, with their validators and
//! headers prebuilt, so that a hit is one lookup that hands out `Bytes` and `HeaderValue`s.
//!
//! Entries are keyed by [`FeedKey`] and weighed by their bytes (Moka). A miss reads the store,
//! renders and compresses once — concurrent misses for one key wait for the same build.
//! Entries are invalidated precisely: the cache follows the change bus ([`Follower`]), each
//! change names the categories it touched (before and after), and only documents whose
//! selection covers one of them are dropped. Killed stories are carried as withdrawal notices
//! (and Atom tombstones) in the documents they were in; RFC 3229 deltas are built here too.
//!
//! A key names its [`View`]: the public one (partner-only categories left out), or a
//! partner's entitlement to the feed in canonical form, so every partner with the same
//! entitlement shares one document (never one per key). A partner view holds the stories of
//! its categories; those it may only have as headlines lose their text and images.

pub mod coding;
mod delta;
mod follow;
pub(crate) mod history;
mod reads;
mod recent;
mod rendered;
mod stats;
mod views;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::HeaderValue;

pub use rendered::{CLOCK_SKEW, EntryStamp, Heads, Rendered, Tag, httpdate, modified_dates};
pub use stats::{Counts, Stats};

use crate::catalog::Catalog;
use crate::model::{
    Article, ArticleId, Category, ChangeRecord, Coding, FeedDef, FeedFormat, FeedKey, Part,
    Selection, Tombstone, UNRANKED, View, Withdrawal,
};
use crate::render::{self, Brand, FeedDoc, History, RenderError};
use crate::site::Site;
use crate::store::{CategoryCount, Store, StoreError};
use views::{entitled, headline_only};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("no feed called {0:?}")]
    UnknownFeed(String),
    #[error("feed {0:?} has no such page or archive")]
    NoSuchPart(String),
    /// A public request for a partner-only feed.
    #[error("feed {0:?} is for partners only")]
    PartnersOnly(String),
    /// A partner view that covers none of the feed's categories.
    #[error("the key's partner is not entitled to feed {0:?}")]
    NotEntitled(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("the render worker stopped: {0}")]
    Worker(String),
}

/// Versions of feeds remembered for deltas, by tag.
const VERSIONS_KEPT: u64 = 4096;

/// How a cache is set up.
pub struct Options {
    /// Most bytes of documents held, all codings together.
    pub max_bytes: u64,
    /// How long a killed story stays in subscription documents as a notice and tombstone.
    pub tombstone_retention: chrono::Duration,
    /// How killed stories are shown.
    pub withdrawal: Withdrawal,
    /// Makes the identity body of a version sendable (e.g. from a file the kernel can send
    /// without copying). Done in the background when a client first asks for that body, so
    /// neither the first answer after a change nor a version nobody reads uncompressed pays
    /// for the copy (see [`FeedCache::identity`]). `None` keeps every body on the heap.
    pub identity_body: Option<fn(&[u8]) -> Bytes>,
    /// The desk's logo and icons, named in every feed.
    pub brand: Brand,
}

/// The hasher of the document cache's keys, which every cache hit computes: foldhash, several
/// times cheaper than the standard library's SipHash on a key this size, and seeded per
/// process. A key's parts come from the catalog and the partners file (a slug that names no
/// feed is never cached), so clients cannot flood one bucket with keys of their own.
pub(crate) type KeyHasher = foldhash::fast::RandomState;

pub struct FeedCache {
    entries: moka::future::Cache<FeedKey, Arc<Rendered>, KeyHasher>,
    /// Each serving thread's memo of the entries it read last. Whatever drops an entry from
    /// `entries` calls `recent.forget_all()` after it.
    recent: recent::Recent,
    /// Entry lists of recent versions, by content tag, for RFC 3229 deltas.
    versions: moka::sync::Cache<String, Arc<[EntryStamp]>>,
    /// Newest change seen per category, and overall: an entry built before the floor of any
    /// category it covers is stale.
    floors: Mutex<Floors>,
    /// When the newest complete read of the change sequence began, in Unix nanoseconds.
    horizon: AtomicU64,
    store: Arc<dyn Store>,
    catalog: Catalog,
    site: Site,
    options: Options,
    pub stats: Stats,
    /// Stale-if-error: the last good version of each feed invalidated since, served while
    /// building its successor fails for want of the store.
    last_good: moka::sync::Cache<FeedKey, Arc<Rendered>>,
    /// Longest a build may take, when set.
    build_deadline: Option<Duration>,
    /// The store's health: during a known outage the last good version is served at once.
    health: Option<Arc<crate::store::health::Health>>,
    /// Builds of pages and archives running at once: a crawler walking cold URLs waits here
    /// instead of taking every core from the pollers' subscription documents.
    cold_builds: tokio::sync::Semaphore,
    /// Set by [`FeedCache::remake_after_changes`]: what a change drops is then made again at
    /// once, in the background.
    remaker: std::sync::OnceLock<Remaker>,
    /// What subscription documents read from the store, shared by their formats.
    reads: reads::ReadCache,
}

/// What the cache needs to make documents again by itself.
struct Remaker {
    /// The cache (weak: it is the cache's own field).
    cache: std::sync::Weak<FeedCache>,
    /// Where remakes run: the runtime that set the cache up, not whichever serving thread
    /// applied the change (a publish through the API applies it on its own thread).
    runtime: Option<tokio::runtime::Handle>,
}

/// Pages and archives built at once, at most.
fn cold_build_limit() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2))
}

#[derive(Default)]
struct Floors {
    any: u64,
    /// The kills applied lately, oldest first, at most [`KILLS_KEPT`]: which documents built
    /// outside this cache a kill touched (see [`FeedCache::killed_since`]).
    kills: std::collections::VecDeque<ChangeRecord>,
    /// The newest kill no longer in `kills`.
    kills_forgotten: u64,
    by_category: HashMap<Category, u64>,
    /// By the urgency a change recorded: index 0 for unknown, then 1 to `UNRANKED`.
    by_urgency: [u64; UNRANKED as usize + 1],
}

/// Kills [`Floors`] remembers one by one; an older one only by the newest seq among them.
const KILLS_KEPT: usize = 4096;

impl Floors {
    pub(super) fn remember_kill(&mut self, record: &ChangeRecord) {
        if self.kills.len() == KILLS_KEPT
            && let Some(forgotten) = self.kills.pop_front()
        {
            self.kills_forgotten = self.kills_forgotten.max(forgotten.change.seq);
        }
        self.kills.push_back(record.clone());
    }

    /// See [`FeedCache::killed_since`].
    fn killed_since(&self, selection: &Selection, story: Option<&ArticleId>, seq: u64) -> bool {
        self.kills_forgotten > seq
            || self.kills.iter().any(|kill| {
                kill.change.seq > seq
                    && (kill.categories.is_empty()
                        || story == Some(&kill.article)
                        || selection.touched_by(kill))
            })
    }

    fn of(&self, selection: &Selection) -> u64 {
        match selection {
            Selection::All => self.any,
            Selection::Urgent(level) => self.by_urgency[..=usize::from(*level)]
                .iter()
                .copied()
                .max()
                .unwrap_or(0),
            Selection::Categories(list) => list
                .iter()
                .filter_map(|c| self.by_category.get(c).copied())
                .max()
                .unwrap_or(0),
        }
    }
}

/// What one document is made of, read from the store.
struct Gathered {
    def: FeedDef,
    built_at_seq: u64,
    /// Live stories and withdrawal notices, newest first.
    entries: Vec<Article>,
    deleted: Vec<Tombstone>,
    history: History,
    changed_at: DateTime<Utc>,
    /// What an empty document is dated by (see `assemble`).
    empty_dated: DateTime<Utc>,
}

/// What this thread's memo answered a request that asked it before waiting (see
/// [`FeedCache::get_after`]).
#[derive(Debug)]
pub enum Memo {
    /// The request did not ask it.
    Unasked,
    /// It had this version (counted as a hit).
    Had(Arc<Rendered>),
    /// It had nothing, or it was this lookup's turn to read through to the cache.
    Lacked,
}

impl FeedCache {
    pub fn new(store: Arc<dyn Store>, catalog: Catalog, site: Site, options: Options) -> Self {
        let stats = Stats::default();
        let max_bytes = options.max_bytes;
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
                .build_with_hasher(KeyHasher::default()),
            recent: recent::Recent::new(),
            versions: moka::sync::Cache::new(VERSIONS_KEPT),
            floors: Mutex::new(Floors::default()),
            horizon: AtomicU64::new(0),
            store,
            catalog,
            site,
            options,
            cold_builds: tokio::sync::Semaphore::new(cold_build_limit()),
            stats,
            last_good: moka::sync::Cache::builder()
                .max_capacity(max_bytes / 2)
                .weigher(|_key: &FeedKey, value: &Arc<Rendered>| value.weight())
                .build(),
            build_deadline: None,
            health: None,
            remaker: std::sync::OnceLock::new(),
            reads: reads::cache(),
        }
    }

    /// From now on, a subscription document that a change drops is made again at once, in
    /// the background, when a client (a poller, or the WebSub hub delivering it) had been
    /// handed the version dropped — in the codings that version had been compressed in — so
    /// the first poll after a change finds it made instead of waiting for the store, the
    /// render and the compression. A version nobody read is not made again until asked for,
    /// so a feed is remade at most once per version a client read: one changing faster than
    /// it is polled costs at most one build more per poll, and one nobody polls costs none.
    /// Pages and archives are never remade, and nothing is while the store is known to be
    /// down. Remakes run on the runtime this is called on.
    pub fn remake_after_changes(self: &Arc<Self>) {
        let _ = self.remaker.set(Remaker {
            cache: Arc::downgrade(self),
            runtime: tokio::runtime::Handle::try_current().ok(),
        });
    }

    /// The cache, when it remakes documents after changes.
    pub(super) fn remaking(&self) -> Option<Arc<FeedCache>> {
        self.remaker.get()?.cache.upgrade()
    }

    /// Makes again, one after the other, the documents [`FeedCache::remake_after_changes`]
    /// chose, each in the codings given, within the build deadline; stops once the store is
    /// known to be down. No request asked, so no hit, miss or stale answer is counted; a
    /// failure is left for the next reader to meet.
    pub(super) fn remake(self: Arc<Self>, documents: Vec<(FeedKey, Vec<Coding>)>) {
        let store_down = |cache: &FeedCache| cache.health.as_ref().is_some_and(|h| !h.store_up());
        if documents.is_empty() || store_down(&self) {
            return;
        }
        let runtime = self.remaker.get().and_then(|r| r.runtime.clone());
        let work = async move {
            for (key, codings) in documents {
                if store_down(&self) {
                    return;
                }
                if self.entries.contains_key(&key) {
                    // A reader made it first.
                    continue;
                }
                match self.build_in_time(&key).await {
                    Ok(version) => {
                        Stats::bump(&self.stats.remakes);
                        for coding in codings {
                            self.body(&version, coding).await;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, slug = key.slug.as_str(), "could not remake a document");
                    }
                }
            }
        };
        match runtime {
            Some(runtime) => drop(runtime.spawn(work)),
            None => drop(tokio::spawn(work)),
        }
    }

    /// During an outage `health` knows of, a feed with a last good version is answered with
    /// it at once instead of after a failed build.
    pub(crate) fn with_health(mut self, health: Arc<crate::store::health::Health>) -> Self {
        self.health = Some(health);
        self
    }

    /// Bounds every build (a miss) in time: past `deadline` the request gets the last good
    /// version when there is one, or an error.
    pub fn with_build_deadline(mut self, deadline: Duration) -> Self {
        self.build_deadline = Some(deadline);
        self
    }

    /// The current version of a document: from memory, or built once however many ask.
    pub async fn get(&self, key: &FeedKey) -> Result<Arc<Rendered>, Arc<CacheError>> {
        if let Some(hit) = self.get_now(key) {
            return Ok(hit);
        }
        // Boxed, so the future of a memo hit stays small.
        Box::pin(self.read_for_client(key)).await
    }

    /// The current version of a document when this thread's memo has it (see `recent`);
    /// `None` when [`FeedCache::get`] would have to look further.
    pub fn get_now(&self, key: &FeedKey) -> Option<Arc<Rendered>> {
        let hit = self.recent.get(key)?;
        self.stats.hits.add(1);
        hit.mark_read();
        Some(hit)
    }

    /// [`FeedCache::get`] for a request that already asked this thread's memo: the memo is not
    /// asked twice (its count of lookups decides which one reads through to the cache, and a
    /// hit is counted once).
    pub async fn get_after(
        &self,
        key: &FeedKey,
        memo: Memo,
    ) -> Result<Arc<Rendered>, Arc<CacheError>> {
        match memo {
            Memo::Unasked => self.get(key).await,
            Memo::Had(version) => Ok(version),
            Memo::Lacked => Box::pin(self.read_for_client(key)).await,
        }
    }

    /// [`FeedCache::read`] for a client: the version is marked read.
    async fn read_for_client(&self, key: &FeedKey) -> Result<Arc<Rendered>, Arc<CacheError>> {
        let version = self.read(key).await?;
        version.mark_read();
        Ok(version)
    }

    /// [`FeedCache::get`] past this thread's memo: a hit, kept in the memo, or a miss.
    async fn read(&self, key: &FeedKey) -> Result<Arc<Rendered>, Arc<CacheError>> {
        let epoch = self.recent.epoch();
        if let Some(hit) = self.entries.get(key).await {
            self.recent.keep(epoch, key, &hit);
            self.stats.hits.add(1);
            return Ok(hit);
        }
        Stats::bump(&self.stats.misses);
        // Boxed, so the future of a hit stays small: a miss holds a whole render.
        Box::pin(self.miss_or_stale(key)).await
    }

    /// A miss, bounded by the build deadline; when the store fails or is too slow, the last
    /// good version (with its own validators) if the feed had one — at once while the store
    /// is known to be unreachable. (During an outage a probe has confirmed, the build fails
    /// at once too: see `store::guarded`.)
    async fn miss_or_stale(&self, key: &FeedKey) -> Result<Arc<Rendered>, Arc<CacheError>> {
        if self.health.as_ref().is_some_and(|h| !h.store_up()) {
            if let Some(stale) = self.last_good.get(key) {
                Stats::bump(&self.stats.stale_served);
                return Ok(stale);
            }
        }
        match self.build_in_time(key).await {
            Ok(entry) => Ok(entry),
            Err(e) if matches!(&*e, CacheError::Store(s) if !s.is_internal()) => {
                match self.last_good.get(key) {
                    Some(stale) => {
                        Stats::bump(&self.stats.stale_served);
                        tracing::debug!(error = %e, slug = key.slug.as_str(), "served the last good version");
                        Ok(stale)
                    }
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// A miss within the build deadline; once built, the last good copy it replaces is
    /// dropped.
    async fn build_in_time(&self, key: &FeedKey) -> Result<Arc<Rendered>, Arc<CacheError>> {
        let built = match self.build_deadline {
            Some(deadline) => tokio::time::timeout(deadline, self.miss(key))
                .await
                .unwrap_or_else(|_| Err(Arc::new(StoreError::Timeout(deadline).into()))),
            None => self.miss(key).await,
        };
        if built.is_ok() {
            self.last_good.invalidate(key);
        }
        built
    }

    async fn miss(&self, key: &FeedKey) -> Result<Arc<Rendered>, Arc<CacheError>> {
        loop {
            let entry = self
                .entries
                .try_get_with(key.clone(), self.build(key))
                .await?;
            // A change may have been applied while this entry was being built; if so the
            // entry is already stale and is built again (see `apply`).
            if entry.built_at_seq >= self.floor(&entry.def.selection) {
                return Ok(entry);
            }
            self.entries.invalidate(key).await;
            self.recent.forget_all();
        }
    }

    /// The newest change applied from the change bus: what documents built from the store
    /// outside this cache (pages, OPML, sitemaps) are kept under.
    pub fn changes_seen(&self) -> u64 {
        self.floors.lock().expect("floors lock").any
    }

    /// Whether a kill applied after change `seq` touched `selection` (as it would a feed's:
    /// a story in a category the selection covers) or killed `story`, or may have: a kill
    /// forgotten since, or one that named no category. A document built at `seq` that shows
    /// `selection`'s stories (and `story`) is then never served in place of a build.
    pub fn killed_since(&self, selection: &Selection, story: Option<&ArticleId>, seq: u64) -> bool {
        self.floors
            .lock()
            .expect("floors lock")
            .killed_since(selection, story, seq)
    }

    fn floor(&self, selection: &Selection) -> u64 {
        self.floors.lock().expect("floors lock").of(selection)
    }

    /// Whether `version`'s Last-Modified may be handed out now (see `rendered`'s doc).
    pub fn is_dated(&self, version: &Rendered) -> bool {
        let horizon =
            SystemTime::UNIX_EPOCH + Duration::from_nanos(self.horizon.load(Ordering::Acquire));
        horizon >= version.dated_from
    }

    /// The entries of an earlier version of a document, if it is still remembered.
    pub fn version(&self, tag: &str) -> Option<Arc<[EntryStamp]>> {
        self.versions.get(tag)
    }

    /// `version`'s body in `coding`: the identity body at once; a compressed one made the
    /// first time a client asks for it (once, however many ask at the same moment), off the
    /// serving threads. Codings nobody asks for are never made, so a miss costs one render and
    /// one compression, not four.
    pub async fn body(&self, version: &Arc<Rendered>, coding: Coding) -> Bytes {
        if coding == Coding::Identity {
            return self.identity(version);
        }
        version.compressed[coding.index() - 1]
            .get_or_init(|| async {
                let identity = version.identity();
                let started = std::time::Instant::now();
                let body = tokio::task::spawn_blocking(move || coding::encode(coding, &identity))
                    .await
                    .expect("compressing cannot panic");
                Stats::bump(&self.stats.compressions);
                self.stats
                    .render_seconds
                    .observe(started.elapsed().as_secs_f64());
                body
            })
            .await
            .clone()
    }

    /// Makes `version`'s body in `coding` in the background, once, when it is not made yet and
    /// a second client was answered in a cheaper coding than the one it is best sent, so that
    /// later answers are. (The first such answer alone makes nothing: on a feed read once per
    /// change, brotli in the background would double the CPU a change costs, for ~5% fewer
    /// bytes to one client.)
    pub fn warm(self: &Arc<Self>, version: &Arc<Rendered>, coding: Coding) {
        if version.is_made(coding)
            || !version.wanted_again(coding)
            || !version.claim_warming(coding)
        {
            return;
        }
        let (cache, version) = (Arc::clone(self), Arc::clone(version));
        tokio::spawn(async move {
            cache.body(&version, coding).await;
        });
    }

    /// `version`'s identity body. The first time it is asked for, a sendable copy is made in
    /// the background (when the cache is set up so), which later answers send; this one, and
    /// any until the copy is ready, go from the heap.
    pub fn identity(&self, version: &Arc<Rendered>) -> Bytes {
        if let Some(sendable) = self.options.identity_body
            && version.claim_sendable()
        {
            let version = Arc::clone(version);
            tokio::task::spawn_blocking(move || version.make_sendable(sendable));
        }
        version.identity()
    }

    /// The desk's logo and icons, as every feed names them.
    pub fn brand(&self) -> &Brand {
        &self.options.brand
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

    /// Every feed worth listing, as the store stands now: a category whose stories were all
    /// killed or moved still answers, but is not listed.
    pub async fn feeds(&self) -> Result<Vec<FeedDef>, StoreError> {
        Ok(self.catalog.list(&self.live_categories().await?))
    }

    /// Every category a story was ever filed in: each has its feeds.
    pub async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        self.categories_where(|_| true).await
    }

    /// Every category with live stories: those listed.
    pub async fn live_categories(&self) -> Result<Vec<Category>, StoreError> {
        self.categories_where(|c| c.articles > 0).await
    }

    async fn categories_where(
        &self,
        keep: impl Fn(&CategoryCount) -> bool,
    ) -> Result<Vec<Category>, StoreError> {
        Ok(self
            .store
            .categories()
            .await?
            .into_iter()
            .filter(keep)
            .map(|c| c.category)
            .collect())
    }

    /// Reads what `key`'s document holds, or `None` when there is no such page or archive.
    async fn gather(&self, key: &FeedKey) -> Result<Option<Gathered>, CacheError> {
        // The sequence is read before any story (the categories may come in the same moment).
        let (last, categories) = tokio::try_join!(self.store.last_change(), self.categories())?;
        let built_at_seq = last.map_or(0, |c| c.seq);
        let def = self
            .catalog
            .feed(&key.slug, |c| categories.contains(c))
            .ok_or_else(|| CacheError::UnknownFeed(key.slug.to_string()))?;
        // What the view may read: the stores are asked for those categories only.
        let read = FeedDef {
            selection: match &key.view {
                View::Public => {
                    if self.catalog.partners_only(&def.slug) {
                        return Err(CacheError::PartnersOnly(key.slug.to_string()));
                    }
                    self.catalog
                        .public_selection(&def.selection, &categories)
                        .ok_or_else(|| CacheError::PartnersOnly(key.slug.to_string()))?
                }
                View::Partner(view) if view.is_empty() => {
                    return Err(CacheError::NotEntitled(key.slug.to_string()));
                }
                View::Partner(view) => view.selection(),
            },
            ..def.clone()
        };
        // The flash feed reads its urgent stories from every category; what the view may not
        // see is left out below.
        let mut read = match def.selection {
            Selection::Urgent(level) => FeedDef {
                selection: Selection::Urgent(level),
                ..read
            },
            _ => read,
        };
        // `?limit=N`: the newest N of the subscription document.
        let limit = key.trim.limit.filter(|_| key.part == Part::Current);
        if let Some(limit) = limit {
            read.entries = read.entries.min(usize::from(limit).max(1));
        }
        let (last_change, selected) = match key.part {
            Part::Current => {
                let notices = history::notices_kept(def.entries);
                let reads = self.current_reads(&read, notices, built_at_seq).await?;
                let selected = history::current(&self.site, &read, key.format, &reads.current);
                (reads.last_change, selected)
            }
            part => {
                Stats::bump(&self.stats.store_reads);
                let last_change = self.store.last_change_in(&read.selection).await?;
                let kills_since = self.kills_since(last_change);
                let selected = history::select(
                    self.store.as_ref(),
                    &self.site,
                    &read,
                    key.format,
                    part,
                    kills_since,
                )
                .await?;
                let Some(selected) = selected else {
                    return Ok(None);
                };
                (last_change, selected)
            }
        };
        let mut entries = match &key.view {
            View::Public => {
                let mut articles = selected.articles;
                articles.retain(|a| self.catalog.is_public(&a.categories));
                articles
            }
            View::Partner(view) => {
                let mut articles = selected.articles;
                if view.embargo_early && key.part == Part::Current {
                    articles.extend(self.held(&read.selection).await?);
                }
                entitled(view, articles)
            }
        };
        entries.extend(
            selected
                .deleted
                .iter()
                .map(|t| self.options.withdrawal.notice_for(t)),
        );
        entries.sort_by(|a, b| (b.published, &b.id).cmp(&(a.published, &a.id)));
        if key.trim.headlines {
            entries.iter_mut().for_each(headline_only);
        }
        let mut history = selected.history;
        if limit.is_some() {
            // Pages hold the feed's own `entries` each: from a shorter document they would skip
            // stories, so a trimmed document has no paging links.
            history.links.clear();
        }
        let trimmed = key.trim.query();
        if key.part == Part::Current && !trimmed.is_empty() {
            // A trimmed document names itself (RFC 4287 §4.2.7.2: `self` is a resource
            // equivalent to the document), and so no hub: only the feed itself is a topic.
            let url = self.site.feed_url(&key.slug, key.format);
            history.this = Some(format!("{url}?{trimmed}"));
            history.variant = true;
        }
        let changed_at = match last_change.map(|c| c.at).max(def.defined_at) {
            Some(at) => at,
            // A feed nothing has touched yet (a flash feed before the first urgent story) is
            // dated by the wire's first change: the same on every replica, and no later than
            // anything the store holds.
            None => self
                .store
                .changes_since(0, 1)
                .await?
                .first()
                .map_or(DateTime::UNIX_EPOCH, |first| first.change.at),
        };
        // A past day's archive is not dated after its day: an empty one keeps its bytes while
        // the feed changes on other days.
        let empty_dated = match key.part {
            Part::Archive(day) => day
                .and_hms_opt(23, 59, 59)
                .map_or(changed_at, |end| changed_at.min(end.and_utc())),
            _ => changed_at,
        };
        Ok(Some(Gathered {
            def,
            built_at_seq,
            entries,
            deleted: selected.deleted,
            history,
            changed_at,
            empty_dated,
        }))
    }

    async fn build(&self, key: &FeedKey) -> Result<Arc<Rendered>, CacheError> {
        let _cold = match key.part {
            Part::Current => None,
            _ => Some(
                self.cold_builds
                    .acquire()
                    .await
                    .expect("the semaphore is never closed"),
            ),
        };
        let Some(gathered) = self.gather(key).await? else {
            return Err(CacheError::NoSuchPart(key.slug.to_string()));
        };
        let site = self.site.clone();
        let format = key.format;
        let brand = self.options.brand.clone();
        let started = std::time::Instant::now();
        let rendered =
            tokio::task::spawn_blocking(move || assemble(&site, gathered, format, &brand))
                .await
                .map_err(|e| CacheError::Worker(e.to_string()))??;
        self.stats
            .render_seconds
            .observe(started.elapsed().as_secs_f64());
        Stats::bump(&self.stats.renders);
        self.versions
            .insert(rendered.tag.clone(), Arc::clone(&rendered.stamps));
        Ok(Arc::new(rendered))
    }
}

/// Renders, compresses and prebuilds every header of one version. Pure CPU work.
fn assemble(
    site: &Site,
    gathered: Gathered,
    format: FeedFormat,
    brand: &Brand,
) -> Result<Rendered, RenderError> {
    let doc = FeedDoc {
        site,
        def: &gathered.def,
        articles: &gathered.entries,
        deleted: &gathered.deleted,
        history: &gathered.history,
        // A document with no entry (an archive whose day moved into the subscription
        // document, a feed whose stories were killed long ago) is dated by the feed's newest
        // change (an archive by no later than its day's end), which the same store always
        // gives, rather than by the Unix epoch.
        updated: (gathered.entries.is_empty() && gathered.deleted.is_empty())
            .then_some(gathered.empty_dated),
        brand: Some(brand),
    };
    let mut body = render::feed(format, &doc)?;
    // Kept as it is until a sendable copy replaces it: without the room reserved for rendering.
    body.shrink_to_fit();
    let tag = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&body));
    let tags = Coding::ALL.map(|coding| {
        let etag = format!("\"{tag}{}\"", coding.etag_suffix());
        Tag {
            typed_etag: etag.parse().expect("a quoted hex string is a valid ETag"),
            etag: HeaderValue::from_str(&etag).expect("ASCII"),
        }
    });
    let (modified_at, dated_from) = modified_dates(gathered.changed_at);
    let mut link = format!("<{}>; rel=\"self\"", doc.self_url(format));
    if let Some(hub) = doc.hub() {
        link.push_str(&format!(", <{hub}>; rel=\"hub\""));
    }
    Ok(Rendered {
        content_type: HeaderValue::from_str(&format!("{}; charset=utf-8", format.media_type()))
            .expect("ASCII"),
        link: HeaderValue::from_str(&link).expect("feed URLs are ASCII"),
        stamps: gathered
            .entries
            .iter()
            .map(|a| EntryStamp {
                id: a.id.clone(),
                updated: a.updated,
            })
            .collect(),
        format,
        built_at_seq: gathered.built_at_seq,
        tag,
        tags,
        identity_len: body.len(),
        identity: RwLock::new(Bytes::from(body)),
        sendable_claimed: AtomicBool::new(false),
        compressed: Default::default(),
        wanted: AtomicU8::new(0),
        warming: AtomicU8::new(0),
        read: AtomicBool::new(false),
        changed_at: gathered.changed_at,
        modified_at,
        last_modified: HeaderValue::from_str(&httpdate(modified_at)).expect("ASCII"),
        dated_from,
        heads: Default::default(),
        def: gathered.def,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn kill(seq: u64, categories: &[&str]) -> ChangeRecord {
        ChangeRecord {
            change: crate::model::Change {
                seq,
                at: DateTime::UNIX_EPOCH,
            },
            article: ArticleId::parse("killed").unwrap(),
            kind: crate::model::ChangeKind::Killed,
            categories: categories
                .iter()
                .map(|c| Category::parse(c).unwrap())
                .collect(),
            urgency: None,
        }
    }

    #[test]
    fn a_kill_touches_what_shows_its_categories_after_its_change_and_nothing_else() {
        let of = |slugs: &[&str]| {
            Selection::Categories(slugs.iter().map(|c| Category::parse(c).unwrap()).collect())
        };
        let mut floors = Floors::default();
        floors.remember_kill(&kill(10, &["g20", "asia-pacific"]));
        // Built before the kill: touched where it shows one of its categories.
        assert!(floors.killed_since(&of(&["g20"]), None, 9));
        assert!(floors.killed_since(&of(&["world", "asia-pacific"]), None, 9));
        assert!(floors.killed_since(&Selection::All, None, 9));
        assert!(!floors.killed_since(&of(&["world"]), None, 9));
        // Built after it: untouched.
        assert!(!floors.killed_since(&of(&["g20"]), None, 10));
        assert!(!floors.killed_since(&Selection::All, None, 10));
        // A kill that named no category may have touched anything.
        floors.remember_kill(&kill(11, &[]));
        assert!(floors.killed_since(&of(&["world"]), None, 10));
        assert!(!floors.killed_since(&of(&["world"]), None, 11));
        // Past what is remembered one by one, any document built before the forgotten kills
        // is taken as touched.
        for seq in 12..12 + KILLS_KEPT as u64 {
            floors.remember_kill(&kill(seq, &["g20"]));
        }
        assert!(floors.killed_since(&of(&["world"]), None, 10));
        assert!(!floors.killed_since(&of(&["world"]), None, 11 + KILLS_KEPT as u64));
        // A story's own kill touches its page whatever categories the page was built with
        // (a correction may have moved the story since).
        let killed = ArticleId::parse("killed").unwrap();
        let other = ArticleId::parse("other").unwrap();
        let seq = 11 + KILLS_KEPT as u64;
        floors.remember_kill(&kill(seq + 1, &["g20"]));
        assert!(floors.killed_since(&of(&["world"]), Some(&killed), seq));
        assert!(!floors.killed_since(&of(&["world"]), Some(&other), seq));
    }

    /// The public subscription document of `slug`, in RSS.
    pub(crate) fn key(slug: &str) -> FeedKey {
        FeedKey::current(slug, FeedFormat::Rss)
    }

    /// A rendered version of an empty world feed.
    pub(crate) fn version() -> Arc<Rendered> {
        let site = Site::new("http://127.0.0.1", "Wirefeed", "127.0.0.1,2026");
        let gathered = Gathered {
            def: FeedDef::default_all("Wirefeed"),
            built_at_seq: 1,
            entries: Vec::new(),
            deleted: Vec::new(),
            history: History::default(),
            changed_at: Utc::now(),
            empty_dated: Utc::now(),
        };
        Arc::new(assemble(&site, gathered, FeedFormat::Rss, &Brand::default()).unwrap())
    }
}
