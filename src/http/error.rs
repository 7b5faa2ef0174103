//! The one place where errors become HTTP status codes and bodies. Internal details are
//! logged, never sent: a client sees what it can act on.
//!
//! A store that cannot be reached or does not answer in time is never a 500: it is a 503 with
//! `Retry-After`, as problem+json (feeds, the API) or as an HTML page (pages), so that a CDN
//! can serve a stale copy and a client knows when to try again. Outages are logged once by the
//! store's health tracker (`store::health`); the requests that fail during one only at DEBUG.

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::problem::Problem;
use super::response::{self, Body};
use std::sync::Arc;

use crate::cache::CacheError;
use crate::render::RenderError;
use crate::site::Site;
use crate::store::StoreError;
use crate::websub::HubError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("{0}")]
    NotFound(String),
    /// A method the resource does not allow; what it allows.
    #[error("method not allowed; allowed: {0}")]
    MethodNotAllowed(&'static str),
    /// A method no resource of this server implements.
    #[error("method not implemented")]
    NotImplemented,
    #[error("no acceptable content coding")]
    NotAcceptable,
    /// If-Match or If-Unmodified-Since is false for the current version.
    #[error("a precondition failed")]
    PreconditionFailed,
    #[error("the request took too long")]
    TooSlow,
    /// The client did not send the request's body within the request timeout.
    #[error("the request body did not arrive in time")]
    BodyTooSlow,
    #[error("too many unconditional polls")]
    TooManyPolls(std::time::Duration),
    /// A partner's hourly or daily quota is used up.
    #[error("a partner's quota is used up")]
    OverQuota(crate::partners::usage::Standing),
    #[error("method not allowed; allowed: {0}")]
    MethodNotAllowedHere(&'static str),
    #[error("{0}")]
    Gone(String),
    #[error("{}", .0.detail)]
    Problem(Problem),
    #[error("{}", .0.detail)]
    Unauthorized(Problem, Option<&'static str>),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store is unavailable (or the server is still starting): 503 with Retry-After.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Hub(#[from] HubError),
}

impl From<Problem> for HttpError {
    fn from(problem: Problem) -> Self {
        HttpError::Problem(problem)
    }
}

impl From<Arc<CacheError>> for HttpError {
    fn from(e: Arc<CacheError>) -> Self {
        match &*e {
            CacheError::UnknownFeed(slug) => HttpError::NotFound(format!(
                "There is no feed called “{slug}”: no story has been filed in that category."
            )),
            CacheError::NoSuchPart(slug) => {
                HttpError::NotFound(format!("The feed “{slug}” has no such page or archive."))
            }
            CacheError::PartnersOnly(_) => super::partner::partners_only(),
            CacheError::NotEntitled(slug) => super::partner::not_entitled(slug),
            CacheError::Store(store) if !store.is_internal() => {
                HttpError::Unavailable(store.to_string())
            }
            _ => HttpError::Internal(e.to_string()),
        }
    }
}

/// Seconds a client is asked to wait before retrying a request the store could not serve.
pub(crate) const RETRY_AFTER_SECS: u32 = 5;

/// A 503 problem+json with Retry-After.
fn unavailable(detail: &str) -> Response<Body> {
    let mut r = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service unavailable",
        detail,
    )
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    r
}

impl HttpError {
    /// Whether this is a 503 the client should retry: the store is away, or too slow.
    pub(crate) fn is_unavailable(&self) -> bool {
        match self {
            HttpError::Store(e) => !e.is_internal(),
            HttpError::Unavailable(_) | HttpError::TooSlow => true,
            _ => false,
        }
    }

    /// The response for an HTML page: a 503 is an HTML page too (with Retry-After); anything
    /// else as [`HttpError::into_response`].
    pub(crate) fn into_page_response(self, site: &Site) -> Response<Body> {
        if !self.is_unavailable() {
            return self.into_response(site);
        }
        tracing::debug!(error = %self, "a page could not be served; answered 503");
        let mut r = response::bytes(
            StatusCode::SERVICE_UNAVAILABLE,
            response::HTML,
            crate::render::html::unavailable(site),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        r
    }

    pub(crate) fn into_response(self, site: &Site) -> Response<Body> {
        match self {
            HttpError::NotFound(what) => response::bytes(
                StatusCode::NOT_FOUND,
                response::HTML,
                crate::render::html::not_found(site, &what),
            ),
            HttpError::MethodNotAllowed(allow) => {
                let mut r = response::bytes(
                    StatusCode::METHOD_NOT_ALLOWED,
                    response::TEXT,
                    format!("This resource allows {allow}.\n"),
                );
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                r
            }
            HttpError::NotImplemented => response::bytes(
                StatusCode::NOT_IMPLEMENTED,
                response::TEXT,
                "This server implements no resource with that method.\n",
            ),
            HttpError::Store(e) if e.is_internal() => {
                tracing::error!(error = %e, "store error while serving a request");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error",
                    "The article store holds something this server cannot read.",
                )
                .into_response()
            }
            HttpError::Store(e) => {
                // The store's health tracker logs the outage once.
                tracing::debug!(error = %e, "store error while serving a request; answered 503");
                unavailable("The article store is unavailable; try again shortly.")
            }
            HttpError::Unavailable(e) => {
                tracing::debug!(error = %e, "answered 503");
                unavailable("The article store is unavailable; try again shortly.")
            }
            HttpError::Gone(what) => response::bytes(
                StatusCode::GONE,
                response::HTML,
                crate::render::html::gone(site, &what),
            ),
            HttpError::Problem(problem) => problem.into_response(),
            HttpError::Unauthorized(problem, challenge) => {
                let mut r = problem.into_response();
                if let Some(challenge) = challenge {
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(challenge),
                    );
                }
                r
            }
            HttpError::MethodNotAllowedHere(allow) => {
                let mut r = Problem::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Method not allowed",
                    format!("This resource allows {allow}."),
                )
                .into_response();
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                r
            }
            HttpError::TooManyPolls(retry_after) => {
                let mut r = response::bytes(
                    StatusCode::TOO_MANY_REQUESTS,
                    response::TEXT,
                    "Too many unconditional polls of this feed. Send If-None-Match with the ETag you \
                     have (conditional polls are never limited), or wait.\n",
                );
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.as_secs()),
                );
                r
            }
            HttpError::OverQuota(standing) => {
                let retry_after = standing.retry_after();
                let mut r = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Quota used up",
                    format!(
                        "Your partner quota is used up ({} requests this hour, {} today); it resets in {retry_after} s.",
                        standing.hour.used, standing.day.used
                    ),
                )
                .into_response();
                let headers = r.headers_mut();
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, no-store"),
                );
                super::partner::usage_headers(headers, &standing);
                r
            }
            HttpError::TooSlow => unavailable("The request took too long; try again."),
            HttpError::BodyTooSlow => {
                let mut r = response::bytes(
                    StatusCode::REQUEST_TIMEOUT,
                    response::TEXT,
                    "The request body did not arrive in time; send it again, all at once.\n",
                );
                // What is left of the body would be read as the next request: the connection
                // ends here.
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                r
            }
            HttpError::NotAcceptable => {
                let mut r = response::bytes(
                    StatusCode::NOT_ACCEPTABLE,
                    response::TEXT,
                    "None of the content codings this server has (br, zstd, gzip, identity) is acceptable to you.\n",
                );
                // It was chosen by Accept-Encoding, as the 200 would have been (RFC 9110 §12.5.5).
                r.headers_mut()
                    .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
                r
            }
            HttpError::PreconditionFailed => response::bytes(
                StatusCode::PRECONDITION_FAILED,
                response::TEXT,
                "The current version does not meet this request's If-Match or \
                 If-Unmodified-Since: it has changed since the version you name.\n",
            ),
            HttpError::Internal(e) => {
                tracing::error!(error = %e, "error while serving a request");
                response::bytes(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    response::TEXT,
                    "Internal server error.\n",
                )
            }
            HttpError::Hub(e) => {
                let status = match &e {
                    HubError::BadRequest(_) => StatusCode::BAD_REQUEST,
                    HubError::NotAForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    HubError::Refused(_) => StatusCode::FORBIDDEN,
                    HubError::Busy | HubError::Unavailable(_) | HubError::Store(_) => {
                        tracing::warn!(error = %e, "the WebSub hub could not take a request");
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                };
                let detail = match &e {
                    HubError::Store(_) | HubError::Unavailable(_) => {
                        "The hub cannot take requests just now; try again shortly.".to_owned()
                    }
                    e => e.to_string(),
                };
                let mut r = response::bytes(status, response::TEXT, format!("{detail}\n"));
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
                }
                r
            }
            HttpError::Render(e) => {
                tracing::error!(error = %e, "render error while serving a request");
                response::bytes(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    response::TEXT,
                    "Internal server error.\n",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::new("http://127.0.0.1", "Wirefeed", "127.0.0.1,2026")
    }

    fn disk_full() -> StoreError {
        // What the SQLite store makes of SQLITE_FULL (see store/sqlite/error.rs).
        StoreError::Database {
            message: "SQLite error: database or disk is full".into(),
            transient: true,
        }
    }

    #[test]
    fn an_unavailable_store_is_a_503_problem_with_retry_after_never_a_500() {
        for e in [
            StoreError::Timeout(std::time::Duration::from_secs(5)),
            StoreError::Unavailable("connection refused".into()),
            StoreError::Pool("timed out waiting for a connection".into()),
            StoreError::Database {
                message: "PostgreSQL error: relation does not exist".into(),
                transient: false,
            },
            disk_full(),
        ] {
            let r = HttpError::Store(e).into_response(&site());
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "application/problem+json"
            );
            assert_eq!(r.headers()[header::RETRY_AFTER], "5");
        }
        let cached = Arc::new(CacheError::Store(StoreError::Timeout(
            std::time::Duration::from_secs(1),
        )));
        let r = HttpError::from(cached).into_response(&site());
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn disk_full_is_unavailable() {
        assert!(disk_full().is_unavailable());
    }

    #[test]
    fn pages_get_an_html_503_and_a_damaged_store_is_a_500() {
        let r = HttpError::Store(StoreError::Timeout(std::time::Duration::from_secs(1)))
            .into_page_response(&site());
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::CONTENT_TYPE], response::HTML);
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
        let r = HttpError::Store(StoreError::Corrupt("bad".into())).into_page_response(&site());
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
