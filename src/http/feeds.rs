//! Feed documents and the OPML list. A feed request is answered from the cache: negotiate the
//! coding, check the client's validators, and send prebuilt bytes and headers — a 200, a 304,
//! or, when the operator turned deltas on, for an RFC 3229 `A-IM: feed` client a 226 with only
//! what changed. A request with a partner key gets the partner's view of the feed (see
//! [`super::partner`]) through exactly the same path, with private caching and usage headers.

use std::sync::Arc;
use std::time::SystemTime;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Request, Response, StatusCode};

use super::assets::Document;
use super::conditional::{self, Held};
use super::encoding;
use super::error::HttpError;
use super::kept::Shows;
use super::problem::Problem;
use super::response::{self, Body};
use super::{App, ClientAddr, partner};
use crate::audience::Poll;
use crate::cache::{Heads, Memo, Rendered};
use crate::model::{Coding, FeedFormat, FeedKey, Part, Trim, View};
use crate::partners::Partner;
use crate::render;

static VARY: HeaderValue = HeaderValue::from_static("accept-encoding");
/// `Vary` of public answers while partners are configured: a shared cache must not answer a
/// keyed request with the public document.
static VARY_PUBLIC_WITH_PARTNERS: HeaderValue =
    HeaderValue::from_static("accept-encoding, authorization");

/// One parameter of a query string.
pub(crate) fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The variant of a subscription document the query asks for: `limit=N` (1 or more; N at or
/// over the feed's `entries` is the feed itself, so it never splits the cache) and
/// `content=headlines` (or `full`). Other parameters are ignored.
fn trim(app: &App, slug: &str, query: Option<&str>) -> Result<Trim, HttpError> {
    let bad = |detail: String| -> HttpError {
        Problem::new(StatusCode::BAD_REQUEST, "Bad query", detail).into()
    };
    let mut trim = Trim::default();
    if let Some(raw) = query_value(query, "limit") {
        let n: u16 = raw.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            bad(format!(
                "limit must be a whole number of entries from 1, not {raw:?}."
            ))
        })?;
        let entries = app
            .catalog
            .feed(slug, |_| true)
            .map_or(usize::MAX, |def| def.entries);
        trim.limit = (usize::from(n) < entries).then_some(n);
    }
    if let Some(raw) = query_value(query, "content") {
        trim.headlines = match raw.as_str() {
            "headlines" => true,
            "full" => false,
            _ => {
                return Err(bad(format!(
                    "content must be \"headlines\" (title, summary and link) or \"full\", not {raw:?}."
                )));
            }
        };
    }
    Ok(trim)
}

/// A feed document for `request`. `memo` is what this thread's memo answered when
/// [`feed_now`] asked it first.
pub(crate) async fn feed(
    app: &App,
    request: &Request<Incoming>,
    client: ClientAddr,
    path: FeedPath<'_>,
    memo: Memo,
) -> Result<Response<Body>, HttpError> {
    let client = Some(client.0.ip());
    let query = request.uri().query();
    let request = request.headers();
    let caller = partner::caller(app, request, query)?;
    let view = partner::view(app, caller.as_deref(), path.slug)?;
    if let Some(caller) = &caller {
        partner::admit(app, caller)?;
    }
    let key = key(app, path, view, query)?;
    let current = app.cache.get_after(&key, memo).await?;
    let response = match answer_now(app, request, &key, &current, client)? {
        Step::Done(response) => response,
        Step::Wait(negotiated) => {
            answer_later(app, request, &key, &current, client, negotiated).await?
        }
    };
    Ok(finish(
        app,
        request,
        caller.as_deref(),
        &key,
        &current,
        client,
        response,
    ))
}

/// Which feed document a request names: `/feeds/{slug}.{format}` or one of its parts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeedPath<'a> {
    pub(crate) slug: &'a str,
    pub(crate) format: FeedFormat,
    pub(crate) part: Part,
}

/// How [`feed_now`] left a request.
pub(crate) enum Now {
    /// Answered (or refused) at once.
    Answered(Result<Response<Body>, HttpError>),
    /// It needs a wait; nothing of it has been counted yet but the memo's answer.
    Later(Memo),
}

