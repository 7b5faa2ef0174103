//! Starts the real `wirefeed` binary on 127.0.0.1 port 0 with a fresh SQLite file in a temp
//! dir, and talks HTTP to it.
#![allow(dead_code)]

pub mod pg;
pub mod proxy;
#[allow(dead_code)]
pub mod subscriber;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The first HTTP/1.1 response in `bytes` (one with a Content-Length), once all of it has
/// arrived: its status line, its body's length and its length in all.
pub fn whole_response(bytes: &[u8]) -> Option<(String, usize, usize)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]);
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a content-length");
    let total = end + 4 + length;
    (bytes.len() >= total).then(|| (head.lines().next().unwrap().to_owned(), length, total))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// A `wirefeed` command with the shipped config, a temp data dir and the repo's feeds.
pub fn wirefeed(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wirefeed"));
    cmd.env("WIREFEED_CONFIG", repo().join("config/wirefeed.toml"))
        .env("WIREFEED_DATA_DIR", data)
        .env("WIREFEED_FEEDS_DIR", repo().join("feeds"))
        .env("WIREFEED_LISTEN", "127.0.0.1:0")
        .env("WIREFEED_LOG", "warn")
        .env_remove("WIREFEED_PUBLIC_URL")
        .env_remove("WIREFEED_STORE_URL");
    cmd
}

pub struct Server {
    child: Child,
    pub base: String,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
    client: reqwest::Client,
}

impl Server {
    /// A server on a fresh store, which loads the sample wire.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_owned();
        let mut server = Self::start_in(&data, |_| {});
        server._dir = Some(dir);
        server
    }

    /// A server on the store in `data`, with extra settings.
    pub fn start_in(data: &Path, configure: impl FnOnce(&mut Command)) -> Self {
        let mut cmd = wirefeed(data);
        configure(&mut cmd);
        Self::start_command(data, cmd)
    }

    /// A server on the store in `data`, started by `cmd` (which must end up running
    /// `wirefeed`, e.g. through a wrapper that sets limits; `serve` is appended).
    pub fn start_command(data: &Path, mut cmd: Command) -> Self {
        let log = std::fs::File::create(data.join("server.log")).unwrap();
        let mut child = cmd
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("the wirefeed binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| {
                let log = std::fs::read_to_string(data.join("server.log")).unwrap_or_default();
                panic!("the server did not start: {line:?}\n{log}")
            })
            .to_owned();
        Self {
            child,
            base,
            data: data.to_owned(),
            _dir: None,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn head(&self, path: &str) -> reqwest::Response {
        self.client.head(self.url(path)).send().await.unwrap()
    }

    pub async fn text(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.unwrap()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `INT`, ...) to the server process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits up to `limit` for the server to exit by itself and returns its exit status.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not exit within {limit:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sample wire as the tests' independent expectation, read straight from the JSON file.
pub fn sample() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(repo().join("sample/wire.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The ids a feed over `categories` (None = all) should show, newest first.
pub fn expected_ids(categories: Option<&[&str]>, limit: usize) -> Vec<String> {
    let mut stories: Vec<(String, String)> = sample()
        .into_iter()
        .filter(|a| {
            let filed: Vec<&str> = a["categories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            categories.is_none_or(|wanted| wanted.iter().any(|c| filed.contains(c)))
        })
        .map(|a| {
            let published = chrono::DateTime::parse_from_rfc3339(a["published"].as_str().unwrap())
                .unwrap()
                .to_utc()
                .to_rfc3339();
            (published, a["id"].as_str().unwrap().to_owned())
        })
        .collect();
    stories.sort_by(|a, b| b.cmp(a));
    stories.into_iter().take(limit).map(|(_, id)| id).collect()
}

/// Reads one counter from /metrics.
pub async fn counter(server: &Server, name: &str) -> u64 {
    let text = server.text("/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("wirefeed_{name}_total ")))
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
        .parse()
        .unwrap()
}

/// Polls `path` until its ETag differs from `old`, for changes written by another process.
pub async fn wait_for_new_etag(server: &Server, path: &str, old: &str) -> reqwest::Response {
    for _ in 0..100 {
        let response = server.get(path).await;
        if response.headers()["etag"] != old {
            return response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path} still has ETag {old} after 5 s");
}

/// The `href` of the first `<link>` (or `<atom:link>`) with `rel` in a feed document.
#[allow(dead_code)]
pub fn link(xml: &str, rel: &str) -> Option<String> {
    xml.split('<').find_map(|tag| {
        let tag = tag.split('>').next()?;
        if !(tag.starts_with("link ") || tag.starts_with("atom:link "))
            || !tag.contains(&format!("rel=\"{rel}\""))
        {
            return None;
        }
        let href = tag.split("href=\"").nth(1)?.split('"').next()?;
        Some(href.replace("&amp;", "&"))
    })
}

/// The G20 bilateral story of the fixtures under another id, as article JSON.
#[allow(dead_code)]
pub fn story(id: &str) -> String {
    let mut story: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("publish-g20-bilateral.json")).unwrap(),
    )
    .unwrap();
    story["id"] = id.into();
    story.to_string()
}

/// A server on a store holding the markets week (`markets-week.ndjson`, imported through the
/// command line) with the small markets feed of `feeds-history`, so that a week spans several
/// pages and archive days; the ingest API takes `token`.
#[allow(dead_code)]
pub fn markets_week(token: &'static str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let status = wirefeed(dir.path())
        .arg("import")
        .arg(fixture("markets-week.ndjson"))
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_FEEDS_DIR", fixture("feeds-history"))
            .env("WIREFEED_INGEST_TOKEN", token);
    });
    (dir, server)
}
