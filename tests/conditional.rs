//! Polling cheaply, rule by rule (RFC 9110 §13, RFC 3229), against the real server.

mod common;

use std::io::Read;
use std::time::Duration;

use common::{Server, counter, fixture, wait_for_new_etag, wirefeed};
use reqwest::header::HeaderMap;

const FEED: &str = "/feeds/world.rss";

async fn get_with(server: &Server, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

/// The document's ETag and Last-Modified, once the server hands out the date (it withholds
/// Last-Modified for a few seconds after a change; see the cache's rule).
/// Imports a fixture into the running server's store, as another process would.
fn import(server: &Server, name: &str) {
    let out = wirefeed(&server.data)
        .arg("import")
        .arg(fixture(name))
        .output()
        .unwrap();
    assert!(out.status.success());
}

async fn validators(server: &Server, path: &str) -> (String, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let response = server.get(path).await;
        assert_eq!(response.status(), 200);
        let h = response.headers();
        if let Some(date) = h.get("last-modified") {
            return (
                header(h, "etag").to_owned(),
                date.to_str().unwrap().to_owned(),
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Last-Modified never appeared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A 304 repeats what RFC 9110 §15.4.5 asks of it, and Last-Modified (the validators are
/// settled here), but no other representation metadata, and no CORS headers to a request
/// without `Origin`.
async fn assert_304(response: reqwest::Response) -> HeaderMap {
    assert_eq!(response.status(), 304);
    let headers = response.headers().clone();
    for name in ["etag", "last-modified", "cache-control", "vary", "date"] {
        assert!(
            headers.contains_key(name),
            "304 without {name}: {headers:?}"
        );
    }
    for name in ["link", "content-type", "access-control-allow-origin"] {
        assert!(!headers.contains_key(name), "304 with {name}: {headers:?}");
    }
    assert!(
        response.bytes().await.unwrap().is_empty(),
        "a 304 has no body"
    );
    headers
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_gives_304_with_every_validator() {
    let server = Server::start();
    let (etag, last_modified) = validators(&server, FEED).await;
    let headers = assert_304(get_with(&server, FEED, &[("if-none-match", &etag)]).await).await;
    assert_eq!(header(&headers, "etag"), etag);
    assert_eq!(header(&headers, "last-modified"), last_modified);
    assert_eq!(header(&headers, "vary"), "accept-encoding");
}

#[tokio::test]
async fn if_none_match_star_gives_304() {
    let server = Server::start();
    validators(&server, FEED).await;
    assert_304(get_with(&server, FEED, &[("if-none-match", "*")]).await).await;
}

#[tokio::test]
async fn if_none_match_uses_weak_comparison() {
    let server = Server::start();
    let (etag, _) = validators(&server, FEED).await;
    assert_304(get_with(&server, FEED, &[("if-none-match", &format!("W/{etag}"))]).await).await;
}

#[tokio::test]
async fn if_none_match_lists_match_on_any_member() {
    let server = Server::start();
    let (etag, _) = validators(&server, FEED).await;
    let list = format!("\"0123\", W/\"abcd\", {etag}");
    assert_304(get_with(&server, FEED, &[("if-none-match", &list)]).await).await;
    let stale = get_with(&server, FEED, &[("if-none-match", "\"0123\", W/\"abcd\"")]).await;
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn each_coding_has_its_own_etag_and_if_none_match_matches_any_coding_of_the_version() {
    let server = Server::start();
    validators(&server, FEED).await;
    let mut tags = Vec::new();
    for coding in ["identity", "gzip", "br", "zstd"] {
        let response = get_with(&server, FEED, &[("accept-encoding", coding)]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(response.headers(), "vary"), "accept-encoding");
        if coding == "identity" {
            assert!(response.headers().get("content-encoding").is_none());
        } else {
            assert_eq!(header(response.headers(), "content-encoding"), coding);
        }
        tags.push(header(response.headers(), "etag").to_owned());
    }
    let mut distinct = tags.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{tags:?}");
    // A client holding the gzip copy asks without Accept-Encoding: still current.
    assert_304(get_with(&server, FEED, &[("if-none-match", &tags[1])]).await).await;
}

#[tokio::test]
async fn a_compressed_304_names_the_compressed_etag() {
    let server = Server::start();
    validators(&server, FEED).await;
    let gzip = get_with(&server, FEED, &[("accept-encoding", "gzip")]).await;
    let tag = header(gzip.headers(), "etag").to_owned();
    let headers = assert_304(
        get_with(
            &server,
            FEED,
            &[("accept-encoding", "gzip"), ("if-none-match", &tag)],
        )
        .await,
    )
    .await;
    assert_eq!(header(&headers, "etag"), tag);
}

/// What browsers and curl send: every coding at the same weight.
const EVERY_CODING: &str = "gzip, deflate, br, zstd";

#[tokio::test]
async fn the_first_answer_after_a_change_does_not_wait_for_the_costliest_coding() {
    let server = Server::start();
    validators(&server, FEED).await;
    let compressions = counter(&server, "feed_compressions").await;
    // Nothing compressed yet: the cheapest coding the client takes as gladly, at once...
    let first = get_with(&server, FEED, &[("accept-encoding", EVERY_CODING)]).await;
    assert_eq!(header(first.headers(), "content-encoding"), "zstd");
    let zstd_tag = header(first.headers(), "etag").to_owned();
    let identity = get_with(&server, FEED, &[]).await.bytes().await.unwrap();
    assert_eq!(
        zstd::decode_all(&first.bytes().await.unwrap()[..]).unwrap(),
        identity
    );
    // One client's read alone makes nothing more: a version nobody else reads before it
    // changes again is not worth brotli...
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        counter(&server, "feed_compressions").await,
        compressions + 1,
        "only zstd made for a version read once"
    );
    // ...but once a second client goes without it, brotli, the smallest, is made in the
    // background for the answers after it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let brotli = loop {
        let response = get_with(&server, FEED, &[("accept-encoding", EVERY_CODING)]).await;
        if header(response.headers(), "content-encoding") == "br" {
            break response;
        }
        assert!(std::time::Instant::now() < deadline, "brotli never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut decoded = Vec::new();
    brotli::BrotliDecompress(&mut &brotli.bytes().await.unwrap()[..], &mut decoded).unwrap();
    assert_eq!(decoded, identity);
    assert_eq!(
        counter(&server, "feed_compressions").await,
        compressions + 2,
        "each coding made once"
    );
    // A client holding the zstd copy is told it is current in the words it holds.
    let headers = assert_304(
        get_with(
            &server,
            FEED,
            &[
                ("accept-encoding", EVERY_CODING),
                ("if-none-match", &zstd_tag),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(header(&headers, "etag"), zstd_tag);
    // A cache naming every variant it holds gets the tag of one it could be sent now.
    let gzip_tag = zstd_tag.replace("-zstd", "-gzip");
    let headers = assert_304(
        get_with(
            &server,
            FEED,
            &[
                ("accept-encoding", "br, zstd"),
                ("if-none-match", &format!("{gzip_tag}, {zstd_tag}")),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(header(&headers, "etag"), zstd_tag);
}

#[tokio::test]
async fn compressed_bodies_decode_to_the_identity_body_with_a_correct_length() {
    let server = Server::start();
    validators(&server, FEED).await;
    let identity = get_with(&server, FEED, &[]).await.bytes().await.unwrap();
    let gzip = get_with(&server, FEED, &[("accept-encoding", "gzip")]).await;
    let length: usize = header(gzip.headers(), "content-length").parse().unwrap();
    let body = gzip.bytes().await.unwrap();
    assert_eq!(body.len(), length);
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, identity);
    assert!(body.len() * 3 < identity.len());
}

#[tokio::test]
async fn if_modified_since_at_or_after_last_modified_gives_304() {
    let server = Server::start();
    validators(&server, FEED).await;
    let (_, last_modified) = validators(&server, FEED).await;
    assert_304(get_with(&server, FEED, &[("if-modified-since", &last_modified)]).await).await;
    let earlier = "Sat, 01 Jan 2000 00:00:00 GMT";
    assert_eq!(
        get_with(&server, FEED, &[("if-modified-since", earlier)])
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn garbage_or_future_if_modified_since_is_ignored() {
    let server = Server::start();
    validators(&server, FEED).await;
    for date in [
        "yesterday",
        "Wed, 32 Nov 2026 25:00:00 GMT",
        "",
        "Fri, 01 Jan 2100 00:00:00 GMT",
    ] {
        let response = get_with(&server, FEED, &[("if-modified-since", date)]).await;
        assert_eq!(response.status(), 200, "If-Modified-Since: {date:?}");
    }
}

#[tokio::test]
async fn if_none_match_takes_precedence_over_if_modified_since() {
    let server = Server::start();
    validators(&server, FEED).await;
    let (_, last_modified) = validators(&server, FEED).await;
    let response = get_with(
        &server,
        FEED,
        &[
            ("if-none-match", "\"not-the-current-tag\""),
            ("if-modified-since", &last_modified),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn garbage_if_none_match_is_not_a_match() {
    let server = Server::start();
    validators(&server, FEED).await;
    for value in ["not-quoted", "\"unterminated", "W/", ","] {
        let response = get_with(&server, FEED, &[("if-none-match", value)]).await;
        assert_eq!(response.status(), 200, "If-None-Match: {value:?}");
    }
}

#[tokio::test]
async fn head_is_conditional_too() {
    let server = Server::start();
    let (etag, _) = validators(&server, FEED).await;
    let response = reqwest::Client::new()
        .head(server.url(FEED))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(header(response.headers(), "etag"), etag);
    // GET's 304 has no content; a Content-Length: 0 would not be the 200's length (RFC 9110 §8.6).
    assert_eq!(response.headers().get("content-length"), None);
}

#[tokio::test]
async fn identity_refused_with_nothing_acceptable_is_406_and_q0_is_honoured() {
    let server = Server::start();
    validators(&server, FEED).await;
    let refused = get_with(
        &server,
        FEED,
        &[("accept-encoding", "identity;q=0, deflate")],
    )
    .await;
    assert_eq!(refused.status(), 406);
    let no_br = get_with(&server, FEED, &[("accept-encoding", "br;q=0, gzip;q=0.5")]).await;
    assert_eq!(header(no_br.headers(), "content-encoding"), "gzip");
}

#[tokio::test]
async fn a_406_varies_on_accept_encoding() {
    let server = Server::start();
    validators(&server, FEED).await;
    for path in [FEED, "/static/site.css", "/sitemap.xml"] {
        let refused = get_with(&server, path, &[("accept-encoding", "identity;q=0")]).await;
        assert_eq!(refused.status(), 406, "{path}");
        assert_eq!(
            header(refused.headers(), "vary"),
            "accept-encoding",
            "{path}"
        );
    }
}

#[tokio::test]
async fn freshness_comes_from_the_feed_definition_and_never_expires_zero() {
    let server = Server::start();
    validators(&server, FEED).await;
    let response = server.get("/feeds/g20.rss").await;
    assert_eq!(
        header(response.headers(), "cache-control"),
        "public, max-age=60, stale-while-revalidate=300"
    );
    assert!(response.headers().get("expires").is_none());
    assert!(response.text().await.unwrap().contains("<ttl>1</ttl>"));
}

#[tokio::test]
async fn a_cache_hit_touches_neither_the_store_nor_a_compressor() {
    let server = Server::start();
    validators(&server, FEED).await;
    let compressions = counter(&server, "feed_compressions").await;
    // Each coding is compressed once, when a client first asks for it...
    for coding in ["gzip", "br", "zstd"] {
        get_with(&server, FEED, &[("accept-encoding", coding)])
            .await
            .bytes()
            .await
            .unwrap();
    }
    assert_eq!(
        counter(&server, "feed_compressions").await,
        compressions + 3
    );
    // ...and never again for that version.
    let before = [
        counter(&server, "feed_renders").await,
        counter(&server, "feed_compressions").await,
        counter(&server, "feed_store_reads").await,
        counter(&server, "cache_hits").await,
    ];
    for coding in ["identity", "gzip", "br", "zstd"] {
        get_with(&server, FEED, &[("accept-encoding", coding)])
            .await
            .bytes()
            .await
            .unwrap();
    }
    let after = [
        counter(&server, "feed_renders").await,
        counter(&server, "feed_compressions").await,
        counter(&server, "feed_store_reads").await,
        counter(&server, "cache_hits").await,
    ];
    assert_eq!(
        after[..3],
        before[..3],
        "a hit rendered, compressed or read the store"
    );
    assert_eq!(after[3], before[3] + 4);
}

#[tokio::test]
async fn concurrent_misses_for_one_feed_render_once() {
    let server = Server::start();
    let requests = (0..32).map(|_| get_with(&server, "/feeds/business.atom", &[]));
    for response in futures_join(requests).await {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(counter(&server, "feed_renders").await, 1);
}

#[tokio::test]
async fn the_formats_of_a_feed_read_the_store_once_per_version() {
    let server = Server::start();
    let formats = ["/feeds/world.rss", "/feeds/world.atom", "/feeds/world.json"];
    let reads = counter(&server, "feed_store_reads").await;
    let mut tags = Vec::new();
    for path in formats {
        tags.push(validators(&server, path).await.0);
    }
    assert_eq!(
        counter(&server, "feed_store_reads").await,
        reads + 1,
        "three formats of one version read the store more than once"
    );
    assert_eq!(counter(&server, "feed_renders").await, 3);
    // A change is a new read, again shared, and every format shows it.
    import(&server, "late-story.ndjson");
    for (path, old) in formats.into_iter().zip(&tags) {
        let fresh = wait_for_new_etag(&server, path, old).await;
        let text = fresh.text().await.unwrap();
        assert!(text.contains("wf-20261125-world-late-flash"), "{path}");
    }
    assert_eq!(counter(&server, "feed_store_reads").await, reads + 2);
    // Another document of the feed (a trimmed one) reads for itself.
    get_with(&server, "/feeds/world.rss?limit=2", &[]).await;
    assert_eq!(counter(&server, "feed_store_reads").await, reads + 3);
}

async fn futures_join<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut out = Vec::new();
    // Polled together by one task: every request is in flight before any completes.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for slot in pending.iter_mut() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        out.push(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out
}

#[tokio::test]
async fn a_publish_invalidates_exactly_the_feeds_the_story_is_in() {
    let server = Server::start();
    validators(&server, FEED).await;
    let (world, _) = validators(&server, "/feeds/world.rss").await;
    let (culture, _) = validators(&server, "/feeds/culture.rss").await;
    let renders = counter(&server, "feed_renders").await;
    import(&server, "late-story.ndjson");
    let fresh = wait_for_new_etag(&server, "/feeds/world.rss", &world).await;
    assert!(
        fresh
            .text()
            .await
            .unwrap()
            .contains("wf-20261125-world-late-flash")
    );
    assert_eq!(validators(&server, "/feeds/culture.rss").await.0, culture);
    assert_eq!(
        counter(&server, "feed_renders").await,
        renders + 1,
        "only world was rebuilt"
    );
    assert_304(
        get_with(
            &server,
            "/feeds/culture.rss",
            &[("if-none-match", &culture)],
        )
        .await,
    )
    .await;
}

#[tokio::test]
async fn a_feed_read_before_a_change_is_made_again_before_anyone_asks() {
    let server = Server::start();
    let (world, _) = validators(&server, FEED).await;
    let gzip = [("accept-encoding", "gzip")];
    get_with(&server, FEED, &gzip).await.bytes().await.unwrap();
    let renders = counter(&server, "feed_renders").await;
    let compressions = counter(&server, "feed_compressions").await;
    import(&server, "late-story.ndjson");
    // Nobody asks: the feed is made again, and compressed in the coding it was read in.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while counter(&server, "feed_compressions").await < compressions + 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the feed was not made again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Only what a client had read: the story's other feeds (world.atom, all.*) were never read.
    assert_eq!(counter(&server, "feed_renders").await, renders + 1);
    assert_eq!(counter(&server, "feed_remakes").await, 1);
    let misses = counter(&server, "cache_misses").await;
    let fresh = get_with(&server, FEED, &gzip).await;
    assert_eq!(fresh.status(), 200);
    assert_ne!(header(fresh.headers(), "etag"), world);
    assert_eq!(header(fresh.headers(), "content-encoding"), "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&fresh.bytes().await.unwrap()[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("wf-20261125-world-late-flash"));
    // The first poll after the change was a hit: no build, no compression.
    assert_eq!(counter(&server, "cache_misses").await, misses);
    assert_eq!(counter(&server, "feed_renders").await, renders + 1);
    assert_eq!(
        counter(&server, "feed_compressions").await,
        compressions + 1
    );
}

#[tokio::test]
async fn a_kill_changes_the_validators_and_moves_last_modified_forward() {
    let server = Server::start();
    let (etag, last_modified) = validators(&server, "/feeds/culture.atom").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    {
        use wirefeed::store::ArticleStore;
        let store =
            wirefeed::store::sqlite::SqliteStore::open(&server.data.join("wirefeed.sqlite3"))
                .unwrap();
        let id = wirefeed::model::ArticleId::parse("wf-20261122-culture-film").unwrap();
        store.kill(&id).await.unwrap().expect("the story was live");
    }
    wait_for_new_etag(&server, "/feeds/culture.atom", &etag).await;
    let (_, new_modified) = validators(&server, "/feeds/culture.atom").await;
    let response = server.get("/feeds/culture.atom").await;
    let parse = |t: &str| chrono::DateTime::parse_from_rfc2822(&t.replace("GMT", "+0000")).unwrap();
    assert!(
        parse(&new_modified) > parse(&last_modified),
        "{new_modified} vs {last_modified}"
    );
    let atom = response.text().await.unwrap();
    let notice = atom
        .split("<entry>")
        .find(|e| e.contains(":article:wf-20261122-culture-film</id>"))
        .expect("the killed story stays as a withdrawal notice");
    assert!(notice.contains("WITHDRAWN: "), "{notice}");
    assert!(
        atom.contains("<at:deleted-entry"),
        "no tombstone for the killed entry"
    );
    let stale = get_with(
        &server,
        "/feeds/culture.atom",
        &[("if-modified-since", &last_modified)],
    )
    .await;
    assert_eq!(
        stale.status(),
        200,
        "a reader that polled before the kill must see it"
    );
}

#[tokio::test]
async fn two_servers_on_one_store_and_a_restart_give_identical_validators() {
    let dir = tempfile::tempdir().unwrap();
    let public = |cmd: &mut std::process::Command| {
        cmd.env("WIREFEED_PUBLIC_URL", "https://wire.example.com");
    };
    let a = Server::start_in(dir.path(), public);
    let b = Server::start_in(dir.path(), public);
    let mut seen = Vec::new();
    for path in ["/feeds/world.rss", "/feeds/all.atom", "/feeds/g20.json"] {
        for coding in ["identity", "gzip", "br", "zstd"] {
            validators(&a, path).await;
            validators(&b, path).await;
            let ra = get_with(&a, path, &[("accept-encoding", coding)]).await;
            let rb = get_with(&b, path, &[("accept-encoding", coding)]).await;
            let va = (
                header(ra.headers(), "etag").to_owned(),
                header(ra.headers(), "last-modified").to_owned(),
            );
            let vb = (
                header(rb.headers(), "etag").to_owned(),
                header(rb.headers(), "last-modified").to_owned(),
            );
            assert_eq!(va, vb, "{path} {coding}");
            assert_eq!(
                ra.bytes().await.unwrap(),
                rb.bytes().await.unwrap(),
                "{path} {coding}"
            );
            assert_304(
                get_with(
                    &b,
                    path,
                    &[("accept-encoding", coding), ("if-none-match", &va.0)],
                )
                .await,
            )
            .await;
            seen.push((path, coding, va));
        }
    }
    a.stop();
    b.stop();
    let restarted = Server::start_in(dir.path(), public);
    for (path, coding, before) in seen {
        validators(&restarted, path).await;
        let r = get_with(&restarted, path, &[("accept-encoding", coding)]).await;
        let after = (
            header(r.headers(), "etag").to_owned(),
            header(r.headers(), "last-modified").to_owned(),
        );
        assert_eq!(after, before, "{path} {coding} after a restart");
    }
}

#[tokio::test]
async fn a_delta_request_gets_226_with_only_the_new_entries() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_DELTAS", "true");
    });
    let (old, _) = validators(&server, "/feeds/world.atom").await;
    import(&server, "late-story.ndjson");
    let current = wait_for_new_etag(&server, "/feeds/world.atom", &old).await;
    let current_tag = header(current.headers(), "etag").to_owned();

    let delta = get_with(
        &server,
        "/feeds/world.atom",
        &[("a-im", "feed"), ("if-none-match", &old)],
    )
    .await;
    assert_eq!(delta.status(), 226);
    assert_eq!(header(delta.headers(), "im"), "feed");
    assert_eq!(header(delta.headers(), "etag"), current_tag);
    let feed = feed_rs::parser::parse(&delta.bytes().await.unwrap()[..]).unwrap();
    let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(ids[0].ends_with(":article:wf-20261125-world-late-flash"));

    // A story elsewhere on the wire leaves world.atom as it is: its delta is still served.
    let culture = validators(&server, "/feeds/culture.atom").await.0;
    import(&server, "culture-late-story.ndjson");
    wait_for_new_etag(&server, "/feeds/culture.atom", &culture).await;
    let delta = get_with(
        &server,
        "/feeds/world.atom",
        &[("a-im", "feed"), ("if-none-match", &old)],
    )
    .await;
    assert_eq!(delta.status(), 226, "after a change elsewhere");
    assert_eq!(header(delta.headers(), "etag"), current_tag);

    // feedparser sends `A-IM: feed` whatever the application knows of deltas, and rss2email
    // (which reaches the server with feedparser's default agent, or its own) treats a 226 as
    // an error and then never moves on: both get the whole feed.
    for agent in [
        "feedparser/6.0.10 +https://github.com/kurtmckee/feedparser/",
        "rss2email/3.13.1 (https://github.com/rss2email/rss2email)",
    ] {
        let whole = get_with(
            &server,
            "/feeds/world.atom",
            &[
                ("a-im", "feed"),
                ("if-none-match", &old),
                ("user-agent", agent),
            ],
        )
        .await;
        assert_eq!(whole.status(), 200, "{agent}");
        assert_eq!(header(whole.headers(), "etag"), current_tag);
    }

    let unknown = get_with(
        &server,
        "/feeds/world.atom",
        &[("a-im", "feed"), ("if-none-match", "\"0000\"")],
    )
    .await;
    assert_eq!(unknown.status(), 200);
    let current = get_with(
        &server,
        "/feeds/world.atom",
        &[("a-im", "feed"), ("if-none-match", &current_tag)],
    )
    .await;
    assert_eq!(current.status(), 304);
}

#[tokio::test]
async fn accept_encoding_on_several_lines_is_one_list() {
    let server = Server::start();
    validators(&server, FEED).await;
    // RFC 9110 §5.3: the lines of a field are one comma-separated list.
    let lines = [
        ("accept-encoding", "identity;q=0"),
        ("accept-encoding", "gzip"),
    ];
    for path in [FEED, "/static/site.css", "/sitemap.xml"] {
        let response = get_with(&server, path, &lines).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(response.headers(), "content-encoding"),
            "gzip",
            "{path}"
        );
        // And a refusal on the second line counts as much as one on the first.
        let refused = get_with(
            &server,
            path,
            &[
                ("accept-encoding", "gzip"),
                ("accept-encoding", "identity;q=0, gzip;q=0"),
            ],
        )
        .await;
        assert_eq!(refused.status(), 406, "{path}");
    }
}

/// The status of `method` on `path` with `headers`.
async fn status_of(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
) -> u16 {
    let mut request = reqwest::Client::new().request(method, server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn if_match_and_if_unmodified_since_are_evaluated_before_if_none_match() {
    let server = Server::start();
    let (etag, last_modified) = validators(&server, FEED).await;
    let gzip_etag = header(
        get_with(&server, FEED, &[("accept-encoding", "gzip")])
            .await
            .headers(),
        "etag",
    )
    .to_owned();
    let weak = format!("W/{etag}");
    let earlier = "Sun, 06 Nov 1994 08:49:37 GMT";
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        for (headers, want) in [
            // If-Match: strong comparison with any coding's tag of the current version.
            (&[("if-match", etag.as_str())][..], 200),
            (&[("if-match", gzip_etag.as_str())], 200),
            (&[("if-match", "*")], 200),
            (&[("if-match", "\"nope\", \"other\"")], 412),
            (&[("if-match", weak.as_str())], 412),
            (&[("if-match", "garbage")], 412),
            // ...and before If-None-Match: false, it is a 412 even for a client that is current.
            (&[("if-match", "\"nope\""), ("if-none-match", &etag)], 412),
            (&[("if-match", &etag), ("if-none-match", &etag)], 304),
            // If-Unmodified-Since, only without If-Match.
            (&[("if-unmodified-since", earlier)], 412),
            (&[("if-unmodified-since", &last_modified)], 200),
            (
                &[("if-unmodified-since", earlier), ("if-match", &etag)],
                200,
            ),
            (&[("if-unmodified-since", "garbage")], 200),
            (
                &[("if-unmodified-since", earlier), ("if-none-match", &etag)],
                412,
            ),
            (
                &[
                    ("if-unmodified-since", &last_modified),
                    ("if-none-match", &etag),
                ],
                304,
            ),
        ] {
            assert_eq!(
                status_of(&server, method.clone(), FEED, headers).await,
                want,
                "{method} {headers:?}"
            );
        }
    }
    // The stylesheet and the sitemaps: If-Match too (they hand out no Last-Modified, so
    // If-Unmodified-Since is ignored there).
    for path in [
        "/static/site.css",
        "/sitemap.xml",
        "/sitemap-news.xml",
        "/robots.txt",
    ] {
        let tag = header(server.get(path).await.headers(), "etag").to_owned();
        for (headers, want) in [
            (&[("if-match", tag.as_str())][..], 200),
            (&[("if-match", "\"nope\"")], 412),
            (&[("if-match", "\"nope\""), ("if-none-match", &tag)], 412),
            (&[("if-match", &tag), ("if-none-match", &tag)], 304),
            (&[("if-unmodified-since", earlier)], 200),
        ] {
            assert_eq!(
                status_of(&server, reqwest::Method::GET, path, headers).await,
                want,
                "{path} {headers:?}"
            );
        }
    }
}

#[tokio::test]
async fn assets_and_sitemaps_match_only_the_tags_they_hand_out_and_send_no_content_type_on_304() {
    let server = Server::start();
    for path in ["/static/site.css", "/sitemap.xml", "/sitemap-news.xml"] {
        let tag = header(server.get(path).await.headers(), "etag").to_owned();
        let opaque = tag.trim_matches('"');
        for (sent, want) in [
            (format!("\"{opaque}-bogus\""), 200),
            (format!("\"{opaque}-\""), 200),
            (format!("\"{opaque}0\""), 200),
            (tag.clone(), 304),
            (format!("W/{tag}"), 304),
            (format!("\"{opaque}-gzip\""), 304),
            (format!("\"{opaque}-zstd\", \"{opaque}-bogus\""), 304),
        ] {
            let response = get_with(&server, path, &[("if-none-match", &sent)]).await;
            assert_eq!(response.status(), want, "{path} {sent}");
            if want == 304 {
                let h = response.headers();
                assert!(!h.contains_key("content-type"), "{path}: {h:?}");
                assert!(
                    h.contains_key("etag") && h.contains_key("cache-control"),
                    "{path}: {h:?}"
                );
            }
        }
    }
    // The favicon is never compressed: only its one tag matches.
    let tag = header(server.get("/favicon.ico").await.headers(), "etag").to_owned();
    let gzip = format!("\"{}-gzip\"", tag.trim_matches('"'));
    assert_eq!(
        get_with(&server, "/favicon.ico", &[("if-none-match", &gzip)])
            .await
            .status(),
        200
    );
    let response = get_with(&server, "/favicon.ico", &[("if-none-match", &tag)]).await;
    assert_eq!(response.status(), 304);
    assert!(!response.headers().contains_key("content-type"));
}
