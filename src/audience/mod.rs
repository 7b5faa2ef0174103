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

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use serde::{Deserialize, Serialize};

use crate::model::{FeedFormat, FeedKey, Part};
use crate::store::{AudienceRow, AudienceStore, StoreError, TrafficRow};

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

/// How the server-wide row is named among the feeds' stored figures: no feed's name (those are
/// `{slug}.{ext}`, the slug `[a-z0-9-]`) can be it.
const EVERYONE: &str = "*";

/// 2^12 registers: about 1.6% standard error, a few KB per feed per day at most.
const PRECISION: u8 = 12;

/// A fixed hash, so sketches from different processes merge.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct StableHash;

impl BuildHasher for StableHash {
    type Hasher = xxhash_rust::xxh3::Xxh3;
    fn build_hasher(&self) -> Self::Hasher {
        xxhash_rust::xxh3::Xxh3::new()
    }
}

type Sketch = HyperLogLogPlus<u64, StableHash>;

fn sketch() -> Sketch {
    HyperLogLogPlus::new(PRECISION, StableHash).expect("the precision is within 4..=18")
}

/// One feed's figures for one day, in memory.
#[derive(Clone)]
struct Tally {
    clients: Sketch,
    /// Aggregator (with feed id) → what it reported last.
    agents: BTreeMap<String, Report>,
}

/// An aggregator's subscriber count and when it said so. Polls land on different threads and
/// replicas, so the latest report is found by its time, not by the order figures merge in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Report {
    subscribers: u64,
    /// UTC nanoseconds since 1970.
    at: i64,
}

/// Keeps, per aggregator, the later of two reports, then the [`MAX_REPORTERS`] largest.
fn latest(into: &mut BTreeMap<String, Report>, from: BTreeMap<String, Report>) {
    for (key, report) in from {
        let kept = into.entry(key).or_insert(report);
        if report.at > kept.at {
            *kept = report;
        }
    }
    bound(into);
}

/// Notes one report: the later one stands for its aggregator, and at most [`MAX_REPORTERS`]
/// are kept.
fn note_report(agents: &mut BTreeMap<String, Report>, key: String, report: Report) {
    let kept = agents.entry(key).or_insert(report);
    if report.at > kept.at {
        *kept = report;
    }
    bound(agents);
}

/// Drops the smallest reports (of equal ones, the greatest key) until at most
/// [`MAX_REPORTERS`] are left.
fn bound(agents: &mut BTreeMap<String, Report>) {
    while agents.len() > MAX_REPORTERS {
        let smallest = agents
            .iter()
            .min_by(|a, b| {
                a.1.subscribers
                    .cmp(&b.1.subscribers)
                    .then_with(|| b.0.cmp(a.0))
            })
            .map(|(key, _)| key.clone())
            .expect("more than MAX_REPORTERS");
        agents.remove(&smallest);
    }
}

impl Tally {
    fn new() -> Self {
        Self {
            clients: sketch(),
            agents: BTreeMap::new(),
        }
    }
}

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
    feeds: HashMap<FeedKey, Tally>,
    /// Direct clients of every feed together.
    everyone: Sketch,
}

impl Default for Day {
    fn default() -> Self {
        Self {
            feeds: HashMap::new(),
            everyone: sketch(),
        }
    }
}

#[derive(Default)]
struct Pending {
    day: Option<NaiveDate>,
    today: Day,
    /// Days that ended before they were flushed.
    ended: Vec<(NaiveDate, Day)>,
    /// Polls by feed, then by the start of the UTC hour in Unix seconds, oldest first.
    hours: HashMap<FeedKey, Vec<(i64, Polls)>>,
}

/// When a poll was counted: its UTC day, the start of its hour (Unix seconds) and the
/// instant (UTC nanoseconds).
#[derive(Debug, Clone, Copy)]
struct Moment {
    day: NaiveDate,
    hour: i64,
    at: i64,
}

impl Moment {
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
        let hours = match pending.hours.get_mut(feed) {
            Some(hours) => hours,
            None => pending.hours.entry(feed.clone()).or_default(),
        };
        if hours.last().is_none_or(|(last, _)| *last != hour) {
            hours.push((hour, Polls::default()));
        }
        let polls = &mut hours.last_mut().expect("pushed above").1;
        polls.polls += 1;
        polls.not_modified += u64::from(poll.not_modified);
        polls.sent += poll.sent;
        polls.saved += poll.saved;
        if pending.day != Some(today) {
            if let Some(ended) = pending.day.replace(today) {
                let day = std::mem::take(&mut pending.today);
                pending.ended.push((ended, day));
            }
        }
        let day = &mut pending.today;
        let tally = match day.feeds.get_mut(feed) {
            Some(tally) => tally,
            None => day.feeds.entry(feed.clone()).or_insert_with(Tally::new),
        };
        match (reported, client_hash) {
            (Some(reported), _) => {
                let report = Report {
                    subscribers: reported.subscribers.min(agent::MAX_SUBSCRIBERS),
                    at,
                };
                note_report(&mut tally.agents, reported.key, report);
            }
            (None, Some(hash)) => {
                tally.clients.insert(&hash);
                day.everyone.insert(&hash);
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
            let mut hasher = xxhash_rust::xxh3::Xxh3::new();
            match client {
                Some(IpAddr::V4(ip)) => hasher.write(&ip.octets()),
                Some(IpAddr::V6(ip)) => hasher.write(&ip.octets()),
                None => {}
            }
            hasher.write(user_agent.as_bytes());
            hasher.finish()
        });
        let when = Moment::of(Utc::now());
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

