//! Answering one request: its request id and log span, the start-up gate, preflights and
//! CORS, routing to the handler that owns the path, the overall deadline, and turning a
//! handler's panic into a 500 for that request alone.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tracing::Instrument;

use super::error::HttpError;
use super::idle::Activity;
use super::response::{self, Body};
use super::router::{self, Path, Route};
use super::{
    App, ClientAddr, admin, api, assets, changes, cors, feeds, hub, metrics, pages, sitemaps, stats,
};
use crate::cache::Memo;

/// Answers one request from `client`; a panic in a handler becomes a 500 for that request
/// only, and the server goes on. A feed poll whose answer is at hand (the version in this
/// thread's memo, the body made) is answered at once, with no future to box; any other request
/// gets one future that owns all it needs, boxed once. None of the layers below is an `async
/// fn` that takes a future as an argument, which would hold that future twice (its argument and
/// the future awaiting it). `connection`'s activity tells, when a request reading a body runs
/// out of `timeout`, whether the client was still sending it (408) or the server was slow (503).
pub(super) fn guarded(
    app: Arc<App>,
    request: Request<Incoming>,
    client: ClientAddr,
    timeout: Duration,
    connection: &Arc<Activity>,
) -> impl Future<Output = Response<Body>> + Send + 'static + use<> {
    let route = router::route(request.uri());
    let id = request_id(request.headers().get(&X_REQUEST_ID));
    let tried = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let span = span(&id, client, &request);
        match span.in_scope(|| at_hand(&app, &request, client, &route)) {
            Ok(response) => Tried::Answered(response),
            Err(memo) => Tried::Later(span, memo),
        }
    }));
    let name = router::name(&route);
    match tried {
        Ok(Tried::Answered(response)) => {
            Either::Left(std::future::ready(counted(&app, name, id, response)))
        }
        Ok(Tried::Later(span, memo)) => {
            let asked = Asked {
                route,
                id,
                span,
                memo,
            };
            let limit = Limit {
                timeout,
                connection: Arc::clone(connection),
            };
            Either::Right(Box::pin(handle(app, request, client, asked, limit)))
        }
        // Counted and with its request id, as a panic in `handle` is.
        Err(_) => Either::Left(std::future::ready(counted(&app, name, id, panicked()))),
    }
}

/// How [`guarded`] left a request before any wait: answered, or with its log span and what
/// this thread's memo said of it.
enum Tried {
    Answered(Response<Body>),
    Later(tracing::Span, Memo),
}

pub(super) fn catching(
    work: impl Future<Output = Response<Body>>,
) -> impl Future<Output = Response<Body>> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .map(|answered| answered.unwrap_or_else(|_| panicked()))
}

/// The 500 of a request whose handler panicked.
fn panicked() -> Response<Body> {
    tracing::error!("a request handler panicked; answered 500");
    response::bytes(
        StatusCode::INTERNAL_SERVER_ERROR,
        response::TEXT,
        "Internal server error.\n",
    )
}

/// A public feed poll answered without waiting, as [`handle`] would answer it; or, when it
/// needs a wait (or is not such a poll), what this thread's memo said of it: nothing else of
/// it has been counted then, and [`handle`] takes it from there.
fn at_hand(
    app: &App,
    request: &Request<Incoming>,
    client: ClientAddr,
    route: &Route,
) -> Result<Response<Body>, Memo> {
    let Some(Path::Feed { slug, format, part }) = route else {
        return Err(Memo::Unasked);
    };
    let keyed = super::partner::presents_key(request.headers(), request.uri().query());
    if !matches!(*request.method(), Method::GET | Method::HEAD)
        || !app.health.started()
        || super::host::check(request).is_err()
        || (app.partners.configured() && keyed)
    {
        return Err(Memo::Unasked);
    }
    let path = feeds::FeedPath {
        slug: slug.as_str(),
        format: *format,
        part: *part,
    };
    match feeds::feed_now(app, request, client, path) {
        feeds::Now::Answered(result) => Ok(Finish::keyed(request, route, keyed).apply(app, result)),
        feeds::Now::Later(memo) => Err(memo),
    }
}

/// What [`guarded`] worked out before handing a request to [`handle`].
struct Asked {
    route: Route,
    id: HeaderValue,
    span: tracing::Span,
    /// What this thread's memo said of the feed the request names, if it was asked.
    memo: Memo,
}

/// How long a request that reads a body (the ingest API, the hub) may take, and its
/// connection's activity, which tells whether a body not in by then was the client's delay.
struct Limit {
    timeout: Duration,
    connection: Arc<Activity>,
}

