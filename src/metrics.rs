//! What the server counts, served at `/metrics` in the Prometheus text format through the
//! `prometheus-client` crate: requests by route and status, the share of feed polls answered
//! 304, the feed cache (hits, misses, evictions, bytes), render time, ingest outcomes, WebSub
//! deliveries and failures. Counters kept elsewhere as plain atomics (the cache's, the hub's)
//! are read at scrape time by collectors; the two counters every feed poll bumps are resolved
//! once, so the hot path is one atomic add.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};

use crate::counter::Striped;

/// A counter bumped by every request: striped across the serving threads.
type Count = Counter<u64, Striped>;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::audience::Audience;
use crate::cache::FeedCache;
use crate::store::health::Health;
use crate::websub::Hub;

/// The `Content-Type` of the Prometheus text format.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartnerLabels {
    /// The partner's name from the partners file (never a key).
    partner: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    status_class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngestLabels {
    outcome: &'static str,
}

pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Count>,
    feed_ok: Count,
    feed_not_modified: Count,
    ingest: Family<IngestLabels, Counter>,
    partners: Family<PartnerLabels, Counter>,
}

impl Metrics {
    pub(crate) fn new(
        cache: Arc<FeedCache>,
        hub: Option<Arc<Hub>>,
        audience: Arc<Audience>,
    ) -> Self {
        let mut registry = Registry::with_prefix("wirefeed");
        let requests = Family::<RequestLabels, Count>::default();
        registry.register(
            "http_requests",
            "Requests answered, by route and status",
            requests.clone(),
        );
        let ingest = Family::<IngestLabels, Counter>::default();
        registry.register(
            "ingest",
            "Stories sent to the ingest API, by outcome (created, updated, unchanged, killed, rejected)",
            ingest.clone(),
        );
        let partners = Family::<PartnerLabels, Counter>::default();
        registry.register(
            "partner_requests",
            "Requests with a partner key, by partner and status class (429: over quota)",
            partners.clone(),
        );
        registry.register(
            "render_seconds",
            "Time to render and compress one feed document on a cache miss",
            cache.stats.render_seconds.clone(),
        );
        let feed_ok = requests
            .get_or_create(&RequestLabels {
                route: "feed",
                status: 200,
            })
            .clone();
        let feed_not_modified = requests
            .get_or_create(&RequestLabels {
                route: "feed",
                status: 304,
            })
            .clone();
        registry.register_collector(Box::new(CacheCollector {
            cache,
            feed_ok: feed_ok.clone(),
            feed_not_modified: feed_not_modified.clone(),
        }));
        if let Some(hub) = hub {
            registry.register_collector(Box::new(HubCollector(hub)));
        }
        registry.register_collector(Box::new(AudienceCollector(audience)));
        Self {
            registry,
            requests,
            feed_ok,
            feed_not_modified,
            ingest,
            partners,
        }
    }

    /// Adds the store's state to what is served: whether it is reachable, whether the server
    /// is ready, the change listener's state, errors by kind and outages.
    pub(crate) fn watch_store(&mut self, health: Arc<Health>) {
        self.registry
            .register_collector(Box::new(StoreCollector(health)));
    }

    /// Counts one answered request.
    pub(crate) fn request(&self, route: &'static str, status: u16) {
        match (route, status) {
            ("feed", 200) => self.feed_ok.inner().add(1),
            ("feed", 304) => self.feed_not_modified.inner().add(1),
            _ => self
                .requests
                .get_or_create(&RequestLabels { route, status })
                .inner()
                .add(1),
        };
    }

