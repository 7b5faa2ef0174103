//! Push: a WebSub (W3C Recommendation) hub, so aggregators need not poll.
//!
//! With `websub_hub = "builtin"` this server is the hub for its own feeds: subscribers POST to
//! `/hub` ([`request`] checks the form), the hub verifies their intent with a GET to the
//! callback carrying `hub.challenge`, and keeps verified subscriptions in the store with their
//! lease, so they survive restarts and are shared by replicas. Every change the feed cache
//! applies is claimed by exactly one replica, which delivers the updated feed to each subscriber
//! of every feed the change touched ([`deliver`]): signed with `X-Hub-Signature` when the
//! subscriber gave a secret, retried with exponential backoff, through a bounded queue with a
//! limit per callback host. Callback addresses are checked by [`address`]. With an external hub
//! URL instead, that hub is pinged (`hub.mode=publish`) for every feed a change touched.
//!
//! ## Shutdown
//!
//! The hub owns its work: every verification, delivery and ping is a task it counts, and
//! [`Hub::run`] returns only when that count is back to zero. When the shutdown fires (after
//! the HTTP server has drained, so no new subscription request can arrive), `run`
//!
//! 1. takes in every change already announced on the bus (a publish answered 2xx before the
//!    signal is announced by then) and queues its deliveries, as it would have;
//! 2. tells its tasks to stop waiting: a delivery or ping sleeping in its retry backoff makes
//!    its next attempt at once, and that attempt is its last (no retry is scheduled after the
//!    shutdown); a delivery waiting for its callback host's permit keeps its turn;
//! 3. waits for every task to finish.
//!
//! So a pending delivery is *finished* (delivered, or given up after its last attempt), never
//! left for the next start: a change is claimed once, and the next start does not push it
//! again. The entry point bounds the wait by its grace period (10 s); a delivery still running
//! then is lost with the process. That loss heals itself: every push carries the whole current
//! feed, so the subscriber's next push (the feed's next change) brings everything it missed.

pub(crate) mod address;
mod deliver;
pub(crate) mod request;
mod stats;

pub(crate) use stats::HubStats;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, watch};

use crate::cache::{CacheError, FeedCache};

use crate::model::{ChangeRecord, FeedFormat, FeedKey};
use crate::site::Site;
use crate::store::{StoreError, Subscription, SubscriptionStore};
use address::{AddressPolicy, GuardedResolver};
use request::{Intent, Leases, Mode};

/// How often expired subscriptions are deleted.
const EXPIRY_EVERY: Duration = Duration::from_secs(60);

/// Largest verification answer read; the challenge is 48 characters.
const MAX_CHALLENGE_ANSWER: usize = 1024;

/// Which hub the feeds name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// This server.
    Builtin,
    /// Another hub, pinged on publish.
    External(String),
}

/// The hub's settings, from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct HubConfig {
    pub(crate) leases: Leases,
    pub(crate) timeout: Duration,
    pub(crate) queue: usize,
    pub(crate) attempts: u32,
    pub(crate) retry_first: Duration,
    pub(crate) per_host: usize,
    pub(crate) max_subscriptions_per_host: u64,
    pub(crate) allowed_networks: Vec<ipnet::IpNet>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HubError {
    /// The request is malformed or names something this hub does not serve.
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed, but this hub will not act on it (callback address, per-host limit).
    #[error("{0}")]
    Refused(String),
    #[error("send the request as application/x-www-form-urlencoded")]
    NotAForm,
    #[error("the hub has too much work queued; try again in a minute")]
    Busy,
    #[error("the feed cannot be read: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) struct Hub {
    role: Role,
    config: HubConfig,
    store: Arc<dyn SubscriptionStore>,
    cache: Arc<FeedCache>,
    site: Site,
    /// For callbacks: resolves through the address policy, follows no redirect, uses no proxy.
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    /// One permit per verification or delivery waiting or in flight.
    queue: Arc<Semaphore>,
    /// Deliveries in flight per callback host.
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// The newest delivery queued per (callback, topic); an older one still waiting gives way.
    generations: Mutex<HashMap<(String, String), u64>>,
    /// How many of the hub's tasks (verifications, deliveries, pings) are running.
    tasks: Arc<watch::Sender<usize>>,
    /// Fired when the shutdown reaches [`Hub::run`]: tasks make their last attempt now.
    stopping: crate::shutdown::Trigger,
    pub(crate) stats: HubStats,
}

