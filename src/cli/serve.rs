//! `wirefeed serve`: wiring the parts together and starting them. The port is bound first, so
//! `/healthz` answers at once; the store is reached (with retries), the sample loaded and the
//! change bus, hub and reader counts started by a start-up task; on SIGTERM requests are
//! drained and every background task finishes what it holds within a grace period.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{https, load_catalog, load_partners, open_store_lazily, store_place};
use crate::cache::{self, FeedCache};
use crate::changes::ChangeBus;
use crate::config::{Config, HubSetting};
use crate::http::auth::Tokens;
use crate::http::politeness::PollLimiter;
use crate::http::redirect::Redirect;
use crate::http::tls;
use crate::http::{App, server};
use crate::ingest::publish::Desk;
use crate::ingest::{sample, schedule};
use crate::shutdown::Trigger;
use crate::site::Site;
use crate::store::{self, listen};
use crate::websub;
use std::process::ExitCode;

/// How often the server looks for changes written by other processes (an import, a replica).
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// On PostgreSQL, notifications bring changes at once; the sequence is still read this often
/// as a safety net, and so that Last-Modified dates are handed out soon after a change.
const WATCH_EVERY_WITH_NOTIFY: Duration = Duration::from_secs(2);
/// How long background work (reader counts, WebSub deliveries) may take to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub(super) async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let catalog = load_catalog(&config)?;
    let partners = Arc::new(load_partners(&config)?);
    let tls = https(&config).map_err(|problems| {
        anyhow::anyhow!(
            "the HTTPS settings have problems, so nothing was started:\n  {}",
            problems.join("\n  ")
        )
    })?;
    // Opened without waiting for a database server: start-up reaches it below, after the port
    // is open, so that /healthz answers and /readyz says what is awaited.
    let opened = open_store_lazily(&config)?;
    let store = Arc::clone(&opened.store);
    let deadline = Duration::from_millis(config.store_timeout_ms.max(1));
    crate::http::sendfile::keep_bodies_in(&config.data_dir);
    if let Some(open_files) = crate::http::sendfile::raise_open_files_limit() {
        if open_files < config.max_connections as u64 + 1024 {
            tracing::warn!(
                open_files,
                max_connections = config.max_connections,
                "the open-file limit is below max_connections plus headroom; raise it (ulimit -n, LimitNOFILE=)"
            );
        }
    }
    let shards = std::thread::available_parallelism().map_or(1, |n| n.get());
    let listeners = server::bind(config.listen, shards)
        .with_context(|| format!("could not listen on {}", config.listen))?;
    let bound = listeners[0].local_addr()?;
    let redirect = match config.redirect_listen {
        Some(addr) => Some(
            server::bind(addr, 1)
                .with_context(|| format!("could not listen on {addr} (redirect_listen)"))?
                .remove(0),
        ),
        None => None,
    };
    let public_url = match (&config.public_url, &tls) {
        (None, Some(_)) => {
            <crate::config::PublicUrl as crate::config::Setting>::parse(&format!("https://{bound}"))
                .map_err(|e| anyhow::anyhow!("the public URL https://{bound} {e}"))?
        }
        _ => config.public_url(bound),
    };
    let role = match &config.websub_hub {
        HubSetting::Off => None,
        HubSetting::Builtin => Some(websub::Role::Builtin),
        HubSetting::External(url) => Some(websub::Role::External(url.clone())),
    };
    let hub_url = role.as_ref().map(|role| match role {
        websub::Role::Builtin => format!("{}{}", public_url.as_str(), crate::site::Path::Hub),
        websub::Role::External(url) => url.clone(),
    });
    let site = Site::new(
        public_url.as_str(),
        &config.site_title,
        &config.tag_authority(&public_url),
    )
    .with_hub(hub_url);
    let tokens = config.tokens();
    if tokens.is_empty() {
        tracing::info!(
            "no ingest token is configured (WIREFEED_INGEST_TOKEN), so the ingest API is off"
        );
    } else {
        let names: Vec<&str> = tokens.iter().map(|(name, _)| name.as_str()).collect();
        tracing::info!(tokens = ?names, "the ingest API is on at /api/articles");
    }
    let cache = Arc::new(
        FeedCache::new(
            Arc::clone(&store),
            catalog.clone(),
            site.clone(),
            cache::Options {
                max_bytes: config.cache_max_bytes,
                tombstone_retention: chrono::Duration::days(i64::from(config.tombstone_days)),
                withdrawal: crate::model::Withdrawal::default(),
                brand: crate::render::Brand {
                    logo: config.logo_url.as_ref().map(|u| u.as_str().to_owned()),
                    icon: config.icon_url.as_ref().map(|u| u.as_str().to_owned()),
                    favicon: config.favicon_url.as_ref().map(|u| u.as_str().to_owned()),
                },
                identity_body: config.sendfile.then_some(crate::http::sendfile::sendable),
            },
        )
        .with_build_deadline(deadline * 2)
        .with_health(Arc::clone(&opened.health)),
    );
    if config.remake_after_changes {
        cache.remake_after_changes();
    }
    let bus = Arc::new(ChangeBus::new(
        Arc::clone(&store),
        vec![Arc::clone(&cache) as Arc<dyn crate::changes::Follower>],
    ));
    let desk = Arc::new(Desk::new(Arc::clone(&store), Arc::clone(&bus), deadline));
    let hub = match role {
        None => None,
        Some(role) => {
            let hub_config = websub::HubConfig {
                leases: websub::request::Leases {
                    default: Duration::from_secs(config.websub_lease_default_secs),
                    min: Duration::from_secs(config.websub_lease_min_secs),
                    max: Duration::from_secs(config.websub_lease_max_secs),
                },
                timeout: Duration::from_secs(config.websub_timeout_secs),
                queue: config.websub_queue,
                attempts: config.websub_attempts,
                retry_first: Duration::from_millis(config.websub_retry_ms),
                per_host: config.websub_per_host,
                max_subscriptions_per_host: config.websub_max_subscriptions_per_host,
                allowed_networks: config.websub_allowed_networks.0.clone(),
            };
            let hub = websub::Hub::new(role, hub_config, store.clone(), Arc::clone(&cache))?;
            tracing::info!(hub = site.hub_url().unwrap_or_default(), "WebSub is on");
            Some(hub)
        }
    };
    let audience = Arc::new(crate::audience::Audience::new(store.clone()));
    let usage = Arc::new(crate::partners::usage::Usage::new(store.clone()));
    if partners.configured() {
        crate::reload::watch(
            Arc::clone(&partners) as Arc<dyn crate::reload::Reloadable>,
            crate::partners::WATCH_EVERY,
        )
        .context("could not watch the partners file")?;
        tracing::info!(
            partners = partners.current().partners().len(),
            "partner keys are on"
        );
    }
    let mut metrics =
        crate::metrics::Metrics::new(Arc::clone(&cache), hub.clone(), Arc::clone(&audience));
    metrics.watch_store(Arc::clone(&opened.health));
    let app = Arc::new(App {
        metrics,
        audience: Arc::clone(&audience),
        store,
        desk: Arc::clone(&desk),
        bus: Arc::clone(&bus),
        deltas: config.deltas,
        catalog,
        site,
        cache,
        hub: hub.clone(),
        tokens: Tokens::new(tokens),
        partners,
        usage: Arc::clone(&usage),
        max_body_bytes: config.max_body_bytes,
        poll_limiter: PollLimiter::per_minute(config.poll_limit_per_minute),
        proxies: crate::http::forwarded::Proxies::new(config.trusted_proxies.0.clone()),
        kept: Default::default(),
        health: Arc::clone(&opened.health),
        deadline: deadline * 2,
    });
    let limits = server::Limits {
        header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
        keep_alive_timeout: Duration::from_secs(config.keep_alive_timeout_secs),
        request_timeout: Duration::from_secs(config.request_timeout_secs),
        max_connections: config.max_connections,
        max_header_bytes: config.max_header_bytes,
    };
    let trigger = Trigger::new();
    let background = Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
    let (failed, start_up_failed) = tokio::sync::oneshot::channel();
    tokio::spawn(start_up(StartUp {
        opened,
        place: store_place(&config),
        attempts: config.store_start_attempts,
        load_sample: config.load_sample,
        bus,
        desk,
        hub,
        audience,
        usage,
        failed,
        trigger: trigger.subscribe(),
        background: Arc::clone(&background),
    }));
    let role = match tls {
        Some(tls) => {
            let tls = Arc::new(tls);
            tls::watch(Arc::clone(&tls.certificates))
                .context("could not watch for SIGHUP to reload the TLS certificate")?;
            server::Role::Tls(Arc::clone(&app), tls)
        }
        None => server::Role::Plain(Arc::clone(&app)),
    };
    let scheme = match role {
        server::Role::Tls(..) => "https",
        _ => "http",
    };
    let redirect = match redirect {
        Some(listener) => {
            let at = listener.local_addr()?;
            let redirect = Arc::new(Redirect {
                https_port: bound.port(),
                acme_dir: config.acme_dir.clone(),
            });
            Some((listener, redirect, at))
        }
        None => None,
    };
    // Scripts and tests read this line to learn the port when listening on port 0.
    match &redirect {
        Some((_, _, at)) => println!(
            "wirefeed listening on {scheme}://{bound} (public URL {}), redirecting http://{at} to HTTPS",
            public_url.as_str()
        ),
        None => println!(
            "wirefeed listening on {scheme}://{bound} (public URL {})",
            public_url.as_str()
        ),
    }
    let failure = Arc::new(std::sync::Mutex::new(None));
    let stop = {
        let failure = Arc::clone(&failure);
        async move {
            tokio::select! {
                () = shutdown_signal() => {}
                Ok(e) = start_up_failed => {
                    *failure.lock().expect("failure lock") = Some(e);
                }
            }
        }
    };
    let redirect = redirect.map(|(listener, redirect, _)| (listener, redirect));
    server::run(listeners, role, redirect, limits, stop)
        .await
        .context("could not start the HTTP threads")?;
    // Requests are drained; now every background task finishes what it holds (reader counts
    // are flushed, the hub stops taking changes) within a bounded grace period.
    trigger.fire();
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        let mut background = background.lock().await;
        while background.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "background work did not finish within the shutdown grace period"
        );
    }
    if let Some(e) = failure.lock().expect("failure lock").take() {
        return Err(e);
    }
    Ok(ExitCode::SUCCESS)
}

