//! Content negotiation on Accept-Encoding (RFC 9110 §12.5.3), with q-values. A request may
//! send the field on several lines; they are one comma-separated list (§5.3), read line by
//! line where they are, without joining them.
//!
//! Written here because the `headers` crate (0.4) has no typed Accept-Encoding; the rules are
//! short and tested below.

use hyper::HeaderMap;
use hyper::header::ACCEPT_ENCODING;

use crate::model::Coding;

/// Codings in the order preferred when the client weighs them equally: smallest first.
const PREFERENCE: [Coding; 4] = [Coding::Brotli, Coding::Zstd, Coding::Gzip, Coding::Identity];

/// The content-coding names we know, as a client may spell them (compared ignoring case).
const NAMES: [(&str, Coding); 5] = [
    ("identity", Coding::Identity),
    ("gzip", Coding::Gzip),
    ("x-gzip", Coding::Gzip),
    ("br", Coding::Brotli),
    ("zstd", Coding::Zstd),
];

/// The coding to send for `request`, or `None` when the client accepts none we have (406).
pub fn negotiate(request: &HeaderMap) -> Option<Coding> {
    accepted(request).map(|a| a.best)
}

/// What a client's Accept-Encoding allows: the coding it is best sent, and the others it
/// weighs as highly (among which the choice is the server's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub best: Coding,
    /// Indexed by [`Coding::index`]: whether that coding is weighed as highly as `best`.
    tied: [bool; 4],
}

/// Compressed codings from the cheapest to make (measured on the bench feed, see
/// `cache::coding`: zstd 9 ≈ 1.2 ms, gzip 6 ≈ 1.4 ms, brotli 6 ≈ 2–4 ms).
const CHEAPEST_FIRST: [Coding; 3] = [Coding::Zstd, Coding::Gzip, Coding::Brotli];

impl Accepted {
    /// The coding to send now, when `made` tells which codings of the body are at hand: `best`
    /// if it is made (or is the identity); otherwise another compressed coding weighed as
    /// highly that is made, or else the cheapest of them to make. So the first answer after a
    /// change never waits for the costliest compressor when the client takes a cheaper one
    /// just as gladly.
    pub fn now(&self, made: impl Fn(Coding) -> bool) -> Coding {
        if self.best == Coding::Identity || made(self.best) {
            return self.best;
        }
        let tied = || CHEAPEST_FIRST.into_iter().filter(|c| self.tied[c.index()]);
        tied()
            .find(|c| made(*c))
            .or_else(|| tied().next())
            .unwrap_or(self.best)
    }

    /// Whether the client weighs `coding` as highly as the best.
    pub fn takes(&self, coding: Coding) -> bool {
        self.tied[coding.index()]
    }
}

/// What the client accepts, from every Accept-Encoding line of `request`, or `None` when it
/// accepts none we have (406).
pub fn accepted(request: &HeaderMap) -> Option<Accepted> {
    let only = |coding: Coding| {
        let mut tied = [false; 4];
        tied[coding.index()] = true;
        Accepted { best: coding, tied }
    };
    let mut lines = request.get_all(ACCEPT_ENCODING).iter().peekable();
    if lines.peek().is_none() {
        return Some(only(Coding::Identity));
    }
    let mut star: Option<f32> = None;
    let mut listed: [Option<f32>; 4] = [None; 4];
    for line in lines {
        let Ok(text) = line.to_str() else {
            return Some(only(Coding::Identity));
        };
        for member in text.split(',') {
            let mut parts = member.split(';');
            let token = parts.next().unwrap_or_default().trim();
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
            if token == "*" {
                star = Some(q);
                continue;
            }
            let named = NAMES
                .iter()
                .find(|(name, _)| token.eq_ignore_ascii_case(name));
            if let Some((_, coding)) = named {
                listed[coding.index()] = Some(q);
            }
        }
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
    let (best, top) = best?;
    Some(Accepted {
        best,
        tied: Coding::ALL.map(|coding| weight(coding) == top),
    })
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

    /// A request with one Accept-Encoding line for each of `lines`.
    fn request(lines: &[&str]) -> HeaderMap {
        let mut request = HeaderMap::new();
        for line in lines {
            request.append(ACCEPT_ENCODING, line.parse().unwrap());
        }
        request
    }

    fn pick(header: &str) -> Option<Coding> {
        negotiate(&request(&[header]))
    }

    #[test]
    fn no_header_means_identity() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Coding::Identity));
    }

    #[test]
    fn several_lines_are_one_list() {
        let lines = |lines: &[&str]| negotiate(&request(lines));
        assert_eq!(lines(&["identity;q=0", "gzip"]), Some(Coding::Gzip));
        assert_eq!(lines(&["gzip", "br;q=0"]), Some(Coding::Gzip));
        assert_eq!(lines(&["gzip;q=0.5", "zstd"]), Some(Coding::Zstd));
        assert_eq!(lines(&["identity;q=0", "deflate"]), None);
        assert_eq!(lines(&["br", ""]), Some(Coding::Brotli));
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

    fn accepted_of(header: &str) -> Accepted {
        accepted(&request(&[header])).unwrap()
    }

    #[test]
    fn an_unmade_best_coding_gives_way_to_a_tied_one_that_is_made_or_cheapest() {
        let browser = accepted_of("gzip, deflate, br, zstd");
        assert_eq!(browser.best, Coding::Brotli);
        assert_eq!(browser.now(|_| true), Coding::Brotli);
        assert_eq!(browser.now(|c| c == Coding::Gzip), Coding::Gzip);
        assert_eq!(
            browser.now(|_| false),
            Coding::Zstd,
            "zstd is cheapest to make"
        );
        assert_eq!(accepted_of("gzip, br").now(|_| false), Coding::Gzip);
    }

    #[test]
    fn only_codings_weighed_as_highly_stand_in() {
        let prefers_br = accepted_of("br, gzip;q=0.8");
        assert_eq!(prefers_br.now(|c| c == Coding::Gzip), Coding::Brotli);
        assert!(!prefers_br.takes(Coding::Gzip));
        // The identity body is never a stand-in for a compressed one: it is 10–20 times the bytes.
        assert_eq!(accepted_of("br, identity").now(|_| false), Coding::Brotli);
        assert_eq!(accepted_of("identity").now(|_| false), Coding::Identity);
    }
}