/// Answers one request, counted in the metrics, inside a span carrying its request id (the
/// client's `X-Request-Id` when it sent a sane one) and its client's address, so every log
/// line about it can be found; a panic in its handler is a 500, counted and logged likewise.
async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
    client: ClientAddr,
    asked: Asked,
    limit: Limit,
) -> Response<Body> {
    let Asked {
        route,
        id,
        span,
        memo,
    } = asked;
    let name = router::name(&route);
    let response = catching(answer(&app, request, client, route, memo, &limit))
        .instrument(span)
        .await;
    counted(&app, name, id, response)
}

/// The log span of one request.
fn span(id: &HeaderValue, client: ClientAddr, request: &Request<Incoming>) -> tracing::Span {
    tracing::info_span!(
        "request",
        id = id.to_str().unwrap_or_default(),
        client = %client.0.ip(),
        method = %request.method(),
        path = request.uri().path(),
        partner = tracing::field::Empty
    )
}

/// `response` counted in the metrics under its route's name, with its request id.
fn counted(
    app: &App,
    name: &'static str,
    id: HeaderValue,
    mut response: Response<Body>,
) -> Response<Body> {
    app.metrics.request(name, response.status().as_u16());
    let headers = response.headers_mut();
    // A feed's answer is made with an empty id as its first field: filled where it stands,
    // without hashing the name to find it.
    match headers.iter_mut().next() {
        Some((name, value)) if *name == X_REQUEST_ID && value.is_empty() => *value = id,
        _ => {
            headers.insert(&X_REQUEST_ID, id);
        }
    }
    response
}

/// Bounds a request in time: one that reads a body (the ingest API), so a client trickling its
/// body cannot hold a handler forever, and pages, so a slow store cannot hold one either. Feed
/// polls are not wrapped (a timer per request would cost a quarter of the cache-hit
/// throughput): the cache bounds a feed's build instead.
async fn within(
    timeout: Duration,
    work: impl Future<Output = Result<Response<Body>, HttpError>>,
) -> Result<Response<Body>, HttpError> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            tracing::warn!(?timeout, "a request took too long; answered 503");
            Err(HttpError::TooSlow)
        })
}

/// [`within`] for a request whose handler reads its body. When its time is up while an
/// HTTP/1.x connection waits for the body's bytes, the client was too slow to send them: a 408
/// (RFC 9110 §15.5.9), and the connection is closed; otherwise, as for any request, the server
/// was too slow: a 503. (HTTP/2 reads its connection all the time, so there it is a 503.)
async fn reading(
    limit: &Limit,
    version: hyper::Version,
    work: impl Future<Output = Result<Response<Body>, HttpError>>,
) -> Result<Response<Body>, HttpError> {
    let timeout = limit.timeout;
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) if version < hyper::Version::HTTP_2 && limit.connection.awaits_client() => {
            tracing::info!(
                ?timeout,
                "a request body did not arrive in time; answered 408"
            );
            Err(HttpError::BodyTooSlow)
        }
        Err(_) => {
            tracing::warn!(?timeout, "a request took too long; answered 503");
            Err(HttpError::TooSlow)
        }
    }
}

/// Every response's request id, put in by [`counted`] (in place of the empty one a feed's
/// answer is made with, first of its fields).
pub(super) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(0);

/// Request ids a serving thread takes from [`NEXT_REQUEST`] at a time: one shared counter
/// bumped by every request would pass its cache line between the cores on each one.
const IDS_PER_BLOCK: u64 = 1024;

thread_local! {
    /// This thread's next request id and the end of its block.
    static IDS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// The next request number, unique within this process.
fn next_request() -> u64 {
    IDS.with(|ids| {
        let (mut next, mut end) = ids.get();
        if next == end {
            next = NEXT_REQUEST.fetch_add(IDS_PER_BLOCK, Ordering::Relaxed);
            end = next + IDS_PER_BLOCK;
        }
        ids.set((next + 1, end));
        next
    })
}

/// The client's request id when it is short, visible ASCII; otherwise a new one, unique within
/// this process and unlikely to repeat across restarts: the start time and a counter, in hex.
/// Either is marked sensitive, which HTTP/2's header compression takes as "never index": a
/// value that differs on every response would otherwise be added to each connection's HPACK
/// table and push out the values that repeat (RFC 7541 §7.1.3).
fn request_id(given: Option<&HeaderValue>) -> HeaderValue {
    let mut id = given
        .filter(|given| {
            let bytes = given.as_bytes();
            !bytes.is_empty() && bytes.len() <= 64 && bytes.iter().all(u8::is_ascii_graphic)
        })
        .cloned()
        .unwrap_or_else(new_request_id);
    id.set_sensitive(true);
    id
}

fn new_request_id() -> HeaderValue {
    static START: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32)
    });
    let n = next_request();
    // "xxxxxxxx-" then the counter's hex digits, without going through the formatter.
    let mut id = [0u8; 8 + 1 + 16];
    hex(u64::from(start), &mut id[..8]);
    id[8] = b'-';
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1) as usize;
    hex(n, &mut id[9..9 + digits]);
    HeaderValue::from_bytes(&id[..9 + digits]).expect("hex digits and a dash")
}

