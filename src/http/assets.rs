//! The small fixed files of the site — `/favicon.ico`, the pages' stylesheet, `/robots.txt` —
//! and [`Document`], the one way these and the sitemaps are answered: an ETag that is a hash
//! of the content, a 304 for a client that has it, compression when the client takes it.
//!
//! The favicon is the one shipped in the binary (`templates/favicon.ico`, drawn by
//! `templates/favicon.py`) unless the operator configured `favicon_url` (or else `icon_url`):
//! then `/favicon.ico` redirects there.

use std::sync::OnceLock;

use bytes::Bytes;
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
    hash: String,
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
        let hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&body));
        let bodies = [
            OnceLock::from(body),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
        ];
        Self {
            hash,
            content_type,
            cache_control,
            compress,
            bodies,
        }
    }

    /// A 200 with the body in the best coding the client takes, or a 304 when it has this
    /// version (in any coding).
    pub(crate) fn answer(&self, request: &HeaderMap) -> Result<Response<Body>, HttpError> {
        let coding = if self.compress {
            encoding::negotiate(request).ok_or(HttpError::NotAcceptable)?
        } else {
            Coding::Identity
        };
        let etag = format!("\"{}{}\"", self.hash, coding.etag_suffix());
        let has_it = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .any(|v| v.as_bytes() == b"*")
            || conditional::named_tags(request).contains(&self.hash);
        let (status, body) = if has_it {
            (StatusCode::NOT_MODIFIED, Bytes::new())
        } else {
            let body = self.bodies[coding.index()].get_or_init(|| {
                let identity = self.bodies[0].get().expect("set at creation");
                crate::cache::coding::encode(coding, identity)
            });
            (StatusCode::OK, body.clone())
        };
        let mut response = Response::new(Body::new(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        headers.insert(
            header::ETAG,
            HeaderValue::from_str(&etag).expect("hex digits and a coding name"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(self.cache_control),
        );
        if self.compress {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            if coding != Coding::Identity && status == StatusCode::OK {
                headers.insert(
                    header::CONTENT_ENCODING,
                    HeaderValue::from_static(coding.token()),
                );
            }
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
        assert_eq!(etag, format!("\"{}\"", doc.hash));
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
    fn the_shipped_favicon_is_an_icon_file() {
        // ICONDIR: reserved 0, type 1 (icon), then the number of images.
        assert_eq!(&FAVICON[..4], &[0, 0, 1, 0]);
        assert!(u16::from_le_bytes([FAVICON[4], FAVICON[5]]) >= 1);
    }
}
