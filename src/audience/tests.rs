//! Tests of `audience`.

use super::*;
use crate::store::AudienceRow;

const NETNEWSWIRE: &str = "NetNewsWire (RSS Reader; https://netnewswire.com/)";
const FULL: Poll = Poll {
    not_modified: false,
    sent: 40_000,
    saved: 200_000,
};
const UNCHANGED: Poll = Poll {
    not_modified: true,
    sent: 0,
    saved: 240_000,
};

fn audience() -> (tempfile::TempDir, Audience) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn AudienceStore> =
        Arc::new(crate::store::sqlite::SqliteStore::open(&dir.path().join("w.sqlite3")).unwrap());
    (dir, Audience::new(store))
}

#[tokio::test]
async fn readers_add_up_across_flushes_and_aggregators_count_their_subscribers() {
    let (_dir, audience) = audience();
    let world = FeedKey::current("world", FeedFormat::Atom);
    let ip = |n: u8| Some(IpAddr::from([192, 0, 2, n]));
    for n in 1..=3 {
        audience.note(&world, ip(n), NETNEWSWIRE, FULL);
        audience.note(&world, ip(n), NETNEWSWIRE, UNCHANGED);
    }
    let feedly = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 120 subscribers; )";
    audience.note(&world, ip(9), feedly, UNCHANGED);
    audience.flush().await.unwrap();
    // A later flush (or another replica) adds new readers; known ones count once.
    audience.note(&world, ip(1), NETNEWSWIRE, UNCHANGED);
    audience.note(&world, ip(4), "Miniflux/2.2.3 (https://miniflux.app)", FULL);
    let feedly = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 125 subscribers; )";
    audience.note(&world, ip(9), feedly, UNCHANGED);
    let feedbin = "Feedbin feed-id:1373711 - 7 subscribers";
    audience.note(&world, ip(8), feedbin, UNCHANGED);
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
    let page = FeedKey {
        part: Part::Page(2),
        ..world.clone()
    };
    audience.note(&page, ip(5), "x", FULL);
    audience.flush().await.unwrap();
    assert_eq!(audience.today()[0].direct_clients, 4);
}

#[tokio::test]
async fn an_aggregators_latest_report_wins_whichever_thread_heard_it() {
    let (_dir, audience) = audience();
    let world = FeedKey::current("world", FeedFormat::Atom);
    let ip = Some(IpAddr::from([203, 0, 113, 9]));
    // This thread's tallies come first when figures are gathered ...
    audience.note(&world, ip, NETNEWSWIRE, FULL);
    // ... another thread hears Feedly first ...
    std::thread::scope(|s| {
        s.spawn(|| {
            let early = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 1234 subscribers; )";
            audience.note(&world, ip, early, UNCHANGED);
        });
    });
    // ... and this one later, with the figure that stands.
    let late = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 1,024 subscribers; )";
    audience.note(&world, ip, late, UNCHANGED);
    audience.flush().await.unwrap();
    assert_eq!(audience.today()[0].aggregators["Feedly"], 1024);
    // An earlier report merged later (a replica flushing late) does not overwrite it.
    let today = Utc::now().date_naive();
    let stored = audience
        .store
        .audience(today)
        .await
        .unwrap()
        .into_iter()
        .find(|(_, feed, _)| feed == "world.atom")
        .unwrap()
        .2;
    let mut pending = Pending::default();
    let stale = agent::parse("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 999 subscribers; )");
    let long_ago = Moment {
        day: today,
        hour: 0,
        at: 0,
    };
    pending.count(&world, long_ago, FULL, stale, None);
    let merged = merge(
        Some(stored),
        pending.feeds.remove(&world).unwrap().today.unwrap(),
    );
    let figures = summarise(today, "world.atom".into(), &merged);
    assert_eq!(figures.aggregators["Feedly"], 1024);
}

