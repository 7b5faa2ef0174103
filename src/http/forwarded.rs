//! Which client a request comes from. The TCP peer, unless the peer is one of the operator's
//! trusted proxies (`trusted_proxies`): then the proxies' own account is believed — RFC 7239
//! `Forwarded` (its `for=` parameters) or, without it, `X-Forwarded-For` — read from the right,
//! and the client is the rightmost address that is not itself a trusted proxy. Addresses to
//! the left of it were written by whoever sent the request and are never believed.
//!
//! An obfuscated or `unknown` node ends the walk at the proxy that wrote it; a header that does
//! not parse counts as absent, so the peer is the client. The address found is what the poll
//! limit, the reader counts and the logs see ([`super::ClientAddr`]).

use std::net::{IpAddr, SocketAddr};

use hyper::HeaderMap;
use hyper::header::{FORWARDED, HeaderName};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The networks whose forwarding headers are believed; empty trusts nobody.
#[derive(Debug, Clone, Default)]
pub(crate) struct Proxies(Vec<ipnet::IpNet>);

/// One node of a forwarding chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    At(SocketAddr),
    /// `unknown` or an obfuscated identifier (`_hidden`): the proxy would not say.
    Hidden,
}

impl Proxies {
    pub(crate) fn new(networks: Vec<ipnet::IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub(crate) fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if self.0.is_empty() || !self.trusts(peer.ip()) {
            return peer;
        }
        let chain = if headers.contains_key(FORWARDED) {
            joined(headers, &FORWARDED).and_then(|v| forwarded(&v))
        } else if headers.contains_key(&X_FORWARDED_FOR) {
            joined(headers, &X_FORWARDED_FOR).and_then(|v| forwarded_for(&v))
        } else {
            None
        };
        let Some(chain) = chain else {
            return peer;
        };
        let mut client = peer;
        for hop in chain.iter().rev() {
            match hop {
                Hop::Hidden => break,
                Hop::At(at) => {
                    client = *at;
                    if !self.trusts(at.ip()) {
                        break;
                    }
                }
            }
        }
        client
    }
}

/// Every field line of `name`, in order, as one comma-separated list (RFC 9110 §5.3).
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut all = Vec::new();
    for value in headers.get_all(name) {
        all.push(value.to_str().ok()?);
    }
    Some(all.join(","))
}

/// The `for=` nodes of a `Forwarded` value, first hop first; None when it does not parse or an
/// element has no `for=`.
fn forwarded(value: &str) -> Option<Vec<Hop>> {
    let mut hops = Vec::new();
    for element in split_outside_quotes(value, ',') {
        if element.trim().is_empty() {
            continue;
        }
        let mut node = None;
        for pair in split_outside_quotes(element, ';') {
            let (name, raw) = pair.split_once('=')?;
            if name.trim().eq_ignore_ascii_case("for") {
                node = Some(self::node(unquoted(raw.trim())?)?);
            }
        }
        hops.push(node?);
    }
    (!hops.is_empty()).then_some(hops)
}

/// The nodes of an `X-Forwarded-For` value, first hop first; None when one is not an address.
fn forwarded_for(value: &str) -> Option<Vec<Hop>> {
    let hops: Vec<Hop> = value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| match node(n)? {
            Hop::At(at) => Some(Hop::At(at)),
            Hop::Hidden => None,
        })
        .collect::<Option<_>>()?;
    (!hops.is_empty()).then_some(hops)
}

/// One node (RFC 7239 §6): `192.0.2.43`, `192.0.2.43:47011`, `[2001:db8::17]`,
/// `[2001:db8::17]:4711`, a bare IPv6 address (as X-Forwarded-For writes it), `unknown` or an
/// obfuscated `_identifier`. The port is 0 when none is given or it is obfuscated.
fn node(raw: &str) -> Option<Hop> {
    if raw.eq_ignore_ascii_case("unknown") || raw.starts_with('_') {
        return Some(Hop::Hidden);
    }
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(Hop::At(SocketAddr::new(ip.to_canonical(), 0)));
    }
    let (host, port) = match raw.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => {
            let (host, port) = raw.rsplit_once(':')?;
            (host, Some(port))
        }
    };
    let ip: IpAddr = host.parse().ok()?;
    let port = match port {
        None => 0,
        Some(p) if p.starts_with('_') => 0,
        Some(p) => p.parse().ok()?,
    };
    Some(Hop::At(SocketAddr::new(ip.to_canonical(), port)))
}