/// One running task of the hub; counted down when the task ends, however it ends.
struct Task(Arc<watch::Sender<usize>>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Hub {
    pub(crate) fn new(
        role: Role,
        config: HubConfig,
        store: Arc<dyn SubscriptionStore>,
        cache: Arc<FeedCache>,
    ) -> Result<Arc<Self>, HubError> {
        let policy = Arc::new(AddressPolicy::new(config.allowed_networks.clone()));
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver(Arc::clone(&policy))))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .user_agent(concat!(
                "wirefeed/",
                env!("CARGO_PKG_VERSION"),
                " (WebSub hub)"
            ))
            .build()
            .map_err(|e| HubError::Unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(Arc::new(Self {
            role,
            site: cache.site().clone(),
            queue: Arc::new(Semaphore::new(config.queue.max(1))),
            config,
            store,
            cache,
            client,
            policy,
            hosts: Mutex::new(HashMap::new()),
            generations: Mutex::new(HashMap::new()),
            tasks: Arc::new(watch::channel(0).0),
            stopping: crate::shutdown::Trigger::new(),
            stats: HubStats::default(),
        }))
    }

    pub(crate) fn role(&self) -> &Role {
        &self.role
    }

    /// Checks a subscriber's request (the body of a POST to `/hub`); when it is acceptable the
    /// intent is verified in the background and `Ok` means "202 Accepted".
    pub(crate) async fn request(self: &Arc<Self>, form: &[u8]) -> Result<(), HubError> {
        let intent =
            request::parse(form, &self.site, self.config.leases).map_err(HubError::BadRequest)?;
        match self.cache.get(&intent.feed).await {
            Ok(_) => {}
            Err(e) if matches!(*e, CacheError::UnknownFeed(_)) => {
                return Err(HubError::BadRequest(format!(
                    "{} is not a feed of this hub: no story has been filed in that category",
                    intent.topic
                )));
            }
            Err(e) => return Err(HubError::Unavailable(e.to_string())),
        }
        let host = intent.callback.host_str().unwrap_or_default().to_owned();
        let port = intent.callback.port_or_known_default().unwrap_or(80);
        self.policy
            .resolve(&host, port)
            .await
            .map_err(|why| HubError::Refused(format!("hub.callback is refused: {why}")))?;
        if intent.mode == Mode::Subscribe
            && self.store.subscriptions_on_host(&host, Utc::now()).await?
                >= self.config.max_subscriptions_per_host
        {
            return Err(HubError::Refused(format!(
                "{host} already holds the most subscriptions one callback host may have here"
            )));
        }
        let slot = Arc::clone(&self.queue)
            .try_acquire_owned()
            .map_err(|_| HubError::Busy)?;
        HubStats::bump(&self.stats.requests);
        self.spawn(Arc::clone(self).verify(intent, host, slot));
        Ok(())
    }

    /// Verification of intent (WebSub §5.3): the subscriber must echo `hub.challenge`.
    async fn verify(self: Arc<Self>, intent: Intent, host: String, _slot: OwnedSemaphorePermit) {
        let challenge = challenge();
        let mut url = intent.callback.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("hub.mode", intent.mode.as_str())
                .append_pair("hub.topic", &intent.topic)
                .append_pair("hub.challenge", &challenge);
            if intent.mode == Mode::Subscribe {
                query.append_pair("hub.lease_seconds", &intent.lease.as_secs().to_string());
            }
        }
        let confirmed = {
            let _host = self.host_slot(&host).acquire_owned().await;
            match self.client.get(url).send().await {
                Ok(response) if response.status().is_success() => {
                    read_capped(response, MAX_CHALLENGE_ANSWER)
                        .await
                        .is_some_and(|answer| answer.trim_ascii() == challenge.as_bytes())
                }
                Ok(response) => {
                    tracing::info!(%host, status = %response.status(), "subscriber did not confirm");
                    false
                }
                Err(e) => {
                    tracing::info!(%host, error = %e, "could not reach the subscriber to verify");
                    false
                }
            }
        };
        if !confirmed {
            HubStats::bump(&self.stats.verify_failures);
            return;
        }
        let stored = match intent.mode {
            Mode::Subscribe => {
                let lease =
                    chrono::Duration::from_std(intent.lease).unwrap_or(chrono::Duration::days(30));
                self.store
                    .subscribe(&Subscription {
                        topic: intent.topic.clone(),
                        callback: intent.callback.to_string(),
                        callback_host: host.clone(),
                        secret: intent.secret.clone(),
                        lease_seconds: intent.lease.as_secs(),
                        expires_at: Utc::now() + lease,
                    })
                    .await
            }
            Mode::Unsubscribe => self
                .store
                .unsubscribe(&intent.topic, intent.callback.as_str())
                .await
                .map(|_| ()),
        };
        match stored {
            Ok(()) => {
                HubStats::bump(&self.stats.verified);
                tracing::info!(%host, topic = %intent.topic, mode = intent.mode.as_str(), "subscription verified");
            }
            Err(e) => tracing::error!(error = %e, "could not store a verified subscription"),
        }
    }

    /// Runs `work` as one of the hub's tasks, which shutdown waits for.
    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.tasks.send_modify(|n| *n += 1);
        let task = Task(Arc::clone(&self.tasks));
        tokio::spawn(async move {
            let _task = task;
            work.await;
        });
    }

    /// How many verifications, deliveries and pings are queued or in flight.
    pub(crate) fn pending(&self) -> usize {
        *self.tasks.borrow()
    }

    /// Waits out a retry's backoff; cut short when the hub is stopping. `false` when the hub
    /// is stopping: the attempt that follows is the last.
    async fn backoff(&self, wait: Duration) -> bool {
        let mut stopping = self.stopping.subscribe();
        tokio::select! {
            () = tokio::time::sleep(wait) => !stopping.is_fired(),
            () = stopping.recv() => false,
        }
    }

    /// Whether the hub is stopping, so that a failed attempt is not retried.
    fn is_stopping(&self) -> bool {
        self.stopping.is_fired()
    }

    /// Shutdown (see the module documentation): pushes what was announced, lets every task
    /// make its last attempt, and waits for them.
    async fn finish_work(self: &Arc<Self>, changes: &mut broadcast::Receiver<ChangeRecord>) {
        let mut batch = Vec::new();
        let mut lagged = false;
        loop {
            match changes.try_recv() {
                Ok(record) => batch.push(record),
                Err(broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                Err(_) => break,
            }
        }
        if (!batch.is_empty() || lagged)
            && let Err(e) = self.publish(batch, lagged).await
        {
            tracing::warn!(error = %e, "could not push the last changes to subscribers");
        }
        self.stopping.fire();
        let pending = self.pending();
        if pending > 0 {
            tracing::info!(pending, "shutting down: finishing WebSub deliveries");
        }
        let _ = self.tasks.subscribe().wait_for(|n| *n == 0).await;
    }

    /// Follows the change bus (`changes`, subscribed before the first write this process can
    /// make) and pushes each change; deletes expired subscriptions once a minute. Runs until
    /// shutdown, then finishes its deliveries (see the module documentation) and returns.
    pub(crate) async fn run(
        self: Arc<Self>,
        mut changes: broadcast::Receiver<ChangeRecord>,
        mut shutdown: crate::shutdown::Shutdown,
    ) {
        let mut expiry = tokio::time::interval(EXPIRY_EVERY);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = changes.recv() => {
                    let mut batch = Vec::new();
                    let mut lagged = false;
                    match received {
                        Ok(record) => batch.push(record),
                        Err(broadcast::error::RecvError::Lagged(_)) => lagged = true,
                        Err(broadcast::error::RecvError::Closed) => {
                            self.finish_work(&mut changes).await;
                            return;
                        }
                    }
                    loop {
                        match changes.try_recv() {
                            Ok(record) => batch.push(record),
                            Err(broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = self.publish(batch, lagged).await {
                        tracing::warn!(error = %e, "could not push a change to subscribers");
                    }
                }
                () = shutdown.recv() => {
                    self.finish_work(&mut changes).await;
                    return;
                }
                _ = expiry.tick() => {
                    match self.store.expire_subscriptions(Utc::now()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(expired = n, "WebSub leases ended"),
                        Err(e) => tracing::warn!(error = %e, "could not expire WebSub subscriptions"),
                    }
                }
            }
        }
    }

    /// Pushes the changes this replica claims. `lagged` means some changes were missed, so
    /// every feed is treated as touched.
    async fn publish(
        self: &Arc<Self>,
        batch: Vec<ChangeRecord>,
        lagged: bool,
    ) -> Result<(), HubError> {
        let now = Utc::now();
        let mut touched: Vec<ChangeRecord> = Vec::new();
        for record in batch {
            // A held story changed no public document: there is nothing to push.
            if record.kind.is_public() && self.store.claim_change(record.change.seq, now).await? {
                touched.push(record);
            }
        }
        if !lagged && touched.is_empty() {
            return Ok(());
        }
        let touches = |selection: &crate::model::Selection| {
            lagged || touched.iter().any(|r| selection.touched_by(r))
        };
        match &self.role {
            Role::Builtin => {
                for (topic, _) in self.store.subscribed_topics(now).await? {
                    let Some((slug, format)) = self.site.feed_from_url(&topic) else {
                        continue;
                    };
                    let key = FeedKey::current(slug, format);
                    let Ok(current) = self.cache.get(&key).await else {
                        continue;
                    };
                    if !touches(&current.def.selection) {
                        continue;
                    }
                    for subscription in self.store.subscribers(&topic, now).await? {
                        self.enqueue(subscription, key.clone());
                    }
                }
            }
            Role::External(hub) => {
                let topics: Vec<String> = self
                    .cache
                    .feeds()
                    .await?
                    .iter()
                    .filter(|def| touches(&def.selection))
                    .flat_map(|def| FeedFormat::ALL.map(|f| self.site.feed_url(&def.slug, f)))
                    .collect();
                if !topics.is_empty() {
                    self.spawn(Arc::clone(self).ping(hub.clone(), topics));
                }
            }
        }
        Ok(())
    }

    fn host_slot(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().expect("hosts lock");
        Arc::clone(
            hosts
                .entry(host.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_host.max(1)))),
        )
    }
}

/// A fresh `hub.challenge`: 24 random bytes in hex.
fn challenge() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// A response body, unless it is longer than `cap`.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > cap {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}
