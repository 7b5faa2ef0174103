//! Content negotiation on Accept-Encoding (RFC 9110 §12.5.3), with q-values.
//!
//! Written here because the `headers` crate (0.4) has no typed Accept-Encoding; the rules are
//! short and tested below.

use hyper::header::HeaderValue;

use crate::model::Coding;

/// Codings in the order preferred when the client weighs them equally: smallest first.
const PREFERENCE: [Coding; 4] = [Coding::Brotli, Coding::Zstd, Coding::Gzip, Coding::Identity];

/// The coding to send, or `None` when the client accepts none we have (406).
pub fn negotiate(accept_encoding: Option<&HeaderValue>) -> Option<Coding> {
    let Some(value) = accept_encoding else {
        return Some(Coding::Identity);
    };
    let Ok(text) = value.to_str() else {
        return Some(Coding::Identity);
    };
    let mut star: Option<f32> = None;
    let mut listed: [Option<f32>; 4] = [None; 4];
    for member in text.split(',') {
        let mut parts = member.split(';');
        let token = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if token.is_empty() {
            continue;
        }
        let mut q = Some(1.0);
        for param in parts {
            if let Some((name, value)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    q = parse_q(value.trim());
                }
            }
        }
        let Some(q) = q else { continue };
        let coding = match token.as_str() {
            "*" => {
                star = Some(q);
                continue;
            }
            "identity" => Coding::Identity,
            "gzip" | "x-gzip" => Coding::Gzip,
            "br" => Coding::Brotli,
            "zstd" => Coding::Zstd,
            _ => continue,
        };
        listed[coding.index()] = Some(q);
    }
    let weight = |coding: Coding| {
        listed[coding.index()].or(star).unwrap_or(match coding {
            // identity is acceptable unless excluded explicitly or by `*;q=0` (§12.5.3), but
            // only as the fallback: a client that lists a coding at any weight prefers it.
            Coding::Identity => f32::MIN_POSITIVE,
            _ => 0.0,
        })
    };
    let mut best: Option<(Coding, f32)> = None;
    for coding in PREFERENCE {
        let q = weight(coding);
        if q > 0.0 && best.is_none_or(|(_, top)| q > top) {
            best = Some((coding, q));
        }
    }
    best.map(|(coding, _)| coding)
}

/// A qvalue: 0 to 1 with at most three decimals; anything else makes the member ignored.
fn parse_q(text: &str) -> Option<f32> {
    let valid = match text.split_once('.') {
        Some((whole, frac)) => {
            (whole == "0" || whole == "1")
                && frac.len() <= 3
                && frac.bytes().all(|b| b.is_ascii_digit())
                && (whole == "0" || frac.bytes().all(|b| b == b'0'))
        }
        None => text == "0" || text == "1",
    };
    if valid { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(header: &str) -> Option<Coding> {
        negotiate(Some(&HeaderValue::from_str(header).unwrap()))
    }

    #[test]
    fn no_header_means_identity() {
        assert_eq!(negotiate(None), Some(Coding::Identity));
    }

    #[test]
    fn the_highest_q_wins_and_ties_go_to_the_smallest_coding() {
        assert_eq!(pick("gzip, deflate, br, zstd"), Some(Coding::Brotli));
        assert_eq!(pick("gzip;q=1.0, br;q=0.5"), Some(Coding::Gzip));
        assert_eq!(pick("zstd, gzip"), Some(Coding::Zstd));
        assert_eq!(pick("GZIP"), Some(Coding::Gzip));
        assert_eq!(pick("x-gzip"), Some(Coding::Gzip));
    }

    #[test]
    fn q_zero_refuses_a_coding() {
        assert_eq!(pick("br;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(pick("br;q=0"), Some(Coding::Identity));
        assert_eq!(pick("*;q=0, gzip"), Some(Coding::Gzip));
    }

    #[test]
    fn identity_refused_with_nothing_else_acceptable_is_406() {
        assert_eq!(pick("identity;q=0"), None);
        assert_eq!(pick("*;q=0"), None);
        assert_eq!(pick("identity;q=0, deflate"), None);
        assert_eq!(pick("identity;q=0, gzip"), Some(Coding::Gzip));
    }

    #[test]
    fn star_covers_codings_not_listed() {
        assert_eq!(pick("*"), Some(Coding::Brotli));
        assert_eq!(pick("br;q=0.1, *;q=0.5"), Some(Coding::Zstd));
    }

    #[test]
    fn an_empty_header_wants_no_coding_and_bad_q_values_are_ignored() {
        assert_eq!(pick(""), Some(Coding::Identity));
        assert_eq!(pick("br;q=2, gzip;q=abc"), Some(Coding::Identity));
        assert_eq!(pick("br;q=0.001, identity;q=0"), Some(Coding::Brotli));
        assert_eq!(
            pick("br;q=0.001"),
            Some(Coding::Brotli),
            "unlisted identity is only the fallback"
        );
        assert_eq!(pick("br;q=0.5, identity"), Some(Coding::Identity));
    }
}
