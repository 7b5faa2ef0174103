//! `/hub`: the built-in WebSub hub's endpoint. Subscribers POST a form; the answer is 202 when
//! the request will be verified, or a 4xx saying what is wrong. A GET explains what this is.

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::App;
use super::error::HttpError;
use super::response::{self, Body};
use crate::websub::{HubError, Role};

/// Largest subscription form read; a real one is a few hundred bytes.
const MAX_FORM_BYTES: usize = 16 * 1024;

pub(crate) async fn handle(
    app: &App,
    request: Request<Incoming>,
) -> Result<Response<Body>, HttpError> {
    let Some(hub) = app.hub.as_ref().filter(|h| *h.role() == Role::Builtin) else {
        return Err(HttpError::NotFound(
            "This server is not a WebSub hub (websub_hub is not \"builtin\").".to_owned(),
        ));
    };
    match *request.method() {
        Method::POST => {}
        Method::GET | Method::HEAD => {
            return Ok(response::bytes(
                StatusCode::OK,
                response::TEXT,
                "This is a WebSub hub for this server's feeds. Subscribe with a POST of \
                 hub.mode=subscribe, hub.topic (a feed URL) and hub.callback, form-encoded.\n",
            ));
        }
        _ => return Err(HttpError::MethodNotAllowedHere("GET, HEAD, POST")),
    }
    let form_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(HubError::NotAForm.into());
    }
    let form = Limited::new(request.into_body(), MAX_FORM_BYTES)
        .collect()
        .await
        .map_err(|_| HubError::BadRequest("the form is incomplete or too large".to_owned()))?
        .to_bytes();
    hub.request(&form).await?;
    let mut accepted = response::bytes(
        StatusCode::ACCEPTED,
        response::TEXT,
        "Accepted: the hub will now verify your intent with a GET to the callback.\n",
    );
    accepted
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(accepted)
}
