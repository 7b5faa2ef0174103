//! The command line: `wirefeed serve` (the default), `wirefeed import PATH` and
//! `wirefeed check`, with the flags that override the config file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::catalog::Catalog;
use crate::config::{Config, Flags, LogFormat, StoreUrl};
use crate::http::tls::Tls;
use crate::ingest::import;
use crate::ingest::progress::ImportProgress;
use crate::ingest::publish::Desk;
use crate::store;

mod serve;

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
    /// Config file to read [env: WIREFEED_CONFIG] [default: config/wirefeed.toml, if it
    /// exists]
    // The variable is read by `config_file`, not by clap: clap takes an empty one for an empty
    // path and refuses it, where an empty WIREFEED_* variable counts as unset.
    #[arg(long, global = true, value_name = "FILE")]
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
    let file = config_file(cli.config, |var| std::env::var_os(var));
    let config = match Config::load(
        file.as_deref(),
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
        .max_blocking_threads(crate::http::server::BLOCKING_THREADS)
        .build()
        .context("could not start the async runtime")?;
    match command {
        Command::Serve => runtime.block_on(serve::serve(config)),
        Command::Import { path } => runtime.block_on(import(config, &path)),
        Command::Check => check(&config),
    }
}

/// The variable naming the config file when `--config` does not.
const CONFIG_VAR: &str = "WIREFEED_CONFIG";

/// The config file to read: `--config`, or else `WIREFEED_CONFIG` — which, like every
/// `WIREFEED_*` variable, counts as unset when empty or blank (so a compose file may pass
/// `${WIREFEED_CONFIG:-}`). `None` means the default file, if it exists.
fn config_file(
    flag: Option<PathBuf>,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    flag.or_else(|| {
        env(CONFIG_VAR)
            .filter(|value| !value.to_str().is_some_and(|v| v.trim().is_empty()))
            .map(PathBuf::from)
    })
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
    let catalog = Catalog::load(&config.feeds_dir, &config.site_title).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!("the feed definitions have problems:\n{}", lines.join("\n"))
    })?;
    Ok(catalog
        .with_flash(config.flash_urgency, config.flash_max_age_secs)
        .with_rights(config.rights.clone()))
}

/// The partners file, loaded and checked; no partners when `partners_file` is unset.
fn partners(config: &Config) -> Result<crate::partners::Partners, Vec<String>> {
    match &config.partners_file {
        Some(path) => crate::partners::Partners::load(path),
        None => Ok(crate::partners::Partners::none()),
    }
}

fn load_partners(config: &Config) -> anyhow::Result<crate::partners::Partners> {
    partners(config).map_err(|problems| {
        anyhow::anyhow!(
            "the partners file has problems:\n  {}",
            problems.join("\n  ")
        )
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
    if let Err(errors) = partners(config) {
        problems.extend(errors);
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
