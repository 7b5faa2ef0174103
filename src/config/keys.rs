//! Every setting, declared once: its file key (the name), its `WIREFEED_*` variable (the name
//! in capitals, for every key that can be written as text), its flag where there is one, its
//! default, its help (the doc comment), its type and its check. The [`Config`] struct, its
//! defaults, the flags of the command line, the list [`KEYS`] that the loader, `--help`, the
//! README and the tests walk, all come from this one table.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::values::*;

/// A flag of the command line that sets a key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag {
    /// The flag without its dashes, e.g. `listen` for `--listen`.
    pub(crate) long: &'static str,
    pub(crate) value_name: &'static str,
}

/// One setting.
pub(crate) struct Key {
    /// The key in the config file.
    pub(crate) name: &'static str,
    /// The doc comment: what the setting does.
    pub(crate) help: &'static str,
    /// The default, as it would be written in a variable ("" for none).
    pub(crate) default: &'static str,
    /// A valid value other than the default, for the test that walks every key.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) example: &'static str,
    pub(crate) flag: Option<Flag>,
    /// What the value looks like in the config file.
    pub(crate) kind: Kind,
    /// Never shown in messages.
    pub(crate) secret: bool,
    pub(super) from_text: fn(&mut Config, &str) -> Result<(), String>,
    pub(super) from_toml: fn(&mut Config, &toml::Value) -> Result<(), String>,
    /// The value in `config`, as text (secrets included: for tests only).
    pub(crate) value_text: fn(&Config) -> String,
}

impl Key {
    /// The environment variable, `WIREFEED_` + the key in capitals; none for a table.
    pub(crate) fn env(&self) -> Option<String> {
        (self.kind != Kind::Table).then(|| format!("WIREFEED_{}", self.name.to_ascii_uppercase()))
    }

    /// The first sentence of the help, for `--help`.
    pub(crate) fn summary(&self) -> String {
        let help = self.help.split_whitespace().collect::<Vec<_>>().join(" ");
        match help.find(". ") {
            Some(end) => help[..=end].to_owned(),
            None => help,
        }
    }

    /// Looks a key up by name.
    pub(crate) fn named(name: &str) -> Option<&'static Key> {
        KEYS.iter().find(|k| k.name == name)
    }
}

macro_rules! flag {
    () => {
        None
    };
    ($long:literal $value_name:literal) => {
        Some(Flag {
            long: $long,
            value_name: $value_name,
        })
    };
}

macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident: $ty:ty = $default:literal, example $example:literal
        $(, flag $flag:literal $value_name:literal)?
        $(, check $check:expr)?
        ;
    )*) => {
        /// The configuration, every value read and checked (see [`Config::load`]).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub(crate) struct Config {
            $(
                $(#[doc = $doc])*
                pub $name: $ty,
            )*
        }

        /// Every setting, in the order of the config file.
        pub(crate) static KEYS: &[Key] = &[$(
            Key {
                name: stringify!($name),
                help: concat!($($doc, "\n"),*),
                default: $default,
                example: $example,
                flag: flag!($($flag $value_name)?),
                kind: <$ty as Setting>::KIND,
                secret: <$ty as Setting>::SECRET,
                from_text: |config, text| {
                    let value = <$ty as Setting>::parse(text)?;
                    $(($check)(&value)?;)?
                    config.$name = value;
                    Ok(())
                },
                from_toml: |config, raw| {
                    let value = <$ty as Setting>::from_toml(raw)?;
                    $(($check)(&value)?;)?
                    config.$name = value;
                    Ok(())
                },
                value_text: |config| config.$name.text(),
            },
        )*];

        impl Config {
            /// Every default; the defaults are read by the same code as any other value.
            pub(super) fn defaults() -> Self {
                Self {
                    $($name: <$ty as Setting>::parse($default)
                        .unwrap_or_else(|e| panic!("the default of {} {e}", stringify!($name))),)*
                }
            }
        }
    };
}

