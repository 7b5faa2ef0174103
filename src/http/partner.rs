//! Partner keys on feed and change-cursor requests: which partner a request speaks for, what
//! it may read of a feed, its quota, and the headers every keyed answer carries.
//!
//! A key is accepted three ways, each with its risk (see the README): `Authorization: Bearer
//! KEY` (best: headers stay out of logs and referrers), HTTP Basic with the key as the
//! password and any user name (what most feed readers can do; the same exposure as Bearer),
//! and `?key=KEY` (for readers that can do neither: the key is in the URL, so it lands in
//! browser history, proxy and server logs, and can leak in a `Referer`). Our own logs never
//! hold it: the request span names the path without the query, and the partner by name.
//! A key that matches no partner is 401 — never a fallback to the public feed — while no
//! partners file is configured, keys are not looked at.
//!
//! Keyed answers are `Cache-Control: private` with `Vary: Authorization, Accept-Encoding`, so
//! no shared cache hands one partner's view to another, and carry the usage headers of
//! draft-ietf-httpapi-ratelimit-headers (the `RateLimit-Limit`, `-Remaining` and `-Reset`
//! fields of its earlier revisions, which clients read today, and `RateLimit-Policy`) when the
//! partner has a quota, and `Wirefeed-Usage` (requests this hour and today) always.

use std::sync::Arc;

use chrono::Utc;
use headers::HeaderMapExt;
use headers::authorization::{Authorization, Basic};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use super::App;
use super::error::HttpError;
use super::feeds::query_value;
use super::problem::Problem;
use super::response::Body;
use crate::model::{Entitlement, FeedDef, Selection, View};
use crate::partners::Partner;
use crate::partners::usage::Standing;

/// The challenge of a 401 for a partner-only feed or a wrong key.
pub(crate) const CHALLENGE: &str =
    "Bearer realm=\"wirefeed partners\", Basic realm=\"wirefeed partners\", charset=\"UTF-8\"";

static VARY_KEYED: HeaderValue = HeaderValue::from_static("authorization, accept-encoding");

/// The key a request presents, if any: a bearer token, a Basic password, or `?key=`.
fn presented(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(basic) = headers.typed_get::<Authorization<Basic>>() {
        return Some(basic.password().to_owned());
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    bearer.or_else(|| query_value(query, "key"))
}

/// Whether a request presents a key at all (for CORS, before it is checked).
pub(crate) fn presents_key(headers: &HeaderMap, query: Option<&str>) -> bool {
    headers.contains_key(header::AUTHORIZATION) || query_value(query, "key").is_some()
}

/// The partner a request speaks for: `None` without a key (or without a partners file), 401
/// for a key that matches no partner. The request's log span is given the partner's name.
pub(crate) fn caller(
    app: &App,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Option<Arc<Partner>>, HttpError> {
    if !app.partners.configured() {
        return Ok(None);
    }
    let Some(key) = presented(headers, query) else {
        return Ok(None);
    };
    match app.partners.current().find(&key) {
        Some(partner) => {
            tracing::Span::current().record("partner", partner.name.as_str());
            Ok(Some(partner))
        }
        None => {
            tracing::info!("refused a partner key that matches no partner");
            Err(unauthorized(
                "That key is not a partner key this server accepts. Send it as a bearer token, as the Basic password, or as ?key=.",
            ))
        }
    }
}

fn unauthorized(detail: &str) -> HttpError {
    HttpError::Unauthorized(
        Problem::new(StatusCode::UNAUTHORIZED, "Partner key needed", detail),
        Some(CHALLENGE),
    )
}

/// What `caller` may read of the feed at `slug`: the public view without a key (401 for a
/// partner-only feed), the partner's entitlement to it otherwise (403 when it has none).
pub(crate) fn view(app: &App, caller: Option<&Partner>, slug: &str) -> Result<View, HttpError> {
    let Some(partner) = caller else {
        if app.catalog.partners_only(slug) {
            return Err(partners_only());
        }
        return Ok(View::Public);
    };
    // Whether the category has stories does not matter here: the cache answers 404 for that.
    let selection = app
        .catalog
        .feed(slug, |_| true)
        .map_or(Selection::All, |def| def.selection);
    let view = partner.view_of(&selection);
    if view.is_empty() {
        return Err(not_entitled(slug));
    }
    Ok(View::Partner(Arc::new(view)))
}

/// A partner's entitlement to the whole wire, for the change cursor.
pub(crate) fn wire_view(partner: &Partner) -> Entitlement {
    partner.view_of(&Selection::All)
}

/// 401 for a public request of a partner-only feed.
pub(crate) fn partners_only() -> HttpError {
    unauthorized(
        "This feed is for partners only: send your partner key as a bearer token, as the Basic password, or as ?key=.",
    )
}

/// 403 for a partner with no category of the feed.
pub(crate) fn not_entitled(slug: &str) -> HttpError {
    Problem::new(
        StatusCode::FORBIDDEN,
        "Not entitled",
        format!("Your partner key is not entitled to any category of the feed “{slug}”."),
    )
    .into()
}

/// Lets `partner` make one more request, or answers 429.
pub(crate) fn admit(app: &App, partner: &Partner) -> Result<Standing, HttpError> {
    app.usage.admit(partner, Utc::now()).map_err(|standing| {
        app.metrics.partner_request(&partner.name, 429);
        HttpError::OverQuota(standing)
    })
}

/// Counts an answered keyed request and adds what every keyed answer carries: private
/// caching, `Vary`, and the usage headers (including this request).
pub(crate) fn finish(
    app: &App,
    partner: &Partner,
    def: Option<&FeedDef>,
    response: &mut Response<Body>,
) {
    use hyper::body::Body as _;
    let status = response.status();
    app.metrics.partner_request(&partner.name, status.as_u16());
    let now = Utc::now();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        let bytes = response.body().size_hint().exact().unwrap_or(0);
        app.usage.note(
            &partner.name,
            now,
            status == StatusCode::NOT_MODIFIED,
            bytes,
        );
    }
    let standing = app.usage.standing(partner, now);
    let headers = response.headers_mut();
    // A delta (226) is `no-store` already: only its client may use it.
    let no_store = headers
        .get(header::CACHE_CONTROL)
        .is_some_and(|v| v.as_bytes().starts_with(b"no-store"));
    if !no_store {
        let max_age = def.map_or(0, |d| d.max_age);
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_str(&format!("private, max-age={max_age}")).expect("ASCII"),
        );
    }
    headers.insert(header::VARY, VARY_KEYED.clone());
    usage_headers(headers, &standing);
}

