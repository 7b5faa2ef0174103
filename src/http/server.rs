//! The listener: accepts TCP connections, speaks HTTP/1.1 and HTTP/2 through hyper, hands
//! each request to [`dispatch::guarded`](super::dispatch), and shuts down gracefully — in-flight requests finish before
//! the process exits.
//!
//! Connections are served the way nginx's workers serve them: one thread per core, each with
//! its own single-threaded runtime and its own listening socket on the same address
//! (`SO_REUSEPORT`), so the kernel spreads connections across threads and a connection lives
//! its whole life on one — no work-stealing, no cross-thread wake-ups on the hot path.
//! Background work (the change follower, the WebSub hub, flushing reader counts) stays on the
//! main runtime.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::dispatch::{catching, guarded};
use super::idle::{Activity, Idle, Started, Watched};
use super::redirect::Redirect;
use super::response::Body;
use super::sendfile;
use super::tls::Tls;
use super::{App, ClientAddr};

/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(10);

/// What one client may take of the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_header_bytes: usize,
}

/// Listening sockets for `shards` threads on one address (`SO_REUSEPORT`). The first is bound
/// to `addr` (port 0 picks a free port); the others to the address it got. An address another
/// process already listens on is refused, as without `SO_REUSEPORT`: a second server started
/// on the same port by mistake must fail, not quietly take half the connections.
pub(crate) fn bind(addr: SocketAddr, shards: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    if addr.port() != 0 {
        drop(std::net::TcpListener::bind(addr)?);
    }
    let mut listeners = Vec::with_capacity(shards.max(1));
    let mut at = addr;
    for _ in 0..shards.max(1) {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(at),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        // Accepted connections inherit it.
        socket.set_tcp_nodelay(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&at.into())?;
        socket.listen(1024)?;
        at = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("a TCP socket without an IP address"))?;
        // A std listener, registered with a runtime only inside the thread that serves it.
        listeners.push(std::net::TcpListener::from(socket));
    }
    Ok(listeners)
}

/// What a listener serves.
#[derive(Clone)]
pub(crate) enum Role {
    /// The site, over plain TCP (HTTP/1.1, and HTTP/2 with prior knowledge).
    Plain(Arc<App>),
    /// The site over TLS (ALPN `h2` or `http/1.1`), with HSTS when configured.
    Tls(Arc<App>, Arc<Tls>),
    /// The plain listener that redirects to HTTPS.
    Redirect(Arc<Redirect>),
}

/// Serves `role` on one thread per listener, plus `redirect` (a plain listener redirecting to
/// HTTPS) on a thread of its own, until `shutdown` resolves; then drains open connections.
pub(crate) async fn run(
    listeners: Vec<std::net::TcpListener>,
    role: Role,
    redirect: Option<(std::net::TcpListener, Arc<Redirect>)>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut done = Vec::new();
    let redirect =
        redirect.map(|(listener, r)| (listener, Role::Redirect(r), "redirect".to_owned()));
    let serving = listeners
        .into_iter()
        .enumerate()
        .map(|(n, listener)| (listener, role.clone(), n.to_string()))
        .chain(redirect);
    for (listener, role, name) in serving {
        let (finished, finish) = tokio::sync::oneshot::channel::<()>();
        let (slots, stopped) = (Arc::clone(&slots), stopped.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(BLOCKING_THREADS)
            .build()?;
        std::thread::Builder::new()
            .name(format!("wirefeed-http-{name}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => shard(listener, role, limits, slots, stopped).await,
                        Err(e) => tracing::error!(error = %e, "could not serve a listener"),
                    }
                });
                let _ = finished.send(());
            })?;
        done.push(finish);
    }
    shutdown.await;
    tracing::info!("shutting down: finishing requests in flight");
    let _ = stop.send(true);
    for finish in done {
        let _ = finish.await;
    }
    Ok(())
}

/// The HTTP/1.1 and HTTP/2 settings of every connection, plain or TLS. A connection is handed
/// to the one that speaks its protocol, known before hyper reads a byte (see [`Protocol`]):
/// hyper-util's automatic builder would find it out itself, but its first read of 24 bytes
/// makes hyper's read buffer double to 16 KB for the connection's whole life.
struct Builders {
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
}

