//! The `Host` header a request must carry (RFC 9112 §3.2): a request with more than one
//! `Host` line or a value that is not `host[:port]` is a 400, on HTTP/1.0 as on HTTP/1.1, and
//! an HTTP/1.1 request without one is a 400 too. HTTP/1.0 may leave it out, and HTTP/2 names
//! the host in `:authority`.
//!
//! Every feed poll passes here, so the usual value (a name or IPv4 address, perhaps with a
//! port) is recognised byte by byte, without allocating; anything else is judged by the
//! `http` crate's authority parser.

use hyper::header::{HOST, HeaderValue};
use hyper::{Request, StatusCode, Version};

use super::error::HttpError;
use super::problem::Problem;

/// Whether `request`'s `Host` lines are as RFC 9112 §3.2 asks; the 400 to answer if not.
pub(crate) fn check<B>(request: &Request<B>) -> Result<(), HttpError> {
    let mut lines = request.headers().get_all(HOST).iter();
    let refused = match (lines.next(), lines.next()) {
        (None, _) if request.version() == Version::HTTP_11 => {
            "An HTTP/1.1 request must carry a Host header."
        }
        (None, _) => return Ok(()),
        (Some(_), Some(_)) => "A request must carry at most one Host header.",
        (Some(host), None) if is_host(host) => return Ok(()),
        (Some(_), None) => {
            "The Host header must be a host name or address with an optional port, and nothing else."
        }
    };
    Err(Problem::new(StatusCode::BAD_REQUEST, "Bad request", refused).into())
}

/// Whether `value` is `uri-host [ ":" port ]`, or empty (as a client sends for a target
/// without an authority).
fn is_host(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    if is_plain(bytes) {
        return true;
    }
    // Rare: an IPv6 literal, percent-encoding, sub-delimiters... or junk. An authority may
    // also carry user information, which a Host may not.
    http::uri::Authority::try_from(bytes).is_ok_and(|authority| {
        let (whole, host) = (authority.as_str(), authority.host());
        let has_port = whole.len() > host.len();
        !host.is_empty() && !whole.contains('@') && (!has_port || authority.port_u16().is_some())
    })
}

/// Whether `bytes` is empty or a name or IPv4 address (letters, digits, `-` and `.`) with
/// perhaps a port (`:` and one to five digits), in one pass.
fn is_plain(bytes: &[u8]) -> bool {
    let name = bytes.iter().take_while(|&&b| NAME[usize::from(b)]).count();
    match bytes[name..] {
        [] => true,
        [b':', ref port @ ..] => {
            name > 0 && (1..=5).contains(&port.len()) && port.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// The bytes of a plain host name or IPv4 address: letters, digits, `-` and `.`.
static NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'.';
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, hosts: &[&str]) -> Request<()> {
        let mut request = Request::builder().version(version).uri("/");
        for host in hosts {
            request = request.header(HOST, *host);
        }
        request.body(()).unwrap()
    }

    #[test]
    fn one_host_that_is_a_host_and_port_passes() {
        for host in [
            "wire.example.com",
            "127.0.0.1:8080",
            "localhost",
            "[::1]:8080",
            "[2001:db8::1]",
            "xn--bcher-kva.example",
            "",
        ] {
            assert!(
                check(&request(Version::HTTP_11, &[host])).is_ok(),
                "{host:?}"
            );
            assert!(
                check(&request(Version::HTTP_10, &[host])).is_ok(),
                "{host:?}"
            );
        }
        assert!(check(&request(Version::HTTP_10, &[])).is_ok());
        assert!(check(&request(Version::HTTP_2, &[])).is_ok());
    }

    #[test]
    fn two_hosts_a_list_or_junk_is_refused() {
        for hosts in [
            &["a", "b"][..],
            &["a", "a"],
            &["a, b"],
            &["a b"],
            &["user@wire.example.com"],
            &["wire.example.com:http"],
            &["wire.example.com:"],
            &["wire.example.com:123456"],
            &["http://wire.example.com"],
            &["wire.example.com/feeds"],
            &[":8080"],
        ] {
            for version in [Version::HTTP_10, Version::HTTP_11] {
                assert!(check(&request(version, hosts)).is_err(), "{hosts:?}");
            }
        }
        assert!(check(&request(Version::HTTP_11, &[])).is_err());
    }
}
