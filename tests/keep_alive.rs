//! The keep-alive idle timeout against the real server, apart from the header-read timeout:
//! an idle kept-alive connection lives `keep_alive_timeout_secs`, a request head that has begun
//! gets only `header_read_timeout_secs`.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;

fn start(settings: &[(&'static str, &'static str)]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings.to_vec();
    let server = Server::start_in(dir.path(), move |cmd| {
        for (k, v) in &settings {
            cmd.env(k, v);
        }
    });
    (dir, server)
}

fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://")).unwrap()
}

/// Sends a GET for `path` and reads its whole response; returns the status line.
fn get(stream: &mut TcpStream, path: &str) -> String {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    read_response(stream).0
}

/// Reads one whole response (with a Content-Length); returns its status line and body length.
fn read_response(stream: &mut TcpStream) -> (String, usize) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before a whole response");
        got.extend_from_slice(&buf[..n]);
        if let Some((status, length, total)) = common::whole_response(&got) {
            assert_eq!(got.len(), total, "more than one response");
            return (status, length);
        }
    }
}

/// How long until the server closes `stream` (at most `limit`); `None` if it is still open.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

#[test]
fn an_idle_keep_alive_connection_lives_the_keep_alive_timeout_not_the_header_read_timeout() {
    let (_dir, server) = start(&[
        ("WIREFEED_HEADER_READ_TIMEOUT_SECS", "1"),
        ("WIREFEED_KEEP_ALIVE_TIMEOUT_SECS", "3"),
    ]);
    let mut conn = connect(&server);
    assert_eq!(get(&mut conn, "/healthz"), "HTTP/1.1 200 OK");
    let idle = Instant::now();
    assert_eq!(
        closed_within(&mut conn, Duration::from_millis(2000)),
        None,
        "closed before the keep-alive timeout"
    );
    assert_eq!(
        get(&mut conn, "/healthz"),
        "HTTP/1.1 200 OK",
        "still served after twice the header-read timeout"
    );
    let idle_again = Instant::now();
    let closed = closed_within(&mut conn, Duration::from_secs(6));
    assert!(closed.is_some(), "never closed");
    let held = idle_again.elapsed();
    assert!(
        held >= Duration::from_millis(2800) && held < Duration::from_millis(4500),
        "closed after {held:?} idle, expected about 3 s"
    );
    assert!(idle.elapsed() > Duration::from_secs(4));
}

#[test]
fn a_slow_head_on_a_kept_alive_connection_gets_the_header_read_timeout() {
    let (_dir, server) = start(&[
        ("WIREFEED_HEADER_READ_TIMEOUT_SECS", "1"),
        ("WIREFEED_KEEP_ALIVE_TIMEOUT_SECS", "30"),
    ]);
    let mut conn = connect(&server);
    assert_eq!(get(&mut conn, "/healthz"), "HTTP/1.1 200 OK");
    std::thread::sleep(Duration::from_millis(1500));
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    let closed = closed_within(&mut conn, Duration::from_secs(5));
    let held = closed.expect("a slow head was held past 5 s");
    assert!(
        held >= Duration::from_millis(800) && held < Duration::from_millis(2500),
        "a slow head was cut after {held:?}, expected about 1 s"
    );
}

#[test]
fn a_connection_that_sends_nothing_gets_the_header_read_timeout() {
    let (_dir, server) = start(&[
        ("WIREFEED_HEADER_READ_TIMEOUT_SECS", "1"),
        ("WIREFEED_KEEP_ALIVE_TIMEOUT_SECS", "30"),
    ]);
    let mut conn = connect(&server);
    let closed = closed_within(&mut conn, Duration::from_secs(5));
    let held = closed.expect("a silent new connection was held past 5 s");
    assert!(
        held >= Duration::from_millis(800) && held < Duration::from_millis(2500),
        "a silent new connection was closed after {held:?}, expected about 1 s"
    );
}

#[test]
fn a_kept_alive_connection_is_served_again_after_waiting_between_requests() {
    // Waits of 0.3 s and more between requests: the server parks the connection meanwhile
    // (its buffers freed) and takes it up again, on the same socket, when the next one comes.
    let (_dir, server) = start(&[("WIREFEED_KEEP_ALIVE_TIMEOUT_SECS", "30")]);
    let mut conn = connect(&server);
    for wait_ms in [0, 300, 700, 300] {
        std::thread::sleep(Duration::from_millis(wait_ms));
        assert_eq!(get(&mut conn, "/feeds/world.rss"), "HTTP/1.1 200 OK");
    }
    // A request that arrives in pieces across the wait is still one request.
    std::thread::sleep(Duration::from_millis(300));
    conn.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    conn.write_all(b"Host: 127.0.0.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut conn).0, "HTTP/1.1 200 OK");
    // Two requests sent together after a wait: both answered, in order.
    std::thread::sleep(Duration::from_millis(300));
    conn.write_all(
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /feeds/world.rss HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .unwrap();
    let mut both = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 8192];
    while both.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count() < 2
        || !both.ends_with(b"</rss>")
    {
        assert!(
            Instant::now() < deadline,
            "two pipelined answers did not come"
        );
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "closed");
        both.extend_from_slice(&buf[..n]);
    }
}