impl Builders {
    fn new(limits: Limits) -> Self {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            // Its timer would also cut idle keep-alive connections; `drive` keeps both timeouts.
            .header_read_timeout(None)
            // A client that shuts down its sending side after its request (as `nc -N` and some
            // health checkers do) still gets its response.
            .half_close(true)
            // 431 for a request line and headers over the limit, to the byte.
            .max_header_size(limits.max_header_bytes)
            .max_buf_size(limits.max_header_bytes.max(8192));
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            // Streams one connection may have open at once (hyper's default is 200).
            .max_concurrent_streams(H2_MAX_STREAMS)
            // Rapid reset (CVE-2023-44487): a client that opens and cancels streams faster than
            // they are served gets a GOAWAY.
            .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
            // Streams the server had to reset for the client's errors, before a GOAWAY
            // (RUSTSEC-2024-0003).
            .max_local_error_reset_streams(H2_MAX_LOCAL_RESETS)
            // Pings find peers that vanished without closing.
            .keep_alive_interval(H2_PING_EVERY)
            .keep_alive_timeout(H2_PING_TIMEOUT);
        Self { h1, h2 }
    }
}

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// What an HTTP/2 client with prior knowledge sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol of a plain TCP connection, from its first bytes, peeked and left in place:
/// HTTP/2 when they are the client preface, HTTP/1.x otherwise. `None` when the client closed
/// before sending anything.
async fn sniff(stream: &TcpStream) -> std::io::Result<Option<Protocol>> {
    let mut first = [0u8; H2_PREFACE.len()];
    loop {
        let n = stream.peek(&mut first).await?;
        if n == 0 {
            return Ok(None);
        }
        if first[..n] != H2_PREFACE[..n] {
            return Ok(Some(Protocol::Http1));
        }
        if n == H2_PREFACE.len() {
            return Ok(Some(Protocol::Http2));
        }
        // Part of the preface so far: the rest is on its way. (The bytes already here keep
        // the socket readable, so wait a moment rather than peek again at once.)
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// [`sniff`] bounded by the header-read timeout, as hyper bounds a request head, and given up
/// at shutdown; `None` when the client sent nothing useful in time or the server is stopping
/// (the connection is then dropped).
async fn protocol(stream: &TcpStream, watch: &mut Watch) -> Option<Protocol> {
    let peer = watch.peer;
    tokio::select! {
        sniffed = tokio::time::timeout(watch.limits.header_read_timeout, sniff(stream)) => {
            match sniffed {
                Ok(Ok(protocol)) => protocol,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "connection failed before its first request");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, "connection sent nothing in time; dropped");
                    None
                }
            }
        }
        _ = watch.stopped.wait_for(|stop| *stop) => None,
    }
}

/// Threads each shard may run blocking work on (store reads, renders, compression). Tokio's
/// default of 512 let a burst of a thousand change-cursor clients grow the server by half a
/// gigabyte of thread stacks and SQLite connections; past this, work queues, and the store
/// deadline bounds how long it may wait.
pub(crate) const BLOCKING_THREADS: usize = 32;

/// HTTP/2 limits; see [`builder`].
const H2_MAX_STREAMS: u32 = 128;
const H2_MAX_PENDING_RESETS: usize = 20;
const H2_MAX_LOCAL_RESETS: usize = 1024;
const H2_PING_EVERY: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);