    /// Merges what was counted since the last flush into the store.
    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        let _one = self.flushing.lock().await;
        let today = Utc::now().date_naive();
        let shards = self.shards.lock().expect("audience lock").clone();
        let mut batches = Vec::new();
        let mut hours = Vec::new();
        for shard in shards {
            let mut pending = shard.lock().expect("audience lock");
            batches.append(&mut pending.ended);
            if let Some(day) = pending.day {
                batches.push((day, std::mem::take(&mut pending.today)));
            }
            hours.push(std::mem::take(&mut pending.hours));
        }
        let prune = self.pruned.lock().expect("audience lock").replace(today) != Some(today);
        let rows = hours
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
            })
            .collect::<Vec<_>>();
        if !rows.is_empty() {
            self.store.add_traffic(rows).await?;
        }
        if prune {
            let before = today - chrono::Days::new(u64::from(KEEP_DAYS));
            self.store.forget_audience(before).await?;
        }
        for (day, counts) in batches {
            if counts.feeds.is_empty() {
                continue;
            }
            for (key, tally) in counts.feeds {
                let feed = feed_name(&key.slug, key.format);
                self.store
                    .merge_audience(day, &feed, Box::new(move |old| merge(old, tally)))
                    .await?;
            }
            let everyone = Tally {
                clients: counts.everyone,
                agents: BTreeMap::new(),
            };
            self.store
                .merge_audience(day, EVERYONE, Box::new(move |old| merge(old, everyone)))
                .await?;
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

    /// Today's figures as of the last flush.
    pub(crate) fn today(&self) -> Vec<FeedAudience> {
        self.today.lock().expect("audience lock").clone()
    }

    /// Flushes every minute, and once more at shutdown.
    pub(crate) async fn run(self: Arc<Self>, mut shutdown: crate::shutdown::Shutdown) {
        let mut ticker = tokio::time::interval(FLUSH_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                _ = ticker.tick() => false,
                () = shutdown.recv() => true,
            };
            if let Err(e) = self.flush().await {
                tracing::warn!(error = %e, "could not store reader counts; will retry");
            }
            if stopping {
                return;
            }
        }
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

fn decode(row: &AudienceRow) -> Tally {
    Tally {
        clients: serde_json::from_str(&row.clients).unwrap_or_else(|_| sketch()),
        agents: serde_json::from_str(&row.agents).unwrap_or_default(),
    }
}

fn merge(old: Option<AudienceRow>, new: Tally) -> AudienceRow {
    let mut merged = old.as_ref().map_or_else(Tally::new, decode);
    if merged.clients.merge(&new.clients).is_err() {
        merged.clients = new.clients;
    }
    latest(&mut merged.agents, new.agents);
    AudienceRow {
        clients: serde_json::to_string(&merged.clients).expect("a sketch serialises"),
        agents: serde_json::to_string(&merged.agents).expect("a map serialises"),
    }
}

fn summarise(day: NaiveDate, feed: String, row: &AudienceRow) -> FeedAudience {
    let mut tally = decode(row);
    // A row written before reports were bounded, or by hand, is bounded as it is read.
    bound(&mut tally.agents);
    let direct_clients = distinct(&mut tally.clients);
    let mut aggregators: BTreeMap<String, u64> = BTreeMap::new();
    for (key, report) in &tally.agents {
        let name = key.split(' ').next().unwrap_or(key);
        let figure = aggregators.entry(name.to_owned()).or_default();
        *figure = figure.saturating_add(report.subscribers.min(agent::MAX_SUBSCRIBERS));
    }
    FeedAudience {
        day,
        feed,
        subscribers: sum(aggregators.values().copied()).saturating_add(direct_clients),
        direct_clients,
        aggregators,
    }
}

/// A sketch's estimate as a whole number.
fn distinct(clients: &mut Sketch) -> u64 {
    let n = clients.count().round();
    if n.is_finite() && n > 0.0 {
        n as u64
    } else {
        0
    }
}

fn sum(figures: impl IntoIterator<Item = u64>) -> u64 {
    figures.into_iter().fold(0, u64::saturating_add)
}

/// The server's readers per day from the stored rows: the server-wide sketch's distinct
/// clients (or, for a day stored before there was one, the most any one feed had), plus per
/// aggregator the most it reported for any one feed.
fn server_totals(rows: Vec<(NaiveDate, String, AudienceRow)>) -> Vec<ServerAudience> {
    /// The server-wide sketch's count, the most direct clients of one feed, and per
    /// aggregator its largest figure.
    #[derive(Default)]
    struct Totals(Option<u64>, u64, BTreeMap<String, u64>);
    let mut days: BTreeMap<NaiveDate, Totals> = BTreeMap::new();
    for (day, feed, row) in rows {
        let Totals(everyone, most_of_one_feed, aggregators) = days.entry(day).or_default();
        if feed == EVERYONE {
            *everyone = Some(distinct(&mut decode(&row).clients));
            continue;
        }
        let figures = summarise(day, feed, &row);
        *most_of_one_feed = (*most_of_one_feed).max(figures.direct_clients);
        for (name, n) in figures.aggregators {
            let most = aggregators.entry(name).or_default();
            *most = (*most).max(n);
        }
    }
    days.into_iter()
        .map(|(day, Totals(everyone, most_of_one_feed, aggregators))| {
            let direct_clients = everyone.unwrap_or(most_of_one_feed);
            ServerAudience {
                day,
                subscribers: sum(aggregators.values().copied()).saturating_add(direct_clients),
                direct_clients,
                aggregators,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
