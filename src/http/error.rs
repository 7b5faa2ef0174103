//! The one place where errors become HTTP status codes and bodies. Internal details are
//! logged, never sent: a client sees what it can act on.

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
pub enum HttpError {
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("no acceptable content coding")]
    NotAcceptable,
    #[error("the request took too long")]
    TooSlow,
    #[error("too many unconditional polls")]
    TooManyPolls(std::time::Duration),
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
            _ => HttpError::Internal(e.to_string()),
        }
    }
}

impl HttpError {
    pub fn into_response(self, site: &Site) -> Response<Body> {
        match self {
            HttpError::NotFound(what) => response::bytes(
                StatusCode::NOT_FOUND,
                response::HTML,
                crate::render::html::not_found(site, &what),
            ),
            HttpError::MethodNotAllowed => {
                let mut r = response::bytes(
                    StatusCode::METHOD_NOT_ALLOWED,
                    response::TEXT,
                    "Only GET and HEAD are allowed here.\n",
                );
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                r
            }
            HttpError::Store(e) => {
                tracing::error!(error = %e, "store error while serving a request");
                response::bytes(
                    StatusCode::SERVICE_UNAVAILABLE,
                    response::TEXT,
                    "The article store is unavailable; try again shortly.\n",
                )
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
            HttpError::TooSlow => {
                let mut r = response::bytes(
                    StatusCode::SERVICE_UNAVAILABLE,
                    response::TEXT,
                    "The request took too long; try again.\n",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                r
            }
            HttpError::NotAcceptable => response::bytes(
                StatusCode::NOT_ACCEPTABLE,
                response::TEXT,
                "None of the content codings this server has (br, zstd, gzip, identity) is acceptable to you.\n",
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