/// One thread's accept loop: serves its listener until `told` turns true, then drains.
async fn shard(
    listener: TcpListener,
    role: Role,
    limits: Limits,
    slots: Arc<Semaphore>,
    told: tokio::sync::watch::Receiver<bool>,
) {
    let builders = Arc::new(Builders::new(limits));
    // Every connection task holds a sender; when all are gone, recv() answers None.
    let (alive, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    // The shard passes the word on to its connections through a channel of its own: each
    // connection looks at it every time it wakes, and a channel shared by every thread would
    // make them contend for its lock on every request.
    let (stop_connections, stopped) = tokio::sync::watch::channel(false);
    let mut stop = told;
    let mut shutdown = std::pin::pin!(async move {
        let _ = stop.wait_for(|stop| *stop).await;
    });
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The cap counts served connections across every thread. A connection beyond it waits,
        // unread, until one ends; meanwhile this thread accepts no other, so the rest wait in
        // the kernel's queue as they would for a single listener.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, %peer, "could not set TCP_NODELAY");
        }
        let (builders, role, stopped, alive) = (
            Arc::clone(&builders),
            role.clone(),
            stopped.clone(),
            alive.clone(),
        );
        tokio::spawn(async move {
            let mut watch = Watch {
                limits,
                stopped,
                peer,
            };
            match role {
                // Plain TCP: cached bodies may go out with sendfile(2).
                // HTTP/1.1 is parked while it waits between requests.
                Role::Plain(app) => {
                    let activity = Activity::new();
                    let Some(protocol) = protocol(&stream, &mut watch).await else {
                        return;
                    };
                    let service = site(app, peer, limits, None, Arc::clone(&activity));
                    let io = sendfile::Connection::new(stream);
                    if protocol == Protocol::Http1 {
                        super::park::serve(&builders.h1, io, service, &activity, watch).await;
                    } else {
                        Box::pin(serve(&builders, protocol, io, service, &activity, watch)).await;
                    }
                }
                // Boxed, as the redirect below: a TLS connection's state is larger than a plain
                // one's, and every connection's task would otherwise be sized for it.
                Role::Tls(app, tls) => {
                    Box::pin(async move {
                        // The handshake is bounded like a request's headers, so a client that
                        // never finishes one cannot hold a connection.
                        let stream = match tokio::time::timeout(
                            limits.header_read_timeout,
                            tls.acceptor.accept(stream),
                        )
                        .await
                        {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                        let protocol = match stream.get_ref().1.alpn_protocol() {
                            Some(b"h2") => Protocol::Http2,
                            _ => Protocol::Http1,
                        };
                        let activity = Activity::new();
                        let service =
                            site(app, peer, limits, tls.hsts.clone(), Arc::clone(&activity));
                        let io = TokioIo::new(stream);
                        if protocol == Protocol::Http1 {
                            super::park::serve(&builders.h1, io, service, &activity, watch).await;
                        } else {
                            serve(&builders, protocol, io, service, &activity, watch).await;
                        }
                    })
                    .await
                }
                Role::Redirect(redirect) => {
                    Box::pin(async move {
                        let Some(protocol) = protocol(&stream, &mut watch).await else {
                            return;
                        };
                        let activity = Activity::new();
                        let counted = Arc::clone(&activity);
                        let service = service_fn(move |request: Request<Incoming>| {
                            let redirect = Arc::clone(&redirect);
                            let started = counted.start(request.version());
                            async move {
                                let response =
                                    catching(super::redirect::answer(&redirect, request)).await;
                                Ok::<_, Infallible>(tracked(response, started))
                            }
                        });
                        let io = TokioIo::new(stream);
                        serve(&builders, protocol, io, service, &activity, watch).await;
                    })
                    .await
                }
            }
            drop((slot, alive));
        });
    }
    drop((listener, alive));
    let _ = stop_connections.send(true);
    if tokio::time::timeout(DRAIN, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {DRAIN:?}; closing them");
    }
}

/// The site's service for one connection: every request answered by [`guarded`], with the
/// client's address (resolved once, behind trusted proxies) in its extensions and, on HTTPS, the HSTS header.
fn site(
    app: Arc<App>,
    peer: SocketAddr,
    limits: Limits,
    hsts: Option<HeaderValue>,
    activity: Arc<Activity>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Tracked>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Tracked>, Infallible>> + Send + 'static,
> + Send
+ 'static {
    service_fn(move |request: Request<Incoming>| {
        let client = ClientAddr(app.proxies.client(peer, request.headers()));
        let hsts = hsts.clone();
        let started = activity.start(request.version());
        // Small: a ready answer or the box of a request's whole handling (hyper keeps a
        // slot the size of this future for each connection's life, idle or not).
        guarded(
            Arc::clone(&app),
            request,
            client,
            limits.request_timeout,
            &activity,
        )
        .map(move |mut response| {
            if let Some(hsts) = hsts {
                response
                    .headers_mut()
                    .insert(hyper::header::STRICT_TRANSPORT_SECURITY, hsts);
            }
            Ok::<_, Infallible>(tracked(response, started))
        })
    })
}

/// A response body that keeps its request counted in flight until it has been written.
pub(super) struct Tracked {
    body: Body,
    _started: Started,
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// `response` with its body counted in flight until written.
fn tracked(response: Response<Body>, started: Started) -> Response<Tracked> {
    response.map(|body| Tracked {
        body,
        _started: started,
    })
}

/// What a connection's driver watches besides the connection.
pub(super) struct Watch {
    pub(super) limits: Limits,
    pub(super) stopped: tokio::sync::watch::Receiver<bool>,
    pub(super) peer: SocketAddr,
}

/// How [`drive`] left a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// It is over.
    Done,
    /// It was idle and parkable, and hyper has been told to close it: poll it to its end
    /// without shutting its socket, and keep the socket (see [`park`](super::park)).
    Parked,
}

/// A connection hyper serves, closed gracefully on request: HTTP/1.1 or HTTP/2.
pub(super) trait Graceful: Future<Output = hyper::Result<()>> {
    fn graceful_shutdown(self: std::pin::Pin<&mut Self>);
}

impl<I, S> Graceful for http1::Connection<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::Service<Request<Incoming>, Response = Response<Tracked>, Error = Infallible>,
{
    fn graceful_shutdown(self: std::pin::Pin<&mut Self>) {
        http1::Connection::graceful_shutdown(self);
    }
}

