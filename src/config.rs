//! Configuration: built-in defaults, then `config/wirefeed.toml`, then `WIREFEED_*`
//! environment variables, then command-line flags — each overriding the one before.
//!
//! Every key of the file can be set from the environment as `WIREFEED_` + the key in capitals
//! (`cache_max_bytes` → `WIREFEED_CACHE_MAX_BYTES`). Values are checked while they are read, so
//! a bad file stops start-up with a message naming the field and the line, and a bad variable
//! with one naming the variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where `wirefeed` looks for its config file when `--config` is not given.
pub const DEFAULT_PATH: &str = "config/wirefeed.toml";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Origin used in every absolute link; defaults to `http://` + the bound address.
    pub public_url: Option<PublicUrl>,
    /// Directory of the SQLite store file (`wirefeed.sqlite3`).
    pub data_dir: PathBuf,
    /// Directory of feed definitions (`*.toml`).
    pub feeds_dir: PathBuf,
    /// A `postgres://` URL to use PostgreSQL instead of the embedded SQLite store.
    pub store_url: Option<String>,
    /// PostgreSQL schema holding the store's tables (created if missing).
    pub store_schema: String,
    /// Deadline of each store call, in milliseconds (also the server-side statement timeout).
    pub store_timeout_ms: u64,
    /// Attempts to reach the store at start-up before giving up; 0 retries for ever.
    pub store_start_attempts: u32,
    /// Most bytes of rendered feeds kept in memory.
    pub cache_max_bytes: u64,
    /// Bearer token for the ingest API; with none (and no `ingest_tokens`), the API is off.
    pub ingest_token: Option<String>,
    /// Named bearer tokens for the ingest API (config file only), so that one can be rotated
    /// while another keeps working.
    pub ingest_tokens: std::collections::BTreeMap<String, String>,
    /// Largest request body the ingest API accepts, in bytes.
    pub max_body_bytes: u64,
    /// Days a killed story stays in Atom feeds as an RFC 6721 deleted-entry.
    pub tombstone_days: u32,
    /// Seconds a client has to send a request's headers (and to send the next request on an
    /// idle keep-alive connection) before the connection is closed.
    pub header_read_timeout_secs: u64,
    /// Seconds a request may take, body included, before it is answered 503.
    pub request_timeout_secs: u64,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
    /// Largest request head (request line and headers), in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// Unconditional polls of one feed one client may make per minute (429 beyond); 0 is off.
    pub poll_limit_per_minute: u32,
    /// Log filter, e.g. `info` or `wirefeed=debug,info`.
    pub log: String,
    /// `human` (default) or `json`: one JSON object per line, for log collectors.
    pub log_format: LogFormat,
    /// The site's name, in feed titles and as the feeds' author.
    pub site_title: String,
    /// `authority,year` of entry ids (RFC 4151 tag: URIs); defaults to the public URL's host
    /// and 2026. Set it once and never change it: readers key stories by these ids.
    pub tag_authority: Option<TagAuthority>,
    /// Load the sample wire when the store has never been written to.
    pub load_sample: bool,
    /// WebSub: `off`, `builtin` (this server is the hub, at `/hub`), or the URL of an
    /// external hub that is pinged on every publish.
    pub websub_hub: HubSetting,
    /// Lease given when a subscriber asks for none, in seconds.
    pub websub_lease_default_secs: u64,
    /// Shortest and longest lease granted; requests outside are clamped.
    pub websub_lease_min_secs: u64,
    pub websub_lease_max_secs: u64,
    /// Networks (CIDR, comma-separated) callbacks may resolve to although they are loopback,
    /// private or link-local, e.g. `"127.0.0.1/32"` for tests. Empty: public addresses only.
    pub websub_allowed_networks: String,
    /// Seconds a verification or a delivery may take before it counts as failed.
    pub websub_timeout_secs: u64,
    /// Deliveries waiting or in flight at most; beyond, new ones are dropped (and counted).
    pub websub_queue: usize,
    /// Attempts per delivery before it is given up.
    pub websub_attempts: u32,
    /// Wait before the first retry, in milliseconds; each later one waits twice as long.
    pub websub_retry_ms: u64,
    /// Deliveries in flight at once to one callback host.
    pub websub_per_host: usize,
    /// Live subscriptions one callback host may hold.
    pub websub_max_subscriptions_per_host: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("data"),
            feeds_dir: PathBuf::from("feeds"),
            store_url: None,
            store_schema: "public".to_owned(),
            store_timeout_ms: 5_000,
            store_start_attempts: 0,
            cache_max_bytes: 256 * 1024 * 1024,
            ingest_token: None,
            ingest_tokens: std::collections::BTreeMap::new(),
            max_body_bytes: 1024 * 1024,
            tombstone_days: 30,
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            max_connections: 10_000,
            max_header_bytes: 64 * 1024,
            poll_limit_per_minute: 0,
            log: "info".to_owned(),
            log_format: LogFormat::Human,
            site_title: "Wirefeed".to_owned(),
            tag_authority: None,
            load_sample: true,
            websub_hub: HubSetting::Off,
            websub_lease_default_secs: 10 * 86_400,
            websub_lease_min_secs: 3_600,
            websub_lease_max_secs: 30 * 86_400,
            websub_allowed_networks: String::new(),
            websub_timeout_secs: 10,
            websub_queue: 10_000,
            websub_attempts: 6,
            websub_retry_ms: 5_000,
            websub_per_host: 2,
            websub_max_subscriptions_per_host: 10_000,
        }
    }
}