#[tokio::test]
async fn invented_feed_ids_keep_only_the_largest_reports() {
    let (_dir, audience) = audience();
    let world = FeedKey::current("world", FeedFormat::Rss);
    let ip = Some(IpAddr::from([203, 0, 113, 66]));
    // Ten thousand feed ids over two flushes, the figures climbing then falling.
    for id in 1..=10_000_u64 {
        let n = if id <= 5_000 { id } else { 15_001 - id };
        let ua = format!("Feedbin feed-id:{id} - {n} subscribers");
        audience.note(&world, ip, &ua, UNCHANGED);
        if id == 5_000 {
            audience.flush().await.unwrap();
        }
    }
    audience.flush().await.unwrap();
    let today = Utc::now().date_naive();
    let rows = audience.store.audience(today).await.unwrap();
    let row = &rows
        .iter()
        .find(|(_, feed, _)| feed == "world.rss")
        .unwrap()
        .2;
    let kept: BTreeMap<String, Report> = serde_json::from_str(&row.agents).unwrap();
    assert_eq!(kept.len(), MAX_REPORTERS);
    // The hundred largest: 10,000 down to 9,901, whichever flush heard them.
    assert!(kept.values().all(|r| r.subscribers >= 9_901), "{kept:?}");
    // About 60 bytes a report.
    assert!(
        row.agents.len() < 100 * MAX_REPORTERS,
        "{}",
        row.agents.len()
    );
    let figures = audience.today();
    let kept_sum: u64 = (9_901..=10_000).sum();
    assert_eq!(figures[0].aggregators["Feedbin"], kept_sum);
    assert_eq!(figures[0].subscribers, kept_sum);
    // In memory too: a thread's pending counts never hold more than the bound.
    let mut pending = Pending::default();
    let now = Moment::of(Utc::now());
    for id in 0..1_000 {
        let ua = format!("Feedbin feed-id:{id} - 5 subscribers");
        pending.count(&world, now, UNCHANGED, agent::parse(&ua), None);
    }
    assert_eq!(
        pending.feeds[&world].today.as_ref().unwrap().agents.len(),
        MAX_REPORTERS
    );
}

#[test]
fn figures_are_clamped_and_sums_saturate() {
    let today = Utc::now().date_naive();
    let world = FeedKey::current("world", FeedFormat::Atom);
    let mut pending = Pending::default();
    let now = Moment::of(Utc::now());
    for id in 0..MAX_REPORTERS {
        let huge = agent::Reported {
            key: format!("Feedbin {id}"),
            name: "Feedbin".into(),
            subscribers: u64::MAX,
        };
        pending.count(&world, now, UNCHANGED, Some(huge), None);
    }
    let row = merge(None, pending.feeds.remove(&world).unwrap().today.unwrap());
    let figures = summarise(today, "world.atom".into(), &row);
    let most = agent::MAX_SUBSCRIBERS * MAX_REPORTERS as u64;
    assert_eq!(figures.aggregators["Feedbin"], most);
    assert_eq!(figures.subscribers, most);
    // A stored row from before the clamp (or forged in the store) still cannot wrap.
    let forged: BTreeMap<String, Report> = (0..3)
        .map(|i| {
            let report = Report {
                subscribers: u64::MAX,
                at: 0,
            };
            (format!("Evil{i}"), report)
        })
        .collect();
    let row = AudienceRow {
        clients: String::new(),
        agents: serde_json::to_string(&forged).unwrap(),
    };
    let figures = summarise(today, "world.atom".into(), &row);
    assert_eq!(figures.subscribers, 3 * agent::MAX_SUBSCRIBERS);
}

#[tokio::test]
async fn one_reader_polling_fifteen_feeds_is_one_reader_of_the_server() {
    let (_dir, audience) = audience();
    let freshrss = "FreshRSS/1.24.1 (Linux; https://freshrss.org)";
    let home = Some(IpAddr::from([198, 51, 100, 20]));
    for n in 0..15 {
        let feed = FeedKey::current(format!("desk-{n}"), FeedFormat::Atom);
        audience.note(&feed, home, freshrss, FULL);
        audience.note(&feed, home, freshrss, UNCHANGED);
    }
    let world = FeedKey::current("world", FeedFormat::Atom);
    audience.note(
        &world,
        Some(IpAddr::from([198, 51, 100, 21])),
        NETNEWSWIRE,
        FULL,
    );
    let feedly =
        |n: u32| format!("Feedly/1.0 (+http://www.feedly.com/fetcher.html; {n} subscribers; )");
    audience.note(&world, home, &feedly(40), UNCHANGED);
    let desk = FeedKey::current("desk-0", FeedFormat::Atom);
    audience.note(&desk, home, &feedly(25), UNCHANGED);
    audience.flush().await.unwrap();
    let today = Utc::now().date_naive();
    let feeds = audience.figures(today).await.unwrap();
    assert_eq!(feeds.len(), 16, "the server-wide row is not a feed");
    let per_feed: u64 = feeds.iter().map(|f| f.subscribers).sum();
    assert_eq!(per_feed, 16 + 40 + 25);
    let totals = audience.totals(today).await.unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(totals[0].direct_clients, 2);
    assert_eq!(
        totals[0].aggregators,
        BTreeMap::from([("Feedly".into(), 40)])
    );
    assert_eq!(totals[0].subscribers, 42);
    // A second flush (or another replica) merges into the same sketch.
    audience.note(&desk, home, freshrss, UNCHANGED);
    audience.flush().await.unwrap();
    assert_eq!(audience.totals(today).await.unwrap()[0].direct_clients, 2);
}

