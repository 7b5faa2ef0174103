//! When a connection may be closed for saying nothing: the keep-alive timeout between requests
//! and the header-read timeout while a request head arrives.
//!
//! A connection's requests report to its [`Activity`] when they start and end, and its reads
//! (through [`Watched`]) when bytes arrive with nothing in flight, which on HTTP/1.1 means a
//! request head has begun. [`Activity::deadline`] turns that into the instant the connection
//! is to be closed if nothing else happens:
//!
//! - before its first request: `header_read_timeout` from accept, as nginx's
//!   `client_header_timeout` (a client that connects and sends nothing, or a slow head);
//! - between requests: `keep_alive_timeout` from the end of the last response;
//! - once the next HTTP/1.1 head has begun: `header_read_timeout` from its first byte (a
//!   slowloris on a kept-alive connection);
//! - with a request in flight: never (the request timeout bounds it).
//!
//! A connection past the keep-alive timeout is closed gracefully; one past a header-read
//! timeout is dropped at once ([`Idle::Late`]): hyper's graceful close does not abort a head
//! it has begun to read, and would hold a slowloris another while.
//!
//! An HTTP/1.1 connection may also be *parked* once it has been idle for a while, its
//! response flushed and no next head begun (see [`park`](super::park)): [`Activity::idle`]
//! says which comes first.
//!
//! hyper's own HTTP/1.1 header-read timer cannot say this: it starts as soon as a connection
//! is idle, so it also cuts every idle keep-alive connection at `header_read_timeout`. On
//! HTTP/2, bytes arrive between requests (pings, window updates), so only the keep-alive rule
//! applies between requests; the h2 crate bounds a HEADERS block's size.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::time::{Instant, Sleep};

/// "Not yet" for the instants below, which are otherwise milliseconds since `Activity::born`
/// plus one.
const NEVER: u64 = 0;

/// What one connection's requests and reads report, for its idle watch.
pub(crate) struct Activity {
    born: Instant,
    /// [`coarse_millis`] at `born`.
    born_ms: u64,
    in_flight: AtomicU64,
    /// When the last request ended (its response body handed to the connection).
    ended: AtomicU64,
    /// When the first byte arrived after the connection went idle: a request head began.
    head: AtomicU64,
    /// Whether the connection speaks HTTP/2 (known from its first request).
    h2: AtomicBool,
    /// Whether the connection's last write could not go out at once (the client is slow to
    /// read): hyper still holds bytes to send.
    blocked: AtomicBool,
    /// Not parked again before this plus the parking delay: set when a parked connection is
    /// served again before anything new was read (see [`Activity::hold_parking`]).
    park_from: AtomicU64,
    /// Whether the connection's last read found nothing to read: hyper waits for the client.
    starved: AtomicBool,
}

/// Milliseconds on the monotonic clock as the kernel last updated it (every tick, 4 ms here):
/// the deadlines below are seconds long, and [`PARK_AFTER`](super::park) a tenth of one, so a
/// tick's error does not matter, and reading it costs no clock read.
fn coarse_millis() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    let (secs, nanos) = (
        u64::try_from(now.tv_sec).unwrap_or(0),
        u64::try_from(now.tv_nsec).unwrap_or(0),
    );
    secs * 1000 + nanos / 1_000_000
}

