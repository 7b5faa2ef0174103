//! The HTML pages in a real browser: headless Chromium, driven through chromedriver's
//! WebDriver API, loads each page type at a phone width (375 px) and a desktop width (1280 px)
//! from the real server, checks that nothing overflows sideways, that the feed autodiscovery
//! links and the story's images (with alt text) are there, and saves a screenshot of each in
//! `target/screenshots/` for a person to look at. The operator's page is loaded the same way,
//! signed in with Basic credentials, and its feeds table must show every column at 1280 px
//! (nothing to scroll to).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); without them the
//! test says SKIPPED on stderr and passes.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::Server;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const TOKEN: &str = "browser-test-token";

/// `url` with operator credentials in it (a browser sends them as Basic authentication).
fn signed_in(url: &str) -> String {
    url.replacen("http://", &format!("http://operator:{TOKEN}@"), 1)
}

struct Driver {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        let started = Instant::now();
        loop {
            let ready = driver
                .client
                .get(format!("{}/status", driver.base))
                .send()
                .await;
            if let Ok(response) = ready {
                let status: Value = response.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver never got ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(
            response["value"].get("error").is_none(),
            "WebDriver {path}: {response}"
        );
        response["value"].clone()
    }

    /// A fresh browser whose viewport is `width` CSS px, with a profile directory of its own.
    /// Chromium windows cannot be narrower than about 500 px, so phone widths are emulated.
    async fn session(&self, width: u32, profile: &Path) -> String {
        let mut options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking",
                format!("--user-data-dir={}", profile.display()),
                format!("--window-size={},900", width.max(800)),
            ],
        });
        if width < 800 {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": 812, "pixelRatio": 1.0}});
        }
        let value = self
            .call(
                reqwest::Method::POST,
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": options,
                }}})),
            )
            .await;
        value["sessionId"].as_str().unwrap().to_owned()
    }
}

/// What the page looks like from inside the browser.
const INSPECT: &str = r#"
    const root = document.documentElement;
    return {
        width: window.innerWidth,
        scrollWidth: root.scrollWidth,
        lang: root.lang,
        alternates: document.querySelectorAll('head link[rel="alternate"]').length,
        images: Array.from(document.images).map(i => ({ src: i.getAttribute('src'), alt: i.alt })),
        landmarks: ['header', 'main', 'footer'].every(t => document.querySelector(t) !== null),
        copyable: document.querySelectorAll('input[readonly]').length,
        charts: document.querySelectorAll('svg.chart').length,
        bars: document.querySelectorAll('svg.chart rect').length,
        // The operator's table and the box it scrolls in: every column shown means nothing
        // to scroll to.
        table: (() => {
            const box = document.querySelector('table.report')?.parentElement;
            return box ? { scrollWidth: box.scrollWidth, clientWidth: box.clientWidth } : null;
        })(),
    };
"#;

#[tokio::test]
async fn every_page_type_fits_a_phone_and_a_desktop_in_chromium() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: browser test did not run: {CHROMIUM} or {CHROMEDRIVER} is missing \
             (apt-get install chromium chromium-driver)."
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
    });
    // Some polls, so the operator's page has bars to draw.
    for path in ["/feeds/world.atom", "/feeds/g20.rss", "/feeds/all.json"] {
        assert_eq!(server.get(path).await.status(), 200);
    }
    let driver = Driver::start().await;
    let shots = common::repo().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let pictured = common::sample()
        .into_iter()
        .find(|a| a["images"].as_array().is_some_and(|i| !i.is_empty()))
        .expect("a sample story with a picture");
    let pictured_id = pictured["id"].as_str().unwrap().to_owned();
    let pages = [
        ("home", "/".to_owned()),
        ("category", "/categories/g20".to_owned()),
        ("article", format!("/articles/{pictured_id}")),
        ("not-found", "/articles/no-such-story".to_owned()),
        ("operator", "/admin".to_owned()),
    ];
    for width in [375, 1280] {
        let profile = tempfile::tempdir().unwrap();
        let session = driver.session(width, profile.path()).await;
        let at = |path: &str| format!("/session/{session}{path}");
        for (name, path) in &pages {
            driver
                .call(
                    reqwest::Method::POST,
                    &at("/url"),
                    Some(json!({"url": signed_in(&server.url(path))})),
                )
                .await;
            let seen = driver
                .call(
                    reqwest::Method::POST,
                    &at("/execute/sync"),
                    Some(json!({"script": INSPECT, "args": []})),
                )
                .await;
            // Saved before anything is checked, so a failure can be looked at.
            let png = driver
                .call(reqwest::Method::GET, &at("/screenshot"), None)
                .await;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(png.as_str().unwrap())
                .unwrap();
            assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
            std::fs::write(shots.join(format!("{name}-{width}.png")), bytes).unwrap();
            let what = format!("{name} at {width} px: {seen}");
            assert_eq!(seen["width"], width, "the viewport is {width} px wide");
            assert!(
                seen["scrollWidth"].as_u64() <= seen["width"].as_u64(),
                "horizontal overflow, {what}"
            );
            assert_eq!(seen["landmarks"], true, "header, main and footer, {what}");
            if *name == "operator" {
                // One chart for the whole server and one per feed, each with its bars.
                assert!(seen["charts"].as_u64().unwrap() >= 4, "charts, {what}");
                assert!(seen["bars"].as_u64().unwrap() > 0, "bars, {what}");
                if width >= 1280 {
                    let table = &seen["table"];
                    assert!(
                        table["scrollWidth"].as_u64() <= table["clientWidth"].as_u64(),
                        "every column of the feeds table shows without scrolling, {what}"
                    );
                }
            } else if *name != "not-found" {
                assert!(
                    seen["alternates"].as_u64().unwrap() >= 3,
                    "autodiscovery, {what}"
                );
                assert!(
                    seen["copyable"].as_u64().unwrap() >= 3,
                    "subscribe box, {what}"
                );
            }
            if *name == "article" {
                let images = seen["images"].as_array().unwrap();
                assert_eq!(
                    images.len(),
                    pictured["images"].as_array().unwrap().len(),
                    "{what}"
                );
                assert!(
                    images
                        .iter()
                        .all(|i| !i["alt"].as_str().unwrap().is_empty()),
                    "every image has alt text, {what}"
                );
                assert_eq!(seen["lang"], pictured["language"], "{what}");
            }
        }
        driver
            .call(
                reqwest::Method::DELETE,
                &format!("/session/{session}"),
                None,
            )
            .await;
    }
}
