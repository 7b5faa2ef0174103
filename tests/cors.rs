//! Cross-origin reads against the real binary: public documents answer any origin on every
//! status (a cache hit and a 304 included), preflights are answered, pages are not opened up.

mod common;

use common::Server;

#[tokio::test]
async fn feeds_answer_any_origin_on_hits_and_304s_and_preflights_succeed() {
    let server = Server::start();
    let client = reqwest::Client::new();
    let origin = "https://reader.example";
    for path in ["/feeds/world.json", "/feeds.opml", "/api/changes?limit=1"] {
        // Twice: the second answer of a feed is a cache hit.
        for _ in 0..2 {
            let r = client
                .get(server.url(path))
                .header("origin", origin)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(r.headers()["access-control-allow-origin"], "*", "{path}");
            let exposed = r.headers()["access-control-expose-headers"]
                .to_str()
                .unwrap();
            assert!(exposed.contains("ETag"), "{path}: {exposed}");
        }
    }
    let first = client
        .get(server.url("/feeds/world.json"))
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].clone();
    let not_modified = client
        .get(server.url("/feeds/world.json"))
        .header("origin", origin)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers()["access-control-allow-origin"], "*");

    let preflight = client
        .request(reqwest::Method::OPTIONS, server.url("/feeds/world.atom"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "if-none-match")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("If-None-Match")
    );
    assert!(h.contains_key("access-control-max-age"));

    // Pages and the admin are not opened to other origins.
    let page = client
        .get(server.url("/"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert!(page.headers().get("access-control-allow-origin").is_none());
    let admin = client
        .request(reqwest::Method::OPTIONS, server.url("/admin"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 405);
}