/// What start-up does once the port is open.
struct StartUp {
    opened: store::Opened,
    place: String,
    attempts: u32,
    load_sample: bool,
    bus: Arc<ChangeBus>,
    desk: Arc<Desk>,
    hub: Option<Arc<websub::Hub>>,
    audience: Arc<crate::audience::Audience>,
    usage: Arc<crate::partners::usage::Usage>,
    /// Told why, when start-up gives up (the server then stops and exits 1).
    failed: tokio::sync::oneshot::Sender<anyhow::Error>,
    trigger: crate::shutdown::Shutdown,
    /// Every background task, awaited at shutdown.
    background: Arc<tokio::sync::Mutex<tokio::task::JoinSet<()>>>,
}

/// First pause between attempts to reach the store at start-up, and the longest.
const START_BACKOFF: Duration = Duration::from_millis(250);
const START_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often the store is probed for readiness.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Reaches and migrates the store (retrying with backoff while it cannot be reached, one log
/// line per attempt), loads the sample, starts following changes and the background work,
/// then marks the server ready.
async fn start_up(s: StartUp) {
    let mut backoff = START_BACKOFF;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match s.opened.prepare().await {
            Ok(()) => break,
            Err(e) if e.is_unavailable() && (s.attempts == 0 || attempt < s.attempts) => {
                tracing::warn!(
                    attempt,
                    error = %e,
                    retry_in = ?backoff,
                    "waiting for the store at {}",
                    s.place
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(START_BACKOFF_MAX);
            }
            Err(e) => {
                let e = anyhow::Error::new(e)
                    .context(format!("could not open the store at {}", s.place));
                tracing::error!(error = format!("{e:#}"), "giving up");
                let _ = s.failed.send(e);
                return;
            }
        }
    }
    if attempt > 1 {
        tracing::info!(attempt, "reached the store at {}", s.place);
    }
    if let Err(e) = s.bus.start_at_current().await {
        tracing::error!(error = %e, "cannot read the change sequence; following it from the start");
    }
    // Subscribed before any write, so the hub misses none.
    let hub_changes = s.bus.subscribe();
    if s.load_sample {
        match sample::load_if_empty(&s.desk).await {
            Ok(Some(counts)) => tracing::info!(
                stories = counts.created,
                "loaded the sample wire into the empty store"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not load the sample wire"),
        }
    }
    let mut background = s.background.lock().await;
    let wake = Arc::new(tokio::sync::Notify::new());
    let every = match s.opened.listener {
        Some(listener) => {
            s.opened.health.set_listener(false);
            background.spawn(listen::listen(
                listener,
                Arc::clone(&wake),
                Arc::clone(&s.opened.health),
                {
                    let mut shutdown = s.trigger.clone();
                    async move { shutdown.recv().await }
                },
            ));
            WATCH_EVERY_WITH_NOTIFY
        }
        None => WATCH_EVERY,
    };
    background.spawn(wake_when_back(
        Arc::clone(&s.opened.health),
        Arc::clone(&wake),
        s.trigger.clone(),
    ));
    background.spawn(Arc::clone(&s.bus).run(every, wake, s.trigger.clone()));
    if let Some(hub) = s.hub {
        background.spawn(hub.run(hub_changes, s.trigger.clone()));
    }
    background.spawn(s.audience.run(s.trigger.clone()));
    // Held stories whose lift time passed while no process ran are released now.
    background.spawn(schedule::run(Arc::clone(&s.desk), s.trigger.clone()));
    background.spawn(s.usage.run(s.trigger.clone()));
    tokio::spawn(Arc::clone(&s.opened.guarded).watch(PROBE_EVERY));
    s.opened.health.mark_started();
    tracing::info!("ready: serving everything");
}

/// Wakes the change bus each time the store is reached again after an outage, so that what
/// other replicas changed meanwhile is applied at once: the listener's own wake on
/// reconnecting may come while store calls still fail at once (the outage not yet found over).
async fn wake_when_back(
    health: Arc<store::health::Health>,
    wake: Arc<tokio::sync::Notify>,
    mut shutdown: crate::shutdown::Shutdown,
) {
    loop {
        tokio::select! {
            () = health.reached_again() => wake.notify_one(),
            () = shutdown.recv() => return,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
