//! Building responses: the body and the headers every response of a kind carries.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::model::FeedDef;

pub(crate) type Body = Full<Bytes>;

pub(crate) const HTML: &str = "text/html; charset=utf-8";
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";
pub(crate) const OPML: &str = "text/x-opml; charset=utf-8";

/// A complete response with a known length.
pub(crate) fn bytes(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let body = body.into();
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("content types are ASCII"),
    );
    response
}

/// What every HTML page may load, for its Content-Security-Policy: its own stylesheet and
/// images from anywhere (stories' pictures live on other hosts); no script, no frame, no
/// form, no plugin; and no other site may frame it.
pub(crate) const PAGE_POLICY: &str = "default-src 'none'; style-src 'self'; img-src * data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Adds to an HTML page (any status) the headers that keep it from being sniffed as something
/// else, from running anything injected, and from being framed.
pub(crate) fn protect_page(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if !is_html {
        return;
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
}

/// The same response without its body, for HEAD: every header, including Content-Length,
/// stays as GET would send it. A 304 or 204 gets none: GET's has no content, and a
/// Content-Length there could only be the selected representation's length (RFC 9110 §8.6),
/// which a cache freshening its stored 200 from the 304 might take for the body's.
pub(crate) fn without_body(response: Response<Body>) -> Response<Body> {
    use hyper::body::Body as _;
    let (mut parts, body) = response.into_parts();
    let has_content = !matches!(
        parts.status,
        StatusCode::NOT_MODIFIED | StatusCode::NO_CONTENT
    ) && !parts.status.is_informational();
    if let Some(len) = body.size_hint().exact().filter(|_| has_content) {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    Response::from_parts(parts, Full::new(Bytes::new()))
}

/// `Cache-Control` for every document of a feed — subscription document, pages and day
/// archives alike. A correction or kill can change any of them, past days included, so none is
/// `immutable`: each may be reused for the feed's `max_age` and must then be revalidated
/// (cheaply, with its validators), which bounds how long any cache can keep a killed story.
pub(crate) fn cache_control(def: &FeedDef) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "public, max-age={}, stale-while-revalidate={}",
        def.max_age, def.stale_while_revalidate
    ))
    .expect("ASCII")
}