/// [`feed`] for a request without a partner key, when it needs no wait: the version is in
/// this thread's memo and the answer is a 304 or a body already made.
pub(crate) fn feed_now(
    app: &App,
    request: &Request<Incoming>,
    client: ClientAddr,
    path: FeedPath<'_>,
) -> Now {
    let client = Some(client.0.ip());
    let query = request.uri().query();
    let request = request.headers();
    let key = match partner::view(app, None, path.slug).and_then(|view| key(app, path, view, query))
    {
        Ok(key) => key,
        Err(e) => return Now::Answered(Err(e)),
    };
    let Some(current) = app.cache.get_now(&key) else {
        return Now::Later(Memo::Lacked);
    };
    match answer_now(app, request, &key, &current, client) {
        Ok(Step::Done(response)) => Now::Answered(Ok(finish(
            app, request, None, &key, &current, client, response,
        ))),
        Ok(Step::Wait(_)) => Now::Later(Memo::Had(current)),
        Err(e) => Now::Answered(Err(e)),
    }
}

/// The cache key of the document `path` names, in `view`.
fn key(
    app: &App,
    path: FeedPath<'_>,
    view: View,
    query: Option<&str>,
) -> Result<FeedKey, HttpError> {
    let trim = if path.part == Part::Current {
        trim(app, path.slug, query)?
    } else {
        Trim::default()
    };
    Ok(FeedKey {
        slug: smol_str::SmolStr::new(path.slug),
        format: path.format,
        part: path.part,
        view,
        trim,
    })
}

/// An answered poll, with what its caller's standing adds, counted in the audience.
fn finish(
    app: &App,
    request: &HeaderMap,
    caller: Option<&Partner>,
    key: &FeedKey,
    current: &Rendered,
    client: Option<std::net::IpAddr>,
    mut response: Response<Body>,
) -> Response<Body> {
    match caller {
        Some(caller) => partner::finish(app, caller, Some(&current.def), &mut response),
        None if app.partners.configured() => {
            response
                .headers_mut()
                .insert(header::VARY, VARY_PUBLIC_WITH_PARTNERS.clone());
        }
        None => {}
    }
    let user_agent = request
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    app.audience
        .note(key, client, user_agent, poll(&response, current));
    response
}

/// What the request accepts, in which coding it would be answered now, and whether the
/// version it holds is the current one.
struct Negotiated {
    accepted: encoding::Accepted,
    coding: Coding,
    dated: bool,
    held: Option<Held>,
}

fn negotiate(app: &App, request: &HeaderMap, current: &Rendered) -> Result<Negotiated, HttpError> {
    let accepted = encoding::accepted(request).ok_or(HttpError::NotAcceptable)?;
    let coding = accepted.now(|c| current.is_made(c));
    let dated = app.cache.is_dated(current);
    let tags = Coding::ALL.into_iter().map(|c| &current.tag(c).typed_etag);
    let modified = dated.then_some(current.modified_at);
    if !conditional::preconditions_hold(request, tags, modified) {
        return Err(HttpError::PreconditionFailed);
    }
    let held = conditional::not_modified(request, current, dated, SystemTime::now, coding, |c| {
        accepted.takes(c)
    });
    Ok(Negotiated {
        accepted,
        coding,
        dated,
        held,
    })
}

/// A 304 for the version the client holds. (A client revalidating by date alone gets the tag
/// of what it would be sent now.)
fn held(current: &Rendered, negotiated: &Negotiated, held: Held) -> Response<Body> {
    let coding = match held {
        Held::Tag(named) => named,
        Held::Unnamed => negotiated.coding,
    };
    not_modified(current, coding, negotiated.dated)
}

/// How far [`answer_now`] got.
enum Step {
    Done(Response<Body>),
    /// It needs a delta or a body compressed first; nothing of it has been counted.
    Wait(Negotiated),
}

/// The answer for the feed's current version when it needs no wait: a 304, or a 200 whose body
/// is made.
fn answer_now(
    app: &App,
    request: &HeaderMap,
    key: &FeedKey,
    current: &Arc<Rendered>,
    client: Option<std::net::IpAddr>,
) -> Result<Step, HttpError> {
    let negotiated = negotiate(app, request, current)?;
    if let Some(tag) = negotiated.held {
        return Ok(Step::Done(held(current, &negotiated, tag)));
    }
    let body = match negotiated.coding {
        _ if wants_delta(app, key, request) => None,
        Coding::Identity => Some(app.cache.identity(current)),
        coding => current.ready(coding),
    };
    let Some(body) = body else {
        return Ok(Step::Wait(negotiated));
    };
    polite(app, request, key, client)?;
    Ok(Step::Done(whole(app, current, &negotiated, body)))
}

