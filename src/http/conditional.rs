//! Conditional requests for GET and HEAD (RFC 9110 §13.1.2, §13.1.3, §13.2.2): whether the
//! client's copy is current, so that a poll costs a 304 instead of a body.
//!
//! If-None-Match uses weak comparison, accepts lists and `*`, and matches any coding of the
//! current version. If-Modified-Since counts only when If-None-Match is absent, and is ignored
//! when it is not a valid HTTP-date, lies in the future, or while the version's Last-Modified
//! is not yet handed out (`dated`, see the cache's rule for one-second dates). Parsing and
//! comparison are the `headers` crate's.

use std::time::SystemTime;

use headers::{HeaderMapExt, IfModifiedSince, IfNoneMatch};
use hyper::HeaderMap;
use hyper::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH};

use crate::cache::Rendered;
use crate::model::Coding;

/// The client already has the current version (answer 304). A cache may name the tags of
/// every variant it stores (RFC 9111 §4.3.1), so the 304 repeats one the client holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// If-None-Match named this coding's ETag, and the client takes that coding.
    Tag(Coding),
    /// The client holds the version without naming a tag it takes: `*`, a date, or only the
    /// tag of a coding it no longer accepts.
    Unnamed,
}

/// `Some` when the client already has the current version (answer 304). `answer` is the
/// coding this request would be sent in and `takes` says which others the client accepts as
/// highly; their tags are compared in that order, so a poller that holds what it would be sent
/// (the usual 304) costs one comparison. `now` is read only for an If-Modified-Since.
pub fn not_modified(
    request: &HeaderMap,
    current: &Rendered,
    dated: bool,
    now: impl FnOnce() -> SystemTime,
    answer: Coding,
    takes: impl Fn(Coding) -> bool,
) -> Option<Held> {
    let mut conditions = request.get_all(IF_NONE_MATCH).iter();
    if let Some(first) = conditions.next() {
        // The usual poll: one field naming exactly the tag this request would be sent (or the
        // same tag marked weak, which weak comparison also matches), without parsing a list.
        let given = first.as_bytes();
        let tag = current.tag(answer).etag.as_bytes();
        if conditions.next().is_none() && (given == tag || given.strip_prefix(b"W/") == Some(tag)) {
            return Some(Held::Tag(answer));
        }
        let condition = request.typed_get::<IfNoneMatch>()?;
        let holds = |c: Coding| !condition.precondition_passes(&current.tag(c).typed_etag);
        let others = |taken: bool| {
            let holds = &holds;
            let takes = &takes;
            Coding::ALL
                .into_iter()
                .find(move |c| *c != answer && takes(*c) == taken && holds(*c))
        };
        let named = if holds(answer) {
            answer
        } else {
            others(true).or_else(|| others(false))?
        };
        // `*` matches every tag without naming one.
        let any = request
            .get_all(IF_NONE_MATCH)
            .iter()
            .any(|v| v.as_bytes().trim_ascii() == b"*");
        return Some(if any || !(named == answer || takes(named)) {
            Held::Unnamed
        } else {
            Held::Tag(named)
        });
    }
    if !dated || request.get_all(IF_MODIFIED_SINCE).iter().count() != 1 {
        return None;
    }
    let since = request.typed_get::<IfModifiedSince>()?;
    (SystemTime::from(since) <= now() && !since.is_modified(current.modified_at))
        .then_some(Held::Unnamed)
}

/// The content tags an If-None-Match names, with any coding suffix and weakness removed, for
/// finding an earlier version (RFC 3229 deltas).
pub fn named_tags(request: &HeaderMap) -> Vec<String> {
    request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|tag| {
            let tag = tag.trim();
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            let opaque = tag.strip_prefix('"')?.strip_suffix('"')?;
            Some(opaque.split('-').next().unwrap_or(opaque).to_owned())
        })
        .collect()
}