/// `n`'s lowest hex digits, filling `out`.
fn hex(mut n: u64, out: &mut [u8]) {
    for byte in out.iter_mut().rev() {
        *byte = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
    }
}

async fn answer(
    app: &App,
    request: Request<Incoming>,
    client: ClientAddr,
    route: Route,
    memo: Memo,
    limit: &Limit,
) -> Response<Body> {
    let head = request.method() == Method::HEAD;
    let page = router::is_page(&route);
    if let Err(refused) = super::host::check(&request) {
        return Finish::of(&request, &route).apply(app, Err(refused));
    }
    // Until start-up has finished (the store reached, migrated, followed) only liveness,
    // readiness and metrics answer; other requests wait for it a moment, then get a 503.
    if !app.health.started()
        && !router::answers_while_starting(&route)
        && !Box::pin(app.health.wait_started(app.deadline)).await
    {
        let e = HttpError::Unavailable("still starting: the store is not ready".to_owned());
        let response = if page {
            e.into_page_response(&app.site)
        } else {
            e.into_response(&app.site)
        };
        return if head {
            response::without_body(response)
        } else {
            response
        };
    }
    // Every route but feeds is boxed, so the future of a feed poll stays small: hyper moves
    // it into place on every request.
    if request.method() == Method::OPTIONS {
        if let Some(response) = cors::preflight(&route, request.headers()) {
            return response;
        }
    }
    // Taken now: the request itself is moved into the API handler.
    let finish = Finish::of(&request, &route);
    let version = request.version();
    let result = match route {
        // A method no resource here implements is a 501 wherever it is sent (RFC 9110 §9.1),
        // and any method on a path that names nothing a 404.
        _ if !router::is_known(request.method()) => Err(HttpError::NotImplemented),
        None => Err(not_found()),
        Some(Path::Api(id)) => {
            let id = id.as_ref().map(|id| id.as_str());
            Box::pin(reading(limit, version, api::handle(app, request, id))).await
        }
        Some(Path::Hub) => Box::pin(reading(limit, version, hub::handle(app, request))).await,
        Some(path) if request.method() == Method::GET || head => {
            route_get(app, &request, client, path, memo).await
        }
        route => Err(HttpError::MethodNotAllowed(cors::allow(&route))),
    };
    finish.apply(app, result)
}

/// What every routed answer gets, whichever handler made it: an error as a problem document
/// (or an HTML page on page routes), the CORS headers its route allows, the protections of a
/// page, and no body for a HEAD.
struct Finish {
    head: bool,
    page: bool,
    /// Whether a successful answer may be HTML, which gets a page's protections: on every
    /// route but a feed's, whose documents never are. (An error may be an HTML page anywhere.)
    html: bool,
    reach: cors::Reach,
    origin: Option<HeaderValue>,
}

impl Finish {
    fn of(request: &Request<Incoming>, route: &Route) -> Self {
        let keyed = super::partner::presents_key(request.headers(), request.uri().query());
        Self::keyed(request, route, keyed)
    }

    /// [`Finish::of`] for a request already known to present a partner's key or not.
    fn keyed(request: &Request<Incoming>, route: &Route, keyed: bool) -> Self {
        let reach = cors::reach(route, keyed);
        let origin = match reach {
            cors::Reach::Nobody => None,
            _ => request.headers().get(hyper::header::ORIGIN).cloned(),
        };
        Self {
            head: request.method() == Method::HEAD,
            page: router::is_page(route),
            html: !matches!(route, Some(Path::Feed { .. })),
            reach,
            origin,
        }
    }

    fn apply(self, app: &App, result: Result<Response<Body>, HttpError>) -> Response<Body> {
        let html = self.html || result.is_err();
        let mut response = result.unwrap_or_else(|e| {
            if self.page {
                e.into_page_response(&app.site)
            } else {
                e.into_response(&app.site)
            }
        });
        cors::decorate(self.reach, self.origin.as_ref(), &mut response);
        if html {
            response::protect_page(&mut response);
        }
        if self.head {
            response::without_body(response)
        } else {
            response
        }
    }
}

/// The 404 of a path that names nothing.
fn not_found() -> HttpError {
    HttpError::NotFound("Nothing lives at this address.".to_owned())
}