settings! {
    /// Address and port to listen on. Use 0.0.0.0:8080 to accept connections from other
    /// machines.
    listen: SocketAddr = "127.0.0.1:8080", example "0.0.0.0:9090", flag "listen" "ADDR";

    /// PEM file of the certificate chain, the server's certificate first (e.g. certbot's
    /// fullchain.pem). With tls_key, `listen` serves HTTPS (TLS 1.2 and 1.3, HTTP/2 and
    /// HTTP/1.1); the pair is read again when either file changes and on SIGHUP.
    tls_cert: Option<PathBuf> = "", example "/etc/letsencrypt/live/wire.example.com/fullchain.pem";

    /// PEM file of the certificate's private key (PKCS#8, PKCS#1 or SEC1; e.g. certbot's
    /// privkey.pem). Set with tls_cert.
    tls_key: Option<PathBuf> = "", example "/etc/letsencrypt/live/wire.example.com/privkey.pem";

    /// With HTTPS on, a plain-HTTP address (e.g. 0.0.0.0:80) whose requests are redirected
    /// (308) to HTTPS, except /healthz and ACME HTTP-01 challenges.
    redirect_listen: Option<SocketAddr> = "", example "0.0.0.0:80";

    /// Webroot of ACME HTTP-01 challenges served by redirect_listen: a request for
    /// /.well-known/acme-challenge/TOKEN gets acme_dir/.well-known/acme-challenge/TOKEN (what
    /// certbot --webroot -w acme_dir writes).
    acme_dir: Option<PathBuf> = "", example "tests/fixtures", check acme_dir_exists;

    /// With HTTPS on, seconds browsers must keep to HTTPS for this host and its subdomains:
    /// `Strict-Transport-Security: max-age=N; includeSubDomains` on every HTTPS response.
    /// 0: no header.
    hsts_max_age: u64 = "0", example "31536000",
        check between(0, 63_072_000, "two years is the longest anyone asks for");

    /// The origin readers reach this server at, used in every absolute link in feeds and pages.
    /// Set it when wirefeed runs behind a proxy or CDN. Unset: http:// + the bound address.
    public_url: Option<PublicUrl> = "", example "https://wire.example.com", flag "public-url" "URL";

    /// Directory of the embedded SQLite store file (data_dir/wirefeed.sqlite3) and of cached
    /// feed bodies. Created if missing when serving.
    data_dir: PathBuf = "data", example "/var/lib/wirefeed", flag "data-dir" "DIR",
        check directory_or_missing;

    /// Directory of feed definitions, one {slug}.toml per feed. It must exist.
    feeds_dir: PathBuf = "feeds", example "tests/fixtures/feeds-history", flag "feeds-dir" "DIR",
        check existing_directory;

    /// TOML file of partners (sites that republish the wire): each one's name, keys,
    /// categories (full or headlines) and quotas. Read again on SIGHUP and when it changes.
    /// Unset: no partners, every feed public.
    partners_file: Option<PathBuf> = "", example "tests/fixtures/partners.toml",
        check file_exists_if_set("the partners file");

    /// A postgres:// URL to keep stories in PostgreSQL instead of the embedded SQLite store.
    store_url: Option<StoreUrl> = "", example "postgres://wire:s3cret@db.example:5432/wire";

    /// PostgreSQL schema holding the store's tables (created if missing).
    store_schema: SchemaName = "public", example "wirefeed";

    /// Deadline of each store call, in milliseconds (also the PostgreSQL statement timeout).
    store_timeout_ms: u64 = "5000", example "3000",
        check between(1, 600_000, "0 would fail every store call");

    /// Attempts to reach the store at start-up before giving up; 0 retries for ever.
    store_start_attempts: u32 = "0", example "10";

    /// Most bytes of rendered feeds kept in memory.
    cache_max_bytes: u64 = "268435456", example "1048576";

    /// Bearer token for the ingest API; with none (and no ingest_tokens), the API is off.
    ingest_token: Option<Secret> = "", example "s3cret-token";

    /// Named bearer tokens for the ingest API (config file only), so that one can be rotated
    /// while another keeps working.
    ingest_tokens: NamedTokens = "", example "desk=s3cret-desk";

    /// Largest request body the ingest API accepts, in bytes.
    max_body_bytes: u64 = "1048576", example "65536",
        check at_least(1, "the ingest API would refuse every story as too large");

    /// Days a killed story stays in subscription feeds as a withdrawal notice (and, in Atom,
    /// an RFC 6721 deleted-entry).
    tombstone_days: u32 = "30", example "7",
        check between(0, 3650, "more than ten years cannot be counted back from a date");

    /// Seconds a client has to send a request's headers, from the head's first byte (for a
    /// connection's first request: from accept), before the connection is closed.
    header_read_timeout_secs: u64 = "10", example "20",
        check between(1, 3600, "0 would close every connection before its request is read");

    /// Seconds a keep-alive connection may stay idle between requests before it is closed.
    keep_alive_timeout_secs: u64 = "75", example "30",
        check between(1, 3600, "0 would close every connection after its first response");

    /// Seconds a request may take, body included, before it is answered 503 (408, closing
    /// the connection, when it is the client's body that has not arrived).
    request_timeout_secs: u64 = "30", example "60",
        check between(1, 86_400, "0 would answer every API request 503");

    /// Connections served at once; more wait in the listen queue.
    max_connections: usize = "10000", example "500",
        check at_least(1, "0 would serve no connection at all");

    /// Largest request line plus headers, in bytes; larger requests get 431.
    max_header_bytes: usize = "65536", example "16384",
        check between(8192, 16 * 1024 * 1024, "ordinary browsers send up to 8192 bytes of headers");

    /// Unconditional polls of one feed one client may make per minute (429 beyond); 0 is off.
    poll_limit_per_minute: u32 = "0", example "3";

    /// Networks (CIDR, comma-separated) of the reverse proxies in front of this server. Only
    /// from these is `Forwarded` or `X-Forwarded-For` believed: the client is the rightmost
    /// address that is not itself a trusted proxy, for the poll limit, reader counts and logs.
    /// Empty: trust nobody.
    trusted_proxies: Networks = "", example "127.0.0.1/32,10.0.0.0/8";

    /// Log filter, e.g. info or wirefeed=debug,info.
    log: LogFilter = "info", example "wirefeed=debug,info";

    /// How log lines are written: human, or json (one JSON object per line).
    log_format: LogFormat = "human", example "json";

    /// The site's name, in feed titles and as the feeds' author.
    site_title: String = "Wirefeed", example "Example Wire",
        check not_blank("it is the name in every feed title");

    /// authority,year of entry ids (RFC 4151 tag: URIs); defaults to the public URL's host and
    /// 2026. Set it once and never change it: readers key stories by these ids.
    tag_authority: Option<TagAuthority> = "", example "wire.example.com,2026";

    /// The desk's wide logo for feeds: RSS `<image>` (GIF, JPEG or PNG, at most 144 × 400
    /// pixels) and Atom `<logo>`. Unset: none.
    logo_url: Option<ImageUrl> = "", example "https://wire.example.com/logo.png";

    /// A large square icon (512 × 512): JSON Feed `icon`, and Atom `<icon>` without a favicon.
    icon_url: Option<ImageUrl> = "", example "https://wire.example.com/icon-512.png";

    /// A small square icon (64 × 64): JSON Feed `favicon` and Atom `<icon>`.
    favicon_url: Option<ImageUrl> = "", example "https://wire.example.com/favicon-64.png";

    /// Rights statement of every feed whose definition (feeds/*.toml `rights`) has none: RSS
    /// `<copyright>`, Atom `<rights>`, JSON Feed `_wirefeed.rights`. Unset: none.
    rights: Option<String> = "", example "© 2026 Example Wire. All rights reserved.";

    /// The flash feed (/feeds/flash.*) holds the stories of every category whose urgency is 1
    /// (most urgent) to this level.
    flash_urgency: u8 = "2", example "1",
        check between(1, 9, "urgency runs from 1 (most urgent) to 9");

    /// Seconds a client may reuse the flash feed before polling again (`Cache-Control:
    /// max-age`), unless feeds/flash.toml sets max_age.
    flash_max_age_secs: u32 = "30", example "10";

    /// Load the sample wire when the store has never been written to.
    load_sample: bool = "true", example "false";

    /// Answer RFC 3229 `A-IM: feed` requests with 226 deltas. Off by default: several common
    /// clients send `A-IM: feed` but cannot take a 226 (see the README).
    deltas: bool = "false", example "true";

    /// Send large cached bodies with sendfile(2) from unnamed files instead of copying them
    /// (Linux). Turn off to keep every body on the heap and write it as usual.
    sendfile: bool = "true", example "false";

    /// Make a feed's new version as soon as a change drops the one a client had read (in the
    /// codings it had been sent in), so the first poll after a change needs no build. Off:
    /// the first reader after a change waits for the build.
    remake_after_changes: bool = "true", example "false";

    /// WebSub: off, builtin (this server is the hub, at /hub), or the URL of an external hub
    /// that is pinged on every publish.
    websub_hub: HubSetting = "off", example "builtin";

    /// Lease given when a subscriber asks for none, in seconds.
    websub_lease_default_secs: u64 = "864000", example "86400",
        check between(1, 31_536_000, "leases are renewed, and a year is the longest granted");

    /// Shortest lease granted, in seconds; shorter requests are raised to it.
    websub_lease_min_secs: u64 = "3600", example "60",
        check between(1, 31_536_000, "a lease of 0 seconds would end as it is granted");

    /// Longest lease granted, in seconds; longer requests are lowered to it.
    websub_lease_max_secs: u64 = "2592000", example "2678400",
        check between(1, 31_536_000, "leases are renewed, and a year is the longest granted");

    /// Networks (CIDR, comma-separated) callbacks may resolve to although they are loopback,
    /// private or link-local, e.g. 127.0.0.1/32 for tests. Empty: public addresses only.
    websub_allowed_networks: Networks = "", example "127.0.0.1/32";

    /// Seconds a verification or a delivery may take before it counts as failed.
    websub_timeout_secs: u64 = "10", example "5",
        check between(1, 3600, "0 would fail every verification and delivery");

    /// Deliveries waiting or in flight at most; beyond, new ones are dropped (and counted).
    websub_queue: usize = "10000", example "100",
        check at_least(1, "0 would drop every delivery");

    /// Attempts per delivery before it is given up.
    websub_attempts: u32 = "6", example "3",
        check between(1, 20, "the wait doubles with each retry");

    /// Wait before the first retry, in milliseconds; each later one waits twice as long.
    websub_retry_ms: u64 = "5000", example "100",
        check between(0, 3_600_000, "more than an hour before the first retry would keep deliveries waiting for days");

    /// Deliveries in flight at once to one callback host.
    websub_per_host: usize = "2", example "4",
        check at_least(1, "0 would deliver nothing");

    /// Live subscriptions one callback host may hold.
    websub_max_subscriptions_per_host: u64 = "10000", example "10",
        check at_least(1, "0 would refuse every subscription; set websub_hub = \"off\" to have no hub");
}
