//! Readers behind a reverse proxy, against the real server: with 127.0.0.1 configured as a
//! trusted proxy (`trusted_proxies`), requests from 127.0.0.1 are attributed to the client its
//! `X-Forwarded-For` or `Forwarded` names — the rightmost address that is not a trusted proxy —
//! for the per-client poll limit and the reader counts; the same headers from any other peer
//! (127.0.0.2 here) are ignored, as are headers that do not parse.

mod common;

use std::net::IpAddr;

use common::{Server, wirefeed};
use serde_json::Value;

const TOKEN: &str = "proxies-test-token";

fn start() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN)
            .env("WIREFEED_TRUSTED_PROXIES", "127.0.0.1/32")
            .env("WIREFEED_POLL_LIMIT_PER_MINUTE", "2");
    });
    (dir, server)
}

/// The status of an unconditional poll of `path` sent from `from` with `headers`.
async fn poll(server: &Server, from: [u8; 4], path: &str, headers: &[(&str, &str)]) -> u16 {
    let client = reqwest::Client::builder()
        .local_address(IpAddr::from(from))
        .user_agent("NetNewsWire (RSS Reader; https://netnewswire.com/)")
        .build()
        .unwrap();
    let mut request = client.get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Distinct direct clients of `feed` today, from the stats API.
async fn readers(server: &Server, feed: &str) -> u64 {
    let stats: Value = reqwest::Client::new()
        .get(server.url("/api/stats?days=1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feed"] == feed)
        .unwrap_or_else(|| panic!("no figures for {feed} in {stats}"))["direct_clients"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn headers_from_an_untrusted_peer_are_ignored() {
    let (_dir, server) = start();
    let untrusted = [127, 0, 0, 2];
    let spoofs = [
        ("x-forwarded-for", "203.0.113.1"),
        ("forwarded", "for=203.0.113.2"),
        ("x-forwarded-for", "203.0.113.3, 127.0.0.1"),
    ];
    let mut statuses = Vec::new();
    for (name, value) in spoofs {
        statuses.push(poll(&server, untrusted, "/feeds/g20.rss", &[(name, value)]).await);
    }
    assert_eq!(
        statuses,
        [200, 200, 429],
        "the limit is keyed by the peer, whatever it claims"
    );
    assert_eq!(readers(&server, "g20.rss").await, 1, "one reader");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_its_own_reader() {
    let (_dir, server) = start();
    let proxy = [127, 0, 0, 1];
    let feed = "/feeds/world.atom";
    let (a, b) = (
        [("x-forwarded-for", "203.0.113.1")],
        [("x-forwarded-for", "203.0.113.2")],
    );
    for _ in 0..2 {
        assert_eq!(poll(&server, proxy, feed, &a).await, 200);
        assert_eq!(poll(&server, proxy, feed, &b).await, 200);
    }
    // Each is throttled alone, even when the client put spoofed entries on the left of the
    // chain, or the proxy wrote RFC 7239's header instead.
    let spoofed = [("x-forwarded-for", "198.51.100.66, 203.0.113.1")];
    assert_eq!(poll(&server, proxy, feed, &spoofed).await, 429);
    let rfc7239 = [(
        "forwarded",
        "for=198.51.100.66;proto=https, for=203.0.113.2",
    )];
    assert_eq!(poll(&server, proxy, feed, &rfc7239).await, 429);
    // An IPv6 client with a port, quoted as RFC 7239 asks, is a third reader.
    let v6 = [("forwarded", r#"for="[2001:db8:cafe::17]:4711""#)];
    assert_eq!(poll(&server, proxy, feed, &v6).await, 200);
    // Headers that do not parse leave the proxy's own address: a fourth.
    for junk in [
        ("x-forwarded-for", "not-an-address"),
        ("forwarded", "for=\"[::1"),
    ] {
        assert_eq!(poll(&server, proxy, feed, &[junk]).await, 200, "{junk:?}");
    }
    assert_eq!(
        poll(&server, proxy, feed, &[("x-forwarded-for", "???")]).await,
        429,
        "the third poll of the proxy itself"
    );
    assert_eq!(readers(&server, "world.atom").await, 4);
}

#[test]
fn check_refuses_a_network_that_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["10.0.0.0/33", "10.0.0.0/8, proxy.example", "::1/200"] {
        let out = wirefeed(dir.path())
            .env("WIREFEED_TRUSTED_PROXIES", bad)
            .arg("check")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad}: {stderr}");
        assert!(
            stderr.contains("WIREFEED_TRUSTED_PROXIES"),
            "{bad}: {stderr}"
        );
    }
    let good = wirefeed(dir.path())
        .env(
            "WIREFEED_TRUSTED_PROXIES",
            "127.0.0.1, 10.0.0.0/8, fd00::/8",
        )
        .arg("check")
        .output()
        .unwrap();
    assert!(good.status.success(), "{good:?}");
}
