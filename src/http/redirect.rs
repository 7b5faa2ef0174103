//! The plain-HTTP listener next to an HTTPS one (`redirect_listen`): every request is
//! redirected, 308 (method and body kept), to the same host and path over HTTPS, except
//! `/healthz` (so a load balancer can probe either port) and
//! `/.well-known/acme-challenge/{token}` (RFC 8555 HTTP-01), answered from
//! `acme_dir/.well-known/acme-challenge/` — the layout `certbot --webroot -w acme_dir`, lego
//! and acme.sh write — so a certificate can be issued and renewed while the server runs.

use std::path::PathBuf;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::response::{self, Body};

/// Where challenges live under `acme_dir`.
const CHALLENGES: &str = ".well-known/acme-challenge";
/// Largest challenge file served: a key authorization is about 90 bytes.
const MAX_CHALLENGE_BYTES: u64 = 4096;

/// What the redirecting listener needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Redirect {
    /// The HTTPS port, written in `Location` unless it is 443.
    pub(crate) https_port: u16,
    /// The webroot of ACME HTTP-01 challenges, if any.
    pub(crate) acme_dir: Option<PathBuf>,
}

/// Answers one request on the plain listener.
pub(crate) async fn answer(redirect: &Redirect, request: Request<Incoming>) -> Response<Body> {
    let head = request.method() == Method::HEAD;
    let path = request.uri().path();
    let response = if path == "/healthz" && (request.method() == Method::GET || head) {
        response::bytes(StatusCode::OK, response::TEXT, "ok\n")
    } else if let Some(token) = path.strip_prefix("/.well-known/acme-challenge/") {
        challenge(redirect, token, request.method()).await
    } else {
        to_https(redirect, &request)
    };
    if head {
        response::without_body(response)
    } else {
        response
    }
}

/// A 308 to the same host, port `https_port`, same path and query.
fn to_https(redirect: &Redirect, request: &Request<Incoming>) -> Response<Body> {
    // HTTP/1.1 names the host in Host; HTTP/2 and absolute-form requests in the URI.
    let authority = request.uri().authority().cloned().or_else(|| {
        request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.parse::<http::uri::Authority>().ok())
    });
    let Some(authority) = authority.filter(|a| a.as_str().bytes().all(|b| b != b'@')) else {
        return response::bytes(
            StatusCode::BAD_REQUEST,
            response::TEXT,
            "A request needs a Host header to be redirected to HTTPS.\n",
        );
    };
    let host = authority.host();
    // Authority::host keeps the brackets of an IPv6 address.
    let port = match redirect.https_port {
        443 => String::new(),
        port => format!(":{port}"),
    };
    let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let location = format!("https://{host}{port}{target}");
    let Ok(location) = HeaderValue::from_str(&location) else {
        return response::bytes(StatusCode::BAD_REQUEST, response::TEXT, "Bad host.\n");
    };
    let mut response = response::bytes(
        StatusCode::PERMANENT_REDIRECT,
        response::TEXT,
        "This site is served over HTTPS.\n",
    );
    response.headers_mut().insert(header::LOCATION, location);
    response
}

/// An ACME HTTP-01 challenge file, when `acme_dir` is set and holds it.
async fn challenge(redirect: &Redirect, token: &str, method: &Method) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = response::bytes(
            StatusCode::METHOD_NOT_ALLOWED,
            response::TEXT,
            "Challenges are read with GET.\n",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let not_found = || {
        response::bytes(
            StatusCode::NOT_FOUND,
            response::TEXT,
            "No such challenge.\n",
        )
    };
    // A token is base64url (RFC 8555 section 8.3): no dot, no slash, so no way out of the directory.
    let valid = !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let Some(dir) = redirect.acme_dir.as_ref().filter(|_| valid) else {
        return not_found();
    };
    let path = dir.join(CHALLENGES).join(token);
    let body = match tokio::fs::metadata(&path).await {
        Ok(meta) if meta.is_file() && meta.len() <= MAX_CHALLENGE_BYTES => {
            tokio::fs::read(&path).await
        }
        _ => return not_found(),
    };
    match body {
        Ok(body) => {
            let mut r = response::bytes(StatusCode::OK, "application/octet-stream", body);
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "cannot read an ACME challenge");
            not_found()
        }
    }
}
