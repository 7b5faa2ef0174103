//! The command line: `import`, `check`, `--help` and start-up errors, from the real binary.

mod common;

use common::{Server, fixture, wirefeed};

fn output(cmd: &mut std::process::Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn import_reports_rejections_by_line_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("desk-corrections.ndjson");
    let (ok, stdout, stderr) = output(wirefeed(dir.path()).arg("import").arg(&file));
    assert!(!ok, "a rejected record makes the import exit non-zero");
    assert!(
        stdout.contains("imported 2 new, 0 updated, 0 unchanged, 1 rejected"),
        "{stdout}"
    );
    assert!(
        stderr.contains("desk-corrections.ndjson:4") && stderr.contains("/id"),
        "{stderr}"
    );

    let (_, again, _) = output(wirefeed(dir.path()).arg("import").arg(&file));
    assert!(
        again.contains("imported 0 new, 0 updated, 2 unchanged, 1 rejected"),
        "{again}"
    );

    let sample = common::repo().join("sample");
    let (ok, stdout, _) = output(wirefeed(dir.path()).arg("import").arg(&sample));
    assert!(ok);
    assert!(
        stdout.contains("1 updated"),
        "the correction is replaced by the sample's version: {stdout}"
    );
}

#[tokio::test]
async fn a_large_json_array_imports_with_progress_lines_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    // 3,000 stories in one JSON array, built from the fixture, one bad one in the middle.
    let template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("publish-g20-bilateral.json")).unwrap(),
    )
    .unwrap();
    let mut stories = Vec::new();
    for i in 0..3000 {
        let mut story = template.clone();
        story["id"] = if i == 1500 {
            "not an id".into()
        } else {
            format!("wf-archive-{i:05}").into()
        };
        stories.push(serde_json::to_string_pretty(&story).unwrap());
    }
    let file = dir.path().join("archive.json");
    std::fs::write(&file, format!("[\n{}\n]\n", stories.join(",\n"))).unwrap();
    let line_of_bad = 2 + 1500 * stories[0].lines().count();

    let (ok, stdout, stderr) = output(wirefeed(dir.path()).arg("import").arg(&file));
    assert!(!ok);
    assert!(
        stdout.contains("imported 2999 new, 0 updated, 0 unchanged, 1 rejected in")
            && stdout.contains("stories/s"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("archive.json:{line_of_bad}: /id")),
        "the rejection names file and line: {stderr}"
    );
}

#[tokio::test]
async fn imported_stories_and_corrections_are_served() {
    let dir = tempfile::tempdir().unwrap();
    output(
        wirefeed(dir.path())
            .arg("import")
            .arg(common::repo().join("sample")),
    );
    output(
        wirefeed(dir.path())
            .arg("import")
            .arg(fixture("desk-corrections.ndjson")),
    );
    let server = Server::start_in(dir.path(), |_| {});
    let xml = server.text("/feeds/world.atom").await;
    let feed = feed_rs::parser::parse(xml.as_bytes()).unwrap();
    assert!(
        feed.entries[0]
            .id
            .ends_with(":article:wf-20261125-world-volcano"),
        "newest first"
    );
    let business =
        feed_rs::parser::parse(server.text("/feeds/business.atom").await.as_bytes()).unwrap();
    let corrected: Vec<_> = business
        .entries
        .iter()
        .filter(|e| e.id.ends_with(":article:wf-20261125-business-oil"))
        .collect();
    assert_eq!(corrected.len(), 1, "a correction appears once");
    assert!(
        corrected[0]
            .title
            .as_ref()
            .unwrap()
            .content
            .starts_with("CORRECTED:")
    );
    assert_eq!(
        corrected[0].updated.unwrap().to_rfc3339(),
        "2026-11-25T15:02:00+00:00"
    );
}

#[test]
fn a_store_with_history_is_not_given_the_sample_again() {
    let dir = tempfile::tempdir().unwrap();
    output(
        wirefeed(dir.path())
            .arg("import")
            .arg(fixture("desk-corrections.ndjson")),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = Server::start_in(dir.path(), |_| {});
    let xml = runtime.block_on(server.text("/feeds/all.rss"));
    assert_eq!(xml.matches("<item>").count(), 2);
}

#[test]
fn check_reports_every_bad_feed_definition_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = output(
        wirefeed(dir.path())
            .env("WIREFEED_FEEDS_DIR", fixture("bad-feeds"))
            .arg("check"),
    );
    assert!(!ok);
    assert!(
        stderr.contains("g20.toml") && stderr.contains("line 2") && stderr.contains("max_age"),
        "{stderr}"
    );
    assert!(
        stderr.contains("world.toml: line 2: `entries` must be between 1 and 500"),
        "{stderr}"
    );
    assert!(stderr.contains("2 problem(s)"), "{stderr}");
}

