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

mod keys;
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
mod tests {
    use super::*;

    fn load_with(
        text: &str,
        env: &[(&str, &str)],
        flags: Flags,
    ) -> (PathBuf, Result<Config, ConfigError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.keep().join("wirefeed.toml");
        std::fs::write(&path, text).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let loaded = Config::load(
            Some(&path),
            |var| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()),
            &flags,
        );
        (path, loaded)
    }

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        load_with(text, env, Flags::default()).1
    }

    fn problems(text: &str, env: &[(&str, &str)]) -> String {
        load(text, env).unwrap_err().problems().join("\n")
    }

    /// How `value` is written in the config file for `key`.
    fn toml_line(key: &Key, value: &str) -> String {
        match key.kind {
            Kind::Text => format!("{} = {}\n", key.name, toml::Value::from(value)),
            Kind::Integer | Kind::Boolean => format!("{} = {value}\n", key.name),
            Kind::Table => {
                let entries: Vec<String> = value
                    .split(',')
                    .map(|entry| {
                        let (name, token) = entry.split_once('=').unwrap();
                        format!("{name} = {}", toml::Value::from(token))
                    })
                    .collect();
                format!("[{}]\n{}\n", key.name, entries.join("\n"))
            }
        }
    }

    #[test]
    fn every_key_is_reached_from_the_file_the_environment_and_its_flag() {
        let defaults = Config::default();
        for key in KEYS {
            let default = (key.value_text)(&defaults);
            assert_eq!(default, key.default, "{}: the default reads back", key.name);
            assert_ne!(
                key.example, key.default,
                "{}: the example differs",
                key.name
            );

            let (_, from_file) = load_with(&toml_line(key, key.example), &[], Flags::default());
            let from_file = from_file.unwrap_or_else(|e| panic!("{}: {e}", key.name));
            assert_eq!(
                (key.value_text)(&from_file),
                key.example,
                "{} from the file",
                key.name
            );

            match key.env() {
                Some(var) => {
                    assert_eq!(var, format!("WIREFEED_{}", key.name.to_uppercase()));
                    let from_env =
                        load("", &[(&var, key.example)]).unwrap_or_else(|e| panic!("{var}: {e}"));
                    assert_eq!((key.value_text)(&from_env), key.example, "{var}");
                    // The environment wins over the file.
                    let both = load(&toml_line(key, key.default), &[(&var, key.example)]);
                    assert_eq!(
                        (key.value_text)(&both.unwrap()),
                        key.example,
                        "{var} over the file"
                    );
                }
                None => assert_eq!(key.kind, Kind::Table, "{}", key.name),
            }

            if let Some(flag) = key.flag {
                let var = key.env().unwrap();
                let flags = Flags(vec![(key, key.example.to_owned())]);
                let (_, from_flag) =
                    load_with(&toml_line(key, key.default), &[(&var, key.default)], flags);
                let from_flag = from_flag.unwrap_or_else(|e| panic!("--{}: {e}", flag.long));
                assert_eq!(
                    (key.value_text)(&from_flag),
                    key.example,
                    "--{} over the file and {var}",
                    flag.long
                );
            }
        }
    }

    #[test]
    fn the_flags_of_the_command_line_are_those_of_the_keys() {
        use clap::{CommandFactory, Parser};
        let command = crate::cli::Cli::command();
        for key in KEYS {
            let found = command
                .get_arguments()
                .find(|arg| arg.get_id() == key.name)
                .and_then(|arg| arg.get_long());
            assert_eq!(found, key.flag.map(|f| f.long), "{}", key.name);
        }
        let cli = crate::cli::Cli::try_parse_from(["wirefeed", "--listen", "0.0.0.0:1", "check"])
            .unwrap();
        assert_eq!(cli.settings.0.len(), 1);
        assert_eq!(cli.settings.0[0].0.name, "listen");
    }

    #[test]
    fn the_shipped_config_file_is_valid_and_documents_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PATH);
        Config::load(Some(&path), |_| None, &Flags::default()).unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        for key in KEYS {
            let written = match key.kind {
                Kind::Table => format!("[{}]", key.name),
                _ => format!("{} =", key.name),
            };
            assert!(text.contains(&written), "{} is not documented", key.name);
        }
    }

    #[test]
    fn the_readme_lists_every_key_with_its_variable_and_flag() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        for key in KEYS {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", key.name)))
                .unwrap_or_else(|| panic!("the README has no row for {}", key.name));
            if let Some(var) = key.env() {
                assert!(row.contains(&format!("`{var}`")), "{row}");
            }
            if let Some(flag) = key.flag {
                assert!(row.contains(&format!("`--{}`", flag.long)), "{row}");
            }
        }
    }

    #[test]
    fn a_bad_value_names_the_field_and_the_line() {
        let message = problems("site_title = \"Wire\"\nlisten = \"localhost\"\n", &[]);
        assert!(
            message.contains("wirefeed.toml: line 2: listen:"),
            "{message}"
        );
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let message = problems(
            "request_timeout_secs = 0\nlog = \"wirefeed=loud\"\n",
            &[("WIREFEED_MAX_CONNECTIONS", "0")],
        );
        assert!(
            message.contains("line 1: request_timeout_secs"),
            "{message}"
        );
        assert!(message.contains("line 2: log"), "{message}");
        assert!(
            message.contains("environment variable WIREFEED_MAX_CONNECTIONS"),
            "{message}"
        );
    }

    #[test]
    fn values_that_would_break_serving_are_refused_where_they_are_written() {
        let cases: &[(&str, &str)] = &[
            (
                "websub_allowed_networks = \"10.0.0.0/8, localhost\"",
                "\"localhost\" is not an address",
            ),
            ("store_url = \"mysql://wire@db/wire\"", "scheme \"mysql\""),
            (
                "store_url = \"sqlite://data/wirefeed.sqlite3\"",
                "remove store_url and set data_dir",
            ),
            ("store_url = \"data/wirefeed.sqlite3\"", "is not a URL"),
            ("store_schema = \"Wire-Feed\"", "is not a schema name"),
            ("request_timeout_secs = 0", "every API request 503"),
            ("header_read_timeout_secs = 0", "must be from 1"),
            ("max_connections = 0", "must be at least 1"),
            ("max_header_bytes = 1024", "must be from 8192"),
            ("max_body_bytes = 0", "must be at least 1"),
            ("tombstone_days = 4000000000", "must be from 0 to 3650"),
            ("websub_timeout_secs = 0", "must be from 1"),
            ("websub_queue = 0", "must be at least 1"),
            ("websub_attempts = 0", "must be from 1 to 20"),
            ("websub_per_host = 0", "must be at least 1"),
            (
                "websub_max_subscriptions_per_host = 0",
                "websub_hub = \"off\"",
            ),
            ("websub_lease_max_secs = 99999999999", "must be from 1"),
            ("log = \"wirefeed=loud\"", "is not a log filter"),
            ("log = \"\"", "must not be empty"),
            ("site_title = \" \"", "must not be empty"),
            ("feeds_dir = \"no/such/dir\"", "does not exist"),
            ("data_dir = \"Cargo.toml\"", "is a file"),
            ("websub_hub = \"hub.example.com\"", "is not a hub setting"),
            ("listen = 8080", "must be a string in quotes"),
            ("request_timeout_secs = \"30\"", "without quotes"),
            (
                "load_sample = \"no\"",
                "true or false, written without quotes",
            ),
            (
                "[ingest_tokens]\ndesk = \"\"",
                "the token named \"desk\" is empty",
            ),
            ("ingest_token = \"s3cret \"", "ends with a space"),
        ];
        for (line, expected) in cases {
            let text = format!("# a comment\n{line}\n");
            let message = problems(&text, &[]);
            let key = line
                .trim_start_matches('[')
                .split([' ', ']'])
                .next()
                .unwrap();
            let at = if line.starts_with('[') {
                "line 3"
            } else {
                "line 2"
            };
            assert!(
                message.contains(&format!("wirefeed.toml: {at}: {key}"))
                    && message.contains(expected),
                "{line}: {message}"
            );
        }
    }

    #[test]
    fn a_lease_minimum_above_the_maximum_is_refused() {
        let message = problems(
            "websub_lease_min_secs = 7200\n",
            &[("WIREFEED_WEBSUB_LEASE_MAX_SECS", "3600")],
        );
        assert!(
            message.contains("line 1: websub_lease_min_secs")
                && message.contains("environment variable WIREFEED_WEBSUB_LEASE_MAX_SECS"),
            "{message}"
        );
        let message = problems("websub_lease_default_secs = 60\n", &[]);
        assert!(message.contains("must lie between"), "{message}");
    }

    #[test]
    fn an_unknown_key_is_refused_with_the_nearest_one() {
        let message = problems("lisen = \"127.0.0.1:80\"\n", &[]);
        assert!(
            message.contains("line 1")
                && message.contains("`lisen`")
                && message.contains("did you mean `listen`"),
            "{message}"
        );
    }

    #[test]
    fn environment_overrides_the_file_and_an_empty_variable_is_unset() {
        let config = load(
            "cache_max_bytes = 10\nsite_title = \"File\"\n",
            &[
                ("WIREFEED_CACHE_MAX_BYTES", "20"),
                ("WIREFEED_LOAD_SAMPLE", "false"),
                ("WIREFEED_SITE_TITLE", ""),
                ("WIREFEED_INGEST_TOKEN", ""),
            ],
        )
        .unwrap();
        assert_eq!(config.cache_max_bytes, 20);
        assert!(!config.load_sample);
        assert_eq!(config.site_title, "File");
        assert!(config.tokens().is_empty());
    }

    #[test]
    fn a_bad_environment_variable_or_flag_is_named() {
        let message = problems("", &[("WIREFEED_PUBLIC_URL", "wire.example.com")]);
        assert!(
            message.contains("environment variable WIREFEED_PUBLIC_URL:"),
            "{message}"
        );
        let key = Key::named("listen").unwrap();
        let (_, loaded) = load_with("", &[], Flags(vec![(key, "localhost".into())]));
        let message = loaded.unwrap_err().problems().join("\n");
        assert!(message.contains("flag --listen:"), "{message}");
    }

    #[test]
    fn a_missing_default_feeds_directory_is_refused_with_where_to_set_it() {
        let problem = Problem {
            origin: Origin::Default,
            key: Some("feeds_dir"),
            message: values::existing_directory(Path::new("no-such-feeds")).unwrap_err(),
        };
        let text = problem.to_string();
        assert!(
            text.contains("feeds_dir (not set, so the default \"feeds\")")
                && text.contains("WIREFEED_FEEDS_DIR")
                && text.contains("--feeds-dir"),
            "{text}"
        );
    }

    /// Every spelling of a password or token, in every place it can be written wrong.
    #[test]
    fn secrets_never_appear_in_messages() {
        let urls = [
            "mysql://wire:pw-SECRET@db/wire",
            "postgres://wire:pw-SECRET@db:notaport/wire",
            "postgres://wire@db/wire?password=pw-SECRET&port=notaport",
            "postgresql:///wire?password=pw-SECRET",
            "host=db password=pw-SECRET dbname=wire",
            "sqlite://pw-SECRET",
        ];
        for url in urls {
            for message in [
                problems(&format!("store_url = {}\n", toml::Value::from(url)), &[]),
                problems("", &[("WIREFEED_STORE_URL", url)]),
            ] {
                assert!(message.to_lowercase().contains("store_url"), "{message}");
                assert!(!message.contains("SECRET"), "{url}: {message}");
            }
        }
        for token in [" pw-SECRET", "pw-SECRET\n", "pw\u{7}SECRET"] {
            let message = problems("", &[("WIREFEED_INGEST_TOKEN", token)]);
            assert!(message.contains("WIREFEED_INGEST_TOKEN"), "{message}");
            assert!(!message.contains("SECRET"), "{message}");
            let message = problems(
                &format!("[ingest_tokens]\ndesk = {}\n", toml::Value::from(token)),
                &[],
            );
            assert!(
                message.contains("line 2") && message.contains("\"desk\""),
                "{message}"
            );
            assert!(!message.contains("SECRET"), "{message}");
        }
        // Good secrets are kept out of Debug too.
        let config = load(
            "store_url = \"postgres://wire:pw-SECRET@db/wire?password=pw-SECRET\"\n[ingest_tokens]\ndesk = \"tok-SECRET\"\n",
            &[("WIREFEED_INGEST_TOKEN", "tok-SECRET")],
        )
        .unwrap();
        let shown = format!("{config:?} {}", config.store_url.as_ref().unwrap());
        assert!(!shown.contains("SECRET"), "{shown}");
        assert_eq!(config.tokens().len(), 2);
    }

    #[test]
    fn a_toml_error_shows_the_line_with_a_secret_masked() {
        let cases = [
            (
                "ingest_token = \"tok-SECRET\nlog = \"info\"\n",
                "ingest_token = \"****\"",
            ),
            ("ingest_token = tok-SECRET\n", "ingest_token = \"****\""),
            (
                "store_url = \"postgres://u:pw-SECRET@db/wire\" x\n",
                "store_url = \"****\"",
            ),
            ("[ingest_tokens]\ndesk = tok-SECRET\n", "desk = \"****\""),
            ("my_password = pw-SECRET\n", "my_password = \"****\""),
        ];
        for (text, shown) in cases {
            let message = problems(text, &[]);
            assert!(message.contains("not valid TOML"), "{message}");
            assert!(message.contains(shown), "{text:?}: {message}");
            assert!(!message.contains("SECRET"), "{text:?}: {message}");
        }
        // A line that is no secret is shown as written.
        let message = problems("site_title = \"Wire\nlog = \"info\"\n", &[]);
        assert!(message.contains("site_title = \"Wire"), "{message}");
    }

    #[test]
    fn the_tag_authority_defaults_to_the_public_host() {
        let config = Config::default();
        let url = config.public_url("127.0.0.1:8080".parse().unwrap());
        assert_eq!(url.as_str(), "http://127.0.0.1:8080");
        assert_eq!(config.tag_authority(&url), "127.0.0.1,2026");
        let url = PublicUrl::parse("https://wire.example.com:8443/").unwrap();
        assert_eq!(config.tag_authority(&url), "wire.example.com,2026");
        assert!(TagAuthority::parse("wire.example.com").is_err());
    }
}
