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
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before a whole response");
        got.extend_from_slice(&buf[..n]);
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&got[..end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .expect("a content-length");
        if got.len() >= end + 4 + length {
            return head.lines().next().unwrap().to_owned();
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
