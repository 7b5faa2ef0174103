//! Settings that are secrets or may hold one — tokens, and store URLs with their passwords:
//! never shown by `Debug`, `Display` or any message, in any spelling.

use std::collections::BTreeMap;
use std::fmt;

use super::values::{Kind, Setting};

/// A bearer token: shown nowhere, neither by `Debug` nor in any message.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// The token itself, for comparing with what a request presents.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl Setting for Secret {
    const KIND: Kind = Kind::Text;
    const SECRET: bool = true;
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            Err("is empty: set a long random token, or remove it".into())
        } else if text.trim() != text {
            Err("begins or ends with a space or a line break, so no request could present it: remove them".into())
        } else if text.chars().any(char::is_control) {
            Err("holds a control character, which no request can present: use letters, digits and punctuation".into())
        } else {
            Ok(Self(text.to_owned()))
        }
    }
    fn text(&self) -> String {
        self.0.clone()
    }
}

/// Named ingest tokens, from the `[ingest_tokens]` table of the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NamedTokens(pub BTreeMap<String, Secret>);

impl Setting for NamedTokens {
    const KIND: Kind = Kind::Table;
    const SECRET: bool = true;
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            Ok(Self::default())
        } else {
            Err("can only be set in the config file, as an [ingest_tokens] table".into())
        }
    }
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        let toml::Value::Table(table) = value else {
            return Err(
                "must be a table: write [ingest_tokens] on a line of its own, then one name = \"token\" per line"
                    .into(),
            );
        };
        let mut tokens = BTreeMap::new();
        for (name, token) in table {
            let toml::Value::String(token) = token else {
                return Err(format!(
                    "the token named {name:?} must be a string in quotes"
                ));
            };
            if name.trim().is_empty() {
                return Err(
                    "a token has an empty name: give each token a name, like desk = \"…\"".into(),
                );
            }
            let token =
                Secret::parse(token).map_err(|e| format!("the token named {name:?} {e}"))?;
            tokens.insert(name.clone(), token);
        }
        Ok(Self(tokens))
    }
    fn text(&self) -> String {
        let all: Vec<String> = self
            .0
            .iter()
            .map(|(name, token)| format!("{name}={}", token.expose()))
            .collect();
        all.join(",")
    }
}

/// A PostgreSQL URL, `postgres://` or `postgresql://`. Its `Display` leaves out the password,
/// wherever it was written: `user:pw@`, `?password=pw`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StoreUrl(String);

impl StoreUrl {
    /// The URL itself, password included, for connecting.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Built back from the parsed parts, so no spelling of a password can get through.
        match crate::store::url::read_postgres_url(&self.0) {
            Some(url) => f.write_str(&url.redacted),
            None => f.write_str("postgres://****"),
        }
    }
}

impl Setting for StoreUrl {
    const KIND: Kind = Kind::Text;
    const SECRET: bool = true;
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let scheme = text.split_once("://").map(|(scheme, _)| scheme);
        match scheme {
            Some("postgres" | "postgresql") => {}
            Some(scheme) if scheme.starts_with("sqlite") || scheme == "file" => {
                return Err(
                    "is for PostgreSQL only: for the embedded SQLite store, remove store_url and set data_dir to the directory of the store file"
                        .into(),
                );
            }
            Some(scheme)
                if scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
            {
                return Err(format!(
                    "uses the scheme {scheme:?}, which wirefeed cannot store stories in: use a postgres:// URL, or remove store_url for the embedded SQLite store"
                ));
            }
            _ => {
                return Err(
                    "is not a URL: write it like postgres://user@host:5432/database (key=value connection strings are not accepted), or remove store_url for the embedded SQLite store"
                        .into(),
                );
            }
        }
        let parsed = crate::store::url::read_postgres_url(text).ok_or_else(|| {
            "is not a PostgreSQL URL that can be read: check it is written like postgres://user:password@host:5432/database, with any special character in the user name or password %-encoded"
                .to_owned()
        })?;
        if !parsed.has_host {
            return Err("names no host: write it like postgres://user@host:5432/database".into());
        }
        Ok(Self(text.to_owned()))
    }
    fn text(&self) -> String {
        self.0.clone()
    }
}

/// A PostgreSQL schema name: it goes into SQL unquoted, so only plain identifiers are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaName(String);

impl SchemaName {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Setting for SchemaName {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        let ok = !text.is_empty()
            && text.len() <= 63
            && text.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "{text:?} is not a schema name: use a lower-case identifier of at most 63 characters such as \"wirefeed\" (letters, digits, '_')"
            ))
        }
    }
    fn text(&self) -> String {
        self.0.clone()
    }
}
