//! Conditional requests on the ingest API against the real server (RFC 9110 §13): `GET
//! /api/articles/{id}` sends the story's ETag and Last-Modified and answers 304 to a client
//! that has them; `PUT` and `DELETE` evaluate If-Match (strong comparison), If-Unmodified-Since
//! and If-None-Match against exactly those validators — 412 problem+json with nothing changed
//! when they fail — on SQLite and on PostgreSQL.

mod common;

use common::pg::Schema;
use common::{Server, fixture};
use serde_json::Value;

const TOKEN: &str = "preconditions-test-token-0123";
const ID: &str = "wf-20261126-g20-bilateral";

fn with_token(cmd: &mut std::process::Command) {
    cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
}

async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(method, server.url(path))
        .bearer_auth(TOKEN);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request.send().await.unwrap()
}

fn story() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("publish-g20-bilateral.json")).unwrap())
        .unwrap()
}

/// The story's ETag and Last-Modified, as GET sends them.
async fn validators(server: &Server, path: &str) -> (String, String) {
    let response = send(server, reqwest::Method::GET, path, &[], None).await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    (header("etag"), header("last-modified"))
}

/// Expects a 412 problem+json.
async fn failed(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 412, "{what}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
}

async fn change_count(server: &Server) -> usize {
    let body: Value = server
        .get("/api/changes?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    body["changes"].as_array().unwrap().len()
}

async fn preconditions_are_the_validators_get_sends(server: &Server) {
    let path = format!("/api/articles/{ID}");
    let created = send(
        server,
        reqwest::Method::PUT,
        &path,
        &[("if-none-match", "*")],
        Some(&story()),
    )
    .await;
    assert_eq!(
        created.status(),
        201,
        "If-None-Match: * creates a new story"
    );
    let (etag, modified) = validators(server, &path).await;
    assert!(etag.starts_with('"'), "a strong ETag: {etag}");

    // GET: 304 to a client that has the version, by tag (weak comparison) or date.
    for (name, value) in [
        ("if-none-match", etag.clone()),
        ("if-none-match", format!("W/{etag}")),
        ("if-none-match", format!("\"other\", {etag}")),
        ("if-modified-since", modified.clone()),
    ] {
        let response = send(server, reqwest::Method::GET, &path, &[(name, &value)], None).await;
        assert_eq!(response.status(), 304, "{name}: {value}");
        assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
        assert_eq!(
            response.headers()["last-modified"].to_str().unwrap(),
            modified
        );
    }
    let other = send(
        server,
        reqwest::Method::GET,
        &path,
        &[("if-none-match", "\"other\"")],
        None,
    )
    .await;
    assert_eq!(other.status(), 200);

    // Writes whose preconditions fail change nothing.
    let changes = change_count(server).await;
    let mut corrected = story();
    corrected["title"] = "CORRECTED: Leaders agree to resume trade dialogue".into();
    for (name, value) in [
        ("if-match", "\"nope\"".to_owned()),
        ("if-match", format!("W/{etag}")),
        ("if-match", "nope".to_owned()),
        ("if-none-match", "*".to_owned()),
        ("if-none-match", etag.clone()),
        (
            "if-unmodified-since",
            "Sat, 01 Jan 2000 00:00:00 GMT".to_owned(),
        ),
    ] {
        let response = send(
            server,
            reqwest::Method::PUT,
            &path,
            &[(name, &value)],
            Some(&corrected),
        )
        .await;
        failed(response, &format!("PUT {name}: {value}")).await;
    }
    // If-Match outranks If-Unmodified-Since (RFC 9110 §13.2.2).
    failed(
        send(
            server,
            reqwest::Method::PUT,
            &path,
            &[
                ("if-match", "\"nope\""),
                ("if-unmodified-since", "Fri, 01 Jan 2100 00:00:00 GMT"),
            ],
            Some(&corrected),
        )
        .await,
        "a wrong If-Match with a passing date",
    )
    .await;
    for (name, value) in [
        ("if-match", "\"nope\"".to_owned()),
        ("if-match", format!("W/{etag}")),
        (
            "if-unmodified-since",
            "Sat, 01 Jan 2000 00:00:00 GMT".to_owned(),
        ),
        ("if-none-match", "*".to_owned()),
    ] {
        let response = send(
            server,
            reqwest::Method::DELETE,
            &path,
            &[(name, &value)],
            None,
        )
        .await;
        failed(response, &format!("DELETE {name}: {value}")).await;
    }
    // A story that is not there matches no If-Match, not even `*`.
    let mut elsewhere = story();
    elsewhere["id"] = "wf-never-sent".into();
    failed(
        send(
            server,
            reqwest::Method::PUT,
            "/api/articles/wf-never-sent",
            &[("if-match", "*")],
            Some(&elsewhere),
        )
        .await,
        "If-Match: * on nothing",
    )
    .await;
    assert_eq!(
        validators(server, &path).await,
        (etag.clone(), modified.clone())
    );
    assert_eq!(change_count(server).await, changes, "nothing recorded");
    assert!(!server.text("/feeds/g20.rss").await.contains("CORRECTED:"));

    // The current validators pass: a list naming the tag, and the date itself.
    let response = send(
        server,
        reqwest::Method::PUT,
        &path,
        &[
            ("if-match", &format!("\"nope\", {etag}")),
            ("if-unmodified-since", &modified),
        ],
        Some(&corrected),
    )
    .await;
    assert_eq!(response.status(), 200);
    let (newer, _) = validators(server, &path).await;
    assert_ne!(newer, etag);
    assert!(server.text("/feeds/g20.rss").await.contains("CORRECTED:"));
    // The version the client read is no longer current.
    failed(
        send(
            server,
            reqwest::Method::DELETE,
            &path,
            &[("if-match", &etag)],
            None,
        )
        .await,
        "DELETE of a version since corrected",
    )
    .await;
    assert_eq!(
        send(server, reqwest::Method::GET, &path, &[], None)
            .await
            .status(),
        200
    );
    let killed = send(
        server,
        reqwest::Method::DELETE,
        &path,
        &[("if-match", &newer)],
        None,
    )
    .await;
    assert_eq!(killed.status(), 204);
    // Retried, it is the kill already made: still 204.
    let again = send(
        server,
        reqwest::Method::DELETE,
        &path,
        &[("if-match", &newer)],
        None,
    )
    .await;
    assert_eq!(again.status(), 204);
}

#[tokio::test]
async fn preconditions_are_the_validators_get_sends_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), with_token);
    preconditions_are_the_validators_get_sends(&server).await;
}

