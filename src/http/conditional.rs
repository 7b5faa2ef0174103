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
/// every variant it stores (RFC 9111 §4.3.1): these are the codings whose ETags the
/// If-None-Match named (none for `*` or a date), for the 304 to repeat one the client holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Indexed by [`Coding::index`].
    named: [bool; 4],
}

impl Held {
    const UNNAMED: Held = Held { named: [false; 4] };

    /// Whether the client named `coding`'s ETag.
    pub fn named(&self, coding: Coding) -> bool {
        self.named[coding.index()]
    }
}

/// `Some` when the client already has the current version (answer 304).
pub fn not_modified(
    request: &HeaderMap,
    current: &Rendered,
    dated: bool,
    now: SystemTime,
) -> Option<Held> {
    if request.contains_key(IF_NONE_MATCH) {
        let condition = request.typed_get::<IfNoneMatch>()?;
        let named = Coding::ALL.map(|c| !condition.precondition_passes(&current.tag(c).typed_etag));
        if !named.contains(&true) {
            return None;
        }
        // `*` matches every tag without naming one.
        let any = request
            .get_all(IF_NONE_MATCH)
            .iter()
            .any(|v| v.as_bytes().trim_ascii() == b"*");
        return Some(if any { Held::UNNAMED } else { Held { named } });
    }
    if !dated || request.get_all(IF_MODIFIED_SINCE).iter().count() != 1 {
        return None;
    }
    let since = request.typed_get::<IfModifiedSince>()?;
    (SystemTime::from(since) <= now && !since.is_modified(current.modified_at))
        .then_some(Held::UNNAMED)
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