/// What an idle connection is to do, from [`Activity::idle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idle {
    /// It has waited past the keep-alive timeout between requests: close it (gracefully:
    /// hyper closes an idle connection at once).
    Close,
    /// Its first request, or a request head it began, did not arrive within the header-read
    /// timeout: drop it now. There is nothing to finish gracefully, and hyper's graceful close
    /// would wait for the rest of a head that has begun.
    Late,
    /// It has waited long enough, flushed, between requests: park it.
    Park,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            born: Instant::now(),
            born_ms: coarse_millis(),
            in_flight: AtomicU64::new(0),
            ended: AtomicU64::new(NEVER),
            head: AtomicU64::new(NEVER),
            h2: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            park_from: AtomicU64::new(NEVER),
            starved: AtomicBool::new(false),
        })
    }

    /// Whether the server waits for the client's bytes: on HTTP/1.1 with a request in flight,
    /// its body is not all in (hyper reads a request's connection while its body is owed, and
    /// not once it is all in). Meaningless on HTTP/2, where the connection always reads.
    pub(crate) fn awaits_client(&self) -> bool {
        self.starved.load(Ordering::Relaxed)
    }

    /// A connection taken out of parking with something already waiting for it (bytes read
    /// but not used, or held by TLS) is not parked again for the parking delay, so that hyper
    /// has read them first.
    pub(crate) fn hold_parking(&self) {
        self.park_from.store(self.now(), Ordering::Relaxed);
    }

    /// A request of `version` starts: counted in flight until the returned value is dropped.
    pub(crate) fn start(self: &Arc<Self>, version: http::Version) -> Started {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head.store(NEVER, Ordering::Relaxed);
        if version == http::Version::HTTP_2 {
            self.h2.store(true, Ordering::Relaxed);
        }
        Started(Arc::clone(self))
    }

    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Milliseconds since `born`, plus one, on the coarse clock: stamped on every request,
    /// twice, where the precise clock would cost a clock read each time.
    fn now(&self) -> u64 {
        coarse_millis()
            .saturating_sub(self.born_ms)
            .min(u64::MAX - 2)
            + 1
    }

    fn at(&self, stamp: u64) -> Instant {
        self.born + Duration::from_millis(stamp - 1)
    }

    /// Bytes were read from the connection.
    fn read(&self) {
        if self.head.load(Ordering::Relaxed) == NEVER && self.in_flight.load(Ordering::Relaxed) == 0
        {
            self.head.store(self.now(), Ordering::Relaxed);
        }
    }

    /// A write went out (`true`) or would have blocked (`false`). When a blocked connection
    /// drains with nothing in flight, its last response has only now ended.
    fn wrote(&self, went_out: bool) {
        if went_out {
            if self.blocked.load(Ordering::Relaxed) {
                self.blocked.store(false, Ordering::Relaxed);
                if self.in_flight() == 0 {
                    self.ended.store(self.now(), Ordering::Relaxed);
                }
            }
        } else if !self.blocked.load(Ordering::Relaxed) {
            self.blocked.store(true, Ordering::Relaxed);
        }
    }

    /// When the connection may be parked if nothing changes, `after` its last response:
    /// `None` while a request is in flight, before the first one, once the next head has
    /// begun, and while its last response is still being written.
    fn park_deadline(&self, after: Duration) -> Option<Instant> {
        let ended = self.ended.load(Ordering::Relaxed);
        if self.in_flight() > 0
            || ended == NEVER
            || self.head.load(Ordering::Relaxed) != NEVER
            || self.blocked.load(Ordering::Relaxed)
        {
            return None;
        }
        Some(self.at(ended.max(self.park_from.load(Ordering::Relaxed))) + after)
    }

    /// When the connection is to be closed if nothing changes; `None` while a request is in
    /// flight. See the module documentation.
    pub(crate) fn deadline(&self, header_read: Duration, keep_alive: Duration) -> Option<Instant> {
        if self.in_flight() > 0 {
            return None;
        }
        if let Some(began) = self.head_began() {
            return Some(began + header_read);
        }
        Some(self.at(self.ended.load(Ordering::Relaxed)) + keep_alive)
    }

    /// With nothing in flight, when the request the connection waits for began, if the
    /// header-read timeout bounds it: the connection's accept before its first request, and
    /// on HTTP/1.1 the first byte of a head after that.
    fn head_began(&self) -> Option<Instant> {
        if self.ended.load(Ordering::Relaxed) == NEVER {
            return Some(self.born);
        }
        let head = self.head.load(Ordering::Relaxed);
        (head != NEVER && !self.h2.load(Ordering::Relaxed)).then(|| self.at(head))
    }

    /// Resolves once the connection has been idle past its deadline ([`Idle::Close`]) or,
    /// when `park` is given, has waited that long between requests with its last response
    /// written ([`Idle::Park`]), whichever comes first. `timer` is the connection's one timer;
    /// it is moved only when the deadline comes nearer, or when it fires early, so that a busy
    /// keep-alive connection does not touch the timer wheel per request. While a request is in
    /// flight the timer still fires every `keep_alive` to look again: an HTTP/2 stream ends in
    /// a task of its own, which need not wake this one.
    pub(crate) async fn idle(
        &self,
        timer: &mut Pin<&mut Sleep>,
        header_read: Duration,
        keep_alive: Duration,
        park: Option<Duration>,
    ) -> Idle {
        std::future::poll_fn(|cx| self.poll_idle(cx, timer, header_read, keep_alive, park)).await
    }

    fn poll_idle(
        &self,
        cx: &mut Context<'_>,
        timer: &mut Pin<&mut Sleep>,
        header_read: Duration,
        keep_alive: Duration,
        park: Option<Duration>,
    ) -> Poll<Idle> {
        loop {
            let close = self.deadline(header_read, keep_alive);
            let park = park.and_then(|after| self.park_deadline(after));
            let next = match (close, park) {
                (Some(close), Some(park)) => Some(close.min(park)),
                (close, park) => close.or(park),
            };
            if let Some(at) = next.filter(|&at| at < timer.deadline()) {
                timer.as_mut().reset(at);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if close.is_some_and(|at| at <= now) {
                let late = self.head_began().is_some();
                return Poll::Ready(if late { Idle::Late } else { Idle::Close });
            }
            if park.is_some_and(|at| at <= now) {
                return Poll::Ready(Idle::Park);
            }
            match next {
                Some(at) => timer.as_mut().reset(at),
                None => timer.as_mut().reset(now + keep_alive),
            }
        }
    }
}