#[tokio::test]
async fn polls_per_hour_sum_across_flushes() {
    let (_dir, audience) = audience();
    let world = FeedKey::current("world", FeedFormat::Rss);
    let g20 = FeedKey::current("g20", FeedFormat::Json);
    let ip = Some(IpAddr::from([198, 51, 100, 7]));
    audience.note(&world, ip, NETNEWSWIRE, FULL);
    audience.note(&world, ip, NETNEWSWIRE, UNCHANGED);
    audience.flush().await.unwrap();
    audience.note(&world, ip, NETNEWSWIRE, UNCHANGED);
    audience.note(&g20, ip, NETNEWSWIRE, FULL);
    audience.flush().await.unwrap();
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    let rows = audience.hourly(hour_ago).await.unwrap();
    let world = rows.iter().filter(|r| r.feed == "world.rss");
    let (polls, not_modified, sent, saved) = world.fold((0, 0, 0, 0), |t, r| {
        (
            t.0 + r.polls,
            t.1 + r.not_modified,
            t.2 + r.bytes_sent,
            t.3 + r.bytes_saved,
        )
    });
    assert_eq!((polls, not_modified), (3, 2));
    assert_eq!((sent, saved), (40_000, 680_000));
    assert!(rows.iter().any(|r| r.feed == "g20.json" && r.polls == 1));
    assert!(rows.iter().all(|r| r.hour.timestamp() % 3600 == 0));
}

/// The real store behind a switch that makes its writes fail as in an outage.
struct Outage {
    store: crate::store::sqlite::SqliteStore,
    down: std::sync::atomic::AtomicBool,
    /// Writes hang instead (a stalled store), until the caller gives up on them.
    stalled: std::sync::atomic::AtomicBool,
}

impl Outage {
    async fn check(&self) -> Result<(), StoreError> {
        if self.stalled.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Timeout(Duration::from_secs(1)));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl AudienceStore for Outage {
    async fn merge_audience(
        &self,
        day: NaiveDate,
        feed: &str,
        merge: crate::store::AudienceMerge,
    ) -> Result<(), StoreError> {
        self.check().await?;
        self.store.merge_audience(day, feed, merge).await
    }
    async fn audience(
        &self,
        since: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, AudienceRow)>, StoreError> {
        self.store.audience(since).await
    }
    async fn add_traffic(&self, rows: Vec<TrafficRow>) -> Result<(), StoreError> {
        self.check().await?;
        self.store.add_traffic(rows).await
    }
    async fn traffic(&self, since: chrono::DateTime<Utc>) -> Result<Vec<TrafficRow>, StoreError> {
        self.store.traffic(since).await
    }
    async fn forget_audience(&self, day: NaiveDate) -> Result<(), StoreError> {
        self.check().await?;
        self.store.forget_audience(day).await
    }
}

/// Counts a flush could not store (the store was down) are stored by the next one, once.
#[tokio::test]
async fn counts_a_flush_could_not_store_are_kept_for_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let outage = Arc::new(Outage {
        store: crate::store::sqlite::SqliteStore::open(&dir.path().join("w.sqlite3")).unwrap(),
        down: std::sync::atomic::AtomicBool::new(false),
        stalled: std::sync::atomic::AtomicBool::new(false),
    });
    let audience = Audience::new(Arc::clone(&outage) as Arc<dyn AudienceStore>);
    let science = FeedKey::current("science", FeedFormat::Atom);
    let feedly = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 4321 subscribers; )";
    let ip = |n: u8| Some(IpAddr::from([203, 0, 113, n]));
    audience.note(&science, ip(1), feedly, UNCHANGED);
    audience.note(&science, ip(2), NETNEWSWIRE, FULL);
    outage.down.store(true, Ordering::SeqCst);
    assert!(audience.flush().await.is_err());
    audience.note(&science, ip(3), NETNEWSWIRE, UNCHANGED);
    assert!(audience.flush().await.is_err());
    // A flush given up on while the store hangs (its future dropped at a deadline) keeps
    // what it took too.
    outage.down.store(false, Ordering::SeqCst);
    outage.stalled.store(true, Ordering::SeqCst);
    audience.note(&science, ip(3), NETNEWSWIRE, UNCHANGED);
    let given_up = tokio::time::timeout(Duration::from_millis(100), audience.flush()).await;
    assert!(given_up.is_err());
    outage.stalled.store(false, Ordering::SeqCst);
    audience.flush().await.unwrap();
    audience.flush().await.unwrap();
    let today = audience.today();
    assert_eq!(today.len(), 1);
    assert_eq!(today[0].feed, "science.atom");
    assert_eq!(today[0].direct_clients, 2);
    assert_eq!(today[0].subscribers, 4323);
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    let polls: u64 = audience
        .hourly(hour_ago)
        .await
        .unwrap()
        .iter()
        .map(|r| r.polls)
        .sum();
    assert_eq!(polls, 4, "each poll counted once");
}