/// The answer for the feed's current version after a wait, for what [`answer_now`] negotiated
/// (not a 304): a 226 with the entries the client lacks, or a 200 whose body is compressed
/// first.
async fn answer_later(
    app: &App,
    request: &HeaderMap,
    key: &FeedKey,
    current: &Arc<Rendered>,
    client: Option<std::net::IpAddr>,
    negotiated: Negotiated,
) -> Result<Response<Body>, HttpError> {
    polite(app, request, key, client)?;
    if wants_delta(app, key, request) {
        // A delta is compressed for each request: in the best coding, whatever is made.
        let (best, dated) = (negotiated.accepted.best, negotiated.dated);
        if let Some(response) = Box::pin(delta(app, request, key, current, best, dated)).await? {
            return Ok(response);
        }
    }
    let body = match negotiated.coding {
        Coding::Identity => app.cache.identity(current),
        coding => match current.ready(coding) {
            Some(body) => body,
            // The first client to ask for this coding of this version: compressed once, now.
            None => Box::pin(app.cache.body(current, coding)).await,
        },
    };
    Ok(whole(app, current, &negotiated, body))
}

/// An unconditional poll counted against the client's poll limit.
fn polite(
    app: &App,
    request: &HeaderMap,
    key: &FeedKey,
    client: Option<std::net::IpAddr>,
) -> Result<(), HttpError> {
    let conditional = request.contains_key(header::IF_NONE_MATCH)
        || request.contains_key(header::IF_MODIFIED_SINCE);
    if let (Some(limiter), Some(client), false) = (&app.poll_limiter, client, conditional) {
        limiter
            .check(client, key)
            .map_err(HttpError::TooManyPolls)?;
    }
    Ok(())
}

/// Whether this request is to be sent a delta, when one can be made.
fn wants_delta(app: &App, key: &FeedKey, request: &HeaderMap) -> bool {
    app.deltas
        && key.part == Part::Current
        && wants_feed_delta(request)
        && !refuses_im_used(request)
}

/// A 200 with the whole feed in the negotiated coding.
fn whole(
    app: &App,
    current: &Arc<Rendered>,
    negotiated: &Negotiated,
    body: bytes::Bytes,
) -> Response<Body> {
    let (coding, best) = (negotiated.coding, negotiated.accepted.best);
    if coding != best {
        // Answered in a cheaper coding while the best one is made, once, in the background.
        app.cache.warm(current, best);
    }
    with_body(StatusCode::OK, body, current, coding, negotiated.dated)
}

/// What one answered poll cost and saved, against sending the whole feed uncompressed.
fn poll(response: &Response<Body>, current: &Rendered) -> Poll {
    use hyper::body::Body as _;
    let whole = current.identity_len() as u64;
    let sent = response.body().size_hint().exact().unwrap_or(whole);
    Poll {
        not_modified: response.status() == StatusCode::NOT_MODIFIED,
        sent,
        saved: whole.saturating_sub(sent),
    }
}

/// A feed body in `coding`, with its content headers and validators: fields cloned from the
/// template this thread made for the version on its first such answer.
fn with_body(
    status: StatusCode,
    body: bytes::Bytes,
    current: &Rendered,
    coding: Coding,
    dated: bool,
) -> Response<Body> {
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = status;
    let heads = heads(current);
    let made = heads.whole[Heads::template(coding, dated)]
        .get_or_init(|| fields(heads, coding, dated, true));
    *response.headers_mut() = made.clone();
    response
}

/// The header fields of a feed's answer in `coding`, from which each thread's templates are
/// made: a 304's (see [`insert_revalidation`]), and with a `body` the content headers and
/// the Link to the feed itself (with its hub, when there is one) that a 200 and a 226 carry
/// too. First an empty request id, filled in place by `dispatch::counted` as every answer's
/// is: found there without a lookup, and a field added to a cloned map would have to grow
/// it.
fn fields(heads: &Heads, coding: Coding, dated: bool, body: bool) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(if body { 12 } else { 8 });
    headers.insert(&super::dispatch::X_REQUEST_ID, HeaderValue::from_static(""));
    if body {
        headers.insert(header::CONTENT_TYPE, heads.content_type.clone());
        if coding != Coding::Identity {
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(coding.token()),
            );
        }
    }
    insert_revalidation(&mut headers, heads, coding, dated);
    if body {
        headers.insert(header::LINK, heads.link.clone());
    }
    headers
}

