//! Configuration: built-in defaults, then `config/wirefeed.toml`, then `WIREFEED_*`
//! environment variables, then command-line flags — each overriding the one before.
//!
//! Every key is declared once, in [`keys`]: its name in the file, its variable (`WIREFEED_` +
//! the key in capitals; an empty variable counts as unset), its flag where there is one, its
//! default, its help and its check. [`Config::load`] reads every layer and checks every value
//! once, at start, with no side effects; `serve`, `import` and `check` all go through it, so
//! `check` refuses exactly what `serve` would. Each problem names where the value came from:
//! the file and line, the variable, or the flag. No message ever repeats a secret (a token, a
//! store URL): a line of the file shown in a message has a secret's value masked.

mod checks;
mod keys;
mod secrets;
mod values;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub(crate) use keys::{Config, KEYS, Key};
#[cfg(test)]
use values::TagAuthority;
pub(crate) use values::{HubSetting, Kind, LogFormat, PublicUrl, Setting, StoreUrl};

/// Where `wirefeed` looks for its config file when `--config` is not given.
pub(crate) const DEFAULT_PATH: &str = "config/wirefeed.toml";

/// The keys whose values are paths, checked against the file system at load.
const PATHS: [&str; 6] = [
    "acme_dir",
    "data_dir",
    "feeds_dir",
    "partners_file",
    "tls_cert",
    "tls_key",
];

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The built-in default.
    Default,
    /// A line of the config file.
    File { path: PathBuf, line: usize },
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("the default"),
            Self::File { path, line } => write!(f, "{}: line {line}", path.display()),
            Self::Env(var) => write!(f, "environment variable {var}"),
            Self::Flag(long) => write!(f, "flag --{long}"),
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) origin: Origin,
    /// The key it is about, if any.
    pub(crate) key: Option<&'static str>,
    pub(crate) message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.origin, self.key) {
            (Origin::Default, Some(name)) => {
                write!(f, "{name} (not set, so the default")?;
                let Some(key) = Key::named(name) else {
                    return write!(f, "): {}", self.message);
                };
                write!(
                    f,
                    " {:?}): {}. Set {name} in the config file",
                    key.default, self.message
                )?;
                if let Some(var) = key.env() {
                    write!(f, ", or {var}")?;
                }
                if let Some(flag) = key.flag {
                    write!(f, ", or --{}", flag.long)?;
                }
                f.write_str(".")
            }
            (Origin::File { .. }, Some(key)) => {
                write!(f, "{}: {key}: {}", self.origin, self.message)
            }
            _ => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error(
        "cannot read the config file {path}: {source} (it was named by --config or WIREFEED_CONFIG; without them, {DEFAULT_PATH} is read if it exists)"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", invalid_text(.0))]
    Invalid(Vec<Problem>),
}

fn invalid_text(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    format!(
        "the configuration has {} problem(s), so nothing was started:\n{}\nFix them (`wirefeed check` lists them again), then start again.",
        problems.len(),
        lines.join("\n")
    )
}

impl ConfigError {
    /// Every problem, one message each.
    pub(crate) fn problems(&self) -> Vec<String> {
        match self {
            Self::Read { .. } => vec![self.to_string()],
            Self::Invalid(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }
}

/// Values given on the command line, which win over everything else: the flags of [`KEYS`]
/// that have one, as typed, read by the same code as the file and the environment.
#[derive(Clone, Default)]
pub(crate) struct Flags(pub Vec<(&'static Key, String)>);

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(key, _)| key.name))
            .finish()
    }
}

impl clap::FromArgMatches for Flags {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        for key in KEYS.iter().filter(|k| k.flag.is_some()) {
            if let Some(value) = matches.get_one::<String>(key.name) {
                self.0.retain(|(k, _)| k.name != key.name);
                self.0.push((key, value.clone()));
            }
        }
        Ok(())
    }
}

impl clap::Args for Flags {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for key in KEYS {
            let Some(flag) = key.flag else { continue };
            let env = key.env().unwrap_or_default();
            let default = match key.default {
                "" => String::new(),
                default => format!(" [default: {default}]"),
            };
            cmd = cmd.arg(
                clap::Arg::new(key.name)
                    .long(flag.long)
                    .value_name(flag.value_name)
                    .global(true)
                    .action(clap::ArgAction::Set)
                    .help(format!("{} [env: {env}]{default}", key.summary())),
            );
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::defaults()
    }
}

