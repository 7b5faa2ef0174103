//! The ceiling for `bench/load.sh`'s 304 case on this machine (a benchmark aid, not a test):
//! a bare hyper server, laid out as wirefeed's (one current-thread runtime per core, each with
//! its own `SO_REUSEPORT` listener, TCP_NODELAY), that answers every request with a prebuilt
//! 304 carrying the same header fields wirefeed's 304 carries, and does nothing else: no
//! routing, no cache lookup, no precondition check, no connection parking.
//!
//! What wirefeed's 304 costs above this is its own work; what this costs against nginx is the
//! price of hyper and tokio on this kernel. `CEILING=1 bench/load.sh` runs it beside the other
//! two; by hand:
//!
//! ```text
//! cargo run --release --example ceiling -- 127.0.0.1:18083
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Empty;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18083".to_owned())
        .parse()
        .map_err(std::io::Error::other)?;
    let shards = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: Vec<_> = (0..shards)
        .map(|_| {
            let listener = listener(addr)?;
            Ok(std::thread::spawn(move || serve(listener)))
        })
        .collect::<std::io::Result<_>>()?;
    eprintln!("ceiling listening on http://{addr} with {shards} threads");
    for thread in threads {
        thread
            .join()
            .map_err(|_| std::io::Error::other("a thread panicked"))??;
    }
    Ok(())
}

fn listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn serve(listener: std::net::TcpListener) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let service = service_fn(|_request| async { Ok::<_, Infallible>(not_modified()) });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// The header fields of wirefeed's 304 for a feed, with fixed values (hyper adds `date`).
fn not_modified() -> Response<Empty<Bytes>> {
    let mut response = Response::new(Empty::new());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    let headers = response.headers_mut();
    for (name, value) in [
        ("etag", "\"fd51699fe1708c88a2edb63ef9e46959\""),
        ("last-modified", "Wed, 02 Dec 2026 17:27:54 GMT"),
        (
            "cache-control",
            "public, max-age=120, stale-while-revalidate=600",
        ),
        ("vary", "accept-encoding"),
        ("x-request-id", "6b10551b-3"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