/// The headers a 304 of a feed carries: those of a 200 that RFC 9110 §15.4.5 asks a 304 to
/// repeat (ETag, Cache-Control, Vary; hyper adds Date), and Last-Modified once `dated` — a
/// validator, kept for clients that revalidate by date alone and store whatever date the last
/// answer named — but no other representation metadata: not the Link. A cache that
/// revalidates keeps the stored 200's other fields (RFC 9111 §4.3.4), and a poller's 304, the
/// answer a feed server gives most, stays short.
fn insert_revalidation(headers: &mut HeaderMap, heads: &Heads, coding: Coding, dated: bool) {
    headers.insert(header::ETAG, heads.etags[coding.index()].clone());
    if dated {
        headers.insert(header::LAST_MODIFIED, heads.last_modified.clone());
    }
    headers.insert(header::CACHE_CONTROL, heads.cache_control.clone());
    headers.insert(header::VARY, VARY.clone());
}

/// This thread's copies of `current`'s header values, Cache-Control by the site's policy.
fn heads(current: &Rendered) -> &Heads {
    current.heads(|| response::cache_control(&current.def))
}

fn not_modified(current: &Rendered, coding: Coding, dated: bool) -> Response<Body> {
    let heads = heads(current);
    // Made on this thread's first 304 of the version in this coding, dated or not.
    let made = heads.not_modified[Heads::template(coding, dated)]
        .get_or_init(|| fields(heads, coding, dated, false));
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    *response.headers_mut() = made.clone();
    response
}

/// Requests whose `A-IM: feed` is not the reading application's own choice: feedparser sends
/// it on every request, so an application that left feedparser's default User-Agent may
/// never have heard of deltas, and rss2email, the commonest of them (it hands its own agent
/// string to feedparser only in some releases), takes only 200, 302, 304 and 307: on a 226 it
/// keeps its old ETag, is sent a 226 again on every poll and never sees another story. Both
/// are sent the whole feed; an application that names itself (and handles 226) gets deltas.
fn refuses_im_used(request: &HeaderMap) -> bool {
    request.get(header::USER_AGENT).is_some_and(|agent| {
        let agent = agent.as_bytes();
        agent.starts_with(b"feedparser/") || agent.starts_with(b"rss2email/")
    })
}

fn wants_feed_delta(request: &HeaderMap) -> bool {
    request
        .get_all("a-im")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|im| {
            im.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("feed")
        })
}

/// RFC 3229 with the `feed` instance-manipulation: when If-None-Match names an earlier version
/// we remember, send `226 IM Used` with every entry added, corrected or withdrawn since it (and
/// Atom tombstones for kills). `None` means "send the whole feed": the client's version is
/// unknown or forgotten, or the feed moved on while the delta was being made.
async fn delta(
    app: &App,
    request: &HeaderMap,
    key: &FeedKey,
    current: &Rendered,
    coding: Coding,
    dated: bool,
) -> Result<Option<Response<Body>>, HttpError> {
    let Some(old) = conditional::named_tags(request)
        .iter()
        .filter(|tag| **tag != current.tag)
        .find_map(|tag| app.cache.version(tag))
    else {
        return Ok(None);
    };
    let Some(body) = app
        .cache
        .delta(key, current, &old)
        .await
        .map_err(Arc::new)?
    else {
        return Ok(None);
    };
    let im_used = StatusCode::from_u16(226).expect("226 is a valid status");
    let body = crate::cache::coding::encode(coding, &body);
    let mut response = with_body(im_used, body, current, coding, dated);
    let headers = response.headers_mut();
    // A delta is only meaningful to the client that named its version (RFC 3229 §10.5.3).
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, im"),
    );
    headers.insert("im", HeaderValue::from_static("feed"));
    Ok(Some(response))
}

/// `/feeds.opml`: every feed, kept until the next change and served through an outage.
pub(crate) async fn opml(
    app: &App,
    request: &Request<Incoming>,
) -> Result<Response<Body>, HttpError> {
    let build = async {
        let feeds = app.feeds().await?;
        let body = render::opml::render(&app.site, &feeds);
        let document = Document::new(body, response::OPML, "public, no-cache", true);
        Ok((document, Shows::Feeds))
    };
    app.kept
        .get_or_build(app, "/feeds.opml", None, build)
        .await?
        .answer(request.headers())
}