impl<I, S> Graceful for http2::Connection<I, S, TokioExecutor>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<Tracked>, Error = Infallible>,
    S::Future: Send + 'static,
{
    fn graceful_shutdown(self: std::pin::Pin<&mut Self>) {
        http2::Connection::graceful_shutdown(self);
    }
}

/// Serves one connection in `protocol`, with its reads watched by `activity`, through [`drive`].
async fn serve<I, S, F>(
    builders: &Builders,
    protocol: Protocol,
    io: I,
    service: S,
    activity: &Arc<Activity>,
    mut watch: Watch,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<Tracked>,
            Error = Infallible,
            Future = F,
        > + Send
        + 'static,
    F: Future<Output = Result<Response<Tracked>, Infallible>> + Send + 'static,
{
    let io = Watched::new(io, Arc::clone(activity));
    match protocol {
        Protocol::Http1 => {
            let connection = std::pin::pin!(builders.h1.serve_connection(io, service));
            drive(connection, activity, &mut watch, None).await;
        }
        // Boxed: an HTTP/2 connection's state is larger, and every connection's task would
        // otherwise be sized for it.
        Protocol::Http2 => {
            Box::pin(async move {
                let connection = std::pin::pin!(builders.h2.serve_connection(io, service));
                drive(connection, activity, &mut watch, None).await
            })
            .await;
        }
    }
}

/// Serves one connection to its end. It is closed gracefully (the response in progress
/// finishes; on HTTP/2 a GOAWAY lets open streams finish) at shutdown, and when it has said
/// nothing for too long between requests with nothing in flight (its response body
/// included); it is dropped at once when its first request or a head it began is not in
/// within the header-read timeout: see [`idle`](super::idle) for both timeouts, which hold on
/// HTTP/1.1 and HTTP/2 alike. A closing connection with nothing in flight that has not
/// finished `header_read_timeout` (idle) or [`DRAIN`] (shutdown) later is dropped; at
/// shutdown, the shard drops whatever is left after [`DRAIN`]. With `park`, a connection idle that long
/// between requests, its last response written, is told to close and handed back
/// ([`Ended::Parked`]) for [`park`](super::park) to keep its socket.
pub(super) async fn drive<C: Graceful>(
    mut connection: std::pin::Pin<&mut C>,
    activity: &Arc<Activity>,
    watch: &mut Watch,
    park: Option<Duration>,
) -> Ended {
    let (header_read, keep_alive) = (
        watch.limits.header_read_timeout,
        watch.limits.keep_alive_timeout,
    );
    let timer = tokio::time::sleep(header_read);
    let mut timer = std::pin::pin!(timer);
    // Once closing: how long a connection with nothing in flight may take to finish (an
    // HTTP/2 peer that does not answer the GOAWAY's ping would hold it for ever).
    let mut closing: Option<Duration> = None;
    loop {
        tokio::select! {
            // The connection first: the idle watch then sees what its reads just reported.
            biased;
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, peer = %watch.peer, "connection ended with an error");
                }
                return Ended::Done;
            }
            _ = watch.stopped.wait_for(|stop| *stop), if closing.is_none() => {
                connection.as_mut().graceful_shutdown();
                closing = Some(DRAIN);
            }
            idle = activity.idle(&mut timer, header_read, keep_alive, park), if closing.is_none() => {
                connection.as_mut().graceful_shutdown();
                match idle {
                    Idle::Park => return Ended::Parked,
                    Idle::Close => {
                        tracing::debug!(peer = %watch.peer, "closing an idle connection");
                        closing = Some(header_read);
                    }
                    Idle::Late => {
                        // Polled once, so that what hyper can say goes out (an HTTP/2 GOAWAY),
                        // then dropped: a head begun is not waited for again.
                        tracing::debug!(peer = %watch.peer, "a request head was late; dropped");
                        let _ = connection.as_mut().now_or_never();
                        return Ended::Done;
                    }
                }
            }
            () = tokio::time::sleep(closing.unwrap_or(DRAIN)), if closing.is_some() => {
                if activity.in_flight() == 0 {
                    tracing::debug!(peer = %watch.peer, "a closing connection did not finish; dropped");
                    return Ended::Done;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shard_listens_on_one_port_that_nobody_else_may_take() {
        let listeners = bind("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let at = listeners[0].local_addr().unwrap();
        assert!(listeners.iter().all(|l| l.local_addr().unwrap() == at));
        let again = bind(at, 2).unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AddrInUse);
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = bind(taken.local_addr().unwrap(), 2).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    }
}
