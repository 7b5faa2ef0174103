//! The ingest API: the wire desk publishes (`POST /api/articles`), creates or replaces
//! (`PUT /api/articles/{id}`), reads back (`GET`) and kills (`DELETE`) stories with a bearer
//! token. A 2xx means the story is on disk; errors are problem+json naming the offending field,
//! and a rejected request changes nothing. This module only reads the request and maps the
//! answer: validation, the replacement rules and the write are the write path's
//! (`ingest::publish`).
//!
//! A story's validators are its version as a strong ETag and, for a stored story, the time of
//! the change that wrote it as Last-Modified (`publish::Validators`). `GET` answers 304 to a
//! client that has them; `PUT` and `DELETE` honour `If-Match` (strong comparison),
//! `If-Unmodified-Since` and `If-None-Match` against exactly those validators, evaluated by the
//! write path inside the write (412 when they fail, nothing changed).

use std::time::SystemTime;

use chrono::Utc;
use headers::{
    ETag, HeaderMapExt, IfMatch, IfModifiedSince, IfNoneMatch, IfUnmodifiedSince, LastModified,
};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};

use super::App;
use super::auth::AuthError;
use super::error::HttpError;
use super::problem::Problem;
use super::response::Body;
use crate::ingest::ninjs;
use crate::ingest::publish::{
    self, InputFormat, Mode, Preconditions, PublishError, Published, Submitted, Unconditional,
    Validators,
};
use crate::model::{Article, ArticleId};
use crate::store::Current;

/// `/api/articles` (no id) or `/api/articles/{id}`. Writes refused for what they carry (bad
/// token, bad story) are counted as rejected in the metrics.
pub(crate) async fn handle(
    app: &App,
    request: Request<Incoming>,
    id: Option<&str>,
) -> Result<Response<Body>, HttpError> {
    let write = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::DELETE
    );
    let result = answer(app, request, id).await;
    if write
        && matches!(
            result,
            Err(HttpError::Problem(_) | HttpError::Unauthorized(..))
        )
    {
        app.metrics.ingested("rejected");
    }
    result
}

async fn answer(
    app: &App,
    request: Request<Incoming>,
    id: Option<&str>,
) -> Result<Response<Body>, HttpError> {
    let token = app
        .tokens
        .check(request.headers())
        .map_err(unauthorized)?
        .to_owned();
    let id = id
        .map(|raw| {
            ArticleId::parse(raw).map_err(|m| {
                Problem::new(
                    StatusCode::NOT_FOUND,
                    "No such article",
                    format!("{raw:?} is not an article id: it {m}"),
                )
            })
        })
        .transpose()?;
    let method = request.method().clone();
    match (method, id) {
        // The preconditions of a POST would be the collection's, which has no validators.
        (Method::POST, None) => match read_article(app, request, None).await? {
            Submitted::Story(submission) => {
                publish(app, &token, *submission, Mode::Create, &Unconditional).await
            }
            Submitted::Kill { id, reason } => {
                withdraw(app, &token, &id, reason, &Unconditional).await
            }
        },
        (Method::PUT, Some(id)) => {
            let conditions = Conditions::of(request.headers());
            match read_article(app, request, Some(&id)).await? {
                Submitted::Story(submission) => {
                    publish(app, &token, *submission, Mode::Replace, &conditions).await
                }
                Submitted::Kill { id, reason } => {
                    withdraw(app, &token, &id, reason, &conditions).await
                }
            }
        }
        (Method::GET | Method::HEAD, Some(id)) => match app.store.current(&id).await? {
            Current::Live { article, written } => Ok(story(
                request.headers(),
                &article,
                &Validators::live(&article, &written),
            )),
            Current::Killed(_) | Current::Dropped(_) => Err(gone(&id)),
            // The desk sees its held stories, `embargo` and all.
            Current::Missing => match app.store.held(&id).await? {
                Some(article) => Ok(story(
                    request.headers(),
                    &article,
                    &Validators::held(&article),
                )),
                None => Err(missing(&id)),
            },
        },
        (Method::DELETE, Some(id)) => {
            kill(app, &token, &id, &Conditions::of(request.headers())).await
        }
        (_, None) => Err(HttpError::MethodNotAllowedHere("POST")),
        (_, Some(_)) => Err(HttpError::MethodNotAllowedHere("GET, HEAD, PUT, DELETE")),
    }
}