/// A request in flight, from the moment its headers are read until its response body has been
/// handed to the connection (or the request is abandoned): counted out when dropped.
pub(crate) struct Started(Arc<Activity>);

impl Drop for Started {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.ended.store(activity.now(), Ordering::Relaxed);
        activity.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's IO, reporting reads and writes to its [`Activity`]. A parked connection's
/// next hyper connection is first handed the bytes the last one had read but not used
/// ([`Watched::resume`]).
pub(crate) struct Watched<I> {
    io: I,
    activity: Arc<Activity>,
    unread: Bytes,
}

impl<I> Watched<I> {
    pub(crate) fn new(io: I, activity: Arc<Activity>) -> Self {
        Self {
            io,
            activity,
            unread: Bytes::new(),
        }
    }

    /// Keeps `unread` (what hyper had read and not used) to be read again first. An empty
    /// `read_buf` from hyper is still a view of its whole read buffer: it is not kept.
    pub(crate) fn resume(&mut self, unread: Bytes) {
        self.unread = if unread.is_empty() {
            Bytes::new()
        } else {
            unread
        };
    }

    /// Whether bytes handed back by [`Watched::resume`] are still to be read.
    pub(crate) fn has_unread(&self) -> bool {
        !self.unread.is_empty()
    }

    pub(crate) fn get_ref(&self) -> &I {
        &self.io
    }

    pub(crate) fn get_mut(&mut self) -> &mut I {
        &mut self.io
    }

    /// Reports whether a write (or a flush: TLS may take bytes it cannot send yet) went out.
    fn wrote<T>(&self, write: Poll<T>) -> Poll<T> {
        self.activity.wrote(write.is_ready());
        write
    }
}

impl<I: hyper::rt::Read + Unpin> hyper::rt::Read for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.unread.is_empty() {
            let n = self.unread.len().min(buf.remaining());
            buf.put_slice(&self.unread[..n]);
            self.unread.advance(n);
            if self.unread.is_empty() {
                // Let go of the earlier connection's read buffer these bytes were part of.
                self.unread = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            self.activity.read();
        }
        self.activity
            .starved
            .store(read.is_pending(), Ordering::Relaxed);
        read
    }
}

