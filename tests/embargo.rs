//! Embargoes through the real binary: a story sent with an `embargo` still in the future is
//! accepted and held out of every public document until its lift time, then released exactly
//! once — published at the lift — on one server, on two replicas, and after a restart that
//! spanned the lift. A `PUT` moves or lifts the embargo; a `DELETE` drops a held story.

mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use common::Server;
use common::pg::Schema;
use serde_json::Value;

const TOKEN: &str = "embargo-test-token-0123456789";

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// The G20 communiqué of the fixtures under `id`, embargoed until `lift` (or not at all).
fn communique(id: &str, lift: Option<DateTime<Utc>>) -> Value {
    let mut story: Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixture("embargo-g20-communique.json")).unwrap(),
    )
    .unwrap();
    story["id"] = id.into();
    if let Some(lift) = lift {
        story["embargo"] = lift.to_rfc3339_opts(SecondsFormat::Secs, true).into();
    }
    story
}

/// A lift time `secs` from now, on a whole second.
fn lift_in(secs: i64) -> DateTime<Utc> {
    let t = Utc::now() + chrono::Duration::seconds(secs);
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = client()
        .request(method, server.url(path))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request.send().await.unwrap()
}

async fn post(server: &Server, story: &Value) -> reqwest::Response {
    send(server, reqwest::Method::POST, "/api/articles", Some(story)).await
}

/// Every public place a story could show, and whether `id` is in any of them.
async fn publicly_visible(server: &Server, id: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for path in [
        "/feeds/g20.rss",
        "/feeds/world.atom",
        "/feeds/all.json",
        "/feeds/g20.json?page=2",
        "/",
        "/categories/g20",
        "/api/changes?limit=1000",
    ] {
        let response = server.get(path).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        if text.contains(id) {
            seen.push(format!("{path} ({status})"));
        }
    }
    let page = server.get(&format!("/articles/{id}")).await.status();
    if page != 404 {
        seen.push(format!("/articles/{id} ({page})"));
    }
    seen
}