#[test]
fn check_passes_on_the_shipped_config_and_feeds() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = output(wirefeed(dir.path()).arg("check"));
    assert!(ok, "{stdout}{stderr}");
}

#[test]
fn a_bad_config_file_stops_start_up_naming_the_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = output(
        wirefeed(dir.path())
            .arg("--config")
            .arg(fixture("bad-config.toml"))
            .arg("serve"),
    );
    assert!(!ok);
    assert!(
        stderr.contains("bad-config.toml")
            && stderr.contains("line 3")
            && stderr.contains("listen"),
        "{stderr}"
    );
}

#[test]
fn help_explains_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, _) = output(wirefeed(dir.path()).arg("--help"));
    assert!(ok);
    for word in [
        "serve",
        "import",
        "check",
        "Examples:",
        "WIREFEED_LISTEN",
        "--feeds-dir",
    ] {
        assert!(stdout.contains(word), "{word} missing from --help");
    }
}

/// Configs that `check` passed and that then stopped or broke `serve`: each is refused by
/// `check` with its file and line (or its variable), and `serve` does not start on it.
#[test]
fn check_and_serve_refuse_the_same_bad_configs_where_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let file_cases: &[(&str, &str)] = &[
        (
            "websub_allowed_networks = \"127.0.0.1/32, not-a-network\"",
            "not an address",
        ),
        ("store_url = \"mysql://wire@db/wire\"", "scheme \"mysql\""),
        ("request_timeout_secs = 0", "every API request 503"),
        (
            "websub_lease_min_secs = 7200\nwebsub_lease_max_secs = 3600",
            "longer than the longest",
        ),
        ("feeds_dir = \"no-such-feeds\"", "does not exist"),
        ("log = \"wirefeed=loud\"", "not a log filter"),
        (
            "[ingest_tokens]\ndesk = \"\"",
            "the token named \"desk\" is empty",
        ),
        ("max_connections = 0", "at least 1"),
        ("websub_attempts = 0", "from 1 to 20"),
        ("tombstone_days = 4000000000", "from 0 to 3650"),
    ];
    for (lines, expected) in file_cases {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, format!("site_title = \"Wire\"\n{lines}\n")).unwrap();
        let key = lines
            .trim_start_matches('[')
            .split([' ', ']'])
            .next()
            .unwrap();
        let line = if lines.starts_with('[') { 3 } else { 2 };
        for command in ["check", "serve"] {
            let (ok, stdout, stderr) = output(
                wirefeed(dir.path())
                    .env_remove("WIREFEED_FEEDS_DIR")
                    .env("WIREFEED_CONFIG", &config)
                    .arg(command),
            );
            assert!(!ok, "{command} accepted {lines}");
            assert!(
                !stdout.contains("listening"),
                "{command} started on {lines}"
            );
            assert!(
                stderr.contains(&format!("bad.toml: line {line}: {key}: "))
                    && stderr.contains(expected),
                "{command} on {lines}: {stderr}"
            );
        }
    }
    // The same from the environment names the variable.
    for (var, value) in [
        ("WIREFEED_FEEDS_DIR", "no-such-feeds"),
        ("WIREFEED_REQUEST_TIMEOUT_SECS", "0"),
        ("WIREFEED_STORE_URL", "mysql://wire@db/wire"),
        ("WIREFEED_LOG", "wirefeed=loud"),
    ] {
        for command in ["check", "serve"] {
            let (ok, _, stderr) = output(wirefeed(dir.path()).env(var, value).arg(command));
            assert!(!ok, "{command} accepted {var}={value}");
            assert!(
                stderr.contains(&format!("environment variable {var}: ")),
                "{command} with {var}={value}: {stderr}"
            );
        }
    }
}

