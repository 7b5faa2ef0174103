//! Who reads each feed and how they poll it. Per feed URL and UTC day: the subscribers
//! aggregators announce in their User-Agent ([`agent`]) plus the distinct clients polling
//! directly (IP address and User-Agent), counted with a HyperLogLog++ sketch so the memory per
//! feed is fixed however many readers there are, and sketches from several replicas or flushes
//! merge exactly. Per feed and UTC hour: polls, how many were answered 304, bytes sent and
//! bytes saved (by 304s, compression and deltas, against the whole uncompressed feed).
//!
//! Whatever clients send, the figures stay bounded: aggregators are believed only in their known
//! User-Agent shapes, each figure at most [`agent::MAX_SUBSCRIBERS`], at most
//! [`MAX_REPORTERS`] of them per feed per day (the largest), all summed with saturating
//! arithmetic. The server-wide readers ([`ServerAudience`]) are distinct clients across every
//! feed, counted in one more sketch, so a reader app polling fifteen feeds is one reader there.
//!
//! A poll costs a hash and a few additions in memory; figures are merged into the store every
//! minute (and before every stats, metrics or operator's page read), so they survive restarts
//! and add up across replicas.

pub(crate) mod agent;
mod tally;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use hyperloglogplus::HyperLogLog;
use serde::Serialize;

use crate::cache::KeyHasher;
use crate::model::{FeedFormat, FeedKey, Part};
use crate::store::{AudienceStore, StoreError, TrafficRow};
use tally::*;

/// How often figures are merged into the store.
const FLUSH_EVERY: Duration = Duration::from_secs(60);

/// How long stored figures are kept: the stats API reaches back this far.
pub(crate) const KEEP_DAYS: u32 = 90;

/// How one poll was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Poll {
    /// Answered 304 Not Modified.
    pub(crate) not_modified: bool,
    /// Body bytes sent.
    pub(crate) sent: u64,
    /// Body bytes not sent, against the whole uncompressed feed.
    pub(crate) saved: u64,
}

/// One feed's polls in one hour, in memory.
#[derive(Debug, Clone, Copy, Default)]
struct Polls {
    polls: u64,
    not_modified: u64,
    sent: u64,
    saved: u64,
}

/// The most aggregator reports kept per feed per day: the largest, ties broken by key so every
/// replica keeps the same ones. Bounds the stored row (about 100 bytes a report), the work of
/// every merge and the stats and operator's pages, however many feed ids clients invent.
pub(crate) const MAX_REPORTERS: usize = 100;

/// One feed's readers on one day, as the stats API and the metrics show them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FeedAudience {
    pub(crate) day: NaiveDate,
    /// The feed's path, e.g. `world.atom`.
    pub(crate) feed: String,
    /// Aggregators' figures plus distinct direct clients.
    pub(crate) subscribers: u64,
    pub(crate) direct_clients: u64,
    /// Aggregator → subscribers it reported (summed over its feed ids).
    pub(crate) aggregators: BTreeMap<String, u64>,
}

/// The whole server's readers on one day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ServerAudience {
    pub(crate) day: NaiveDate,
    /// Distinct direct clients plus, per aggregator, its largest figure for any one feed.
    pub(crate) subscribers: u64,
    /// Distinct clients (address and User-Agent) polling any feed directly: one sketch over
    /// every feed, so a reader app polling fifteen feeds counts once.
    pub(crate) direct_clients: u64,
    /// Aggregator → the most subscribers it reported for any one feed: the readers it has at
    /// least, as it does not say how many of one feed's subscribers also read another.
    pub(crate) aggregators: BTreeMap<String, u64>,
}

/// One day's counts, in memory.
struct Day {
    feeds: HashMap<FeedKey, Tally, KeyHasher>,
    /// Direct clients of every feed together.
    everyone: Sketch,
}

impl Default for Day {
    fn default() -> Self {
        Self {
            feeds: HashMap::default(),
            everyone: sketch(),
        }
    }
}