/// The type of each key, for reading it from an environment variable.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Boolean,
}

const KEYS: &[(&str, Kind)] = &[
    ("listen", Kind::Text),
    ("public_url", Kind::Text),
    ("data_dir", Kind::Text),
    ("feeds_dir", Kind::Text),
    ("store_url", Kind::Text),
    ("store_schema", Kind::Text),
    ("store_timeout_ms", Kind::Integer),
    ("store_start_attempts", Kind::Integer),
    ("cache_max_bytes", Kind::Integer),
    ("ingest_token", Kind::Text),
    ("max_body_bytes", Kind::Integer),
    ("tombstone_days", Kind::Integer),
    ("header_read_timeout_secs", Kind::Integer),
    ("request_timeout_secs", Kind::Integer),
    ("max_connections", Kind::Integer),
    ("max_header_bytes", Kind::Integer),
    ("poll_limit_per_minute", Kind::Integer),
    ("log", Kind::Text),
    ("log_format", Kind::Text),
    ("site_title", Kind::Text),
    ("tag_authority", Kind::Text),
    ("load_sample", Kind::Boolean),
    ("websub_hub", Kind::Text),
    ("websub_lease_default_secs", Kind::Integer),
    ("websub_lease_min_secs", Kind::Integer),
    ("websub_lease_max_secs", Kind::Integer),
    ("websub_allowed_networks", Kind::Text),
    ("websub_timeout_secs", Kind::Integer),
    ("websub_queue", Kind::Integer),
    ("websub_attempts", Kind::Integer),
    ("websub_retry_ms", Kind::Integer),
    ("websub_per_host", Kind::Integer),
    ("websub_max_subscriptions_per_host", Kind::Integer),
];

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// Which WebSub hub the feeds name, if any.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum HubSetting {
    Off,
    /// This server is the hub.
    Builtin,
    /// Another hub, told of every publish.
    External(String),
}

impl TryFrom<String> for HubSetting {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        match raw.trim() {
            "" | "off" => Ok(Self::Off),
            "builtin" => Ok(Self::Builtin),
            url if (url.starts_with("https://") || url.starts_with("http://"))
                && url.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Self::External(url.to_owned()))
            }
            _ => Err(format!(
                "{raw:?} is not a hub setting: use \"off\", \"builtin\" or the URL of an external hub"
            )),
        }
    }
}

/// An absolute `http://` or `https://` URL with a host, kept without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PublicUrl(String);

impl TryFrom<String> for PublicUrl {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        let url = raw.trim().trim_end_matches('/');
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or_default();
        let ok = !host.is_empty()
            && !host.starts_with('/')
            && !url.contains(['?', '#'])
            && url.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(url.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not a public URL: use the origin readers reach the server at, like \"https://wire.example.com\""
            ))
        }
    }
}

impl PublicUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host part, without port.
    pub fn host(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        let authority = rest.split('/').next().unwrap_or_default();
        match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        }
    }
}

/// The `authority,date` of a tag: URI, e.g. `wire.example.com,2026` or `desk@example.com,2026-11`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TagAuthority(String);

impl TryFrom<String> for TagAuthority {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        let valid = raw.split_once(',').is_some_and(|(name, date)| {
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.@".contains(&b));
            let date_ok = [4, 7, 10].contains(&date.len())
                && date.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            name_ok && date_ok
        });
        if valid {
            Ok(Self(raw))
        } else {
            Err(format!(
                "{raw:?} is not a tag authority: use a domain or email you own and a date, like \"wire.example.com,2026\""
            ))
        }
    }
}

impl TagAuthority {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

/// Values given on the command line, which win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub feeds_dir: Option<PathBuf>,
}