impl Config {
    /// Reads and checks the configuration. `path` is the `--config` flag: a file named there
    /// must exist, while the default file may be absent. `env` looks up an environment
    /// variable. Every problem is reported, not just the first; nothing is created or changed.
    pub(crate) fn load(
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
        let mut config = Self::defaults();
        let mut origins: HashMap<&'static str, Origin> = HashMap::new();
        let mut problems = Vec::new();
        // Path keys the file gives as text: only whether such a path exists may be set aside
        // when the environment or a flag overrides it (below); a number there is wrong anyway.
        let mut file_paths_as_text: Vec<&'static str> = Vec::new();

        let table: std::collections::BTreeMap<String, toml::Spanned<toml::Value>> =
            toml::from_str(&text)
                .map_err(|e| ConfigError::Invalid(vec![syntax_problem(file, &text, &e)]))?;
        for (name, value) in &table {
            let line = line_of(&text, value.span().start);
            let origin = Origin::File {
                path: file.to_owned(),
                line,
            };
            let Some(key) = Key::named(name) else {
                problems.push(Problem {
                    origin,
                    key: None,
                    message: unknown_key(name),
                });
                continue;
            };
            if value.get_ref().is_str() && PATHS.contains(&key.name) {
                file_paths_as_text.push(key.name);
            }
            match (key.from_toml)(&mut config, value.get_ref()) {
                Ok(()) => {
                    origins.insert(key.name, origin);
                }
                Err(message) => problems.push(Problem {
                    origin: match key.kind {
                        Kind::Table => Origin::File {
                            path: file.to_owned(),
                            line: table_entry_line(&text, key.name, &message).unwrap_or(line),
                        },
                        _ => origin,
                    },
                    key: Some(key.name),
                    message,
                }),
            }
        }

        problems.sort_by_key(|p| match p.origin {
            Origin::File { line, .. } => line,
            _ => 0,
        });

        for key in KEYS {
            let Some(var) = key.env() else { continue };
            let Some(value) = env(&var) else { continue };
            if value.trim().is_empty() {
                continue;
            }
            match (key.from_text)(&mut config, &value) {
                Ok(()) => {
                    origins.insert(key.name, Origin::Env(var));
                }
                Err(message) => problems.push(Problem {
                    origin: Origin::Env(var),
                    key: Some(key.name),
                    message,
                }),
            }
        }

        for (key, value) in &flags.0 {
            let long = key.flag.map_or(key.name, |f| f.long);
            match (key.from_text)(&mut config, value) {
                Ok(()) => {
                    origins.insert(key.name, Origin::Flag(long));
                }
                Err(message) => problems.push(Problem {
                    origin: Origin::Flag(long),
                    key: Some(key.name),
                    message,
                }),
            }
        }

        // A path in the file that the environment or a flag overrides is not used, and whether
        // it exists depends on where it is looked for from (the shipped `feeds_dir = "feeds"`
        // from another directory): not held against start-up. Any other bad value in the file
        // still is, overridden or not: the file itself is wrong (a path that is not text too).
        problems.retain(|p| {
            !(matches!(p.origin, Origin::File { .. })
                && p.key.is_some_and(|key| {
                    file_paths_as_text.contains(&key)
                        && matches!(origins.get(key), Some(Origin::Env(_) | Origin::Flag(_)))
                }))
        });

        // A default that does not hold here (a missing feeds directory) is a problem too.
        for key in KEYS {
            if origins.contains_key(key.name) || problems.iter().any(|p| p.key == Some(key.name)) {
                continue;
            }
            let default = (key.value_text)(&config);
            if let Err(message) = (key.from_text)(&mut config, &default) {
                problems.push(Problem {
                    origin: Origin::Default,
                    key: Some(key.name),
                    message,
                });
            }
        }

        if problems.is_empty() {
            problems.extend(config.across_keys(&origins));
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The rules that involve more than one key.
    fn across_keys(&self, origins: &HashMap<&'static str, Origin>) -> Vec<Problem> {
        let origin = |key: &str| origins.get(key).cloned().unwrap_or(Origin::Default);
        let mut problems = Vec::new();
        let (min, default, max) = (
            self.websub_lease_min_secs,
            self.websub_lease_default_secs,
            self.websub_lease_max_secs,
        );
        if min > max {
            problems.push(Problem {
                origin: origin("websub_lease_min_secs"),
                key: Some("websub_lease_min_secs"),
                message: format!(
                    "the shortest lease ({min} s) is longer than the longest, websub_lease_max_secs ({max} s, from {}): make websub_lease_min_secs at most websub_lease_max_secs",
                    origin("websub_lease_max_secs")
                ),
            });
        } else if !(min..=max).contains(&default) {
            problems.push(Problem {
                origin: origin("websub_lease_default_secs"),
                key: Some("websub_lease_default_secs"),
                message: format!(
                    "the lease given when none is asked for ({default} s) must lie between websub_lease_min_secs ({min} s) and websub_lease_max_secs ({max} s)"
                ),
            });
        }
        problems
    }

    /// Where each key's value came from, for messages about a loaded config.
    pub(crate) fn public_url(&self, bound: SocketAddr) -> PublicUrl {
        self.public_url
            .clone()
            .unwrap_or_else(|| PublicUrl::of(bound))
    }

    /// The tag authority, falling back to the public URL's host.
    pub(crate) fn tag_authority(&self, public_url: &PublicUrl) -> String {
        match &self.tag_authority {
            Some(authority) => authority.as_str().to_owned(),
            None => format!("{},2026", public_url.host()),
        }
    }

    /// Every ingest token with its name; the single `ingest_token` is named "default".
    pub(crate) fn tokens(&self) -> Vec<(String, String)> {
        let mut tokens: Vec<(String, String)> = self
            .ingest_tokens
            .0
            .iter()
            .map(|(name, token)| (name.clone(), token.expose().to_owned()))
            .collect();
        if let Some(token) = &self.ingest_token {
            tokens.push(("default".to_owned(), token.expose().to_owned()));
        }
        tokens
    }

    /// Where the SQLite store file lives.
    pub(crate) fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("wirefeed.sqlite3")
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of the entry a message about a table is about: `the token named "desk" …`.
fn table_entry_line(text: &str, table: &str, message: &str) -> Option<usize> {
    let name = message.split('"').nth(1)?;
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            inside = header.trim_end_matches(']').trim() == table;
            continue;
        }
        let entry = line
            .split('=')
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches(['"', '\'']);
        if inside && line.contains('=') && entry == name {
            return Some(i + 1);
        }
    }
    None
}

/// A key no setting has, with the nearest one that exists.
fn unknown_key(name: &str) -> String {
    let nearest = KEYS
        .iter()
        .map(|k| (edit_distance(name, k.name), k.name))
        .min()
        .filter(|(distance, _)| *distance <= 3);
    match nearest {
        Some((_, key)) => format!(
            "there is no setting `{name}`; did you mean `{key}`? (every setting is listed in the README)"
        ),
        None => format!(
            "there is no setting `{name}` (every setting is listed in the README; a [table] other than [ingest_tokens] is not one)"
        ),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// A file that is not TOML: the message and the line, with a secret's value masked.
fn syntax_problem(path: &Path, text: &str, error: &toml::de::Error) -> Problem {
    let offset = error.span().map_or(0, |span| span.start);
    let line = line_of(text, offset);
    let message = error.message().trim().replace('\n', "; ");
    let shown = text
        .lines()
        .nth(line - 1)
        .and_then(|raw| masked_line(text, line, raw))
        .map(|shown| format!("\n      {line} | {shown}"))
        .unwrap_or_default();
    Problem {
        origin: Origin::File {
            path: path.to_owned(),
            line,
        },
        key: None,
        message: format!(
            "this is not valid TOML: {message}{shown}\n    Write each setting as key = value, with text in quotes (see {DEFAULT_PATH})."
        ),
    }
}

/// Line `number` of a config file as it may be shown: a `key = value` line, with the value
/// masked when it is a secret (or in a table of secrets); `None` for any other line, which
/// could be part of a secret written over several lines.
pub(crate) fn masked_line(text: &str, number: usize, raw: &str) -> Option<String> {
    let (key, _) = raw.split_once('=')?;
    let name = key.trim().trim_matches(['"', '\'']);
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
    {
        return None;
    }
    let table = text
        .lines()
        .take(number - 1)
        .filter_map(|l| l.trim().strip_prefix('['))
        .last()
        .map(|h| h.trim_end().trim_end_matches(']').trim().to_owned());
    let secret = match &table {
        Some(table) => Key::named(table).is_none_or(|k| k.secret),
        None => Key::named(name).is_none_or(|k| k.secret) || looks_secret(name),
    };
    Some(if secret {
        format!("{key}= \"****\"")
    } else {
        raw.to_owned()
    })
}

fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["token", "password", "secret", "url", "key"]
        .iter()
        .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests;
