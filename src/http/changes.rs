//! `GET /api/changes`: a lossless cursor over the wire, for aggregators that cannot afford to
//! miss a story between two polls of a feed (a feed is only a window of the newest N).
//!
//! `?since=CURSOR&limit=N&wait=S&categories=a,b&fields=id,title` answers, in store order, every
//! publish, correction and kill after the cursor — a publish or correction with the story as it
//! is now, a kill as a kill record — and a `next` cursor to send back. A cursor is the store's
//! change sequence number, written opaquely (`wf1-` and hex): identical on every replica and
//! across restarts, since the sequence is the store's. With `wait` (at most 30 s) and nothing
//! new, the request is held until a change lands — this replica learns of other replicas'
//! changes through the change bus (LISTEN/NOTIFY on PostgreSQL, the change sequence on SQLite)
//! — or the wait ends. A story killed after the change that published it is never shown: its
//! record says `withdrawn` instead of carrying the text. A cursor past the store's newest
//! change (another store's, or history that was reset) is 410: re-sync from the feed.
//!
//! Without a key the cursor shows only stories filed in a public category; with a partner key
//! (as for feeds) it shows the partner's categories, a story it may only have as headlines
//! without its text and images, and counts against the partner's quota.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value, json};

use super::error::HttpError;
use super::feeds::query_value;
use super::problem::Problem;
use super::response::Body;
use super::{App, partner};
use crate::model::{Category, ChangeKind, ChangeRecord, Entitlement, Level};
use crate::store::Lookup;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
const MAX_WAIT: Duration = Duration::from_secs(30);
const PREFIX: &str = "wf1-";

/// The cursor for "after change `seq`".
pub(crate) fn cursor(seq: u64) -> String {
    format!("{PREFIX}{seq:x}")
}

fn parse_cursor(raw: &str) -> Option<u64> {
    u64::from_str_radix(raw.strip_prefix(PREFIX)?, 16).ok()
}

fn bad(title: &'static str, detail: impl Into<String>) -> HttpError {
    Problem::new(StatusCode::BAD_REQUEST, title, detail.into()).into()
}

/// What the request asks for.
struct Query {
    since: u64,
    limit: usize,
    wait: Duration,
    categories: Option<Vec<Category>>,
    fields: Option<Vec<String>>,
}

fn query(raw: Option<&str>) -> Result<Query, HttpError> {
    let since = match query_value(raw, "since") {
        None => 0,
        Some(c) => parse_cursor(&c).ok_or_else(|| {
            bad(
                "Bad cursor",
                "since must be a cursor this API gave out (the `next` of an earlier answer).",
            )
        })?,
    };
    let limit = match query_value(raw, "limit") {
        None => DEFAULT_LIMIT,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| bad("Bad limit", format!("limit must be 1 to {MAX_LIMIT}.")))?,
    };
    let wait = match query_value(raw, "wait") {
        None => Duration::ZERO,
        Some(s) => s
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
            .filter(|w| *w <= MAX_WAIT)
            .ok_or_else(|| {
                bad(
                    "Bad wait",
                    format!("wait must be 0 to {} seconds.", MAX_WAIT.as_secs()),
                )
            })?,
    };
    let categories = query_value(raw, "categories")
        .map(|list| {
            list.split(',')
                .map(|c| Category::parse(c.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad("Bad categories", format!("a category {e}")))
        })
        .transpose()?;
    let fields = query_value(raw, "fields")
        .map(|list| list.split(',').map(|f| f.trim().to_owned()).collect());
    Ok(Query {
        since,
        limit,
        wait,
        categories,
        fields,
    })
}

pub(crate) async fn render(
    app: &App,
    request: &Request<Incoming>,
) -> Result<Response<Body>, HttpError> {
    let query = query(request.uri().query())?;
    let caller = partner::caller(app, request.headers(), request.uri().query())?;
    if let Some(caller) = &caller {
        partner::admit(app, caller)?;
    }
    let view = caller.as_deref().map(partner::wire_view);
    let mut response = Box::pin(changes(app, &query, view.as_ref())).await?;
    if let Some(caller) = &caller {
        partner::finish(app, caller, None, &mut response);
    }
    Ok(response)
}

