//! RFC 5005 history: which stories each document of a feed holds, and how the documents link.
//!
//! - The *subscription document* (`/feeds/world.atom`) holds the newest `entries` stories.
//! - *Paged feeds* (§3): `?page=N` holds the N-th `entries` stories, newest first; every page
//!   links `first`, `last` and its `previous`/`next` neighbours. Pages move as stories arrive.
//! - *Archived feeds* (§4): `/feeds/world/archive/2026-11-24.atom` holds the stories published
//!   that UTC day that are older than the subscription document's oldest one, so the
//!   subscription document and the archives together hold every story exactly once. The
//!   subscription document links `prev-archive` to the newest archive; each archive links
//!   `prev-archive`/`next-archive` to its neighbours (empty days are skipped) and `current`.
//!
//! Kills: the subscription document carries the feed's recent kills (within the retention the
//! caller gives), and a day's archive every kill of a story published that day, so a reader
//! who kept the story learns it was withdrawn. A day that ever had a story in the feed keeps
//! answering, even when every story of it was killed or has moved into the subscription
//! document; no archive is immutable, since a correction or kill can change a past day.

use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::model::{Article, ArticleId, FeedDef, FeedFormat, Part, Tombstone};
use crate::render::History;
use crate::site::Site;
use crate::store::{Store, StoreError, Window, from_nanos};

/// Most stories one day's archive holds.
const MAX_ARCHIVE_ENTRIES: usize = 10_000;

/// Fewest withdrawal notices a subscription document keeps room for, whatever its size: a
/// burst of kills between two polls must not push an earlier kill's notice out before its
/// readers saw it (see [`notices_kept`]).
const MIN_NOTICES: usize = 200;

/// How many of a feed's recent kills its subscription documents carry, for a feed of
/// `entries` stories: every kill within the retention, up to the larger of `entries` and
/// [`MIN_NOTICES`] — the same for every trimmed variant (`?limit=N`), whose readers held the
/// same stories. Past that many kills within the retention the oldest notices go first.
pub(crate) fn notices_kept(entries: usize) -> usize {
    entries.max(MIN_NOTICES)
}

/// What a document holds.
pub(crate) struct Selected {
    pub(crate) articles: Vec<Article>,
    pub(crate) history: History,
    /// Stories of the document that were killed, newest kill first.
    pub(crate) deleted: Vec<Tombstone>,
}

/// What a subscription document reads from the store, the same in every format: read once
/// per version and shared by the formats (see [`current`]).
#[derive(Debug)]
pub(crate) struct CurrentReads {
    articles: Vec<Article>,
    /// Stories the feed holds in all, for the paging links.
    total: u64,
    deleted: Vec<Tombstone>,
    /// The newest archive day, when the document is full.
    prev_archive: Option<NaiveDate>,
}

/// Reads what the subscription document of `def` holds: its newest stories, and its newest
/// `notices` kills since `kills_since`.
pub(crate) async fn read_current(
    store: &dyn Store,
    def: &FeedDef,
    kills_since: DateTime<Utc>,
    notices: usize,
) -> Result<CurrentReads, StoreError> {
    let per_page = def.entries.max(1);
    // Independent reads, at once: each is a round trip to a store thread, and they are on the
    // path of the first answer after every change.
    let (articles, total, deleted, killed) = tokio::try_join!(
        store.latest(&def.selection, per_page),
        store.count(&def.selection),
        store.tombstones(&def.selection, kills_since, None, notices),
        killed_day(store, def, all_time(), true),
    )?;
    // The newest archive: of a day with a story older than this document's, or with a kill.
    let prev_archive = archive_before_current(store, def, &articles)
        .await?
        .max(killed);
    Ok(CurrentReads {
        articles,
        total,
        deleted,
        prev_archive,
    })
}

/// The subscription document of `def` in `format`, from what [`read_current`] read.
pub(crate) fn current(
    site: &Site,
    def: &FeedDef,
    format: FeedFormat,
    reads: &CurrentReads,
) -> Selected {
    let url = |part: Part| site.document_url(&def.slug, format, part);
    let mut history = History::default();
    history.links.extend(links(def, 1, reads.total, &url));
    if let Some(prev) = reads.prev_archive {
        history
            .links
            .push(("prev-archive", site.archive_url(&def.slug, format, prev)));
    }
    Selected {
        articles: reads.articles.clone(),
        history,
        deleted: reads.deleted.clone(),
    }
}

/// The stories and links of `part`, or `None` when there is no such page or archive.
pub(crate) async fn select(
    store: &dyn Store,
    site: &Site,
    def: &FeedDef,
    format: FeedFormat,
    part: Part,
    kills_since: DateTime<Utc>,
) -> Result<Option<Selected>, StoreError> {
    let url = |part: Part| site.document_url(&def.slug, format, part);
    let per_page = def.entries.max(1);
    match part {
        Part::Current => {
            let reads = read_current(store, def, kills_since, notices_kept(def.entries)).await?;
            Ok(Some(current(site, def, format, &reads)))
        }
        Part::Page(n) => {
            let window = Window {
                offset: (n as usize - 1).saturating_mul(per_page),
                limit: per_page,
                ..Window::default()
            };
            let articles = store.window(&def.selection, &window).await?;
            if n < 2 || articles.is_empty() {
                return Ok(None);
            }
            let history = History {
                this: Some(url(part)),
                links: paging(store, def, n, &url).await?,
                archive: false,
                variant: false,
            };
            Ok(Some(Selected {
                articles,
                history,
                deleted: Vec::new(),
            }))
        }
        Part::Archive(day) => archive(store, site, def, format, day).await,
    }
}