#[test]
fn a_client_polling_again_is_counted_once_a_day_and_again_the_next_day() {
    let mut pending = Pending::default();
    let (world, g20) = (
        FeedKey::current("world", FeedFormat::Atom),
        FeedKey::current("g20", FeedFormat::Rss),
    );
    let day = |d: u32| Moment {
        day: NaiveDate::from_ymd_opt(2026, 12, d).unwrap(),
        hour: 0,
        at: 0,
    };
    // One reader polls both feeds every few minutes; another world once.
    for _ in 0..5 {
        pending.count(&world, day(3), UNCHANGED, None, Some(0x5eed));
        pending.count(&g20, day(3), UNCHANGED, None, Some(0x5eed));
    }
    pending.count(&world, day(3), FULL, None, Some(0x5eed + SEEN as u64));
    let mut first = pending.take_day();
    assert_eq!(distinct(&mut first.everyone), 2);
    assert_eq!(
        distinct(&mut first.feeds.get_mut(&world).unwrap().clients),
        2
    );
    assert_eq!(distinct(&mut first.feeds.get_mut(&g20).unwrap().clients), 1);
    // The next day starts empty, and the same reader is counted in it again.
    pending.count(&world, day(4), UNCHANGED, None, Some(0x5eed));
    pending.count(&g20, day(4), UNCHANGED, None, Some(0x5eed));
    let mut second = pending.take_day();
    assert_eq!(distinct(&mut second.everyone), 1);
    assert_eq!(
        distinct(&mut second.feeds.get_mut(&world).unwrap().clients),
        1
    );
    assert_eq!(
        distinct(&mut second.feeds.get_mut(&g20).unwrap().clients),
        1
    );
    // A day ended by the first poll after midnight, not by a flush, is counted likewise.
    pending.count(&world, day(5), UNCHANGED, None, Some(0x5eed));
    pending.count(&world, day(6), UNCHANGED, None, Some(0x5eed));
    let (ended, mut fifth) = pending.ended.pop().unwrap();
    assert_eq!(ended, day(5).day);
    assert_eq!(distinct(&mut fifth.everyone), 1);
    assert_eq!(distinct(&mut pending.take_day().everyone), 1);
    // A hash of 0, the filter's empty mark, still counts.
    pending.count(&world, day(6), UNCHANGED, None, Some(0));
    assert_eq!(distinct(&mut pending.take_day().everyone), 1);
}

#[test]
fn a_polls_moment_is_its_day_and_hour_whether_worked_out_or_remembered() {
    let hour = std::cell::Cell::new((i64::MIN, NaiveDate::MIN));
    let midnight = NaiveDate::from_ymd_opt(2026, 12, 6)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp();
    // Into the last hour of a day, across midnight, on within the new hour, then the clock
    // set back past the hour's start, and forward again.
    for secs in [
        midnight - 3600,
        midnight - 1,
        midnight,
        midnight + 1,
        midnight + 3599,
        midnight - 3601,
        midnight - 3600,
        midnight + 3600,
    ] {
        let nanos = 999_999_999;
        let moment = Moment::at(secs, nanos, &hour);
        let worked_out = Moment::of(chrono::DateTime::from_timestamp(secs, nanos as u32).unwrap());
        assert_eq!(
            (moment.day, moment.hour, moment.at),
            (worked_out.day, worked_out.hour, worked_out.at),
            "{secs}"
        );
    }
    let now = Moment::now();
    let worked_out = Moment::of(chrono::DateTime::from_timestamp_nanos(now.at));
    assert_eq!((now.day, now.hour), (worked_out.day, worked_out.hour));
}