pub(super) fn unauthorized(e: AuthError) -> HttpError {
    let (status, detail, challenge) = match e {
        AuthError::Disabled => (
            StatusCode::FORBIDDEN,
            "The ingest API is off on this server: set WIREFEED_INGEST_TOKEN (or ingest_tokens in the config file) to turn it on.",
            None,
        ),
        AuthError::Missing => (
            StatusCode::UNAUTHORIZED,
            "Send the ingest token as `Authorization: Bearer <token>`.",
            Some("Bearer realm=\"wirefeed\""),
        ),
        AuthError::Invalid => (
            StatusCode::UNAUTHORIZED,
            "The bearer token is not one this server accepts.",
            Some("Bearer realm=\"wirefeed\", error=\"invalid_token\""),
        ),
    };
    let problem = Problem::new(status, "Not authorised", detail);
    HttpError::Unauthorized(problem, challenge)
}

/// How much of a refused body is read and dropped before the refusal is sent. Closing a
/// connection with unread data in it makes the kernel reset it, and the client then sees a
/// broken pipe instead of the 413 (nginx drains for the same reason, "lingering close").
const DRAIN_BYTES: u64 = 16 << 20;

/// Reads and drops up to `cap` bytes of `body` (the request timeout bounds the time).
async fn discard(mut body: Incoming, cap: u64) {
    let mut read = 0u64;
    while read < cap {
        match body.frame().await {
            Some(Ok(frame)) => {
                read += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            _ => break,
        }
    }
}

fn missing(id: &ArticleId) -> HttpError {
    Problem::new(
        StatusCode::NOT_FOUND,
        "No such article",
        format!("There is no story with the id {id}."),
    )
    .into()
}

fn gone(id: &ArticleId) -> HttpError {
    Problem::new(
        StatusCode::GONE,
        "Article killed",
        format!("The story {id} was killed."),
    )
    .into()
}

/// A write's preconditions as the request sent them (RFC 9110 §13.1), parsed by the `headers`
/// crate and evaluated by the write path against the story the write would change, in the
/// order of RFC 9110 §13.2.2.
struct Conditions {
    /// `Some(None)`: sent, but unreadable, so that no version matches it.
    if_match: Option<Option<IfMatch>>,
    /// Ignored when not a valid HTTP-date (RFC 9110 §13.1.4).
    if_unmodified_since: Option<IfUnmodifiedSince>,
    /// An unreadable one names no version, so it holds.
    if_none_match: Option<IfNoneMatch>,
}

impl Conditions {
    fn of(headers: &HeaderMap) -> Self {
        Self {
            if_match: headers
                .contains_key(header::IF_MATCH)
                .then(|| headers.typed_try_get::<IfMatch>().ok().flatten()),
            if_unmodified_since: headers.typed_try_get().ok().flatten(),
            if_none_match: headers.typed_try_get().ok().flatten(),
        }
    }
}

impl Preconditions for Conditions {
    fn pass(&self, current: Option<&Validators>) -> bool {
        let etag = current.and_then(|c| c.etag.parse::<ETag>().ok());
        let matched = match &self.if_match {
            // Strong comparison; `*` as any tag needs a current story.
            Some(if_match) => match (if_match, &etag) {
                (Some(if_match), Some(etag)) => if_match.precondition_passes(etag),
                _ => false,
            },
            // Only without If-Match, and only for a story with a modification date. A date has
            // whole seconds: two changes within one second are one date (If-Match tells every
            // version apart).
            None => match (
                &self.if_unmodified_since,
                current.and_then(|c| c.last_modified),
            ) {
                (Some(since), Some(modified)) => {
                    since.precondition_passes(SystemTime::from(modified))
                }
                _ => true,
            },
        };
        // Weak comparison; `*` fails on any current story, and nothing fails without one.
        matched
            && match (&self.if_none_match, &etag) {
                (Some(none), Some(etag)) => none.precondition_passes(etag),
                _ => true,
            }
    }
}

/// A story for `GET`: 304 when the client already has this version (If-None-Match, weak
/// comparison; or If-Modified-Since when there is no If-None-Match), else the story.
fn story(request: &HeaderMap, article: &Article, validators: &Validators) -> Response<Body> {
    let etag = validators.etag.parse::<ETag>().ok();
    let modified = validators.last_modified.map(SystemTime::from);
    let held = match request.typed_try_get::<IfNoneMatch>() {
        Ok(Some(none)) => etag.as_ref().is_some_and(|e| !none.precondition_passes(e)),
        Ok(None) => match (request.typed_try_get::<IfModifiedSince>(), modified) {
            (Ok(Some(since)), Some(modified)) => !since.is_modified(modified),
            _ => false,
        },
        Err(_) => false,
    };
    let mut response = if held {
        let mut response = Response::new(Body::default());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        json(StatusCode::OK, article)
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&validators.etag).expect("hex is ASCII"),
    );
    if let Some(modified) = modified {
        headers.typed_insert(LastModified::from(modified));
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}

/// Reads and validates the body, refusing wrong media types, oversize bodies and bad JSON.
async fn read_article(
    app: &App,
    request: Request<Incoming>,
    path_id: Option<&ArticleId>,
) -> Result<Submitted, HttpError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let format = if ninjs::is_ninjs_media_type(&content_type) {
        InputFormat::Ninjs
    } else if content_type.split(';').next().map(str::trim) == Some("application/json") {
        InputFormat::Article
    } else {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            format!(
                "Send the article as Content-Type: application/json (wirefeed's article JSON) or {} (IPTC ninjs 2.x).",
                ninjs::MEDIA_TYPE
            ),
        )
        .into());
    };
    let limit = app.max_body_bytes;
    let too_large = || {
        HttpError::from(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Body too large",
            format!("The request body must be at most {limit} bytes."),
        ))
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if declared.is_some_and(|n| n > limit) {
        // A client waiting for 100 Continue sends nothing more; any other is already sending.
        if !expects_continue {
            discard(request.into_body(), DRAIN_BYTES).await;
        }
        return Err(too_large());
    }
    let mut body = request.into_body();
    let collected = Limited::new(&mut body, usize::try_from(limit).unwrap_or(usize::MAX))
        .collect()
        .await;
    if collected
        .as_ref()
        .is_err_and(|e| e.is::<http_body_util::LengthLimitError>())
    {
        discard(body, DRAIN_BYTES).await;
        return Err(too_large());
    }
    let body = collected
        .map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "Incomplete body",
                "The request body could not be read.",
            )
        })?
        .to_bytes();
    let text = std::str::from_utf8(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "Malformed JSON",
            format!("The body is not valid UTF-8: {e}."),
        )
    })?;
    // Parsed as plain JSON first, so that malformed or absurdly nested input is a 400 and only
    // well-formed JSON of the wrong shape is an invalid article (422).
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "Malformed JSON",
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    if !value.is_object() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "Malformed JSON",
            "The body must be one JSON object.",
        )
        .into());
    }
    publish::submission(format, value, path_id, Utc::now())
        .map_err(|errors| Problem::invalid_article(errors).into())
}