/// `/readyz`: 200 when this replica can serve everything; 503 with a short reason while the
/// store is unreachable, the change listener is away, or start-up has not finished.
fn ready(app: &App) -> Response<Body> {
    let mut response = match app.health.readiness() {
        Ok(()) => response::bytes(StatusCode::OK, response::TEXT, "ready\n"),
        Err(reason) => {
            let mut r = response::bytes(
                StatusCode::SERVICE_UNAVAILABLE,
                response::TEXT,
                format!("not ready: {reason}\n"),
            );
            r.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                HeaderValue::from(super::error::RETRY_AFTER_SECS),
            );
            r
        }
    };
    response.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

async fn route_get(
    app: &App,
    request: &Request<Incoming>,
    client: ClientAddr,
    path: Path,
    memo: Memo,
) -> Result<Response<Body>, HttpError> {
    // Pages read the store on every request: bounded as a whole. Feeds are bounded in the
    // cache, on a miss only, so that a hit costs no timer.
    let deadline = app.deadline;
    match path {
        Path::Home => Box::pin(within(deadline, pages::index(app, request))).await,
        Path::Category(slug) => {
            Box::pin(within(
                deadline,
                pages::category(app, request, slug.as_str()),
            ))
            .await
        }
        Path::Article(id) => Box::pin(within(deadline, pages::article(app, request, &id))).await,
        Path::Feed { slug, format, part } => {
            let path = feeds::FeedPath {
                slug: slug.as_str(),
                format,
                part,
            };
            feeds::feed(app, request, client, path, memo).await
        }
        Path::Metrics => Ok(Box::pin(metrics::render(app)).await),
        Path::Stats => Box::pin(within(deadline, stats::render(app, request))).await,
        // Held up to its own `wait` (≤ 30 s) plus one store read.
        Path::Changes => {
            Box::pin(within(
                deadline + Duration::from_secs(30),
                changes::render(app, request),
            ))
            .await
        }
        Path::Admin => Box::pin(within(deadline, admin::render(app, request))).await,
        Path::Opml => Box::pin(within(deadline, feeds::opml(app, request))).await,
        Path::Health => Ok(response::bytes(StatusCode::OK, response::TEXT, "ok\n")),
        Path::Favicon => assets::favicon(app, request.headers()),
        Path::Stylesheet => assets::stylesheet(request.headers()),
        Path::Robots => assets::robots(app, request.headers()),
        Path::Sitemap => Box::pin(within(deadline, sitemaps::pages(app, request))).await,
        Path::NewsSitemap => Box::pin(within(deadline, sitemaps::news(app, request))).await,
        Path::Ready => Ok(ready(app)),
        Path::Api(_) | Path::Hub => {
            unreachable!("the API and the hub are routed before GET-only resources")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_the_clients_when_sane_and_new_and_distinct_otherwise() {
        let given = HeaderValue::from_static("desk-7f3a");
        assert_eq!(request_id(Some(&given)), "desk-7f3a");
        let junk = HeaderValue::from_bytes(b"two words").unwrap();
        let (a, b) = (request_id(Some(&junk)), request_id(None));
        assert_ne!(a, b);
        for id in [a, b] {
            let (start, n) = id.to_str().unwrap().split_once('-').unwrap();
            assert_eq!(start.len(), 8);
            assert!(u32::from_str_radix(start, 16).is_ok(), "{id:?}");
            assert!(u64::from_str_radix(n, 16).is_ok(), "{id:?}");
        }
        let mut out = [0u8; 4];
        hex(0xbeef, &mut out);
        assert_eq!(&out, b"beef");
    }

    #[test]
    fn request_ids_are_never_indexed_and_distinct_across_threads() {
        assert!(request_id(None).is_sensitive());
        assert!(request_id(Some(&HeaderValue::from_static("desk-7f3a"))).is_sensitive());
        // More than a block each, taken at once on several threads.
        let ids: Vec<HeaderValue> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..3)
                .map(|_| scope.spawn(|| (0..2500).map(|_| request_id(None)).collect::<Vec<_>>()))
                .collect();
            threads
                .into_iter()
                .flat_map(|thread| thread.join().unwrap())
                .collect()
        });
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 7500);
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_500() {
        let response = catching(async { panic!("handler bug") }).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn a_request_that_takes_too_long_becomes_a_503() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(response::bytes(StatusCode::OK, response::TEXT, "late"))
        };
        let response = within(Duration::from_millis(20), slow)
            .await
            .unwrap_err()
            .into_response(&crate::site::Site::new(
                "http://127.0.0.1",
                "Wirefeed",
                "127.0.0.1,2026",
            ));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "5");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}