/// The whole of a response the client has not read yet arrives after the server has parked the
/// connection. (On loopback the kernel takes a feed this size at once, so hyper's own buffer
/// is already empty here; the rule that a connection whose writes are blocked is not parked is
/// `http::idle`'s unit test.)
#[test]
fn a_slow_reader_gets_its_whole_response_across_the_wait() {
    let (_dir, server) = start(&[("WIREFEED_KEEP_ALIVE_TIMEOUT_SECS", "30")]);
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    // A receive window far smaller than the feed, so that the server cannot write it all
    // until the client reads.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut conn: TcpStream = socket.into();
    write!(
        conn,
        "GET /feeds/all.atom HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    // The client reads nothing for several times the server's parking delay.
    std::thread::sleep(Duration::from_millis(800));
    let (status, length) = read_response(&mut conn);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        length > 30_000,
        "the feed is {length} bytes: too small to fill the window"
    );
    assert_eq!(
        get(&mut conn, "/healthz"),
        "HTTP/1.1 200 OK",
        "still kept alive"
    );
}

/// Sends `bytes` one at a time, one every 200 ms (a slowloris), until the server closes the
/// connection; how long after the first byte it did, if within `limit`.
fn dribbled_until_closed(
    stream: &mut TcpStream,
    bytes: &[u8],
    limit: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 1024];
    for byte in bytes.iter().cycle() {
        if started.elapsed() > limit {
            return None;
        }
        if stream.write_all(std::slice::from_ref(byte)).is_err() {
            return Some(started.elapsed());
        }
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    unreachable!("cycle never ends")
}

const SLOW_HEAD: &[u8] = b"GET /feeds/world.rss HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// A head dribbled from the connection's first byte, and one begun on a kept-alive
/// connection (parked, then taken up again), are each cut once the head has taken
/// `header_read_timeout_secs`: hyper's graceful close would have waited for the rest of the
/// head, and the connection was dropped only another timeout later.
#[test]
fn a_dribbled_head_is_cut_at_the_header_read_timeout_not_later() {
    let (_dir, server) = start(&[
        ("WIREFEED_HEADER_READ_TIMEOUT_SECS", "2"),
        ("WIREFEED_KEEP_ALIVE_TIMEOUT_SECS", "30"),
    ]);
    let mut kept = connect(&server);
    assert_eq!(get(&mut kept, "/healthz"), "HTTP/1.1 200 OK");
    std::thread::sleep(Duration::from_millis(500));
    let cut = |name: &str, conn: &mut TcpStream| {
        let held = dribbled_until_closed(conn, SLOW_HEAD, Duration::from_secs(6))
            .unwrap_or_else(|| panic!("{name}: still open after 6 s"));
        assert!(
            held >= Duration::from_millis(1500) && held < Duration::from_secs(3),
            "{name}: cut after {held:?}, expected the 2 s setting"
        );
    };
    cut("kept-alive head", &mut kept);
    cut("first head", &mut connect(&server));
}

/// The same over HTTP/2 (prior knowledge) before the first request: a HEADERS frame without
/// END_HEADERS, then a CONTINUATION frame now and then, never ending the block (three of
/// them: the h2 crate refuses a block in more frames than its size allows).
#[test]
fn a_dribbled_http2_header_block_is_cut_at_the_header_read_timeout() {
    let (_dir, server) = start(&[
        ("WIREFEED_HEADER_READ_TIMEOUT_SECS", "2"),
        ("WIREFEED_KEEP_ALIVE_TIMEOUT_SECS", "30"),
    ]);
    let frame = |kind: u8, flags: u8, payload: &[u8]| {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags]);
        f.extend_from_slice(&1u32.to_be_bytes());
        f.extend_from_slice(payload);
        f
    };
    let mut conn = connect(&server);
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    conn.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    // HEADERS on stream 1, END_STREAM, no END_HEADERS: :method GET, :path /, :scheme http.
    conn.write_all(&frame(1, 0x1, &[0x82, 0x84, 0x86])).unwrap();
    let started = Instant::now();
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut sent = 0;
    let held = loop {
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(6), "still open after 6 s");
        if sent < 3 && elapsed >= Duration::from_millis(500) * (sent + 1) {
            // CONTINUATION with a literal header `x: y`, still without END_HEADERS.
            if conn
                .write_all(&frame(9, 0, &[0x40, 1, b'x', 1, b'y']))
                .is_err()
            {
                break started.elapsed();
            }
            sent += 1;
        }
        match conn.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break started.elapsed(),
        }
    };
    assert!(
        held >= Duration::from_millis(1500) && held < Duration::from_secs(3),
        "cut after {held:?}, expected the 2 s setting"
    );
}