/// `first`, `previous`, `next` and `last` of page `n`.
async fn paging(
    store: &dyn Store,
    def: &FeedDef,
    n: u32,
    url: &impl Fn(Part) -> String,
) -> Result<Vec<(&'static str, String)>, StoreError> {
    Ok(links(def, n, store.count(&def.selection).await?, url))
}

/// `first`, `previous`, `next` and `last` of page `n` of a feed holding `total` stories.
fn links(
    def: &FeedDef,
    n: u32,
    total: u64,
    url: &impl Fn(Part) -> String,
) -> Vec<(&'static str, String)> {
    let pages = total.div_ceil(def.entries.max(1) as u64).max(1);
    let pages = u32::try_from(pages).unwrap_or(u32::MAX);
    let page = |k: u32| url(if k <= 1 { Part::Current } else { Part::Page(k) });
    let mut links = vec![("first", page(1))];
    if n > 1 {
        links.push(("previous", page(n - 1)));
    }
    if n < pages {
        links.push(("next", page(n + 1)));
    }
    links.push(("last", page(pages)));
    links
}

/// The earliest and latest publication times a store can hold (i64 nanoseconds).
fn all_time() -> (DateTime<Utc>, DateTime<Utc>) {
    (from_nanos(i64::MIN), from_nanos(i64::MAX))
}

/// The day of the newest (or oldest) killed story of the feed published within `published`.
/// A day with a kill is an archive day whatever else it holds (its archive carries the
/// withdrawal notice), so the archives link such days like any other.
async fn killed_day(
    store: &dyn Store,
    def: &FeedDef,
    published: (DateTime<Utc>, DateTime<Utc>),
    newest: bool,
) -> Result<Option<NaiveDate>, StoreError> {
    Ok(store
        .killed_published(&def.selection, published, newest)
        .await?
        .map(|at| at.date_naive()))
}

/// Where the archives end: the subscription document's oldest story, when it is full.
fn boundary(def: &FeedDef, current: &[Article]) -> Option<(DateTime<Utc>, ArticleId)> {
    if current.len() < def.entries.max(1) {
        return None;
    }
    current.last().map(|a| (a.published, a.id.clone()))
}

async fn archive_before_current(
    store: &dyn Store,
    def: &FeedDef,
    current: &[Article],
) -> Result<Option<NaiveDate>, StoreError> {
    let Some(boundary) = boundary(def, current) else {
        return Ok(None);
    };
    newest_day(
        store,
        def,
        Window {
            before: Some(boundary),
            ..Window::default()
        },
    )
    .await
}

/// The day of the newest story in the window, if any.
async fn newest_day(
    store: &dyn Store,
    def: &FeedDef,
    window: Window,
) -> Result<Option<NaiveDate>, StoreError> {
    let window = Window { limit: 1, ..window };
    Ok(store
        .window(&def.selection, &window)
        .await?
        .first()
        .map(|a| a.published.date_naive()))
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

async fn archive(
    store: &dyn Store,
    site: &Site,
    def: &FeedDef,
    format: FeedFormat,
    day: NaiveDate,
) -> Result<Option<Selected>, StoreError> {
    let current = store.latest(&def.selection, def.entries.max(1)).await?;
    let boundary = boundary(def, &current);
    let (start, end) = (
        start_of(day),
        start_of(day.checked_add_days(Days::new(1)).unwrap_or(day)),
    );
    let day_window = Window {
        from: Some(start),
        until: Some(end),
        limit: MAX_ARCHIVE_ENTRIES,
        ..Window::default()
    };
    // Without a boundary every live story is in the subscription document.
    let articles = match &boundary {
        Some(boundary) => {
            let window = Window {
                before: Some(boundary.clone()),
                ..day_window.clone()
            };
            store.window(&def.selection, &window).await?
        }
        None => Vec::new(),
    };
    let deleted = store
        .tombstones(
            &def.selection,
            DateTime::UNIX_EPOCH,
            Some((start, end)),
            MAX_ARCHIVE_ENTRIES,
        )
        .await?;
    if articles.is_empty() && deleted.is_empty() {
        // Still a day of this feed if its stories have only moved into the subscription
        // document; otherwise there is no such archive.
        let window = Window {
            limit: 1,
            ..day_window
        };
        // Or if a correction has moved them all out of the feed: the day had a story.
        if store.window(&def.selection, &window).await?.is_empty()
            && !store.filed_within(&def.selection, (start, end)).await?
        {
            return Ok(None);
        }
    }
    // The neighbours: the nearest days with a story older than the subscription document's,
    // or with a kill.
    let (earliest, latest) = all_time();
    let prev_live = match &boundary {
        None => None,
        Some(boundary) => {
            newest_day(
                store,
                def,
                Window {
                    until: Some(start),
                    before: Some(boundary.clone()),
                    ..Window::default()
                },
            )
            .await?
        }
    };
    let prev = prev_live.max(killed_day(store, def, (earliest, start), true).await?);
    let next_live = match &boundary {
        None => None,
        Some(_) => store
            .window(
                &def.selection,
                &Window {
                    from: Some(end),
                    before: boundary.clone(),
                    oldest_first: true,
                    limit: 1,
                    ..Window::default()
                },
            )
            .await?
            .first()
            .map(|a| a.published.date_naive()),
    };
    let next = match (
        next_live,
        killed_day(store, def, (end, latest), false).await?,
    ) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut links = vec![("current", site.feed_url(&def.slug, format))];
    if let Some(prev) = prev {
        links.push(("prev-archive", site.archive_url(&def.slug, format, prev)));
    }
    if let Some(next) = next {
        links.push(("next-archive", site.archive_url(&def.slug, format, next)));
    }
    Ok(Some(Selected {
        articles,
        history: History {
            this: Some(site.archive_url(&def.slug, format, day)),
            links,
            archive: true,
            variant: false,
        },
        deleted,
    }))
}