/// A token or a quoted-string's content (no escapes are needed in a node).
fn unquoted(raw: &str) -> Option<&str> {
    match raw.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').filter(|s| !s.contains('"')),
        None => (!raw.is_empty() && !raw.contains('"')).then_some(raw),
    }
}

/// `value` split at `at`, except inside double quotes.
fn split_outside_quotes(value: &str, at: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in value.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == at && !quoted {
            parts.push(&value[start..i]);
            start = i + 1;
        }
    }
    parts.push(&value[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str]) -> Proxies {
        Proxies::new(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn client(proxies: &Proxies, peer: &str, headers: &[(&str, &str)]) -> String {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let at = proxies.client(peer.parse().unwrap(), &map);
        if at.port() == 0 {
            at.ip().to_string()
        } else {
            at.to_string()
        }
    }

    #[test]
    fn nobody_is_trusted_by_default_and_untrusted_peers_are_never_believed() {
        let spoof = [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ];
        assert_eq!(
            client(&Proxies::default(), "10.0.0.1:5000", &spoof),
            "10.0.0.1:5000"
        );
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(client(&trusted, "192.0.2.1:5000", &spoof), "192.0.2.1:5000");
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "fd00::/8"]);
        let peer = "10.0.0.1:5000";
        let xff = |v| client(&trusted, peer, &[("x-forwarded-for", v)]);
        assert_eq!(xff("203.0.113.9"), "203.0.113.9");
        // A client that wrote its own header: its entries are on the left.
        assert_eq!(xff("1.2.3.4, 203.0.113.9, 10.0.0.7"), "203.0.113.9");
        assert_eq!(xff("2001:db8::1, fd00::2"), "2001:db8::1");
        assert_eq!(xff("[2001:db8::1]:443"), "[2001:db8::1]:443");
        // Only trusted proxies in the chain: the farthest of them.
        assert_eq!(xff("10.1.1.1, 10.2.2.2"), "10.1.1.1");
        // Two header lines are one list.
        let two = [
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.2"),
        ];
        assert_eq!(client(&trusted, peer, &two), "198.51.100.2");
    }

    #[test]
    fn forwarded_is_read_before_x_forwarded_for() {
        let trusted = proxies(&["127.0.0.1/32"]);
        let peer = "127.0.0.1:9";
        let fwd = |v| {
            client(
                &trusted,
                peer,
                &[("forwarded", v), ("x-forwarded-for", "1.1.1.1")],
            )
        };
        assert_eq!(
            fwd("for=192.0.2.60;proto=http;by=203.0.113.43"),
            "192.0.2.60"
        );
        assert_eq!(
            fwd(r#"For="[2001:db8:cafe::17]:4711""#),
            "[2001:db8:cafe::17]:4711"
        );
        assert_eq!(fwd(r#"for="[::1]""#), "::1");
        assert_eq!(fwd("for=192.0.2.43, for=198.51.100.17"), "198.51.100.17");
        assert_eq!(fwd(r#"for="192.0.2.43:_port""#), "192.0.2.43");
        // Obfuscated or unknown: the proxy would not say, so the proxy is the client.
        assert_eq!(fwd("for=192.0.2.43, for=_hidden"), "127.0.0.1:9");
        assert_eq!(fwd("for=unknown"), "127.0.0.1:9");
    }

    #[test]
    fn malformed_headers_leave_the_peer() {
        let trusted = proxies(&["127.0.0.1/32"]);
        let peer = "127.0.0.1:9";
        for (name, value) in [
            ("x-forwarded-for", "not an address"),
            ("x-forwarded-for", "203.0.113.9, 300.1.1.1"),
            ("x-forwarded-for", ""),
            ("forwarded", "for=\"[::1]"),
            ("forwarded", "proto=https"),
            ("forwarded", "for=192.0.2.1:port"),
            ("forwarded", "for"),
        ] {
            assert_eq!(
                client(&trusted, peer, &[(name, value)]),
                peer,
                "{name}: {value}"
            );
        }
        // A malformed Forwarded is not passed over for X-Forwarded-For.
        let both = [("forwarded", "garbage"), ("x-forwarded-for", "203.0.113.9")];
        assert_eq!(client(&trusted, peer, &both), peer);
    }

    #[test]
    fn an_ipv4_mapped_peer_is_its_ipv4_address() {
        let trusted = proxies(&["127.0.0.1/32"]);
        let headers = [("x-forwarded-for", "203.0.113.9")];
        assert_eq!(
            client(&trusted, "[::ffff:127.0.0.1]:9", &headers),
            "203.0.113.9"
        );
    }
}
