//! A kill is final, against the real server on SQLite and on PostgreSQL: once a story is killed
//! (DELETE, a ninjs cancellation, or a held story dropped before its lift), no retry of its
//! publish, no correction, no later ninjs version, no embargoed version and no re-import brings
//! it back; each is answered 410 problem+json (an import counts it as left killed), nothing
//! changes and no change is recorded. Two replicas racing a correction against a kill never
//! revive it either: the check is inside the store's write.

mod common;

use common::pg::Schema;
use common::{Server, fixture};
use serde_json::Value;

const TOKEN: &str = "kills-test-token-0123456789";
const BILATERAL: &str = "wf-20261126-g20-bilateral";
const QUAKE: &str = "urn-newsml-wire.example.com-20261202-quake-flash";

fn with_token(cmd: &mut std::process::Command) {
    cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
}

async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    media_type: &str,
    body: Option<String>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(method, server.url(path))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.header("content-type", media_type).body(body);
    }
    request.send().await.unwrap()
}

fn bilateral() -> String {
    std::fs::read_to_string(fixture("publish-g20-bilateral.json")).unwrap()
}

fn ninjs(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("ninjs/{name}.json"))).unwrap()
}

async fn post(server: &Server, body: String) -> reqwest::Response {
    send(
        server,
        reqwest::Method::POST,
        "/api/articles",
        "application/json",
        Some(body),
    )
    .await
}

async fn post_ninjs(server: &Server, body: String) -> reqwest::Response {
    send(
        server,
        reqwest::Method::POST,
        "/api/articles",
        "application/ninjs+json",
        Some(body),
    )
    .await
}

/// Expects the 410 problem+json of a write to a killed story.
async fn refused_as_killed(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 410, "{what}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 410, "{what}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("killed") && detail.contains("new id"),
        "{what}: {detail}"
    );
}