impl Day {
    /// Takes in `other`'s readers (the same day's, counted elsewhere or earlier).
    fn absorb(&mut self, other: Day) {
        for (key, tally) in other.feeds {
            self.feeds
                .entry(key)
                .or_insert_with(Tally::new)
                .absorb(tally);
        }
        if self.everyone.merge(&other.everyone).is_err() {
            tracing::warn!("could not merge two days' reader sketches; kept one");
        }
    }
}

/// What a flush could not store, kept for the next one: the hours' polls not yet added (one
/// row per feed and hour), and the days' readers not yet merged.
#[derive(Default)]
struct Unsaved {
    rows: Vec<TrafficRow>,
    days: BTreeMap<NaiveDate, Day>,
}

impl Unsaved {
    /// Takes in `other`: polls of the same feed and hour add up, readers of the same day merge.
    fn absorb(&mut self, other: Unsaved) {
        for row in other.rows {
            match self
                .rows
                .iter_mut()
                .find(|r| r.hour == row.hour && r.feed == row.feed)
            {
                Some(kept) => {
                    kept.polls += row.polls;
                    kept.not_modified += row.not_modified;
                    kept.bytes_sent += row.bytes_sent;
                    kept.bytes_saved += row.bytes_saved;
                }
                None => self.rows.push(row),
            }
        }
        for (day, counts) in other.days {
            self.keep_day(day, counts);
        }
    }

    /// Keeps `day`'s readers, merged with those already kept for it.
    fn keep_day(&mut self, day: NaiveDate, counts: Day) {
        match self.days.entry(day) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(counts);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => o.get_mut().absorb(counts),
        }
    }
}

/// What one flush took out to store: what it did not store goes back to `home` when it is
/// dropped, whether the flush finished, failed or was cancelled.
struct Taken<'a> {
    home: &'a Mutex<Unsaved>,
    unsaved: Unsaved,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        let left = std::mem::take(&mut self.unsaved);
        if let Ok(mut home) = self.home.lock() {
            home.absorb(left);
        }
    }
}

struct Pending {
    day: Option<NaiveDate>,
    /// Each feed's counts since the last flush, in one map, so a poll looks its feed up once.
    /// Keyed with the document cache's hasher.
    feeds: HashMap<FeedKey, Counts, KeyHasher>,
    /// Direct clients of every feed together, today.
    everyone: Sketch,
    /// Clients already in `everyone`, as far as this small filter remembers: a client polling
    /// several feeds, or one feed often, is put in the sketch once, not on every poll (putting
    /// one in again changes nothing, and costs two hashes and a set insert).
    in_everyone: Box<[u64; SEEN]>,
    /// Days that ended before they were flushed.
    ended: Vec<(NaiveDate, Day)>,
}

/// Slots of [`Pending::in_everyone`], each remembering the last client whose hash fell in it.
const SEEN: usize = 64;

impl Default for Pending {
    fn default() -> Self {
        Self {
            day: None,
            feeds: HashMap::default(),
            everyone: sketch(),
            in_everyone: Box::new([0; SEEN]),
            ended: Vec::new(),
        }
    }
}

/// One feed's counts since the last flush.
#[derive(Default)]
struct Counts {
    /// Polls by the start of the UTC hour in Unix seconds, oldest first.
    hours: Vec<(i64, Polls)>,
    /// Today's readers, once the feed was polled today.
    today: Option<Tally>,
    /// The last direct client put in `today`'s sketch, not put in again on its next poll.
    last_client: Option<u64>,
}

impl Pending {
    /// Today's readers of every feed, taken out: what a day's end or a flush stores.
    fn take_day(&mut self) -> Day {
        Day {
            feeds: self
                .feeds
                .iter_mut()
                .filter_map(|(key, counts)| {
                    counts.last_client = None;
                    Some((key.clone(), counts.today.take()?))
                })
                .collect(),
            everyone: {
                self.in_everyone.fill(0);
                std::mem::replace(&mut self.everyone, sketch())
            },
        }
    }
}

/// When a poll was counted: its UTC day, the start of its hour (Unix seconds) and the
/// instant (UTC nanoseconds).
#[derive(Debug, Clone, Copy)]
struct Moment {
    day: NaiveDate,
    hour: i64,
    at: i64,
}