/// `RateLimit-*` for the binding quota (when there is one) and `Wirefeed-Usage`. The counts
/// change on every response, so they are marked never to be indexed by HTTP/2's header
/// compression (see `dispatch::request_id`).
pub(crate) fn usage_headers(headers: &mut HeaderMap, standing: &Standing) {
    let sensitive = |mut value: HeaderValue| {
        value.set_sensitive(true);
        value
    };
    if let Some(window) = standing.binding() {
        let number = |n: u64| sensitive(HeaderValue::from(n));
        headers.insert("ratelimit-limit", number(window.limit.unwrap_or(0)));
        headers.insert(
            "ratelimit-remaining",
            number(window.remaining().unwrap_or(0)),
        );
        headers.insert("ratelimit-reset", number(window.reset));
        let policy: Vec<String> = [standing.hour, standing.day]
            .iter()
            .filter_map(|w| Some(format!("{};w={}", w.limit?, w.length)))
            .collect();
        headers.insert(
            "ratelimit-policy",
            HeaderValue::from_str(&policy.join(", ")).expect("ASCII"),
        );
    }
    headers.insert(
        "wirefeed-usage",
        sensitive(
            HeaderValue::from_str(&format!(
                "hour={}, day={}",
                standing.hour.used, standing.day.used
            ))
            .expect("ASCII"),
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn a_key_is_read_from_bearer_basic_or_the_query() {
        assert_eq!(
            presented(&with("authorization", "Bearer k-0123456789abcdef"), None).as_deref(),
            Some("k-0123456789abcdef")
        );
        // "reader:k-0123456789abcdef"
        assert_eq!(
            presented(
                &with(
                    "authorization",
                    "Basic cmVhZGVyOmstMDEyMzQ1Njc4OWFiY2RlZg=="
                ),
                None
            )
            .as_deref(),
            Some("k-0123456789abcdef")
        );
        assert_eq!(
            presented(&HeaderMap::new(), Some("utm=x&key=k%2B1")).as_deref(),
            Some("k+1")
        );
        assert_eq!(presented(&HeaderMap::new(), Some("page=2")), None);
        assert!(presents_key(&HeaderMap::new(), Some("key=")));
        assert!(!presents_key(&HeaderMap::new(), None));
    }
}
