//! Cross-origin reads (the Fetch standard's CORS protocol): a web page on another origin may
//! read the public documents — feeds (with their pages and archives), OPML and the change
//! cursor — and, with a token it holds, the stats API.
//!
//! Public documents get `Access-Control-Allow-Origin: *` on every answer (200, 226 and errors,
//! from the cache or not; a 304 when the request comes from another origin) and expose the
//! validators scripts need for conditional polling (`ETag`, `Link`; `Last-Modified` is
//! safelisted already). A 304 to a request without `Origin` leaves them out: nothing reads
//! them there, and a cache that revalidates keeps the stored 200's own (a 304 only replaces the
//! header fields it carries, RFC 9111 §4.3.4) — so the most frequent answer of a feed server,
//! a poller's 304, stays short. The stats API, and a feed
//! or the change cursor asked for with a partner key, answer the requesting origin by name,
//! never `*`, and vary on it. A preflight `OPTIONS` for either is 204 with the methods and
//! request headers allowed and how long to remember that.

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use super::response::Body;
use super::router::{Path, Route};

static ANY: HeaderValue = HeaderValue::from_static("*");
static EXPOSE: HeaderValue = HeaderValue::from_static(
    "ETag, Link, IM, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, Wirefeed-Usage",
);
static METHODS: HeaderValue = HeaderValue::from_static("GET, HEAD, OPTIONS");
static HEADERS: HeaderValue = HeaderValue::from_static(
    "If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since, A-IM, Authorization",
);
/// A day: browsers cap it lower anyway (Chromium at two hours).
static MAX_AGE: HeaderValue = HeaderValue::from_static("86400");

/// Who may read a route from another origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    Anyone,
    /// Readers with a token (the stats API, keyed feeds): the origin is named, never `*`.
    WithToken,
    Nobody,
}

/// Who may read `route` from another origin; `keyed` when the request presents a partner key
/// (a keyed feed or change cursor names the origin, as the stats API does).
pub(crate) fn reach(route: &Route, keyed: bool) -> Reach {
    match route {
        Some(Path::Feed { .. } | Path::Changes) if keyed => Reach::WithToken,
        Some(Path::Feed { .. } | Path::Opml | Path::Changes) => Reach::Anyone,
        Some(Path::Stats) => Reach::WithToken,
        _ => Reach::Nobody,
    }
}

/// Adds the CORS headers a response carries, for a route of `reach` and a request from
/// `origin`.
pub(crate) fn decorate(reach: Reach, origin: Option<&HeaderValue>, response: &mut Response<Body>) {
    let not_modified = response.status() == StatusCode::NOT_MODIFIED;
    let headers = response.headers_mut();
    match reach {
        Reach::Anyone if not_modified && origin.is_none() => {}
        Reach::Anyone => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY.clone());
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE.clone());
        }
        Reach::WithToken => {
            if let Some(origin) = origin {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE.clone());
                headers.append(header::VARY, HeaderValue::from_static("origin"));
            }
        }
        Reach::Nobody => {}
    }
}

/// The methods a resource answered by `GET` allows, as its `Allow` says on a 405 and on a
/// preflight alike: `OPTIONS` too where other origins may read it, since a preflight is
/// answered there (elsewhere `OPTIONS` is a 405 itself).
pub(crate) fn allow(route: &Route) -> &'static str {
    match reach(route, false) {
        Reach::Nobody => "GET, HEAD",
        _ => "GET, HEAD, OPTIONS",
    }
}

/// The answer to a preflight `OPTIONS` for `route`, when other origins may read it.
pub(crate) fn preflight(route: &Route, request: &HeaderMap) -> Option<Response<Body>> {
    // A preflight carries no credentials: whether the request will is unknown.
    let reach = reach(route, false);
    if matches!(reach, Reach::Nobody) {
        return None;
    }
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    decorate(reach, request.get(header::ORIGIN), &mut response);
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, METHODS.clone());
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HEADERS.clone());
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE.clone());
    headers.insert(header::ALLOW, HeaderValue::from_static(allow(route)));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FeedFormat, Part};

    fn feed() -> Route {
        Path::feed("world", FeedFormat::Atom, Part::Current)
    }

    #[test]
    fn public_documents_are_readable_from_anywhere_and_expose_their_validators() {
        let mut response = Response::new(Body::default());
        decorate(reach(&feed(), false), None, &mut response);
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(
            response.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS]
                .to_str()
                .unwrap()
                .contains("ETag")
        );
    }

    #[test]
    fn a_304_carries_them_only_to_a_request_from_another_origin() {
        let not_modified = || {
            let mut response = Response::new(Body::default());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        };
        let mut poller = not_modified();
        decorate(reach(&feed(), false), None, &mut poller);
        assert!(
            poller.headers().is_empty(),
            "a poller's 304: {:?}",
            poller.headers()
        );
        let mut script = not_modified();
        let origin = HeaderValue::from_static("https://reader.example");
        decorate(reach(&feed(), false), Some(&origin), &mut script);
        assert_eq!(script.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(
            script
                .headers()
                .contains_key(header::ACCESS_CONTROL_EXPOSE_HEADERS)
        );
    }

    #[test]
    fn the_stats_api_names_the_origin_and_pages_get_nothing() {
        let mut request = HeaderMap::new();
        request.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://desk.example"),
        );
        let mut response = Response::new(Body::default());
        decorate(
            reach(&Some(Path::Stats), false),
            request.get(header::ORIGIN),
            &mut response,
        );
        let mut keyed = Response::new(Body::default());
        decorate(
            reach(&feed(), true),
            request.get(header::ORIGIN),
            &mut keyed,
        );
        assert_eq!(
            keyed.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://desk.example",
            "a keyed feed never answers *"
        );
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://desk.example"
        );
        assert_eq!(response.headers()[header::VARY], "origin");
        assert!(preflight(&Some(Path::Home), &request).is_none());
        let ok = preflight(&feed(), &request).unwrap();
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        assert!(ok.headers().contains_key(header::ACCESS_CONTROL_MAX_AGE));
    }
}