thread_local! {
    /// The start (Unix seconds) and UTC day of the hour this thread's last poll fell in.
    static HOUR: std::cell::Cell<(i64, NaiveDate)> =
        const { std::cell::Cell::new((i64::MIN, NaiveDate::MIN)) };
}

impl Moment {
    /// Now, as the kernel last updated the time (every tick, a few milliseconds): a poll is
    /// counted by its day and hour, which a tick's error does not change, and reading it costs
    /// no clock read on every poll. The day and hour are worked out once an hour per thread.
    fn now() -> Self {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        HOUR.with(|hour| Self::at(now.tv_sec, now.tv_nsec, hour))
    }

    /// The moment `secs` and `nanos` after the epoch, its day and hour taken from `hour` (the
    /// start and day of the hour of the moment asked before) when it falls in that hour, and
    /// put there otherwise.
    fn at(secs: i64, nanos: i64, hour: &std::cell::Cell<(i64, NaiveDate)>) -> Self {
        let (start, day) = hour.get();
        if secs
            .checked_sub(start)
            .is_some_and(|into| (0..3600).contains(&into))
        {
            return Self {
                day,
                hour: start,
                at: secs.saturating_mul(1_000_000_000).saturating_add(nanos),
            };
        }
        let moment = u32::try_from(nanos)
            .ok()
            .and_then(|nanos| chrono::DateTime::from_timestamp(secs, nanos))
            .map_or_else(|| Self::of(Utc::now()), Self::of);
        hour.set((moment.hour, moment.day));
        moment
    }

    fn of(now: chrono::DateTime<Utc>) -> Self {
        Self {
            day: now.date_naive(),
            hour: hour_start(now),
            at: now.timestamp_nanos_opt().unwrap_or(i64::MAX),
        }
    }
}

impl Pending {
    fn count(
        &mut self,
        feed: &FeedKey,
        when: Moment,
        poll: Poll,
        reported: Option<agent::Reported>,
        client_hash: Option<u64>,
    ) {
        let Moment {
            day: today,
            hour,
            at,
        } = when;
        let pending = self;
        if pending.day != Some(today) {
            if let Some(ended) = pending.day.replace(today) {
                let day = pending.take_day();
                pending.ended.push((ended, day));
            }
        }
        let counts = match pending.feeds.get_mut(feed) {
            Some(counts) => counts,
            None => pending.feeds.entry(feed.clone()).or_default(),
        };
        let hours = &mut counts.hours;
        if hours.last().is_none_or(|(last, _)| *last != hour) {
            hours.push((hour, Polls::default()));
        }
        let polls = &mut hours.last_mut().expect("pushed above").1;
        polls.polls += 1;
        polls.not_modified += u64::from(poll.not_modified);
        polls.sent += poll.sent;
        polls.saved += poll.saved;
        let tally = counts.today.get_or_insert_with(Tally::new);
        match (reported, client_hash) {
            (Some(reported), _) => {
                let report = Report {
                    subscribers: reported.subscribers.min(agent::MAX_SUBSCRIBERS),
                    at,
                };
                note_report(&mut tally.agents, reported.key, report);
            }
            (None, Some(hash)) => {
                if counts.last_client != Some(hash) {
                    counts.last_client = Some(hash);
                    tally.clients.insert(&hash);
                }
                // 0 marks an empty slot, so a client whose hash is 0 is put in every time.
                let slot = &mut pending.in_everyone[(hash % SEEN as u64) as usize];
                if *slot != hash || hash == 0 {
                    *slot = hash;
                    pending.everyone.insert(&hash);
                }
            }
            (None, None) => {}
        }
    }
}

/// Distinguishes audiences in [`LOCAL`] (a process has one; tests have many).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's own counts, per audience: each serving thread notes polls into its own
    /// [`Pending`], so polls on different cores never touch the same lock or map.
    static LOCAL: RefCell<Vec<(u64, Arc<Mutex<Pending>>)>> = const { RefCell::new(Vec::new()) };
}