#[test]
fn check_lists_every_config_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = output(
        wirefeed(dir.path())
            .arg("--config")
            .arg(fixture("bad-config.toml"))
            .env("WIREFEED_MAX_CONNECTIONS", "0")
            .arg("check"),
    );
    assert!(!ok);
    assert!(
        stderr.contains("bad-config.toml: line 3: listen: "),
        "{stderr}"
    );
    assert!(stderr.contains("WIREFEED_MAX_CONNECTIONS"), "{stderr}");
    assert!(stderr.contains("2 problem(s) found"), "{stderr}");
}

/// Tokens and passwords, in every spelling, are never printed: not by `check`, not when
/// `serve` refuses to start, not by `--help`.
#[test]
fn secrets_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let urls = [
        "postgres://wire:pw-SECRET@db:notaport/wire",
        "postgres://wire@db/wire?password=pw-SECRET&port=notaport",
        "host=db password=pw-SECRET",
        "mysql://wire:pw-SECRET@db/wire",
    ];
    for url in urls {
        for command in ["check", "serve", "--help"] {
            let (_, stdout, stderr) = output(
                wirefeed(dir.path())
                    .env("WIREFEED_STORE_URL", url)
                    .env("WIREFEED_INGEST_TOKEN", " tok-SECRET")
                    .arg(command),
            );
            let all = format!("{stdout}{stderr}");
            assert!(!all.contains("SECRET"), "{command} with {url}: {all}");
        }
    }
    // A TOML syntax error shows its line with the token masked.
    let config = dir.path().join("broken.toml");
    std::fs::write(
        &config,
        "site_title = \"Wire\"\ningest_token = tok-SECRET\n",
    )
    .unwrap();
    for command in ["check", "serve"] {
        let (ok, stdout, stderr) = output(
            wirefeed(dir.path())
                .env("WIREFEED_CONFIG", &config)
                .arg(command),
        );
        assert!(!ok);
        let all = format!("{stdout}{stderr}");
        assert!(!all.contains("SECRET"), "{all}");
        assert!(
            all.contains("broken.toml: line 2") && all.contains("ingest_token = \"****\""),
            "{all}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_feed_definition_linked_to_another_file_is_refused_without_its_contents() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.toml");
    std::fs::write(&secret, "ingest_token = \"tok-SECRET\"\n").unwrap();
    let feeds = dir.path().join("feeds");
    std::fs::create_dir(&feeds).unwrap();
    std::os::unix::fs::symlink(&secret, feeds.join("world.toml")).unwrap();
    for command in ["check", "serve"] {
        let (ok, stdout, stderr) = output(
            wirefeed(dir.path())
                .env("WIREFEED_FEEDS_DIR", &feeds)
                .arg(command),
        );
        assert!(!ok, "{command}");
        let all = format!("{stdout}{stderr}");
        assert!(
            all.contains("world.toml") && all.contains("symbolic link"),
            "{all}"
        );
        assert!(!all.contains("SECRET"), "{all}");
    }
}

#[test]
fn every_wirefeed_variable_set_empty_counts_as_unset() {
    // Every variable the README names, WIREFEED_CONFIG included, as a compose file passing
    // `${VAR:-}` sets them: `check` reads the default config file and the defaults.
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let variables: std::collections::BTreeSet<&str> = readme
        .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|word| word.starts_with("WIREFEED_") && word.len() > "WIREFEED_".len())
        .collect();
    assert!(variables.contains("WIREFEED_CONFIG"), "{variables:?}");
    assert!(variables.len() > 40, "{variables:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = wirefeed(dir.path());
    cmd.current_dir(common::repo());
    for variable in &variables {
        cmd.env(variable, "");
    }
    let (ok, stdout, stderr) = output(cmd.arg("check"));
    assert!(ok, "{stdout}{stderr}");
    // Blank is empty too.
    let (ok, stdout, stderr) = output(
        wirefeed(dir.path())
            .current_dir(common::repo())
            .env("WIREFEED_CONFIG", " ")
            .arg("check"),
    );
    assert!(ok, "{stdout}{stderr}");
    // A named file that does not exist is still refused.
    let (ok, _, stderr) = output(
        wirefeed(dir.path())
            .env("WIREFEED_CONFIG", dir.path().join("missing.toml"))
            .arg("check"),
    );
    assert!(!ok && stderr.contains("missing.toml"), "{stderr}");
}
