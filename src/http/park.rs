//! Parking idle HTTP/1.1 keep-alive connections: what a connection holds while it waits
//! for its next request.
//!
//! hyper keeps a connection's read buffer (8 KB) and response-head buffer (8 KB) for as long
//! as the connection lives, busy or idle; a feed reader that polls every few minutes over a
//! kept-alive connection spends nearly all of that time waiting. So, as nginx frees a
//! keep-alive connection's buffers between requests, an HTTP/1.1 connection that has been
//! idle for [`PARK_AFTER`] with its last response fully written and no next request begun is
//! *parked*: hyper is told to close it while idle (which it does at once, without touching the
//! socket), its state and buffers are dropped, and only the socket, the connection's service
//! and its [`Activity`] remain until the socket turns readable. Then a new hyper connection is
//! made on the same socket and the next request is served as before. Bytes hyper had already
//! read (a request begun in the same instant) are handed to the new connection first
//! ([`Watched::resume`]). The keep-alive timeout and shutdown close a parked connection as they close an
//! idle one.
//!
//! HTTP/1.1 is parked on plain TCP and on TLS. A TLS connection keeps its rustls session (its
//! keys and record layer) while parked, and is parked only when rustls holds nothing the
//! socket's readiness cannot tell of: no decrypted bytes unread and no records left to send
//! ([`Transport::settled`]). HTTP/2 is not parked: it multiplexes streams and answers pings
//! between requests.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::rt::Write as _;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::idle::{Activity, Watched};
use super::sendfile;
use super::server::{Ended, Tracked, Watch, drive};

/// How long an HTTP/1.1 connection waits idle, its response written, before it is
/// parked. Long enough that a client sending request after request (a crawler, a load test)
/// is never parked between them; short beside the keep-alive timeout.
const PARK_AFTER: Duration = Duration::from_millis(100);

/// What a connection is carried over, as parking needs to know it.
pub(super) trait Transport: hyper::rt::Read + hyper::rt::Write + Unpin {
    /// The socket under it, whose readiness tells that the client has sent something.
    fn socket(&self) -> &TcpStream;
    /// Whether it holds nothing of its own that the socket's readiness cannot tell of: no
    /// bytes read from the socket and not yet handed on, nothing left to send. An error means
    /// the connection is broken.
    fn settled(&mut self) -> std::io::Result<bool>;
}

impl Transport for sendfile::Connection {
    fn socket(&self) -> &TcpStream {
        self.stream()
    }

    fn settled(&mut self) -> std::io::Result<bool> {
        Ok(true)
    }
}

impl Transport for TokioIo<TlsStream<TcpStream>> {
    fn socket(&self) -> &TcpStream {
        self.inner().get_ref().0
    }

    fn settled(&mut self) -> std::io::Result<bool> {
        let session = self.inner_mut().get_mut().1;
        // Any record read and not yet processed is decrypted here (tokio-rustls processes
        // each read at once, so this normally finds nothing new).
        let state = session
            .process_new_packets()
            .map_err(std::io::Error::other)?;
        Ok(state.tls_bytes_to_write() == 0 && state.plaintext_bytes_to_read() == 0)
    }
}

/// Serves one HTTP/1.1 connection to its end, parking it whenever it waits idle (see the
/// module documentation).
pub(super) async fn serve<T, S>(
    builder: &http1::Builder,
    stream: T,
    mut service: S,
    activity: &Arc<Activity>,
    mut watch: Watch,
) where
    T: Transport,
    S: hyper::service::Service<Request<Incoming>, Response = Response<Tracked>, Error = Infallible>
        + Unpin,
    S::Future: Unpin,
{
    let mut io = Watched::new(stream, Arc::clone(activity));
    loop {
        // Boxed, so that what stays of a parked connection's task is small: the connection's
        // state goes with its box.
        let mut connection = Box::new(builder.serve_connection(io, service));
        if drive(
            Pin::new(&mut *connection),
            activity,
            &mut watch,
            Some(PARK_AFTER),
        )
        .await
            == Ended::Done
        {
            return;
        }
        // hyper was told to close while idle: it finishes at once and leaves the socket open.
        // (Bounded all the same, should it have been reading the rest of a request body.)
        let finished = tokio::time::timeout(
            watch.limits.header_read_timeout,
            std::future::poll_fn(|cx| connection.poll_without_shutdown(cx)),
        )
        .await;
        match finished {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, peer = %watch.peer, "connection ended with an error");
                return;
            }
            Err(_) => {
                tracing::debug!(peer = %watch.peer, "a connection being parked did not finish; dropped");
                return;
            }
        }
        let parts = connection.into_parts();
        (io, service) = (parts.io, parts.service);
        io.resume(parts.read_buf);
        let settled = match io.get_mut().settled() {
            Ok(settled) => !io.has_unread() && settled,
            Err(e) => {
                tracing::debug!(error = %e, peer = %watch.peer, "connection ended with an error");
                return;
            }
        };
        if settled {
            tracing::trace!(peer = %watch.peer, "connection parked");
            if !parked(&io, activity, &mut watch).await {
                // Boxed, as the flush below: what a parked connection's task holds is sized
                // by its largest state, and these are rare.
                Box::pin(close(&mut io)).await;
                return;
            }
            tracing::trace!(peer = %watch.peer, "connection unparked");
        } else {
            // Something is waiting for the next hyper connection: bytes it is to read first,
            // or (TLS) records to send, which a flush sends.
            let flushed = Box::pin(tokio::time::timeout(
                CLOSE_WITHIN,
                std::future::poll_fn(|cx| Pin::new(&mut io).poll_flush(cx)),
            ))
            .await;
            if !matches!(flushed, Ok(Ok(()))) {
                return;
            }
            activity.hold_parking();
        }
    }
}

/// How long a parked connection being closed may take to say so (on TLS, a `close_notify`).
const CLOSE_WITHIN: Duration = Duration::from_secs(1);

/// Closes a parked connection as hyper closes an idle one: with a TLS `close_notify` (and the
/// socket's shutdown), so a client does not see its pooled connection end unexpectedly.
async fn close<T: Transport>(io: &mut Watched<T>) {
    let _ = tokio::time::timeout(
        CLOSE_WITHIN,
        std::future::poll_fn(|cx| Pin::new(&mut *io).poll_shutdown(cx)),
    )
    .await;
}

/// Waits, holding nothing but the socket, until the client sends something (`true`), or until
/// the keep-alive timeout or shutdown closes the connection (`false`).
async fn parked<T: Transport>(io: &Watched<T>, activity: &Activity, watch: &mut Watch) -> bool {
    let limits = watch.limits;
    let Some(deadline) = activity.deadline(limits.header_read_timeout, limits.keep_alive_timeout)
    else {
        // Something is in flight: nothing to wait for.
        return true;
    };
    tokio::select! {
        readable = io.get_ref().socket().readable() => readable.is_ok(),
        () = tokio::time::sleep_until(deadline) => {
            tracing::debug!(peer = %watch.peer, "closing an idle connection");
            false
        }
        _ = watch.stopped.wait_for(|stop| *stop) => false,
    }
}