pub(crate) struct Audience {
    id: u64,
    store: Arc<dyn AudienceStore>,
    /// Every thread's counts since the last flush.
    shards: Mutex<Vec<Arc<Mutex<Pending>>>>,
    /// The last day old figures were forgotten.
    pruned: Mutex<Option<NaiveDate>>,
    /// Today's figures as of the last flush, for /metrics.
    today: Mutex<Vec<FeedAudience>>,
    /// What earlier flushes could not store.
    unsaved: Mutex<Unsaved>,
    /// One flush at a time.
    flushing: tokio::sync::Mutex<()>,
}

impl Audience {
    pub(crate) fn new(store: Arc<dyn AudienceStore>) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            store,
            shards: Mutex::new(Vec::new()),
            pruned: Mutex::new(None),
            today: Mutex::new(Vec::new()),
            unsaved: Mutex::new(Unsaved::default()),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts one poll of a subscription document.
    pub(crate) fn note(
        &self,
        feed: &FeedKey,
        client: Option<IpAddr>,
        user_agent: &str,
        poll: Poll,
    ) {
        if feed.part != Part::Current {
            return;
        }
        let reported = agent::parse(user_agent);
        let client_hash = reported.is_none().then(|| {
            let mut hasher = StableHasher::default();
            match client {
                Some(IpAddr::V4(ip)) => hasher.write(&ip.octets()),
                Some(IpAddr::V6(ip)) => hasher.write(&ip.octets()),
                None => {}
            }
            hasher.write(user_agent.as_bytes());
            hasher.finish()
        });
        let mut when = Moment::now();
        if reported.is_some() {
            // An aggregator's reports are ordered by this: two within one tick must not tie.
            when.at = Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        }
        self.with_local(|pending| {
            pending.count(feed, when, poll, reported, client_hash);
        });
    }

