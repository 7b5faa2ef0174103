//! The small fixed files of the site — `/favicon.ico`, the pages' stylesheet, `/robots.txt` —
//! and [`Document`], the one way these and the sitemaps are answered: an ETag that is a hash
//! of the content, a 304 for a client that has it, compression when the client takes it.
//!
//! The favicon is the one shipped in the binary (`templates/favicon.ico`, drawn by
//! `templates/favicon.py`) unless the operator configured `favicon_url` (or else `icon_url`):
//! then `/favicon.ico` redirects there.

use std::sync::OnceLock;

use bytes::Bytes;
use headers::ETag;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Response, StatusCode};

use super::App;
use super::conditional;
use super::encoding;
use super::error::HttpError;
use super::response::Body;
use crate::model::Coding;
use crate::render;

/// The default favicon.
const FAVICON: &[u8] = include_bytes!("../../templates/favicon.ico");

/// A week: the favicon and robots.txt have one URL each, so they must be re-read now and then.
const WEEK: &str = "public, max-age=604800";
/// A year: the stylesheet is linked at a URL that names its version.
const YEAR: &str = "public, max-age=31536000";

/// One version of a small document, with its validator and its bodies in each coding, made
/// when first asked for.
pub(crate) struct Document {
    /// Its ETag in each coding (a hash of the content and the coding's suffix), as sent and
    /// typed for comparisons; only the identity's is handed out when it is not compressed.
    etags: [(HeaderValue, ETag); 4],
    content_type: &'static str,
    cache_control: &'static str,
    /// Whether compressed codings are offered (not for images that are compressed already).
    compress: bool,
    bodies: [OnceLock<Bytes>; 4],
}

impl Document {
    pub(crate) fn new(
        body: impl Into<Bytes>,
        content_type: &'static str,
        cache_control: &'static str,
        compress: bool,
    ) -> Self {
        let body = body.into();
        let hash = xxhash_rust::xxh3::xxh3_64(&body);
        let etags = Coding::ALL.map(|coding| {
            let etag = format!("\"{hash:016x}{}\"", coding.etag_suffix());
            (
                HeaderValue::from_str(&etag).expect("hex digits and a coding name"),
                etag.parse().expect("a quoted hex string is an ETag"),
            )
        });
        let bodies = [
            OnceLock::from(body),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
        ];
        Self {
            etags,
            content_type,
            cache_control,
            compress,
            bodies,
        }
    }

    /// The length of its body as made (before any compression).
    pub(crate) fn len(&self) -> usize {
        self.bodies[0].get().map_or(0, Bytes::len)
    }

    /// The typed ETags handed out: one per coding the document is sent in.
    fn tags(&self) -> impl Iterator<Item = &ETag> {
        let offered = if self.compress { 4 } else { 1 };
        self.etags[..offered].iter().map(|(_, typed)| typed)
    }

    /// A 200 with the body in the best coding the client takes; a 304 when If-None-Match
    /// names this version (in any coding it is sent in); a 412 when If-Match or
    /// If-Unmodified-Since is false for it (the documents have no Last-Modified, so only
    /// If-Match can be).
    pub(crate) fn answer(&self, request: &HeaderMap) -> Result<Response<Body>, HttpError> {
        let coding = if self.compress {
            encoding::negotiate(request).ok_or(HttpError::NotAcceptable)?
        } else {
            Coding::Identity
        };
        if !conditional::preconditions_hold(request, self.tags(), None) {
            return Err(HttpError::PreconditionFailed);
        }
        let has_it = conditional::none_match_names(request, self.tags());
        let mut response = if has_it {
            let mut response = Response::new(Body::default());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let body = self.bodies[coding.index()].get_or_init(|| {
                let identity = self.bodies[0].get().expect("set at creation");
                crate::cache::coding::encode(coding, identity)
            });
            let mut response = Response::new(Body::new(body.clone()));
            let headers = response.headers_mut();
            // Content metadata goes on the 200 only: a 304 SHOULD NOT repeat it (RFC 9110
            // §15.4.5), and a cache keeps the stored 200's.
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
            if coding != Coding::Identity {
                headers.insert(
                    header::CONTENT_ENCODING,
                    HeaderValue::from_static(coding.token()),
                );
            }
            response
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, self.etags[coding.index()].0.clone());
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(self.cache_control),
        );
        if self.compress {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        Ok(response)
    }
}

/// `/favicon.ico`: the configured icon (a redirect), or the default one.
pub(crate) fn favicon(app: &App, request: &HeaderMap) -> Result<Response<Body>, HttpError> {
    let brand = app.cache.brand();
    if let Some(url) = brand.favicon.as_ref().or(brand.icon.as_ref()) {
        let mut response = Response::new(Body::default());
        *response.status_mut() = StatusCode::FOUND;
        let headers = response.headers_mut();
        let location = HeaderValue::from_str(url)
            .map_err(|_| HttpError::Internal(format!("favicon URL {url:?} is not a header")))?;
        headers.insert(header::LOCATION, location);
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=86400"),
        );
        return Ok(response);
    }
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT
        .get_or_init(|| Document::new(FAVICON, "image/x-icon", WEEK, false))
        .answer(request)
}

/// `/static/site.css`: the pages' stylesheet.
pub(crate) fn stylesheet(request: &HeaderMap) -> Result<Response<Body>, HttpError> {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT
        .get_or_init(|| {
            Document::new(
                render::html::STYLESHEET,
                "text/css; charset=utf-8",
                YEAR,
                true,
            )
        })
        .answer(request)
}