    /// Counts one request with a partner's key.
    pub(crate) fn partner_request(&self, partner: &str, status: u16) {
        let status_class = match status {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.partners
            .get_or_create(&PartnerLabels {
                partner: partner.to_owned(),
                status_class,
            })
            .inc();
    }

    /// Counts one story through the ingest API.
    pub(crate) fn ingested(&self, outcome: &'static str) {
        self.ingest.get_or_create(&IngestLabels { outcome }).inc();
    }

    /// Everything, in the Prometheus text format.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

struct CacheCollector {
    cache: Arc<FeedCache>,
    feed_ok: Count,
    feed_not_modified: Count,
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let c = self.cache.stats.counts();
        for (name, help, value) in [
            ("cache_hits", "Feed requests answered from memory", c.hits),
            (
                "cache_misses",
                "Feed requests that had to build the document",
                c.misses,
            ),
            ("feed_renders", "Feed documents rendered", c.renders),
            (
                "feed_compressions",
                "Compressed bodies made (once per version and coding)",
                c.compressions,
            ),
            ("feed_store_reads", "Store reads for feeds", c.store_reads),
            (
                "cache_invalidations",
                "Cached feeds dropped because a change touched them",
                c.invalidations,
            ),
            (
                "feed_remakes",
                "Feeds made again after a change before a reader asked, as a client had read them (a reader arriving meanwhile shares the build)",
                c.remakes,
            ),
            (
                "cache_stale_served",
                "Feed requests answered with the last good version because the store failed",
                c.stale_served,
            ),
            (
                "cache_evictions",
                "Cached feeds dropped to stay within cache_max_bytes",
                c.evictions,
            ),
        ] {
            counter(&mut encoder, name, help, value)?;
        }
        let (bytes, entries) = self.cache.size();
        gauge(
            &mut encoder,
            "cache_bytes",
            "Bytes of rendered feeds held, all codings",
            bytes as f64,
        )?;
        gauge(
            &mut encoder,
            "cache_entries",
            "Feed documents held",
            entries as f64,
        )?;
        let (ok, not_modified) = (self.feed_ok.get(), self.feed_not_modified.get());
        let ratio = if ok + not_modified == 0 {
            0.0
        } else {
            not_modified as f64 / (ok + not_modified) as f64
        };
        gauge(
            &mut encoder,
            "feed_not_modified_ratio",
            "Share of feed polls answered 304 Not Modified (of 200s and 304s) since start",
            ratio,
        )
    }
}

struct HubCollector(Arc<Hub>);

/// Today's readers per feed, as of the last flush.
struct AudienceCollector(Arc<Audience>);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeedLabels {
    feed: String,
}

impl Collector for AudienceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let today = self.0.today();
        let subscribers = Family::<FeedLabels, prometheus_client::metrics::gauge::Gauge>::default();
        let clients = Family::<FeedLabels, prometheus_client::metrics::gauge::Gauge>::default();
        for feed in &today {
            let labels = FeedLabels {
                feed: feed.feed.clone(),
            };
            subscribers
                .get_or_create(&labels)
                .set(feed.subscribers as i64);
            clients
                .get_or_create(&labels)
                .set(feed.direct_clients as i64);
        }
        subscribers.encode(encoder.encode_descriptor(
            "feed_subscribers",
            "Readers of each feed today: aggregators' reported subscribers plus distinct direct clients",
            None,
            subscribers.metric_type(),
        )?)?;
        clients.encode(encoder.encode_descriptor(
            "feed_direct_clients",
            "Distinct clients (address and User-Agent) polling each feed directly today",
            None,
            clients.metric_type(),
        )?)
    }
}

impl std::fmt::Debug for AudienceCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AudienceCollector")
    }
}

impl std::fmt::Debug for CacheCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheCollector")
    }
}

impl std::fmt::Debug for HubCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HubCollector")
    }
}

impl Collector for HubCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for (name, help, value) in self.0.stats.snapshot() {
            counter(&mut encoder, name, help, value)?;
        }
        Ok(())
    }
}

/// The store's health.
struct StoreCollector(Arc<Health>);

impl std::fmt::Debug for StoreCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCollector")
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let health = &self.0;
        gauge(
            &mut encoder,
            "store_up",
            "1 while the last store call reached the store, 0 during an outage",
            f64::from(u8::from(health.store_up())),
        )?;
        gauge(
            &mut encoder,
            "ready",
            "1 when /readyz answers 200",
            f64::from(u8::from(health.readiness().is_ok())),
        )?;
        if let Some(up) = health.listener_up() {
            gauge(
                &mut encoder,
                "store_listener_up",
                "1 while the PostgreSQL change listener is connected",
                f64::from(u8::from(up)),
            )?;
        }
        counter(
            &mut encoder,
            "store_outages",
            "Times the store went from reachable to unreachable",
            health.outages.load(Relaxed),
        )?;
        let errors = Family::<KindLabels, Counter>::default();
        for (kind, value) in [
            ("timeout", health.timeouts.load(Relaxed)),
            ("unavailable", health.unavailable.load(Relaxed)),
            ("other", health.other_errors.load(Relaxed)),
            ("circuit_open", health.turned_away.load(Relaxed)),
        ] {
            errors.get_or_create(&KindLabels { kind }).inc_by(value);
        }
        errors.encode(encoder.encode_descriptor(
            "store_errors",
            "Store calls that failed: timeout (past store_timeout_ms), unavailable (unreachable, busy, disk full), other, circuit_open (not made: a health probe confirmed an outage)",
            None,
            errors.metric_type(),
        )?)
    }
}