    /// Runs `f` on this thread's counts, made on its first poll.
    fn with_local(&self, f: impl FnOnce(&mut Pending)) {
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let shard = match local.iter().find(|(id, _)| *id == self.id) {
                Some((_, shard)) => shard,
                None => {
                    let shard = Arc::new(Mutex::new(Pending::default()));
                    self.shards
                        .lock()
                        .expect("audience lock")
                        .push(Arc::clone(&shard));
                    local.push((self.id, shard));
                    &local.last().expect("pushed above").1
                }
            };
            f(&mut shard.lock().expect("audience lock"));
        });
    }

    /// Merges what was counted since the last flush into the store. What cannot be stored
    /// (the store is down) is kept for the next flush, never dropped: an hour's polls are
    /// added once they are stored, a day's readers merged.
    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        let _one = self.flushing.lock().await;
        let today = Utc::now().date_naive();
        let mut unsaved = std::mem::take(&mut *self.unsaved.lock().expect("audience lock"));
        let shards = self.shards.lock().expect("audience lock").clone();
        let mut hours = Vec::new();
        for shard in shards {
            let mut pending = shard.lock().expect("audience lock");
            for (day, counts) in std::mem::take(&mut pending.ended) {
                unsaved.keep_day(day, counts);
            }
            if let Some(day) = pending.day {
                let counts = pending.take_day();
                unsaved.keep_day(day, counts);
            }
            hours.push(
                std::mem::take(&mut pending.feeds)
                    .into_iter()
                    .map(|(key, counts)| (key, counts.hours)),
            );
        }
        unsaved.rows.extend(
            hours
                .into_iter()
                .flatten()
                .flat_map(|(key, hours)| {
                    let feed = feed_name(&key.slug, key.format);
                    hours
                        .into_iter()
                        .map(move |(hour, polls)| (feed.clone(), hour, polls))
                })
                .filter_map(|(feed, hour, polls)| {
                    Some(TrafficRow {
                        hour: chrono::DateTime::from_timestamp(hour, 0)?,
                        feed,
                        polls: polls.polls,
                        not_modified: polls.not_modified,
                        bytes_sent: polls.sent,
                        bytes_saved: polls.saved,
                    })
                }),
        );
        // Whatever is not stored goes back, also when this future is dropped at a deadline.
        let mut taken = Taken {
            home: &self.unsaved,
            unsaved,
        };
        self.store_counts(&mut taken.unsaved, today).await
    }

    /// Stores `unsaved`, taking out of it what was stored.
    async fn store_counts(
        &self,
        unsaved: &mut Unsaved,
        today: NaiveDate,
    ) -> Result<(), StoreError> {
        if !unsaved.rows.is_empty() {
            self.store.add_traffic(unsaved.rows.clone()).await?;
            unsaved.rows.clear();
        }
        if self
            .pruned
            .lock()
            .expect("audience lock")
            .is_none_or(|d| d != today)
        {
            let before = today - chrono::Days::new(u64::from(KEEP_DAYS));
            self.store.forget_audience(before).await?;
            *self.pruned.lock().expect("audience lock") = Some(today);
        }
        while let Some((day, mut counts)) = unsaved.days.pop_first() {
            let keys: Vec<FeedKey> = counts.feeds.keys().cloned().collect();
            for key in keys {
                let tally = counts.feeds[&key].clone();
                let feed = feed_name(&key.slug, key.format);
                let merged = self
                    .store
                    .merge_audience(day, &feed, Box::new(move |old| merge(old, tally)))
                    .await;
                if let Err(e) = merged {
                    unsaved.days.insert(day, counts);
                    return Err(e);
                }
                counts.feeds.remove(&key);
            }
            if !counts.feeds.is_empty() || counts.everyone.count() > 0.0 {
                let everyone = Tally {
                    clients: counts.everyone.clone(),
                    agents: BTreeMap::new(),
                };
                let merged = self
                    .store
                    .merge_audience(day, EVERYONE, Box::new(move |old| merge(old, everyone)))
                    .await;
                if let Err(e) = merged {
                    unsaved.days.insert(day, counts);
                    return Err(e);
                }
            }
        }
        let figures = self.figures(today).await?;
        *self.today.lock().expect("audience lock") = figures;
        Ok(())
    }

    /// Every feed's figures from `since` on, by day then feed, as stored.
    pub(crate) async fn figures(&self, since: NaiveDate) -> Result<Vec<FeedAudience>, StoreError> {
        Ok(self
            .store
            .audience(since)
            .await?
            .into_iter()
            .filter(|(_, feed, _)| feed != EVERYONE)
            .map(|(day, feed, row)| summarise(day, feed, &row))
            .collect())
    }

    /// The whole server's readers per day from `since` on, oldest first.
    pub(crate) async fn totals(&self, since: NaiveDate) -> Result<Vec<ServerAudience>, StoreError> {
        Ok(server_totals(self.store.audience(since).await?))
    }

    /// Every feed's polls per hour from the hour holding `since` on, by hour then feed.
    pub(crate) async fn hourly(
        &self,
        since: chrono::DateTime<Utc>,
    ) -> Result<Vec<TrafficRow>, StoreError> {
        let since = chrono::DateTime::from_timestamp(hour_start(since), 0).unwrap_or_default();
        self.store.traffic(since).await
    }

    /// Whether a flush is running now.
    pub(crate) fn flushing(&self) -> bool {
        self.flushing.try_lock().is_err()
    }

    /// Today's figures as of the last flush.
    pub(crate) fn today(&self) -> Vec<FeedAudience> {
        self.today.lock().expect("audience lock").clone()
    }

    /// Flushes every minute, and once more at shutdown.
    pub(crate) async fn run(self: Arc<Self>, shutdown: crate::shutdown::Shutdown) {
        crate::shutdown::every(FLUSH_EVERY, shutdown, || async {
            if let Err(e) = self.flush().await {
                tracing::warn!(error = %e, "could not store reader counts; will retry");
            }
        })
        .await;
    }
}

/// How a feed is named in stored figures: its path under `/feeds/`, e.g. `world.atom`.
pub(crate) fn feed_name(slug: &str, format: FeedFormat) -> String {
    format!("{slug}.{}", format.extension())
}

/// The start of the UTC hour holding `t`, in Unix seconds.
pub(crate) fn hour_start(t: chrono::DateTime<Utc>) -> i64 {
    t.timestamp() - t.timestamp().rem_euclid(3600)
}

#[cfg(test)]
mod tests;