impl<I: hyper::rt::Write + Unpin> hyper::rt::Write for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let write = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(write)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let write = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(write)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let flush = Pin::new(&mut self.io).poll_flush(cx);
        self.wrote(flush)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_millis(400);
    const KEEP: Duration = Duration::from_millis(1500);
    /// Slack for a busy machine: instants below are stamped to the coarse clock's tick.
    const SLACK: Duration = Duration::from_millis(15);

    fn near(got: Option<Instant>, want: Instant) -> bool {
        got.is_some_and(|got| got + SLACK >= want && got <= want + SLACK)
    }

    fn pause() {
        std::thread::sleep(Duration::from_millis(30));
    }

    #[test]
    fn a_new_connection_has_the_header_read_timeout_from_accept_even_once_bytes_arrive() {
        let activity = Activity::new();
        let born = activity.born;
        assert!(near(activity.deadline(HEAD, KEEP), born + HEAD));
        pause();
        activity.read();
        assert!(near(activity.deadline(HEAD, KEEP), born + HEAD));
    }

    #[test]
    fn between_requests_the_keep_alive_timeout_runs_until_a_head_begins() {
        let activity = Activity::new();
        let started = activity.start(http::Version::HTTP_11);
        activity.read();
        assert_eq!(activity.deadline(HEAD, KEEP), None, "in flight");
        pause();
        drop(started);
        let ended = Instant::now();
        assert!(near(activity.deadline(HEAD, KEEP), ended + KEEP));
        pause();
        activity.read();
        let head = Instant::now();
        assert!(near(activity.deadline(HEAD, KEEP), head + HEAD));
        pause();
        activity.read();
        assert!(
            near(activity.deadline(HEAD, KEEP), head + HEAD),
            "the head's first byte counts, not its last"
        );
        drop(activity.start(http::Version::HTTP_11));
        assert!(near(activity.deadline(HEAD, KEEP), Instant::now() + KEEP));
    }

    #[test]
    fn on_http2_bytes_between_requests_do_not_start_a_head() {
        let activity = Activity::new();
        drop(activity.start(http::Version::HTTP_2));
        let ended = Instant::now();
        pause();
        activity.read();
        assert!(near(activity.deadline(HEAD, KEEP), ended + KEEP));
    }

    #[test]
    fn a_connection_may_be_parked_only_between_requests_with_its_response_written() {
        const PARK: Duration = Duration::from_millis(200);
        let activity = Activity::new();
        assert_eq!(
            activity.park_deadline(PARK),
            None,
            "before the first request"
        );
        let started = activity.start(http::Version::HTTP_11);
        assert_eq!(activity.park_deadline(PARK), None, "in flight");
        activity.wrote(false);
        drop(started);
        assert_eq!(
            activity.park_deadline(PARK),
            None,
            "the response is still going out"
        );
        pause();
        activity.wrote(true);
        let flushed = Instant::now();
        assert!(
            near(activity.park_deadline(PARK), flushed + PARK),
            "from the flush"
        );
        assert!(near(activity.deadline(HEAD, KEEP), flushed + KEEP));
        // Served again with bytes waiting: not parked again at once, and kept alive no longer
        // than before.
        pause();
        activity.hold_parking();
        let held = Instant::now();
        assert!(near(activity.park_deadline(PARK), held + PARK));
        assert!(near(activity.deadline(HEAD, KEEP), flushed + KEEP));
        activity.read();
        assert_eq!(activity.park_deadline(PARK), None, "a head has begun");
    }

    #[tokio::test]
    async fn idle_resolves_at_the_deadline_and_not_while_a_request_is_in_flight() {
        let activity = Activity::new();
        let started = activity.start(http::Version::HTTP_11);
        let timer = tokio::time::sleep(HEAD);
        let mut timer = std::pin::pin!(timer);
        let waited = tokio::time::timeout(
            HEAD + KEEP + HEAD,
            activity.idle(&mut timer, HEAD, KEEP, None),
        )
        .await;
        assert!(waited.is_err(), "expired with a request in flight");
        drop(started);
        let ended = Instant::now();
        assert_eq!(
            activity.idle(&mut timer, HEAD, KEEP, None).await,
            Idle::Close
        );
        activity.read();
        assert_eq!(
            activity.idle(&mut timer, HEAD, KEEP, None).await,
            Idle::Late,
            "a head begun and not finished"
        );
        let idle = ended.elapsed();
        assert!(
            idle + SLACK >= KEEP && idle < KEEP + Duration::from_millis(500),
            "expired after {idle:?} idle"
        );
    }
}
