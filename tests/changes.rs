//! The change cursor (`GET /api/changes`) against the real binary: a follower holding `wait`
//! requests sees every publish, correction and kill exactly once and in order, while a
//! publisher writes 500 stories, across two servers on one store and a restart of one of them.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;

const TOKEN: &str = "cursor-test-token-0123456789";

fn with_token(cmd: &mut std::process::Command) {
    cmd.env("WIREFEED_INGEST_TOKEN", TOKEN);
}

async fn changes(server: &Server, query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(server.url(&format!("/api/changes?{query}")))
        .send()
        .await
        .unwrap()
}

/// Every change from the cursor on, as (cursor, kind, id).
async fn page(server: &Server, since: &str, wait: u64) -> (Vec<(String, String, String)>, String) {
    let response = changes(server, &format!("since={since}&limit=50&wait={wait}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    let records = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["cursor"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (records, body["next"].as_str().unwrap().to_owned())
}

async fn write(server: &Server, method: reqwest::Method, id: &str, body: Option<String>) -> u16 {
    let mut request = reqwest::Client::new()
        .request(method, server.url(&format!("/api/articles/{id}")))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_sees_every_change_once_in_order_across_servers_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let a = Arc::new(Server::start_in(&data, with_token));
    let mut b = Some(Server::start_in(&data, |_| {}));

    // Where the wire stands now (the sample wire was loaded at first start).
    let (_, start) = page(&a, "wf1-0", 0).await;
    let mut since = start.clone();
    loop {
        let (records, next) = page(&a, &since, 0).await;
        since = next;
        if records.is_empty() {
            break;
        }
    }

    // The publisher: 500 stories, a correction of every 50th, a kill of every 100th.
    let written: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let publisher = {
        let (a, written) = (Arc::clone(&a), Arc::clone(&written));
        tokio::spawn(async move {
            for n in 0..500 {
                let id = format!("wf-20261201-cursor-{n:03}");
                let status = write(&a, reqwest::Method::PUT, &id, Some(common::story(&id))).await;
                assert_eq!(status, 201, "publish {id}");
                written.lock().unwrap().push(("create".into(), id.clone()));
                if n % 50 == 49 {
                    let mut story: serde_json::Value =
                        serde_json::from_str(&common::story(&id)).unwrap();
                    story["title"] = "Leaders agree to resume trade dialogue (corrected)".into();
                    let status =
                        write(&a, reqwest::Method::PUT, &id, Some(story.to_string())).await;
                    assert_eq!(status, 200, "correct {id}");
                    written.lock().unwrap().push(("update".into(), id.clone()));
                }
                if n % 100 == 99 {
                    assert_eq!(write(&a, reqwest::Method::DELETE, &id, None).await, 204);
                    written.lock().unwrap().push(("kill".into(), id.clone()));
                }
            }
        })
    };

    // The follower, alternating between the servers, restarting B on the way.
    let mut seen: Vec<(String, String, String)> = Vec::new();
    let mut turn = 0usize;
    let mut restarted = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the follower fell behind");
        if !restarted && seen.len() >= 200 {
            b.take().unwrap().stop();
            b = Some(Server::start_in(&data, |_| {}));
            restarted = true;
        }
        turn += 1;
        let server: &Server = if turn % 2 == 0 {
            &a
        } else {
            b.as_ref().unwrap()
        };
        let (records, next) = page(server, &since, 2).await;
        seen.extend(records);
        since = next;
        let done = publisher.is_finished();
        if done && seen.len() >= written.lock().unwrap().len() {
            break;
        }
    }
    publisher.await.unwrap();
    assert!(restarted, "B was restarted while the follower followed");

    let written = written.lock().unwrap().clone();
    let got: Vec<(String, String)> = seen
        .iter()
        .map(|(_, k, id)| (k.clone(), id.clone()))
        .collect();
    assert_eq!(got, written, "every change exactly once, in order");
    let mut cursors: Vec<&String> = seen.iter().map(|(c, _, _)| c).collect();
    cursors.dedup();
    assert_eq!(cursors.len(), seen.len(), "no change twice");

    // Nothing new: a held request answers when the next change lands.
    let waiting = {
        let (b_url, since) = (b.as_ref().unwrap().url(""), since.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let body: serde_json::Value = reqwest::Client::new()
                .get(format!("{b_url}/api/changes?since={since}&wait=20"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (started.elapsed(), body)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = "wf-20261201-cursor-late";
    assert_eq!(
        write(&a, reqwest::Method::PUT, id, Some(common::story(id))).await,
        201
    );
    let (took, body) = waiting.await.unwrap();
    assert!(took < Duration::from_secs(5), "held for {took:?}");
    assert_eq!(body["changes"][0]["id"], id);
    assert_eq!(
        body["changes"][0]["article"]["title"],
        serde_json::from_str::<serde_json::Value>(&common::story(id)).unwrap()["title"]
    );

    // A killed story's text is never handed out, even for the change that published it.
    let (all, _) = page(&a, &start, 0).await;
    assert!(all.len() <= 50);
    let body: serde_json::Value = changes(&a, &format!("since={start}&limit=1000"))
        .await
        .json()
        .await
        .unwrap();
    let killed = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "wf-20261201-cursor-099" && c["kind"] == "create")
        .unwrap();
    assert_eq!(killed["withdrawn"], true);
    assert!(killed.get("article").is_none());

    // Filters and thin records.
    let body: serde_json::Value = changes(&a, &format!("since={start}&categories=china&fields=id"))
        .await
        .json()
        .await
        .unwrap();
    assert!(body["changes"].as_array().unwrap().is_empty());
    let body: serde_json::Value = changes(
        &a,
        &format!("since={start}&limit=1&categories=g20&fields=id,title"),
    )
    .await
    .json()
    .await
    .unwrap();
    let article = body["changes"][0]["article"].as_object().unwrap();
    assert_eq!(article.len(), 2, "{article:?}");

    // Cursors it never gave out.
    assert_eq!(changes(&a, "since=wf1-ffffffff").await.status(), 410);
    assert_eq!(changes(&a, "since=12").await.status(), 400);
    assert_eq!(changes(&a, "wait=31").await.status(), 400);
}