async fn publish(
    app: &App,
    token: &str,
    submission: publish::Submission,
    mode: Mode,
    conditions: &dyn Preconditions,
) -> Result<Response<Body>, HttpError> {
    let id = submission.article.id.clone();
    let published = app
        .desk
        .publish(submission, mode, conditions, Utc::now())
        .await
        .map_err(refused)?;
    let (status, counted) = match &published {
        Published::Created(_) => (StatusCode::CREATED, "created"),
        Published::Updated(_) => (StatusCode::OK, "updated"),
        Published::Unchanged(_) => (StatusCode::OK, "unchanged"),
        Published::Held(_) => (StatusCode::CREATED, "held"),
        Published::Reheld(_) => (StatusCode::OK, "held"),
    };
    tracing::info!(token, %id, outcome = counted, "article stored");
    app.metrics.ingested(counted);
    let mut response = json(status, published.article());
    let location = app.site.href(&crate::site::Path::Api(Some(
        published.article().id.clone(),
    )));
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("ids are URL-safe"),
    );
    Ok(response)
}

/// A write the write path refused, as the client should hear it.
fn refused(e: PublishError) -> HttpError {
    match e {
        PublishError::Invalid(errors) => Problem::invalid_article(errors).into(),
        PublishError::Exists(id) => Problem::new(
            StatusCode::CONFLICT,
            "Article exists",
            format!("A different story with the id {id} exists; PUT /api/articles/{id} replaces it."),
        )
        .into(),
        PublishError::Outdated { id, stored, given } => Problem::new(
            StatusCode::CONFLICT,
            "Older than the stored version",
            format!(
                "The story {id} was last updated at {}, later than the updated {} sent; nothing was changed. Send a later updated, or leave it out to stamp the correction with the time it is accepted.",
                stored.to_rfc3339(),
                given.to_rfc3339()
            ),
        )
        .into(),
        PublishError::OlderVersion { id, stored, given } => Problem::new(
            StatusCode::CONFLICT,
            "Older than the stored version",
            format!(
                "The story {id} is at version {stored}, later than the version {given} sent; nothing was changed."
            ),
        )
        .into(),
        PublishError::PreconditionFailed(id) => Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "Precondition failed",
            format!(
                "The story {id} is not the version the request's If-Match, If-None-Match or If-Unmodified-Since names; nothing was changed. GET /api/articles/{id} for its current version (ETag, Last-Modified) and apply the change to it."
            ),
        )
        .into(),
        PublishError::Killed(id) => Problem::new(
            StatusCode::GONE,
            "Article killed",
            format!(
                "The story {id} was killed, and a kill is final: it cannot be published or corrected again, and nothing was changed. A new story needs a new id."
            ),
        )
        .into(),
        PublishError::Missing(id) => missing(&id),
        PublishError::AlreadyPublished(id) => Problem::new(
            StatusCode::CONFLICT,
            "Already published",
            format!(
                "The story {id} has been published, so it cannot be put under embargo; correct it without an embargo, or DELETE /api/articles/{id} to kill it."
            ),
        )
        .into(),
        PublishError::Store(e) => e.into(),
    }
}