/// Polls until `id` is in the JSON Feed of `server`, and returns the item.
async fn until_released(server: &Server, id: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let feed: Value = server.get("/feeds/g20.json").await.json().await.unwrap();
        if let Some(item) = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["id"].as_str().is_some_and(|i| i.contains(id)))
        {
            return item.clone();
        }
        assert!(
            started.elapsed() < limit,
            "{id} was not released within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The kinds of the change cursor's records for `id`, as a public client sees them.
async fn changes_of(server: &Server, id: &str) -> Vec<String> {
    let changes: Value = server
        .get("/api/changes?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id)
        .map(|c| c["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn start(data: &std::path::Path, configure: impl FnOnce(&mut std::process::Command)) -> Server {
    Server::start_in(data, |cmd| {
        cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
        configure(cmd);
    })
}

#[tokio::test]
async fn an_embargoed_story_is_held_then_released_once_at_its_lift() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let id = "xw-embargo-lift";
    let lift = lift_in(3);
    let response = post(&server, &communique(id, Some(lift))).await;
    assert_eq!(response.status(), 201, "accepted and held");
    let held: Value = response.json().await.unwrap();
    assert_eq!(
        held["embargo"],
        lift.to_rfc3339_opts(SecondsFormat::Secs, true)
    );

    assert_eq!(publicly_visible(&server, id).await, Vec::<String>::new());
    let desk = send(
        &server,
        reqwest::Method::GET,
        &format!("/api/articles/{id}"),
        None,
    )
    .await;
    assert_eq!(desk.status(), 200, "the desk sees its held story");
    assert_eq!(
        post(&server, &communique(id, Some(lift))).await.status(),
        200,
        "an identical retry changes nothing"
    );

    let item = until_released(&server, id, Duration::from_secs(8)).await;
    let released = Utc::now();
    assert!(
        released >= lift,
        "released at {released}, before the lift {lift}"
    );
    let published: DateTime<Utc> = item["date_published"].as_str().unwrap().parse().unwrap();
    assert_eq!(published, lift, "published at the lift time");
    assert_eq!(changes_of(&server, id).await, ["create"]);
    let story: Value = send(
        &server,
        reqwest::Method::GET,
        &format!("/api/articles/{id}"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        story.get("embargo").is_none(),
        "no longer under embargo: {story}"
    );
    assert_eq!(server.get(&format!("/articles/{id}")).await.status(), 200);
}

#[tokio::test]
async fn a_put_moves_or_lifts_an_embargo_and_a_delete_drops_a_held_story() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let path = |id: &str| format!("/api/articles/{id}");

    // Moved: still held, with the new lift.
    let id = "xw-embargo-moved";
    assert_eq!(
        post(&server, &communique(id, Some(lift_in(3600))))
            .await
            .status(),
        201
    );
    let later = lift_in(7200);
    let moved = send(
        &server,
        reqwest::Method::PUT,
        &path(id),
        Some(&communique(id, Some(later))),
    )
    .await;
    assert_eq!(moved.status(), 200);
    let stored: Value = send(&server, reqwest::Method::GET, &path(id), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored["embargo"],
        later.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    assert_eq!(publicly_visible(&server, id).await, Vec::<String>::new());

    // Lifted early: a PUT without an embargo publishes it now.
    let before = Utc::now();
    let lifted = send(
        &server,
        reqwest::Method::PUT,
        &path(id),
        Some(&communique(id, None)),
    )
    .await;
    assert_eq!(lifted.status(), 201, "published by the PUT");
    let item = until_released(&server, id, Duration::from_secs(1)).await;
    let published: DateTime<Utc> = item["date_published"].as_str().unwrap().parse().unwrap();
    assert!(
        published >= before - chrono::Duration::seconds(1),
        "published at the early lift"
    );
    assert_eq!(changes_of(&server, id).await, ["create"]);

    // A published story cannot be put under embargo.
    let refused = send(
        &server,
        reqwest::Method::PUT,
        &path(id),
        Some(&communique(id, Some(lift_in(60)))),
    )
    .await;
    assert_eq!(refused.status(), 409);

    // Dropped before its lift: never seen, and killed for the desk — a kill is final, so a
    // retry of the embargoed publish neither holds it again nor publishes it at the lift.
    let id = "xw-embargo-dropped";
    let embargoed = communique(id, Some(lift_in(2)));
    assert_eq!(post(&server, &embargoed).await.status(), 201);
    assert_eq!(
        send(&server, reqwest::Method::DELETE, &path(id), None)
            .await
            .status(),
        204
    );
    assert_eq!(
        send(&server, reqwest::Method::GET, &path(id), None)
            .await
            .status(),
        410
    );
    assert_eq!(post(&server, &embargoed).await.status(), 410, "the retry");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(publicly_visible(&server, id).await, Vec::<String>::new());

    // A POST may not take a held story's id for another story.
    let id = "xw-embargo-taken";
    assert_eq!(
        post(&server, &communique(id, Some(lift_in(3600))))
            .await
            .status(),
        201
    );
    let mut other = communique(id, None);
    other["title"] = "Another story".into();
    assert_eq!(post(&server, &other).await.status(), 409);
}

/// Two servers on one store: one story lifts while both run (each replica tries to release
/// it), another while neither runs and is released when one starts again.
async fn lift_across_replicas_and_a_restart<'a>(
    configure: impl Fn(&'static str) -> Box<dyn FnOnce(&mut std::process::Command) + 'a>,
) {
    let dir = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let a = start(&dir_a, configure("a"));
    let b = start(&dir_b, configure("b"));

    let while_running = "xw-embargo-replicas";
    let while_down = "xw-embargo-restart";
    let down_lift = lift_in(12);
    assert_eq!(
        post(&a, &communique(while_running, Some(lift_in(3))))
            .await
            .status(),
        201
    );
    assert_eq!(
        post(&b, &communique(while_down, Some(down_lift)))
            .await
            .status(),
        201
    );
    until_released(&a, while_running, Duration::from_secs(8)).await;
    until_released(&b, while_running, Duration::from_secs(2)).await;
    assert_eq!(
        changes_of(&a, while_running).await,
        ["create"],
        "released once"
    );
    assert_eq!(publicly_visible(&b, while_down).await, Vec::<String>::new());

    a.stop();
    b.stop();
    assert!(
        Utc::now() < down_lift,
        "both stopped before the second lift"
    );
    let until_lift = (down_lift - Utc::now()).to_std().unwrap();
    tokio::time::sleep(until_lift + Duration::from_secs(1)).await;
    let a = start(&dir_a, configure("a"));
    let b = start(&dir_b, configure("b"));
    let item = until_released(&b, while_down, Duration::from_secs(5)).await;
    until_released(&a, while_down, Duration::from_secs(2)).await;
    assert_eq!(
        changes_of(&a, while_down).await,
        ["create"],
        "released once"
    );
    let published: DateTime<Utc> = item["date_published"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        published, down_lift,
        "published at the lift, not at the restart"
    );
}

#[tokio::test]
async fn a_lift_on_two_servers_sharing_a_sqlite_file_and_after_a_restart() {
    let shared = tempfile::tempdir().unwrap();
    lift_across_replicas_and_a_restart(|_| {
        let data = shared.path().to_owned();
        Box::new(move |cmd| {
            cmd.env("WIREFEED_DATA_DIR", &data);
        })
    })
    .await;
}

#[tokio::test]
async fn a_lift_on_two_postgres_replicas_and_after_a_restart() {
    let Some(schema) = Schema::fresh().await else {
        return;
    };
    lift_across_replicas_and_a_restart(|replica| Box::new(schema.configure(replica))).await;
}

#[tokio::test]
async fn a_partner_who_sees_embargoes_early_gets_the_held_story_flagged_and_no_one_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |cmd| {
        cmd.env("WIREFEED_PARTNERS_FILE", common::fixture("partners.toml"));
    });
    let id = "xw-embargo-early";
    let lift = lift_in(3600);
    assert_eq!(
        post(&server, &communique(id, Some(lift))).await.status(),
        201
    );
    let keyed = |path: &'static str, key: &'static str| {
        let server = &server;
        async move {
            let response = client()
                .get(server.url(path))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path} with {key}");
            response.text().await.unwrap()
        }
    };
    let stamp = lift.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    for path in ["/feeds/g20.rss", "/feeds/g20.atom", "/feeds/world.json"] {
        let early = keyed(path, "early-bird-key-0005").await;
        assert!(early.contains(id), "{path}: the early partner sees it");
        assert!(
            early.contains(&format!("EMBARGOED until {stamp}")),
            "{path}: flagged in the title"
        );
        assert!(
            early.contains("embargoed"),
            "{path}: and by an element or field of its own"
        );
        let other = keyed(path, "gulf-daily-key-0001").await;
        assert!(!other.contains(id), "{path}: another partner does not");
    }
    assert_eq!(publicly_visible(&server, id).await, Vec::<String>::new());
}