/// `/robots.txt`.
pub(crate) fn robots(app: &App, request: &HeaderMap) -> Result<Response<Body>, HttpError> {
    Document::new(
        render::sitemap::robots(&app.site),
        "text/plain; charset=utf-8",
        WEEK,
        false,
    )
    .answer(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_document_is_validated_by_its_hash_in_any_coding() {
        let doc = Document::new("body ".repeat(200), "text/plain", WEEK, true);
        let plain = doc.answer(&headers(&[])).unwrap();
        assert_eq!(plain.status(), StatusCode::OK);
        let etag = plain.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(etag, doc.etags[0].0);
        let gzip = doc
            .answer(&headers(&[("accept-encoding", "gzip")]))
            .unwrap();
        assert_eq!(gzip.headers()[header::CONTENT_ENCODING], "gzip");
        let gzip_tag = gzip.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert_ne!(gzip_tag, etag);
        for tag in [
            etag.as_str(),
            gzip_tag.as_str(),
            "*",
            "W/\"x\", \"nope\", W/\"a\"",
        ] {
            let again = doc.answer(&headers(&[("if-none-match", tag)])).unwrap();
            let want = if tag.contains("nope") {
                StatusCode::OK
            } else {
                StatusCode::NOT_MODIFIED
            };
            assert_eq!(again.status(), want, "{tag}");
        }
    }

    #[test]
    fn only_the_tags_handed_out_match_and_a_304_carries_no_content_metadata() {
        let doc = Document::new("body ".repeat(200), "text/plain", WEEK, true);
        let hash = doc.etags[0]
            .0
            .to_str()
            .unwrap()
            .trim_matches('"')
            .to_owned();
        let status = |pairs: &[(&'static str, &str)]| doc.answer(&headers(pairs)).unwrap().status();
        for (tag, want) in [
            (format!("\"{hash}-bogus\""), StatusCode::OK),
            (format!("\"{hash}-\""), StatusCode::OK),
            (format!("\"{hash}x\""), StatusCode::OK),
            (format!("\"{hash}-zstd\""), StatusCode::NOT_MODIFIED),
            (format!("W/\"{hash}-br\""), StatusCode::NOT_MODIFIED),
        ] {
            assert_eq!(status(&[("if-none-match", &tag)]), want, "{tag}");
        }
        let not_modified = doc
            .answer(&headers(&[
                ("if-none-match", &format!("\"{hash}\"")),
                ("accept-encoding", "gzip"),
            ]))
            .unwrap();
        assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
        let h = not_modified.headers();
        assert!(!h.contains_key(header::CONTENT_TYPE) && !h.contains_key(header::CONTENT_ENCODING));
        assert_eq!(h[header::ETAG], format!("\"{hash}-gzip\""));
        assert_eq!(h[header::VARY], "accept-encoding");
        // An uncompressed document hands out one tag only.
        let icon = Document::new(FAVICON, "image/x-icon", WEEK, false);
        let icon_hash = icon.etags[0]
            .0
            .to_str()
            .unwrap()
            .trim_matches('"')
            .to_owned();
        let gzip_tag = format!("\"{icon_hash}-gzip\"");
        let again = icon
            .answer(&headers(&[("if-none-match", &gzip_tag)]))
            .unwrap();
        assert_eq!(again.status(), StatusCode::OK);
    }

    #[test]
    fn if_match_is_strong_and_evaluated_before_if_none_match() {
        let doc = Document::new("body ".repeat(200), "text/plain", WEEK, true);
        let tag = doc.etags[0].0.to_str().unwrap().to_owned();
        let status = |pairs: &[(&'static str, &str)]| {
            doc.answer(&headers(pairs))
                .map(|r| r.status())
                .unwrap_or_else(|e| {
                    e.into_response(&crate::site::Site::new("http://x", "W", "x,2026"))
                        .status()
                })
        };
        assert_eq!(status(&[("if-match", &tag)]), StatusCode::OK);
        assert_eq!(status(&[("if-match", "*")]), StatusCode::OK);
        assert_eq!(
            status(&[("if-match", "\"other\", W/\"x\"")]),
            StatusCode::PRECONDITION_FAILED
        );
        assert_eq!(
            status(&[("if-match", &format!("W/{tag}"))]),
            StatusCode::PRECONDITION_FAILED
        );
        assert_eq!(
            status(&[("if-match", "\"other\""), ("if-none-match", &tag)]),
            StatusCode::PRECONDITION_FAILED
        );
        assert_eq!(
            status(&[("if-match", &tag), ("if-none-match", &tag)]),
            StatusCode::NOT_MODIFIED
        );
        // No Last-Modified is handed out, so If-Unmodified-Since is ignored.
        assert_eq!(
            status(&[("if-unmodified-since", "Sun, 06 Nov 1994 08:49:37 GMT")]),
            StatusCode::OK
        );
    }

    #[test]
    fn the_shipped_favicon_is_an_icon_file() {
        // ICONDIR: reserved 0, type 1 (icon), then the number of images.
        assert_eq!(&FAVICON[..4], &[0, 0, 1, 0]);
        assert!(u16::from_le_bytes([FAVICON[4], FAVICON[5]]) >= 1);
    }
}