impl Config {
    /// Reads the configuration. `path` is the `--config` flag: a file named there must exist,
    /// while the default file may be absent. `env` looks up an environment variable.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: &Flags,
    ) -> Result<Self, ConfigError> {
        let file = path.unwrap_or(Path::new(DEFAULT_PATH));
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if path.is_none() && e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: file.to_owned(),
                    source,
                });
            }
        };
        let file_error = |e: toml::de::Error| ConfigError::File {
            path: file.to_owned(),
            message: e.to_string(),
        };
        // Parsed once as the typed struct, for errors that point at a line ...
        toml::from_str::<Config>(&text).map_err(file_error)?;
        // ... and once as a table, to lay the environment over it.
        let mut table: toml::Table = toml::from_str(&text).map_err(file_error)?;
        for &(key, kind) in KEYS {
            let var = format!("WIREFEED_{}", key.to_ascii_uppercase());
            let Some(raw) = env(&var) else { continue };
            let env_error = |message: String| ConfigError::Env {
                var: var.clone(),
                message,
            };
            let value = match kind {
                Kind::Text => toml::Value::String(raw),
                Kind::Integer => raw
                    .trim()
                    .parse::<i64>()
                    .map(toml::Value::Integer)
                    .map_err(|_| env_error(format!("{raw:?} is not a whole number")))?,
                Kind::Boolean => match raw.trim() {
                    "true" | "1" | "yes" => toml::Value::Boolean(true),
                    "false" | "0" | "no" => toml::Value::Boolean(false),
                    _ => return Err(env_error(format!("{raw:?} is not true or false"))),
                },
            };
            let alone = toml::Table::from_iter([(key.to_owned(), value.clone())]);
            Config::deserialize(alone).map_err(|e| env_error(e.message().to_owned()))?;
            table.insert(key.to_owned(), value);
        }
        let mut config = Config::deserialize(table).map_err(|e| ConfigError::Env {
            var: "WIREFEED_*".to_owned(),
            message: e.to_string(),
        })?;
        config.apply(flags).map_err(|message| ConfigError::Env {
            var: "--public-url".to_owned(),
            message,
        })?;
        Ok(config)
    }

    fn apply(&mut self, flags: &Flags) -> Result<(), String> {
        if let Some(listen) = flags.listen {
            self.listen = listen;
        }
        if let Some(url) = &flags.public_url {
            self.public_url = Some(PublicUrl::try_from(url.clone())?);
        }
        if let Some(dir) = &flags.data_dir {
            self.data_dir = dir.clone();
        }
        if let Some(dir) = &flags.feeds_dir {
            self.feeds_dir = dir.clone();
        }
        Ok(())
    }

    /// The public origin, once the listening address is known.
    pub fn public_url(&self, bound: SocketAddr) -> PublicUrl {
        self.public_url
            .clone()
            .unwrap_or_else(|| PublicUrl(format!("http://{bound}")))
    }

    /// The tag authority, falling back to the public URL's host.
    pub fn tag_authority(&self, public_url: &PublicUrl) -> String {
        match &self.tag_authority {
            Some(authority) => authority.as_str().to_owned(),
            None => format!("{},2026", public_url.host()),
        }
    }

    /// Every ingest token with its name; the environment's single token is named "default".
    pub fn tokens(&self) -> Vec<(String, String)> {
        let mut tokens: Vec<(String, String)> = self
            .ingest_tokens
            .iter()
            .map(|(name, token)| (name.clone(), token.clone()))
            .collect();
        if let Some(token) = &self.ingest_token {
            tokens.push(("default".to_owned(), token.clone()));
        }
        tokens.retain(|(_, token)| !token.is_empty());
        tokens
    }

    /// The networks exempt from the WebSub hub's refusal of private callback addresses.
    pub fn websub_allowed_networks(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.websub_allowed_networks
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                n.parse::<ipnet::IpNet>()
                    .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("websub_allowed_networks: {n:?} is not an address or a network like 127.0.0.1/32"))
            })
            .collect()
    }

    /// Where the SQLite store file lives.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("wirefeed.sqlite3")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wirefeed.toml");
        std::fs::write(&path, text).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load(
            Some(&path),
            |var| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()),
            &Flags::default(),
        )
    }

    #[test]
    fn the_shipped_config_file_is_valid_and_documents_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PATH);
        Config::load(Some(&path), |_| None, &Flags::default()).unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        for (key, _) in KEYS {
            assert!(
                text.contains(&format!("{key} =")),
                "{key} is not documented"
            );
        }
    }

    #[test]
    fn a_bad_value_names_the_field_and_the_line() {
        let message = load("site_title = \"Wire\"\nlisten = \"localhost\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("line 2") && message.contains("listen"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let message = load("lisen = \"127.0.0.1:80\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("lisen") && message.contains("line 1"),
            "{message}"
        );
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = load(
            "cache_max_bytes = 10\nsite_title = \"File\"\n",
            &[
                ("WIREFEED_CACHE_MAX_BYTES", "20"),
                ("WIREFEED_LOAD_SAMPLE", "false"),
            ],
        )
        .unwrap();
        assert_eq!(config.cache_max_bytes, 20);
        assert!(!config.load_sample);
        assert_eq!(config.site_title, "File");
    }

    #[test]
    fn a_bad_environment_variable_is_named() {
        let message = load("", &[("WIREFEED_PUBLIC_URL", "wire.example.com")])
            .unwrap_err()
            .to_string();
        assert!(message.contains("WIREFEED_PUBLIC_URL"), "{message}");
    }

    #[test]
    fn the_tag_authority_defaults_to_the_public_host() {
        let config = Config::default();
        let url = config.public_url("127.0.0.1:8080".parse().unwrap());
        assert_eq!(url.as_str(), "http://127.0.0.1:8080");
        assert_eq!(config.tag_authority(&url), "127.0.0.1,2026");
        let url = PublicUrl::try_from("https://wire.example.com:8443/".to_owned()).unwrap();
        assert_eq!(config.tag_authority(&url), "wire.example.com,2026");
        assert!(TagAuthority::try_from("wire.example.com".to_owned()).is_err());
    }
}
