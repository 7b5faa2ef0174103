//! The HTML pages and the OPML list, from the real server.

mod common;

use common::Server;

fn alternates(html: &str) -> Vec<(String, String)> {
    html.match_indices("<link rel=\"alternate\"")
        .map(|(at, _)| {
            let tag = &html[at..at + html[at..].find('>').unwrap()];
            let attr = |name: &str| {
                let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                tag[start..start + tag[start..].find('"').unwrap()].to_owned()
            };
            (attr("type"), attr("href"))
        })
        .collect()
}

#[tokio::test]
async fn the_home_page_offers_the_whole_wire_in_every_format() {
    let server = Server::start();
    let html = server.text("/").await;
    assert!(html.starts_with("<!DOCTYPE html>"));
    let links = alternates(&html);
    for (media_type, ext) in [
        ("application/rss+xml", "rss"),
        ("application/atom+xml", "atom"),
        ("application/feed+json", "json"),
    ] {
        let want = (
            media_type.to_owned(),
            server.url(&format!("/feeds/all.{ext}")),
        );
        assert!(links.contains(&want), "{want:?} missing from {links:?}");
    }
    assert!(html.contains(&server.url("/categories/g20")));
}

#[tokio::test]
async fn every_autodiscovered_feed_exists() {
    let server = Server::start();
    for page in [
        "/",
        "/categories/world",
        "/articles/wf-20261125-g20-hangzhou-roundup",
    ] {
        let html = server.text(page).await;
        let links = alternates(&html);
        assert!(!links.is_empty(), "{page} has no autodiscovery");
        for (_, href) in links {
            let path = href.strip_prefix(&server.base).unwrap();
            assert_eq!(server.get(path).await.status(), 200, "{href} from {page}");
        }
    }
}

#[tokio::test]
async fn an_article_page_shows_the_story_in_its_language() {
    let server = Server::start();
    let html = server
        .text("/articles/wf-20261125-g20-hangzhou-roundup")
        .await;
    assert!(html.contains("HANGZHOU, China"));
    // Names isolated, so a Latin byline keeps its order in a right-to-left page too.
    assert!(html.contains("By <bdi>Li Wei, Sarah Okafor</bdi>"));
    assert!(html.contains("<figcaption>"));
    // Escaped exactly once (the templates write numeric character references).
    assert!(html.contains("<h1>G20 sidelines: leaders trade &#34;frank&#34; views on tariffs &#38; supply chains in Hangzhou</h1>"), "{html}");
    assert!(!html.contains("&#38;#") && !html.contains("&amp;amp;"));
    assert!(html.contains("Off the wire"), "related headlines");
    assert!(
        html.contains("readonly value=\"http"),
        "copyable feed addresses"
    );
    let arabic = server.text("/articles/wf-20261125-world-arabic").await;
    assert!(
        arabic.contains("<html lang=\"ar\" dir=\"rtl\">"),
        "Arabic reads right to left"
    );
}

#[tokio::test]
async fn unknown_categories_and_articles_are_404_with_a_way_back() {
    let server = Server::start();
    for path in [
        "/categories/atlantis",
        "/articles/no-such-story",
        "/articles/a%2Fb",
        "/nowhere",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        assert!(
            response.text().await.unwrap().contains(&server.url("/")),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_opml_lists_every_category_once() {
    let server = Server::start();
    let response = server.get("/feeds.opml").await;
    assert_eq!(
        response.headers()["content-type"],
        "text/x-opml; charset=utf-8"
    );
    let opml = response.text().await.unwrap();
    let mut categories: Vec<String> = common::sample()
        .iter()
        .flat_map(|a| {
            a["categories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
        })
        .collect();
    categories.sort();
    categories.dedup();
    for category in categories.iter().map(String::as_str).chain(["all"]) {
        let url = server.url(&format!("/feeds/{category}.rss"));
        assert_eq!(
            opml.matches(&format!("xmlUrl=\"{url}\"")).count(),
            1,
            "{category}"
        );
    }
}

#[tokio::test]
async fn health_is_ok() {
    let server = Server::start();
    assert_eq!(server.text("/healthz").await, "ok\n");
}

/// The `href` of the page's stylesheet link.
fn stylesheet(html: &str) -> String {
    let at = html
        .find("<link rel=\"stylesheet\" href=\"")
        .expect("a stylesheet link")
        + "<link rel=\"stylesheet\" href=\"".len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn pages_forbid_sniffing_framing_and_inline_code_and_load_a_served_stylesheet() {
    let server = Server::start();
    let story = common::expected_ids(None, 1).remove(0);
    let mut sheets = std::collections::BTreeSet::new();
    for path in [
        "/".to_owned(),
        "/categories/g20".to_owned(),
        format!("/articles/{story}"),
        "/articles/no-such-story".to_owned(),
        // A feed route's 404 is a page too.
        "/feeds/no-such-desk.rss".to_owned(),
    ] {
        let response = server.get(&path).await;
        let headers = response.headers().clone();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "style-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
        let html = response.text().await.unwrap();
        for inline in ["<style", "<script", " style=\"", " onload="] {
            assert!(!html.contains(inline), "{path} has {inline}");
        }
        sheets.insert(stylesheet(&html));
    }
    assert_eq!(sheets.len(), 1, "one stylesheet for every page: {sheets:?}");
    let href = sheets.pop_first().unwrap();
    assert!(href.starts_with("/static/site.css?v="), "{href}");
    let css = server.get(&href).await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let cache_control = css.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(
        cache_control.contains("max-age=31536000"),
        "{cache_control}"
    );
    let etag = css.headers()["etag"].clone();
    let body = css.bytes().await.unwrap();
    // The version in the link is the hash of the bytes served, so a changed stylesheet has a
    // new URL and no browser keeps the old one for a year.
    let version = href.split("?v=").nth(1).unwrap();
    assert_eq!(
        version,
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&body))
    );
    assert!(std::str::from_utf8(&body).unwrap().contains(".masthead"));
    let again = reqwest::Client::new()
        .get(server.url(&href))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}

/// Pages are kept between changes and answered with an ETag (304 when unchanged), and every
/// change — a publish, a kill — is on them at once.
#[tokio::test]
async fn pages_are_kept_between_changes_and_revalidated_across_them() {
    const TOKEN: &str = "pages-test-token-0123456789";
    const ID: &str = "wf-20261126-g20-bilateral";
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
    });
    let client = reqwest::Client::new();
    let get = async |path: &str, etag: Option<&str>| {
        let mut request = client.get(server.url(path));
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        request.send().await.unwrap()
    };
    let home = get("/", None).await;
    assert_eq!(home.status(), 200);
    assert_eq!(home.headers()["cache-control"], "public, no-cache");
    let etag = home.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(get("/", Some(&etag)).await.status(), 304);

    let story = std::fs::read_to_string(common::fixture("publish-g20-bilateral.json")).unwrap();
    let published = client
        .post(server.url("/api/articles"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(story)
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 201);
    let home = get("/", Some(&etag)).await;
    assert_eq!(home.status(), 200, "a publish changes the home page");
    assert!(home.text().await.unwrap().contains(ID));
    let page = format!("/articles/{ID}");
    assert_eq!(get(&page, None).await.status(), 200);

    let killed = client
        .delete(server.url(&format!("/api/articles/{ID}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(killed.status(), 204);
    assert_eq!(
        get(&page, None).await.status(),
        410,
        "the kept page is not served"
    );
    assert!(!get("/", None).await.text().await.unwrap().contains(ID));
}