/// The kinds of every change the cursor lists for `id`, oldest first.
async fn changes_of(server: &Server, id: &str) -> Vec<String> {
    let body: Value = server
        .get("/api/changes?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id)
        .map(|c| c["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// A server with the ingest token on a fresh PostgreSQL schema (kept while the schema and
/// directory are), or None when PostgreSQL is not reachable.
async fn on_postgres() -> Option<(Schema, tempfile::TempDir, Server)> {
    let schema = Schema::fresh().await?;
    let dir = tempfile::tempdir().unwrap();
    let configure = schema.configure("a");
    let server = Server::start_in(dir.path(), |cmd| {
        configure(cmd);
        with_token(cmd);
    });
    Some((schema, dir, server))
}

/// Publish, kill, then every way back in: each refused, the story still killed everywhere.
async fn nothing_brings_a_killed_story_back(server: &Server) {
    let path = format!("/api/articles/{BILATERAL}");
    assert_eq!(post(server, bilateral()).await.status(), 201);
    assert_eq!(
        send(server, reqwest::Method::DELETE, &path, "", None)
            .await
            .status(),
        204
    );
    let before = server.get("/feeds/world.rss").await.headers()["etag"].clone();

    // The retry a desk makes after a 5xx whose write had committed.
    refused_as_killed(post(server, bilateral()).await, "the same POST again").await;
    // A correction, by PUT and by POST.
    let mut corrected: Value = serde_json::from_str(&bilateral()).unwrap();
    corrected["title"] = "Leaders agree to resume trade dialogue, set January date".into();
    refused_as_killed(
        send(
            server,
            reqwest::Method::PUT,
            &path,
            "application/json",
            Some(corrected.to_string()),
        )
        .await,
        "a PUT with a new body",
    )
    .await;
    corrected["published"] = "2026-11-26T02:14:50Z".into();
    refused_as_killed(post(server, corrected.to_string()).await, "another POST").await;
    // Under embargo.
    let mut embargoed = corrected.clone();
    embargoed["embargo"] = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339()
        .into();
    refused_as_killed(
        post(server, embargoed.to_string()).await,
        "an embargoed POST",
    )
    .await;

    // Still killed, everywhere, and nothing recorded.
    assert_eq!(
        send(server, reqwest::Method::GET, &path, "", None)
            .await
            .status(),
        410
    );
    let feed = server.get("/feeds/world.rss").await;
    assert_eq!(feed.headers()["etag"], before, "the feed did not change");
    let rss = feed.text().await.unwrap();
    assert!(rss.contains("WITHDRAWN: Leaders agree"), "{rss}");
    assert!(!rss.contains("set January date"));
    assert_eq!(
        server.get(&format!("/articles/{BILATERAL}")).await.status(),
        410
    );
    assert_eq!(changes_of(server, BILATERAL).await, ["create", "kill"]);
    // A kill retried is still harmless.
    assert_eq!(
        send(server, reqwest::Method::DELETE, &path, "", None)
            .await
            .status(),
        204
    );

    // ninjs: a later `usable` version of a cancelled story is refused too.
    assert_eq!(post_ninjs(server, ninjs("flash-quake")).await.status(), 201);
    assert_eq!(
        post_ninjs(server, ninjs("quake-canceled")).await.status(),
        200
    );
    refused_as_killed(
        post_ninjs(server, ninjs("quake-usable-after-kill")).await,
        "ninjs version 3, usable, after the cancellation",
    )
    .await;
    refused_as_killed(
        send(
            server,
            reqwest::Method::PUT,
            &format!("/api/articles/{QUAKE}"),
            "application/ninjs+json",
            Some(ninjs("quake-usable-after-kill")),
        )
        .await,
        "the same by PUT",
    )
    .await;
    assert!(
        !server
            .text("/feeds/world.rss")
            .await
            .contains("JMA revises reading")
    );
    assert_eq!(changes_of(server, QUAKE).await, ["create", "kill"]);
}

#[tokio::test]
async fn nothing_brings_a_killed_story_back_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), with_token);
    nothing_brings_a_killed_story_back(&server).await;
}

#[tokio::test]
async fn nothing_brings_a_killed_story_back_on_postgres() {
    let Some((_schema, _dir, server)) = on_postgres().await else {
        return;
    };
    nothing_brings_a_killed_story_back(&server).await;
}

/// `wirefeed import` of a file holding a killed story, with `configure` choosing the store.
fn import(dir: &std::path::Path, configure: &dyn Fn(&mut std::process::Command)) -> String {
    let mut cmd = common::wirefeed(dir);
    configure(&mut cmd);
    let out = cmd
        .arg("import")
        .arg(fixture("publish-g20-bilateral.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

async fn reimporting_leaves_a_killed_story_killed(
    dir: &std::path::Path,
    configure: &dyn Fn(&mut std::process::Command),
) {
    let first = import(dir, configure);
    assert!(
        first.contains("imported 1 new, 0 updated, 0 unchanged, 0 rejected in"),
        "{first}"
    );
    let server = Server::start_in(dir, |cmd| {
        configure(cmd);
        with_token(cmd);
    });
    let path = format!("/api/articles/{BILATERAL}");
    assert_eq!(
        send(&server, reqwest::Method::DELETE, &path, "", None)
            .await
            .status(),
        204
    );
    server.stop();
    let again = import(dir, configure);
    assert!(
        again.contains(
            "imported 0 new, 0 updated, 0 unchanged, 0 rejected, 1 left killed (a kill is final) in"
        ),
        "{again}"
    );
    let server = Server::start_in(dir, |cmd| {
        configure(cmd);
        with_token(cmd);
    });
    assert_eq!(
        send(&server, reqwest::Method::GET, &path, "", None)
            .await
            .status(),
        410
    );
    assert!(
        server
            .text("/feeds/world.rss")
            .await
            .contains("WITHDRAWN: Leaders agree")
    );
    assert_eq!(changes_of(&server, BILATERAL).await, ["create", "kill"]);
}

#[tokio::test]
async fn reimporting_leaves_a_killed_story_killed_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    reimporting_leaves_a_killed_story_killed(dir.path(), &|_| {}).await;
}

#[tokio::test]
async fn reimporting_leaves_a_killed_story_killed_on_postgres() {
    let Some(schema) = Schema::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let configure = |cmd: &mut std::process::Command| schema.configure("a")(cmd);
    reimporting_leaves_a_killed_story_killed(dir.path(), &configure).await;
}

/// Replica A corrects each story while replica B kills it, at once: whichever lands first,
/// every story ends killed — the correction never writes over the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_replicas_never_revive_a_killed_story() {
    let Some(schema) = Schema::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let start = |name: &str| {
        let data = dir.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        let configure = schema.configure(name);
        Server::start_in(&data, |cmd| {
            configure(cmd);
            with_token(cmd);
        })
    };
    let (a, b) = (start("a"), start("b"));
    for n in 0..20 {
        let id = format!("wf-race-{n}");
        let path = format!("/api/articles/{id}");
        assert_eq!(post(&a, common::story(&id)).await.status(), 201);
        let mut corrected: Value = serde_json::from_str(&common::story(&id)).unwrap();
        corrected["title"] = format!("Corrected {n}").into();
        let (put, delete) = tokio::join!(
            send(
                &a,
                reqwest::Method::PUT,
                &path,
                "application/json",
                Some(corrected.to_string()),
            ),
            send(&b, reqwest::Method::DELETE, &path, "", None),
        );
        assert_eq!(delete.status(), 204, "{id}");
        assert!(
            [200, 410].contains(&put.status().as_u16()),
            "{id}: {}",
            put.status()
        );
        for server in [&a, &b] {
            assert_eq!(
                send(server, reqwest::Method::GET, &path, "", None)
                    .await
                    .status(),
                410,
                "{id} stays killed"
            );
        }
        let kinds = changes_of(&a, &id).await;
        assert_eq!(
            kinds.last().map(String::as_str),
            Some("kill"),
            "{id}: {kinds:?}"
        );
    }
}

fn moved_story(version: &str) -> String {
    std::fs::read_to_string(fixture(&format!("{version}.json"))).unwrap()
}

/// Whether `path` (a feed document) carries the withdrawal notice of `id`.
async fn carries_notice(server: &Server, path: &str, id: &str) -> bool {
    let response = server.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    let body = response.text().await.unwrap();
    let notice = body.contains(id) && body.contains("WITHDRAWN:");
    if path.ends_with(".atom") {
        assert_eq!(notice, body.contains("deleted-entry"), "{path}: {body}");
    }
    notice
}

/// A story filed in world (urgent enough for the flash feed) is corrected into business with a
/// lower urgency, then killed: world's and flash's readers saw it, so the kill reaches them
/// too, in every format, the subscription document and the day's archive alike; and the day's
/// archive of the feeds it left kept answering meanwhile.
async fn a_kill_reaches_feeds_a_correction_moved_the_story_out_of(server: &Server) {
    const ID: &str = "wf-20261106-shipping-merger-filed-world";
    assert_eq!(post(server, moved_story("moved-story")).await.status(), 201);
    for path in ["/feeds/world.atom", "/feeds/flash.atom"] {
        assert!(server.text(path).await.contains(ID), "{path}");
    }
    let path = format!("/api/articles/{ID}");
    let corrected = send(
        server,
        reqwest::Method::PUT,
        &path,
        "application/json",
        Some(moved_story("moved-story-corrected")),
    )
    .await;
    assert_eq!(corrected.status(), 200);
    for path in ["/feeds/world.atom", "/feeds/flash.atom"] {
        assert!(
            !server.text(path).await.contains(ID),
            "{path} after the move"
        );
    }
    // The day the story was filed in world still answers there (empty now), as it did.
    for feed in ["world", "flash", "business"] {
        let path = format!("/feeds/{feed}/archive/2026-11-06.atom");
        let archive = server.get(&path).await;
        assert_eq!(archive.status(), 200, "{path} after the move");
        let holds = archive.text().await.unwrap().contains(ID);
        assert!(!holds || feed == "business", "{path} after the move");
    }
    assert_eq!(
        send(server, reqwest::Method::DELETE, &path, "", None)
            .await
            .status(),
        204
    );
    for feed in ["world", "flash", "business"] {
        for format in ["atom", "rss", "json"] {
            for path in [
                format!("/feeds/{feed}.{format}"),
                format!("/feeds/{feed}/archive/2026-11-06.{format}"),
            ] {
                assert!(carries_notice(server, &path, ID).await, "{path}");
            }
        }
    }
    let kill = changes_of(server, ID).await;
    assert_eq!(kill, ["create", "update", "kill"]);
}

#[tokio::test]
async fn a_kill_reaches_feeds_a_correction_moved_the_story_out_of_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), with_token);
    a_kill_reaches_feeds_a_correction_moved_the_story_out_of(&server).await;
}

#[tokio::test]
async fn a_kill_reaches_feeds_a_correction_moved_the_story_out_of_on_postgres() {
    let Some((_schema, _dir, server)) = on_postgres().await else {
        return;
    };
    a_kill_reaches_feeds_a_correction_moved_the_story_out_of(&server).await;
}
