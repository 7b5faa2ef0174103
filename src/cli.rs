//! The command line: `wirefeed serve` (the default), `wirefeed import PATH` and
//! `wirefeed check`, with the flags that override the config file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::cache::{self, FeedCache};
use crate::catalog::Catalog;
use crate::changes::ChangeBus;
use crate::config::{Config, Flags, HubSetting, LogFormat, StoreUrl};
use crate::http::auth::Tokens;
use crate::http::politeness::PollLimiter;
use crate::http::redirect::Redirect;
use crate::http::tls::{self, Tls};
use crate::http::{App, server};
use crate::ingest::progress::ImportProgress;
use crate::ingest::publish::Desk;
use crate::ingest::{import, sample};
use crate::shutdown::Trigger;
use crate::site::Site;
use crate::store::{self, listen};
use crate::websub;

/// How often the server looks for changes written by other processes (an import, a replica).
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// On PostgreSQL, notifications bring changes at once; the sequence is still read this often
/// as a safety net, and so that Last-Modified dates are handed out soon after a change.
const WATCH_EVERY_WITH_NOTIFY: Duration = Duration::from_secs(2);
/// How long background work (reader counts, WebSub deliveries) may take to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(
    name = "wirefeed",
    version,
    about = "A syndication feed server for a news wire",
    long_about = "wirefeed serves a news wire as RSS 2.0, Atom 1.0 and JSON Feed 1.1 feeds per category, \
                  with an OPML list and HTML pages for feed readers to discover them.\n\n\
                  Settings come from config/wirefeed.toml, then WIREFEED_* environment variables, \
                  then these flags.",
    after_help = "Examples:\n  \
                  wirefeed                          serve on 127.0.0.1:8080 with the embedded store\n  \
                  wirefeed --listen 0.0.0.0:8080 --public-url https://wire.example.com\n  \
                  wirefeed import archive/2026/     import every .json/.ndjson file under a directory\n  \
                  wirefeed check                    validate the config file and feed definitions"
)]
pub struct Cli {
    /// Config file to read [default: config/wirefeed.toml, if it exists]
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "WIREFEED_CONFIG",
        hide_env_values = true
    )]
    pub config: Option<PathBuf>,
    /// The settings that have a flag (listen, public URL, data and feeds directories), from
    /// the one table of settings in `config`.
    #[command(flatten)]
    pub(crate) settings: Flags,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the feeds (the default when no command is given)
    #[command(after_help = "Examples:\n  \
        wirefeed serve                                    127.0.0.1:8080, SQLite in ./data\n  \
        wirefeed serve --listen 0.0.0.0:8080 --public-url https://wire.example.com\n  \
        WIREFEED_INGEST_TOKEN=s3cret wirefeed serve       turn the publishing API on\n  \
        WIREFEED_STORE_URL=postgres://db/wire wirefeed serve   share PostgreSQL with replicas\n\n\
        Stops cleanly on Ctrl-C or SIGTERM: requests in flight finish first.")]
    Serve,
    /// Import article files (.json with one article or an array, .ndjson/.jsonl with one per
    /// line) from a file or a directory; re-importing the same stories changes nothing
    #[command(after_help = "Examples:\n  \
            wirefeed import sample/wire.json\n  \
            wirefeed import /srv/wire/archive/            every .json/.ndjson/.jsonl below, in name order\n\n\
            On a terminal a progress bar shows bytes read, rate and ETA; otherwise a line every 5 s.\n\
            Each rejected story is printed with file, line and reason, then a summary; the exit\n\
            status is 1 if any story was rejected. Importing the same files again changes nothing.")]
    Import {
        /// A file or a directory to walk
        path: PathBuf,
    },
    /// Check the config file and feed definitions, print every problem, exit non-zero on any
    #[command(after_help = "Examples:\n  \
        wirefeed check                               the default config and ./feeds\n  \
        wirefeed --config /etc/wirefeed/wirefeed.toml check\n  \
        WIREFEED_FEEDS_DIR=/etc/wirefeed/feeds wirefeed check\n\n\
        Each problem is printed with its file and line; the exit status is 1 if there is any.")]
    Check,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let command = cli.command.unwrap_or(Command::Serve);
    // One validation for every command: `check` refuses exactly what `serve` would.
    let config = match Config::load(
        cli.config.as_deref(),
        |var| std::env::var(var).ok(),
        &cli.settings,
    ) {
        Ok(config) => config,
        Err(e) if matches!(command, Command::Check) => {
            let problems = e.problems();
            for problem in &problems {
                eprintln!("{problem}");
            }
            eprintln!("{} problem(s) found", problems.len());
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    init_logging(config.log.as_str(), config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    match command {
        Command::Serve => runtime.block_on(serve(config)),
        Command::Import { path } => runtime.block_on(import(config, &path)),
        Command::Check => check(&config),
    }
}

fn init_logging(filter: &str, format: LogFormat) {
    // The filter was checked when the config was loaded.
    let filter = tracing_subscriber::EnvFilter::new(filter);
    let mut filter = filter;
    // Some of the store's libraries repeat what the store's health tracker says once; their
    // lines stay available with an explicit filter.
    for target in store::QUIET_LOG_TARGETS {
        if !filter.to_string().contains(target) {
            filter = filter.add_directive(
                format!("{target}=error")
                    .parse()
                    .expect("a valid directive"),
            );
        }
    }
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// Where the store is, for messages (without a password).
fn store_place(config: &Config) -> String {
    match &config.store_url {
        // A StoreUrl shows no password in any spelling.
        Some(url) => format!("{url} (schema {})", config.store_schema.as_str()),
        None => config.sqlite_path().display().to_string(),
    }
}

/// Opens the store without waiting for a database server (see [`store::open_lazily`]).
fn open_store_lazily(config: &Config) -> anyhow::Result<store::Opened> {
    if config.store_url.is_none() {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "could not create the data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    store::open_lazily(
        config.store_url.as_ref().map(StoreUrl::expose),
        config.store_schema.as_str(),
        &config.sqlite_path(),
        Duration::from_millis(config.store_timeout_ms.max(1)),
    )
    .with_context(|| format!("could not open the store at {}", store_place(config)))
}

/// Opens and readies the store, for commands that need it at once (import).
async fn open_store(config: &Config) -> anyhow::Result<store::Opened> {
    let opened = open_store_lazily(config)?;
    opened
        .prepare()
        .await
        .with_context(|| format!("could not open the store at {}", store_place(config)))?;
    Ok(opened)
}

fn load_catalog(config: &Config) -> anyhow::Result<Catalog> {
    Catalog::load(&config.feeds_dir, &config.site_title).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!("the feed definitions have problems:\n{}", lines.join("\n"))
    })
}

/// The HTTPS settings, checked together and the certificate pair loaded: `check` and `serve`
/// refuse the same things. `None` when HTTPS is off.
fn https(config: &Config) -> Result<Option<Tls>, Vec<String>> {
    let mut problems = Vec::new();
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            Tls::new(cert, key, Some(config.hsts_max_age).filter(|age| *age > 0))
                .map_err(|e| problems.push(e))
                .ok()
        }
        (Some(_), None) => {
            problems.push(
                "tls_cert is set but tls_key is not: set both to serve HTTPS, or neither"
                    .to_owned(),
            );
            None
        }
        (None, Some(_)) => {
            problems.push(
                "tls_key is set but tls_cert is not: set both to serve HTTPS, or neither"
                    .to_owned(),
            );
            None
        }
        (None, None) => None,
    };
    let on = config.tls_cert.is_some() || config.tls_key.is_some();
    if !on && config.redirect_listen.is_some() {
        problems.push(
            "redirect_listen redirects to HTTPS, which needs tls_cert and tls_key: set them, or remove redirect_listen".to_owned(),
        );
    }
    if !on && config.hsts_max_age > 0 {
        problems.push(
            "hsts_max_age is sent on HTTPS responses only: set tls_cert and tls_key (behind a proxy that ends TLS, let the proxy send it), or set hsts_max_age = 0".to_owned(),
        );
    }
    if config.acme_dir.is_some() && config.redirect_listen.is_none() {
        problems.push(
            "acme_dir is served by the redirect listener: set redirect_listen (e.g. \"0.0.0.0:80\") too".to_owned(),
        );
    }
    if config.redirect_listen == Some(config.listen) && config.listen.port() != 0 {
        problems.push(format!(
            "redirect_listen is the same address as listen ({}): give the redirect its own port, e.g. 80 next to 443",
            config.listen
        ));
    }
    if problems.is_empty() {
        Ok(tls)
    } else {
        Err(problems)
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let catalog = load_catalog(&config)?;
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
                identity_body: if config.sendfile {
                    crate::http::sendfile::sendable
                } else {
                    bytes::Bytes::copy_from_slice
                },
            },
        )
        .with_build_deadline(deadline * 2)
        .with_health(Arc::clone(&opened.health)),
    );
    let bus = Arc::new(ChangeBus::new(
        Arc::clone(&store),
        vec![Arc::clone(&cache) as Arc<dyn crate::changes::Follower>],
    ));
    let desk = Arc::new(Desk::new(Arc::clone(&store), Arc::clone(&bus)));
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
        max_body_bytes: config.max_body_bytes,
        poll_limiter: PollLimiter::per_minute(config.poll_limit_per_minute),
        health: Arc::clone(&opened.health),
        deadline: deadline * 2,
    });
    let limits = server::Limits {
        header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
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
            ));
            WATCH_EVERY_WITH_NOTIFY
        }
        None => WATCH_EVERY,
    };
    background.spawn(Arc::clone(&s.bus).run(every, wake, s.trigger.clone()));
    if let Some(hub) = s.hub {
        background.spawn(hub.run(hub_changes, s.trigger.clone()));
    }
    background.spawn(s.audience.run(s.trigger.clone()));
    tokio::spawn(Arc::clone(&s.opened.guarded).watch(PROBE_EVERY));
    s.opened.health.mark_started();
    tracing::info!("ready: serving everything");
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

