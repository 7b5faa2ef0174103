//! Tests of `config`.

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
    let cli =
        crate::cli::Cli::try_parse_from(["wirefeed", "--listen", "0.0.0.0:1", "check"]).unwrap();
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
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
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
            message.contains(&format!("wirefeed.toml: {at}: {key}")) && message.contains(expected),
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
fn a_file_path_the_environment_overrides_is_not_held_against_it() {
    let feeds = tempfile::tempdir().unwrap();
    let feeds = feeds.path().to_str().unwrap();
    let config = load(
        "feeds_dir = \"no-such-directory-here\"\n",
        &[("WIREFEED_FEEDS_DIR", feeds)],
    )
    .unwrap();
    assert_eq!(config.feeds_dir, Path::new(feeds));
    assert!(PATHS.iter().all(|name| Key::named(name).is_some()));
    // Not overridden, it is still refused; and a value wrong in itself is, overridden or not.
    assert!(problems("feeds_dir = \"no-such-directory-here\"\n", &[]).contains("feeds_dir"));
    let malformed = problems(
        "cache_max_bytes = \"lots\"\n",
        &[("WIREFEED_CACHE_MAX_BYTES", "20")],
    );
    assert!(malformed.contains("cache_max_bytes"), "{malformed}");
    let not_text = problems("feeds_dir = 5\n", &[("WIREFEED_FEEDS_DIR", feeds)]);
    assert!(not_text.contains("feeds_dir"), "{not_text}");
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
