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
    accepted(accept_encoding).map(|a| a.best)
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

/// What the client accepts, or `None` when it accepts none we have (406).
pub fn accepted(accept_encoding: Option<&HeaderValue>) -> Option<Accepted> {
    let only = |coding: Coding| {
        let mut tied = [false; 4];
        tied[coding.index()] = true;
        Accepted { best: coding, tied }
    };
    let Some(value) = accept_encoding else {
        return Some(only(Coding::Identity));
    };
    let Ok(text) = value.to_str() else {
        return Some(only(Coding::Identity));
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

    fn accepted_of(header: &str) -> Accepted {
        accepted(Some(&HeaderValue::from_str(header).unwrap())).unwrap()
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