async fn import(config: Config, path: &Path) -> anyhow::Result<ExitCode> {
    let desk = Desk::standalone(open_store(&config).await?.store);
    let mut progress = ImportProgress::new();
    let counts = import::import_with(&desk, path, &mut progress).await;
    let rejected = progress.rejected_count();
    println!("{}", progress.finish());
    counts?;
    Ok(if rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn check(config: &Config) -> anyhow::Result<ExitCode> {
    let mut problems = https(config).err().unwrap_or_default();
    if let Err(errors) = Catalog::load(&config.feeds_dir, &config.site_title) {
        problems.extend(errors.iter().map(ToString::to_string));
    }
    if problems.is_empty() {
        println!(
            "configuration and feed definitions in {} are valid",
            config.feeds_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    eprintln!("{} problem(s) found", problems.len());
    Ok(ExitCode::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        for url in [
            "postgres://wire:s3cret@db:5432/wire",
            "postgresql://wire@db/wire?password=s3cret",
            "postgres://wire@db/wire?sslmode=disable&password=s3cret",
        ] {
            let shown = <StoreUrl as config::Setting>::parse(url)
                .unwrap()
                .to_string();
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("db"), "{shown}");
        }
    }

    #[test]
    fn the_default_config_path_is_the_shipped_file() {
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(config::DEFAULT_PATH)
                .exists()
        );
    }
}
