//! The ingest API against the real server: publish, correct, read, kill; tokens; problem+json
//! errors; hostile input; and no acknowledged story lost to SIGKILL.

mod common;

use common::{Server, fixture};
use reqwest::StatusCode;

const TOKEN: &str = "test-desk-token-0123456789";

fn with_token(cmd: &mut std::process::Command) {
    cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .request(method, server.url(path))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    request.send().await.unwrap()
}

fn started() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), with_token);
    (dir, server)
}

async fn problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let value: serde_json::Value = response.json().await.unwrap();
    assert_eq!(value["status"], status);
    value
}

#[tokio::test]
async fn a_publish_is_201_with_location_and_in_the_feeds_at_once() {
    let (_dir, server) = started();
    let before = server.get("/feeds/g20.atom").await.headers()["etag"].clone();
    let body = std::fs::read_to_string(fixture("publish-g20-bilateral.json")).unwrap();
    let response = send(&server, reqwest::Method::POST, "/api/articles", Some(&body)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        server.url("/api/articles/wf-20261126-g20-bilateral")
    );
    let feed = server.get("/feeds/g20.atom").await;
    assert_ne!(feed.headers()["etag"], before);
    assert!(
        feed.text()
            .await
            .unwrap()
            .contains("wf-20261126-g20-bilateral")
    );
    let again = send(&server, reqwest::Method::POST, "/api/articles", Some(&body)).await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "retrying an identical POST is harmless"
    );
}

#[tokio::test]
async fn put_creates_then_a_correction_replaces_and_appears_once() {
    let (_dir, server) = started();
    let mut story: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("publish-g20-bilateral.json")).unwrap(),
    )
    .unwrap();
    story.as_object_mut().unwrap().remove("id");
    let path = "/api/articles/wf-20261126-g20-bilateral";
    let created = send(
        &server,
        reqwest::Method::PUT,
        path,
        Some(&story.to_string()),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    story["title"] = "CORRECTED: Leaders agree to resume trade dialogue".into();
    story["updated"] = "2026-11-26T04:00:00Z".into();
    let replaced = send(
        &server,
        reqwest::Method::PUT,
        path,
        Some(&story.to_string()),
    )
    .await;
    assert_eq!(replaced.status(), StatusCode::OK);
    let feed = feed_rs::parser::parse(server.text("/feeds/g20.rss").await.as_bytes()).unwrap();
    let ours: Vec<_> = feed
        .entries
        .iter()
        .filter(|e| e.id.ends_with("wf-20261126-g20-bilateral"))
        .collect();
    assert_eq!(ours.len(), 1);
    assert!(
        ours[0]
            .title
            .as_ref()
            .unwrap()
            .content
            .starts_with("CORRECTED:")
    );
    let read: serde_json::Value = send(&server, reqwest::Method::GET, path, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["updated"], "2026-11-26T04:00:00Z");
    story["id"] = "another-id".into();
    let mismatch = send(
        &server,
        reqwest::Method::PUT,
        path,
        Some(&story.to_string()),
    )
    .await;
    assert_eq!(problem(mismatch, 422).await["errors"][0]["pointer"], "/id");
}

