//! What is counted for one feed on one day — distinct direct clients in a HyperLogLog++
//! sketch, and each aggregator's latest report, bounded and clamped — and how stored rows of
//! it merge across threads, replicas and flushes into the figures the stats show.

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use chrono::NaiveDate;
use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use serde::{Deserialize, Serialize};

use super::{FeedAudience, MAX_REPORTERS, ServerAudience, agent};
use crate::store::AudienceRow;

/// How the server-wide row is named among the feeds' stored figures: no feed's name (those are
/// `{slug}.{ext}`, the slug `[a-z0-9-]`) can be it.
pub(super) const EVERYONE: &str = "*";

/// 2^12 registers: about 1.6% standard error, a few KB per feed per day at most.
pub(super) const PRECISION: u8 = 12;

/// A fixed hash, so sketches from different processes merge.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct StableHash;

impl BuildHasher for StableHash {
    type Hasher = StableHasher;
    fn build_hasher(&self) -> Self::Hasher {
        StableHasher::default()
    }
}

/// XXH3-64 of everything written, the same value as xxhash's streaming `Xxh3` gives (so
/// sketches stored by earlier versions still merge), without its 500-byte state: what is
/// written — a client's hash, an address and a User-Agent — is gathered here and hashed in
/// one call. Input past [`StableHasher::SMALL`] bytes goes through the streaming hasher.
#[derive(Clone)]
pub(crate) struct StableHasher {
    small: [u8; StableHasher::SMALL],
    len: usize,
    large: Option<Box<xxhash_rust::xxh3::Xxh3>>,
}

impl StableHasher {
    const SMALL: usize = 256;
}

impl Default for StableHasher {
    fn default() -> Self {
        Self {
            small: [0; Self::SMALL],
            len: 0,
            large: None,
        }
    }
}

impl std::hash::Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        if let Some(large) = &mut self.large {
            large.update(bytes);
        } else if let Some(room) = self.small.get_mut(self.len..self.len + bytes.len()) {
            room.copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            let mut large = Box::new(xxhash_rust::xxh3::Xxh3::new());
            large.update(&self.small[..self.len]);
            large.update(bytes);
            self.large = Some(large);
        }
    }

    fn finish(&self) -> u64 {
        match &self.large {
            Some(large) => large.digest(),
            None => xxhash_rust::xxh3::xxh3_64(&self.small[..self.len]),
        }
    }
}

pub(super) type Sketch = HyperLogLogPlus<u64, StableHash>;

pub(super) fn sketch() -> Sketch {
    HyperLogLogPlus::new(PRECISION, StableHash).expect("the precision is within 4..=18")
}

/// One feed's figures for one day, in memory.
#[derive(Clone)]
pub(super) struct Tally {
    pub(super) clients: Sketch,
    /// Aggregator (with feed id) → what it reported last.
    pub(super) agents: BTreeMap<String, Report>,
}

/// An aggregator's subscriber count and when it said so. Polls land on different threads and
/// replicas, so the latest report is found by its time, not by the order figures merge in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Report {
    pub(super) subscribers: u64,
    /// UTC nanoseconds since 1970.
    pub(super) at: i64,
}

/// Keeps, per aggregator, the later of two reports, then the [`MAX_REPORTERS`] largest.
pub(super) fn latest(into: &mut BTreeMap<String, Report>, from: BTreeMap<String, Report>) {
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
pub(super) fn note_report(agents: &mut BTreeMap<String, Report>, key: String, report: Report) {
    let kept = agents.entry(key).or_insert(report);
    if report.at > kept.at {
        *kept = report;
    }
    bound(agents);
}

/// Drops the smallest reports (of equal ones, the greatest key) until at most
/// [`MAX_REPORTERS`] are left.
pub(super) fn bound(agents: &mut BTreeMap<String, Report>) {
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
    pub(super) fn new() -> Self {
        Self {
            clients: sketch(),
            agents: BTreeMap::new(),
        }
    }

    /// Takes in `other`'s readers and reports.
    pub(super) fn absorb(&mut self, other: Tally) {
        if self.clients.merge(&other.clients).is_err() {
            tracing::warn!("could not merge two reader sketches; kept one");
        }
        latest(&mut self.agents, other.agents);
    }
}

pub(super) fn decode(row: &AudienceRow) -> Tally {
    Tally {
        clients: serde_json::from_str(&row.clients).unwrap_or_else(|_| sketch()),
        agents: serde_json::from_str(&row.agents).unwrap_or_default(),
    }
}

pub(super) fn merge(old: Option<AudienceRow>, new: Tally) -> AudienceRow {
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

pub(super) fn summarise(day: NaiveDate, feed: String, row: &AudienceRow) -> FeedAudience {
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
pub(super) fn distinct(clients: &mut Sketch) -> u64 {
    let n = clients.count().round();
    if n.is_finite() && n > 0.0 {
        n as u64
    } else {
        0
    }
}

pub(super) fn sum(figures: impl IntoIterator<Item = u64>) -> u64 {
    figures.into_iter().fold(0, u64::saturating_add)
}

/// The server's readers per day from the stored rows: the server-wide sketch's distinct
/// clients (or, for a day stored before there was one, the most any one feed had), plus per
/// aggregator the most it reported for any one feed.
pub(super) fn server_totals(rows: Vec<(NaiveDate, String, AudienceRow)>) -> Vec<ServerAudience> {
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
mod tests {
    use std::hash::Hasher;

    use super::StableHasher;

    /// Sketches stored before the hasher changed must keep merging with new ones.
    #[test]
    fn the_stable_hasher_gives_what_the_streaming_xxh3_gives() {
        let agent = "Mozilla/5.0 (X11; Linux x86_64) Newsboat/2.30 ".repeat(8);
        for pieces in [
            vec![&[][..]],
            vec![&7u64.to_ne_bytes()[..]],
            vec![&[192, 0, 2, 7][..], b"Newsboat/2.30"],
            vec![&[0x20; 16][..], agent.as_bytes()],
            vec![agent.as_bytes(), agent.as_bytes(), b"!"],
        ] {
            let (mut ours, mut theirs) = (StableHasher::default(), xxhash_rust::xxh3::Xxh3::new());
            for piece in &pieces {
                ours.write(piece);
                theirs.write(piece);
            }
            assert_eq!(ours.finish(), theirs.finish(), "{pieces:?}");
        }
        let (mut ours, mut theirs) = (StableHasher::default(), xxhash_rust::xxh3::Xxh3::new());
        ours.write_u64(0x5eed);
        theirs.write_u64(0x5eed);
        assert_eq!(ours.finish(), theirs.finish());
    }
}