/// The answer for `view` (`None`: the public).
async fn changes(
    app: &App,
    query: &Query,
    view: Option<&Entitlement>,
) -> Result<Response<Body>, HttpError> {
    let head = app.store.last_change().await?.map_or(0, |c| c.seq);
    if query.since > head {
        return Err(Problem::new(
            StatusCode::GONE,
            "Unknown cursor",
            "This cursor is later than anything this wire has recorded (it belongs to another store, or the history was reset). Re-sync from the feed and start again without `since`.",
        )
        .into());
    }
    let deadline = tokio::time::Instant::now() + query.wait;
    let mut since = query.since;
    loop {
        // Subscribed before reading, so a change landing in between still wakes the wait.
        let mut announced = app.bus.subscribe();
        let records = app.store.changes_since(since, query.limit).await?;
        let next = records.last().map_or(since, |r| r.change.seq);
        let wanted: Vec<&ChangeRecord> = records
            .iter()
            .filter(|r| {
                r.kind.is_public() && covers(&query.categories, r) && level(app, view, r).is_some()
            })
            .collect();
        if !wanted.is_empty() || tokio::time::Instant::now() >= deadline {
            return answer(app, query, view, &wanted, next).await;
        }
        since = next;
        // Nothing new (or nothing in these categories): hold the request until a change
        // lands or the wait ends.
        let _ = tokio::time::timeout_at(deadline, announced.recv()).await;
    }
}

/// How much of the change `view` may see: none of a story filed only in categories it may not
/// read (for the public, partner-only ones).
fn level(app: &App, view: Option<&Entitlement>, record: &ChangeRecord) -> Option<Level> {
    match view {
        None => app
            .catalog
            .is_public(&record.categories)
            .then_some(Level::Full),
        Some(view) => view.level_of(&record.categories),
    }
}

fn covers(categories: &Option<Vec<Category>>, record: &ChangeRecord) -> bool {
    categories
        .as_ref()
        .is_none_or(|list| record.categories.iter().any(|c| list.contains(c)))
}

async fn answer(
    app: &App,
    query: &Query,
    view: Option<&Entitlement>,
    records: &[&ChangeRecord],
    next: u64,
) -> Result<Response<Body>, HttpError> {
    let mut changes = Vec::with_capacity(records.len());
    for record in records {
        let mut change = json!({
            "cursor": cursor(record.change.seq),
            "kind": record.kind.as_str(),
            "id": record.article.as_str(),
            "at": record.change.at.to_rfc3339(),
            "categories": record.categories.iter().map(Category::as_str).collect::<Vec<_>>(),
        });
        if record.kind != ChangeKind::Killed {
            match app.store.get(&record.article).await? {
                Lookup::Live(article) => {
                    let mut value = serde_json::to_value(&article).expect("articles serialise");
                    if let (Some(Level::Headlines), Value::Object(map)) =
                        (level(app, view, record), &mut value)
                    {
                        map.remove("content_html");
                        map.remove("images");
                    }
                    if let (Some(fields), Value::Object(map)) = (&query.fields, &mut value) {
                        let thin: Map<String, Value> = map
                            .iter()
                            .filter(|(k, _)| fields.iter().any(|f| f == *k))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        value = Value::Object(thin);
                    }
                    change["article"] = value;
                }
                // Killed since: its text is never handed out again; the kill follows.
                Lookup::Killed(_) => change["withdrawn"] = Value::Bool(true),
                Lookup::Missing => change["withdrawn"] = Value::Bool(true),
            }
        }
        changes.push(change);
    }
    let body = json!({ "changes": changes, "next": cursor(next) }).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_they_did_not_give_out() {
        for seq in [0, 1, 255, u64::MAX] {
            assert_eq!(parse_cursor(&cursor(seq)), Some(seq));
        }
        for raw in ["", "12", "wf1-", "wf1-xyz", "wf2-10", "wf1--1"] {
            assert_eq!(parse_cursor(raw), None, "{raw}");
        }
    }

    #[test]
    fn limits_and_waits_are_bounded() {
        assert!(query(Some("limit=0")).is_err());
        assert!(query(Some("limit=1001")).is_err());
        assert!(query(Some("wait=31")).is_err());
        assert!(query(Some("categories=World")).is_err());
        let q = query(Some(
            "since=wf1-a&limit=5&wait=30&categories=g20,world&fields=id,title",
        ))
        .unwrap();
        assert_eq!((q.since, q.limit, q.wait.as_secs()), (10, 5, 30));
        assert_eq!(q.categories.unwrap().len(), 2);
        assert_eq!(q.fields.unwrap(), ["id", "title"]);
    }
}