#[tokio::test]
async fn a_kill_replaces_the_story_with_a_notice_and_its_page_answers_410() {
    let (_dir, server) = started();
    let path = "/api/articles/wf-20261125-g20-communique";
    let atom_before = server.get("/feeds/g20.rss").await.headers()["etag"].clone();
    assert_eq!(
        send(&server, reqwest::Method::DELETE, path, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // Every format keeps the entry under its id, as a withdrawal notice without the text.
    for ext in ["rss", "atom", "json"] {
        let body = server.text(&format!("/feeds/g20.{ext}")).await;
        assert!(body.contains("wf-20261125-g20-communique"), "{ext}");
        assert!(body.contains("WITHDRAWN: G20 communiqué"), "{ext}: {body}");
        assert!(body.contains("This story has been withdrawn."), "{ext}");
        assert!(
            !body.contains("Paragraph 14 acknowledges"),
            "{ext}: the text stays"
        );
    }
    assert_ne!(
        server.get("/feeds/g20.rss").await.headers()["etag"],
        atom_before
    );
    assert_eq!(
        server
            .get("/articles/wf-20261125-g20-communique")
            .await
            .status(),
        410
    );
    let atom = server.text("/feeds/g20.atom").await;
    let tombstone =
        "<at:deleted-entry ref=\"tag:127.0.0.1,2026:article:wf-20261125-g20-communique\" when=\"";
    assert!(atom.contains(tombstone), "no RFC 6721 tombstone in {atom}");
    assert!(atom.contains("xmlns:at=\"http://purl.org/atompub/tombstones/1.0\""));
    assert!(
        !server
            .text("/feeds/china.atom")
            .await
            .contains("deleted-entry"),
        "china never had the story"
    );
    problem(send(&server, reqwest::Method::GET, path, None).await, 410).await;
    assert_eq!(
        send(&server, reqwest::Method::DELETE, path, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    problem(
        send(
            &server,
            reqwest::Method::DELETE,
            "/api/articles/never-filed",
            None,
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let (_dir, server) = started();
    let url = server.url("/api/articles/wf-20261125-g20-communique");
    let none = client().get(&url).send().await.unwrap();
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"wirefeed\""
    );
    problem(none, 401).await;
    let wrong = client()
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    problem(wrong, 401).await;
    let log = std::fs::read_to_string(server.data.join("server.log")).unwrap();
    assert!(
        !log.contains(TOKEN) && !log.contains("not-the-token"),
        "a token reached the log"
    );
}

#[tokio::test]
async fn with_no_token_configured_the_api_is_off() {
    let server = Server::start();
    let response = client()
        .post(server.url("/api/articles"))
        .bearer_auth("anything")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(response, 403).await;
}

#[tokio::test]
async fn bad_requests_get_problem_json_and_change_nothing() {
    let (_dir, server) = started();
    let etag = server.get("/feeds/all.atom").await.headers()["etag"].clone();
    let post = |body: String, content_type: &'static str| {
        client()
            .post(server.url("/api/articles"))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    problem(
        post("{\"id\": ".into(), "application/json").await.unwrap(),
        400,
    )
    .await;
    problem(
        post("[".repeat(10_000), "application/json").await.unwrap(),
        400,
    )
    .await;
    problem(
        post("<article/>".into(), "application/xml").await.unwrap(),
        415,
    )
    .await;
    problem(
        post(
            format!("{{\"title\": \"{}\"}}", "x".repeat(2 << 20)),
            "application/json",
        )
        .await
        .unwrap(),
        413,
    )
    .await;
    let invalid = post(
        r#"{"id":"wf-bad","title":"","categories":["World News"],"published":"yesterday"}"#.into(),
        "application/json",
    )
    .await
    .unwrap();
    let body = problem(invalid, 422).await;
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    for pointer in ["/title", "/categories/0", "/published", "/content_html"] {
        assert!(
            pointers.contains(&pointer),
            "{pointer} missing from {pointers:?}"
        );
    }
    let invalid_utf8 = client()
        .post(server.url("/api/articles"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .await
        .unwrap();
    problem(invalid_utf8, 400).await;
    assert_eq!(
        server.get("/feeds/all.atom").await.headers()["etag"],
        etag,
        "a rejected request changed a feed"
    );
}

#[tokio::test]
async fn hostile_html_and_control_characters_never_reach_a_feed() {
    let (_dir, server) = started();
    let body = std::fs::read_to_string(fixture("hostile/script-and-control.json")).unwrap();
    assert_eq!(
        send(&server, reqwest::Method::POST, "/api/articles", Some(&body))
            .await
            .status(),
        201
    );
    for ext in ["rss", "atom", "json"] {
        let text = server.text(&format!("/feeds/world.{ext}")).await;
        let parsed =
            feed_rs::parser::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{ext}: {e}"));
        let entry = parsed
            .entries
            .iter()
            .find(|e| e.id.ends_with("wf-hostile-001"))
            .unwrap();
        let content = entry.content.as_ref().unwrap().body.clone().unwrap();
        for bad in ["<script", "onclick", "onerror", "javascript:"] {
            assert!(!content.contains(bad), "{bad} in {ext}: {content}");
        }
        assert!(
            !text.contains('\u{0}') && !text.contains('\u{1b}'),
            "control character in {ext}"
        );
        let title = &entry.title.as_ref().unwrap().content;
        assert_eq!(
            title, "Markets rally]]> after <script>alert(1)</script> talks",
            "{ext}"
        );
    }
}

#[tokio::test]
async fn every_acknowledged_publish_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("publish-g20-bilateral.json")).unwrap(),
    )
    .unwrap();
    let mut acknowledged = Vec::new();
    let mut n = 0;
    for round in 0..8 {
        let server = Server::start_in(dir.path(), with_token);
        // The kill below is timed from when the server can take stories, not from when its
        // port opened (start-up reaches the store after binding).
        let ready = std::time::Instant::now();
        while server.get("/readyz").await.status() != 200 {
            assert!(
                ready.elapsed() < std::time::Duration::from_secs(10),
                "never ready"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let url = server.url("/api/articles");
        // Publish from a separate task and SIGKILL the server mid-stream.
        let publisher = {
            let template = template.clone();
            let start = n;
            tokio::spawn(async move {
                let mut acked = Vec::new();
                // The first id may be one the last round sent but never heard back about: it
                // may or may not have been stored, so 200 (already there) is as good as 201.
                for i in start..start + 1000 {
                    let mut story = template.clone();
                    story["id"] = format!("wf-durability-{i:05}").into();
                    let sent = client()
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/json")
                        .body(story.to_string())
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 201 || (i == start && r.status() == 200) => {
                            acked.push(i)
                        }
                        Ok(r) => panic!(
                            "publish {i} got {}: {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        ),
                        Err(_) => break, // the server was killed
                    }
                }
                acked
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(150 + 70 * round)).await;
        server.stop();
        let acked = publisher.await.unwrap();
        assert!(!acked.is_empty(), "round {round} acknowledged nothing");
        n = acked.last().unwrap() + 1;
        acknowledged.extend(acked);
    }
    let server = Server::start_in(dir.path(), with_token);
    for i in &acknowledged {
        let response = send(
            &server,
            reqwest::Method::GET,
            &format!("/api/articles/wf-durability-{i:05}"),
            None,
        )
        .await;
        assert_eq!(response.status(), 200, "acknowledged story {i} was lost");
    }
    feed_rs::parser::parse(server.text("/feeds/g20.atom").await.as_bytes()).unwrap();
}

async fn send_ninjs(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: &str,
) -> reqwest::Response {
    client()
        .request(method, server.url(path))
        .bearer_auth(TOKEN)
        .header("content-type", "application/ninjs+json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn ninjs_is_chosen_by_content_type_and_lands_in_the_feeds() {
    let (_dir, server) = started();
    let body = std::fs::read_to_string(fixture("ninjs/g20-climate-finance.json")).unwrap();
    let response = send_ninjs(&server, reqwest::Method::POST, "/api/articles", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = "urn-newsml-wire.example.com-20261125-g20-climate-finance";
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        server.url(&format!("/api/articles/{id}"))
    );
    let stored: serde_json::Value = response.json().await.unwrap();
    assert_eq!(stored["dateline"], "RIO DE JANEIRO");
    assert_eq!(
        stored["categories"],
        serde_json::json!(["g20", "world", "climate"])
    );
    assert!(!stored["content_html"].as_str().unwrap().contains("<script"));

    let feed = server.get("/feeds/g20.atom").await.text().await.unwrap();
    assert!(feed.contains("G20 leaders agree to triple climate finance"));
    assert!(feed.contains(id));

    // The same document as plain application/json is not wirefeed's article JSON: 422.
    let wrong = send(&server, reqwest::Method::POST, "/api/articles", Some(&body)).await;
    assert_eq!(wrong.status().as_u16(), 422);

    // A PUT names the story in its URL.
    let put = send_ninjs(
        &server,
        reqwest::Method::PUT,
        "/api/articles/rio-climate",
        &body,
    )
    .await;
    assert_eq!(put.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn ninjs_errors_name_the_ninjs_field_and_change_nothing() {
    let (_dir, server) = started();
    let before = server.get("/feeds/all.atom").await.headers()["etag"].clone();
    let body = std::fs::read_to_string(fixture("ninjs/g20-climate-finance.json"))
        .unwrap()
        .replace("2026-11-25T09:12:00Z", "Monday morning");
    let response = send_ninjs(&server, reqwest::Method::POST, "/api/articles", &body).await;
    let value = problem(response, 422).await;
    assert_eq!(value["errors"][0]["pointer"], "/firstcreated", "{value}");

    let unknown = std::fs::read_to_string(fixture("ninjs/g20-climate-finance.json"))
        .unwrap()
        .replace("\"usable\"", "\"pending\"");
    let response = send_ninjs(&server, reqwest::Method::POST, "/api/articles", &unknown).await;
    let value = problem(response, 422).await;
    assert_eq!(value["errors"][0]["pointer"], "/pubstatus", "{value}");
    // Withholding a story the server never had: nothing to withdraw.
    let withheld = unknown.replace("\"pending\"", "\"withheld\"");
    let response = send_ninjs(&server, reqwest::Method::POST, "/api/articles", &withheld).await;
    problem(response, 404).await;
    assert_eq!(
        server.get("/feeds/all.atom").await.headers()["etag"],
        before
    );
}