async fn kill(
    app: &App,
    token: &str,
    id: &ArticleId,
    conditions: &dyn Preconditions,
) -> Result<Response<Body>, HttpError> {
    if let Some(killed) = app.desk.kill(id, conditions).await.map_err(refused)? {
        tracing::info!(token, %id, seq = killed.killed.seq, "article killed");
        app.metrics.ingested("killed");
    }
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// A submission that withdraws a story (ninjs `canceled`/`withheld`, or `expires` past): killed
/// as `DELETE` kills it, answered 200 with what was done (`killed_at`: when; the same on a
/// retry), or 404 when there is no story to withdraw.
async fn withdraw(
    app: &App,
    token: &str,
    id: &ArticleId,
    reason: &str,
    conditions: &dyn Preconditions,
) -> Result<Response<Body>, HttpError> {
    let killed_at = match app.desk.kill(id, conditions).await.map_err(refused)? {
        Some(killed) => {
            tracing::info!(token, %id, reason, seq = killed.killed.seq, "article withdrawn");
            app.metrics.ingested("killed");
            killed.killed.at
        }
        None => match app.store.current(id).await? {
            Current::Killed(killed) | Current::Dropped(killed) => killed.killed.at,
            _ => return Err(missing(id)),
        },
    };
    let body = serde_json::json!({
        "id": id,
        "status": "killed",
        "reason": reason,
        "killed_at": killed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    let mut response = Response::new(Body::from(body.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(response)
}

/// The story as JSON, with its version as the ETag (for `If-Match` on a correction).
fn json(status: StatusCode, article: &Article) -> Response<Body> {
    let mut response = Response::new(Body::from(article.to_json()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&publish::version(article)).expect("hex is ASCII"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}
