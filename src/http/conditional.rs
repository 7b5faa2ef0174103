//! Conditional requests for GET and HEAD (RFC 9110 §13.1, §13.2.2): whether the request's
//! preconditions hold (else 412), and whether the client's copy is current, so that a poll
//! costs a 304 instead of a body.
//!
//! They are evaluated in §13.2.2's order. If-Match (strong comparison, lists and `*`) comes
//! first, then If-Unmodified-Since only when If-Match is absent, ignored when it is not one
//! valid HTTP-date or the resource hands out no Last-Modified; either false is a 412
//! ([`preconditions_hold`]). Then If-None-Match, with weak comparison, lists and `*`, matching
//! any coding of the current version; then If-Modified-Since, only when If-None-Match is
//! absent, ignored when it is not a valid HTTP-date, lies in the future, or while the
//! version's Last-Modified is not yet handed out (`dated`, see the cache's rule for
//! one-second dates). Parsing and comparison are the `headers` crate's.

use std::time::SystemTime;

use headers::{ETag, HeaderMapExt, IfMatch, IfModifiedSince, IfNoneMatch, IfUnmodifiedSince};
use hyper::HeaderMap;
use hyper::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};

use crate::cache::Rendered;
use crate::model::Coding;

/// Whether `request`'s If-Match and If-Unmodified-Since hold for a resource whose current
/// version has the strong `tags` (one per coding it is sent in) and, when it hands one out, the
/// Last-Modified `modified` (RFC 9110 §13.2.2 steps 1 and 2). `false` is a 412. A request
/// carrying neither (nearly every one) costs two lookups.
pub fn preconditions_hold<'a>(
    request: &HeaderMap,
    tags: impl IntoIterator<Item = &'a ETag>,
    modified: Option<SystemTime>,
) -> bool {
    if request.contains_key(IF_MATCH) {
        // Every line is read as one list; a member that is not an entity tag matches nothing.
        return request.typed_get::<IfMatch>().is_some_and(|condition| {
            tags.into_iter()
                .any(|tag| condition.precondition_passes(tag))
        });
    }
    match (modified, request.contains_key(IF_UNMODIFIED_SINCE)) {
        (Some(modified), true) => request
            .typed_get::<IfUnmodifiedSince>()
            .is_none_or(|since| since.precondition_passes(modified)),
        _ => true,
    }
}

/// Whether `request`'s If-None-Match names the current version (answer 304): `*`, or a tag
/// weakly matching one of `tags`, the version's in each coding it is sent in, and nothing
/// else (RFC 9110 §13.1.2).
pub fn none_match_names<'a>(request: &HeaderMap, tags: impl IntoIterator<Item = &'a ETag>) -> bool {
    request.typed_get::<IfNoneMatch>().is_some_and(|condition| {
        tags.into_iter()
            .any(|tag| !condition.precondition_passes(tag))
    })
}

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