#[tokio::test]
async fn preconditions_are_the_validators_get_sends_on_postgres() {
    let Some(schema) = Schema::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let configure = schema.configure("a");
    let server = Server::start_in(dir.path(), |cmd| {
        configure(cmd);
        with_token(cmd);
    });
    preconditions_are_the_validators_get_sends(&server).await;
}

/// A held story has a version but no date: If-Match works on it, If-Unmodified-Since is
/// ignored (RFC 9110 §13.1.4), and GET sends no Last-Modified.
#[tokio::test]
async fn a_held_story_is_matched_by_its_etag() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), with_token);
    let path = format!("/api/articles/{ID}");
    let mut held = story();
    held["embargo"] = (chrono::Utc::now() + chrono::Duration::hours(2))
        .to_rfc3339()
        .into();
    assert_eq!(
        send(&server, reqwest::Method::PUT, &path, &[], Some(&held))
            .await
            .status(),
        201
    );
    let read = send(&server, reqwest::Method::GET, &path, &[], None).await;
    assert!(!read.headers().contains_key("last-modified"));
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    held["title"] = "Leaders to resume trade dialogue (embargoed)".into();
    failed(
        send(
            &server,
            reqwest::Method::PUT,
            &path,
            &[("if-match", "\"nope\"")],
            Some(&held),
        )
        .await,
        "a held story's If-Match",
    )
    .await;
    let corrected = send(
        &server,
        reqwest::Method::PUT,
        &path,
        &[("if-unmodified-since", "Sat, 01 Jan 2000 00:00:00 GMT")],
        Some(&held),
    )
    .await;
    assert_eq!(corrected.status(), 200, "no date to compare: ignored");
    held["title"] = "Leaders to resume trade dialogue in January (embargoed)".into();
    failed(
        send(
            &server,
            reqwest::Method::PUT,
            &path,
            &[("if-match", &etag)],
            Some(&held),
        )
        .await,
        "the held version before the correction",
    )
    .await;
    let read = send(&server, reqwest::Method::GET, &path, &[], None).await;
    let current = read.headers()["etag"].to_str().unwrap().to_owned();
    let dropped = send(
        &server,
        reqwest::Method::DELETE,
        &path,
        &[("if-match", &current)],
        None,
    )
    .await;
    assert_eq!(dropped.status(), 204);
}
