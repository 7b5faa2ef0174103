//! Who reads each feed, as hosted feed services report it: per feed URL and UTC day, the
//! subscribers aggregators announce in their User-Agent ([`agent`]) plus the distinct clients
//! polling directly (IP address and User-Agent), counted with a HyperLogLog++ sketch so the
//! memory per feed is fixed however many readers there are, and sketches from several replicas
//! or flushes merge exactly. A poll costs a hash and a sketch update in memory; figures are
//! merged into the store every minute (and before every stats or metrics read), so they survive
//! restarts and add up across replicas.

pub mod agent;

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use serde::{Deserialize, Serialize};

use crate::cache::{FeedKey, Part};
use crate::store::{AudienceRow, Store, StoreError};

/// How often figures are merged into the store.
const FLUSH_EVERY: Duration = Duration::from_secs(60);

/// 2^12 registers: about 1.6% standard error, a few KB per feed per day at most.
const PRECISION: u8 = 12;

/// A fixed hash, so sketches from different processes merge.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct StableHash;

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
    /// Aggregator (with feed id) → subscribers it reported last.
    agents: BTreeMap<String, u64>,
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
pub struct FeedAudience {
    pub day: NaiveDate,
    /// The feed's path, e.g. `world.atom`.
    pub feed: String,
    /// Aggregators' figures plus distinct direct clients.
    pub subscribers: u64,
    pub direct_clients: u64,
    /// Aggregator → subscribers it reported (summed over its feed ids).
    pub aggregators: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Pending {
    day: Option<NaiveDate>,
    feeds: HashMap<FeedKey, Tally>,
    /// Days that ended before they were flushed.
    ended: Vec<(NaiveDate, HashMap<FeedKey, Tally>)>,
}

pub struct Audience {
    store: Arc<dyn Store>,
    pending: Mutex<Pending>,
    /// Today's figures as of the last flush, for /metrics.
    today: Mutex<Vec<FeedAudience>>,
    /// One flush at a time.
    flushing: tokio::sync::Mutex<()>,
}

impl Audience {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            pending: Mutex::new(Pending::default()),
            today: Mutex::new(Vec::new()),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts one poll of a subscription document.
    pub fn note(&self, feed: &FeedKey, client: Option<IpAddr>, user_agent: &str) {
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
        let today = Utc::now().date_naive();
        let mut pending = self.pending.lock().expect("audience lock");
        if pending.day != Some(today) {
            if let Some(ended) = pending.day.replace(today) {
                let feeds = std::mem::take(&mut pending.feeds);
                pending.ended.push((ended, feeds));
            }
        }
        let tally = match pending.feeds.get_mut(feed) {
            Some(tally) => tally,
            None => pending.feeds.entry(feed.clone()).or_insert_with(Tally::new),
        };
        match (reported, client_hash) {
            (Some(reported), _) => {
                tally.agents.insert(reported.key, reported.subscribers);
            }
            (None, Some(hash)) => tally.clients.insert(&hash),
            (None, None) => {}
        }
    }

    /// Merges what was counted since the last flush into the store.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _one = self.flushing.lock().await;
        let batches = {
            let mut pending = self.pending.lock().expect("audience lock");
            let mut batches = std::mem::take(&mut pending.ended);
            if let Some(day) = pending.day {
                batches.push((day, std::mem::take(&mut pending.feeds)));
            }
            batches
        };
        for (day, feeds) in batches {
            for (key, tally) in feeds {
                let feed = format!("{}.{}", key.slug, key.format.extension());
                self.store
                    .merge_audience(day, &feed, Box::new(move |old| merge(old, tally)))
                    .await?;
            }
        }
        let today = Utc::now().date_naive();
        let figures = self.figures(today).await?;
        *self.today.lock().expect("audience lock") = figures;
        Ok(())
    }

    /// Every feed's figures from `since` on, by day then feed, as stored.
    pub async fn figures(&self, since: NaiveDate) -> Result<Vec<FeedAudience>, StoreError> {
        Ok(self
            .store
            .audience(since)
            .await?
            .into_iter()
            .map(|(day, feed, row)| summarise(day, feed, &row))
            .collect())
    }

    /// Today's figures as of the last flush.
    pub fn today(&self) -> Vec<FeedAudience> {
        self.today.lock().expect("audience lock").clone()
    }

    /// Flushes every minute until the process ends.
    pub async fn run(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(FLUSH_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(e) = self.flush().await {
                tracing::warn!(error = %e, "could not store reader counts; will retry");
            }
        }
    }
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
    merged.agents.extend(new.agents);
    AudienceRow {
        clients: serde_json::to_string(&merged.clients).expect("a sketch serialises"),
        agents: serde_json::to_string(&merged.agents).expect("a map serialises"),
    }
}

fn summarise(day: NaiveDate, feed: String, row: &AudienceRow) -> FeedAudience {
    let mut tally = decode(row);
    let direct_clients = tally.clients.count().round() as u64;
    let mut aggregators: BTreeMap<String, u64> = BTreeMap::new();
    for (key, subscribers) in &tally.agents {
        let name = key.split(' ').next().unwrap_or(key);
        *aggregators.entry(name.to_owned()).or_default() += subscribers;
    }
    FeedAudience {
        day,
        feed,
        subscribers: direct_clients + aggregators.values().sum::<u64>(),
        direct_clients,
        aggregators,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::FeedFormat;

    #[tokio::test]
    async fn readers_add_up_across_flushes_and_aggregators_count_their_subscribers() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            crate::store::sqlite::SqliteStore::open(&dir.path().join("w.sqlite3")).unwrap(),
        );
        let audience = Audience::new(Arc::clone(&store));
        let world = FeedKey::current("world", FeedFormat::Atom);
        let ip = |n: u8| Some(IpAddr::from([192, 0, 2, n]));
        for n in 1..=3 {
            audience.note(
                &world,
                ip(n),
                "NetNewsWire (RSS Reader; https://netnewswire.com/)",
            );
            audience.note(
                &world,
                ip(n),
                "NetNewsWire (RSS Reader; https://netnewswire.com/)",
            );
        }
        audience.note(
            &world,
            ip(9),
            "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 120 subscribers; )",
        );
        audience.flush().await.unwrap();
        // A later flush (or another replica) adds new readers; known ones count once.
        audience.note(
            &world,
            ip(1),
            "NetNewsWire (RSS Reader; https://netnewswire.com/)",
        );
        audience.note(&world, ip(4), "Miniflux/2.2.3 (https://miniflux.app)");
        audience.note(
            &world,
            ip(9),
            "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 125 subscribers; )",
        );
        audience.note(&world, ip(8), "Feedbin feed-id:1373711 - 7 subscribers");
        audience.flush().await.unwrap();
        let today = audience.today();
        assert_eq!(today.len(), 1);
        assert_eq!(today[0].feed, "world.atom");
        assert_eq!(today[0].direct_clients, 4);
        assert_eq!(
            today[0].aggregators,
            BTreeMap::from([("Feedbin".into(), 7), ("Feedly".into(), 125)])
        );
        assert_eq!(today[0].subscribers, 136);
        // Pages and archives are not subscriptions.
        audience.note(
            &FeedKey {
                part: Part::Page(2),
                ..world.clone()
            },
            ip(5),
            "x",
        );
        audience.flush().await.unwrap();
        assert_eq!(audience.today()[0].direct_clients, 4);
    }
}
