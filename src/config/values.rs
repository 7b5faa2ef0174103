//! The types of settings: how each is read from text (a `WIREFEED_*` variable, a flag, or a
//! value in the config file) and checked. A value that is not valid never becomes a setting,
//! and a secret's value is never put into a message.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What a value looks like in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A quoted string.
    Text,
    /// A whole number, without quotes.
    Integer,
    /// `true` or `false`, without quotes.
    Boolean,
    /// A `[table]` of names and strings (config file only).
    Table,
}

/// A type a setting can have.
pub(crate) trait Setting: Sized {
    /// What the value looks like in the config file.
    const KIND: Kind;
    /// Whether the value is a secret, which is never shown.
    const SECRET: bool = false;
    /// Reads the value from text, checking it. The message says what is wrong and never
    /// repeats a secret.
    fn parse(text: &str) -> Result<Self, String>;
    /// Reads the value from the config file.
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        match (Self::KIND, value) {
            (Kind::Text, toml::Value::String(s)) => Self::parse(s),
            (Kind::Integer, toml::Value::Integer(i)) => Self::parse(&i.to_string()),
            (Kind::Boolean, toml::Value::Boolean(b)) => Self::parse(&b.to_string()),
            (Kind::Text, _) => Err("must be a string in quotes, like \"…\"".into()),
            (Kind::Integer, _) => Err("must be a whole number, written without quotes".into()),
            (Kind::Boolean, _) => Err("must be true or false, written without quotes".into()),
            (Kind::Table, _) => Err("must be a table of names and values".into()),
        }
    }
    /// The value as text, as it would be written in a variable. Secrets included: this is for
    /// tests and defaults, never for messages.
    fn text(&self) -> String;
}

macro_rules! whole_number {
    ($($t:ty),*) => {$(
        impl Setting for $t {
            const KIND: Kind = Kind::Integer;
            fn parse(text: &str) -> Result<Self, String> {
                text.trim().parse().map_err(|_| {
                    format!("{text:?} is not a whole number from 0 to {}", <$t>::MAX)
                })
            }
            fn text(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
whole_number!(u8, u32, u64, usize);

impl Setting for bool {
    const KIND: Kind = Kind::Boolean;
    fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(format!("{text:?} is not true or false")),
        }
    }
    fn text(&self) -> String {
        self.to_string()
    }
}

impl Setting for String {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
    fn text(&self) -> String {
        self.clone()
    }
}

impl Setting for PathBuf {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("must name a directory".into());
        }
        Ok(PathBuf::from(text))
    }
    fn text(&self) -> String {
        self.display().to_string()
    }
}

impl Setting for SocketAddr {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        text.trim().parse().map_err(|_| {
            format!(
                "{text:?} is not an IP address and port: write it like \"127.0.0.1:8080\", or \"0.0.0.0:8080\" to accept connections from other machines"
            )
        })
    }
    fn text(&self) -> String {
        self.to_string()
    }
}

/// An optional setting: an empty value means "not set".
impl<T: Setting> Setting for Option<T> {
    const KIND: Kind = T::KIND;
    const SECRET: bool = T::SECRET;
    fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            Ok(None)
        } else {
            T::parse(text).map(Some)
        }
    }
    fn text(&self) -> String {
        self.as_ref().map(T::text).unwrap_or_default()
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Human,
    Json,
}

impl Setting for LogFormat {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            _ => Err(format!(
                "{text:?} is not a log format: use \"human\" or \"json\""
            )),
        }
    }
    fn text(&self) -> String {
        match self {
            Self::Human => "human",
            Self::Json => "json",
        }
        .to_owned()
    }
}

/// A log filter that `tracing` accepts, such as `info` or `wirefeed=debug,info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogFilter(String);

impl LogFilter {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Setting for LogFilter {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "must not be empty: use a level (error, warn, info, debug or trace), e.g. \"info\""
                    .into(),
            );
        }
        match tracing_subscriber::EnvFilter::try_new(text) {
            Ok(_) => Ok(Self(text.to_owned())),
            Err(e) => Err(format!(
                "{text:?} is not a log filter ({e}): use a level (error, warn, info, debug or trace), optionally per module, like \"wirefeed=debug,info\""
            )),
        }
    }
    fn text(&self) -> String {
        self.0.clone()
    }
}

/// Which WebSub hub the feeds name, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HubSetting {
    Off,
    /// This server is the hub.
    Builtin,
    /// Another hub, told of every publish.
    External(String),
}

impl Setting for HubSetting {
    const KIND: Kind = Kind::Text;
    fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "" | "off" => Ok(Self::Off),
            "builtin" => Ok(Self::Builtin),
            url if url::Url::parse(url).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.password().is_none()
            }) && url.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Self::External(url.to_owned()))
            }
            _ => Err(
                "is not a hub setting: use \"off\", \"builtin\" or the http(s) URL of an external hub (without a password)"
                    .to_owned(),
            ),
        }
    }
    fn text(&self) -> String {
        match self {
            Self::Off => "off".to_owned(),
            Self::Builtin => "builtin".to_owned(),
            Self::External(url) => url.clone(),
        }
    }
}

/// An absolute `http://` or `https://` URL with a host, kept without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicUrl(String);

impl PublicUrl {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The origin of a server reached at `bound`.
    pub(crate) fn of(bound: SocketAddr) -> Self {
        Self(format!("http://{bound}"))
    }

    /// The host part, without port.
    pub(crate) fn host(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        let authority = rest.split('/').next().unwrap_or_default();
        match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        }
    }
}

impl Setting for PublicUrl {
    const KIND: Kind = Kind::Text;
    fn parse(raw: &str) -> Result<Self, String> {
        let url = raw.trim().trim_end_matches('/');
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or_default();
        let ok = !host.is_empty()
            && !host.starts_with('/')
            && !host.split('/').next().unwrap_or_default().contains('@')
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
    fn text(&self) -> String {
        self.0.clone()
    }
}

/// An absolute http(s) URL of an image (the desk's logo or icon), as feeds name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageUrl(String);

impl ImageUrl {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Setting for ImageUrl {
    const KIND: Kind = Kind::Text;
    fn parse(raw: &str) -> Result<Self, String> {
        let url = raw.trim();
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or_default();
        let ok = host
            .split('/')
            .next()
            .is_some_and(|h| !h.is_empty() && !h.contains('@'))
            && url.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(url.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not an image URL: give an absolute http(s) URL, like \"https://wire.example.com/logo.png\""
            ))
        }
    }
    fn text(&self) -> String {
        self.0.clone()
    }
}

/// The `authority,date` of a tag: URI, e.g. `wire.example.com,2026` or `desk@example.com,2026-11`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TagAuthority(String);

impl TagAuthority {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Setting for TagAuthority {
    const KIND: Kind = Kind::Text;
    fn parse(raw: &str) -> Result<Self, String> {
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
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not a tag authority: use a domain or email you own and a date, like \"wire.example.com,2026\""
            ))
        }
    }
    fn text(&self) -> String {
        self.0.clone()
    }
}

/// Networks (CIDR or single addresses, comma-separated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Networks(pub Vec<ipnet::IpNet>);

impl Setting for Networks {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                n.parse::<ipnet::IpNet>()
                    .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!(
                            "{n:?} is not an address or a network: write networks like \"127.0.0.1/32\" or \"10.0.0.0/8, fd00::/8\", separated by commas"
                        )
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
    fn text(&self) -> String {
        let all: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        all.join(",")
    }
}

pub(crate) use super::checks::*;
pub(crate) use super::secrets::*;
