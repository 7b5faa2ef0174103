//! Subscriber figures that aggregators put in their User-Agent when they poll a feed for many
//! readers at once: `Feedly/1.0 (...; 1234 subscribers; ...)`, `Feedbin feed-id:1373711 - 67
//! subscribers`, `NewsBlur Feed Fetcher - 45 subscribers - .../site/6243/...`. Pure parsing.
//!
//! Anyone can send any User-Agent, so a figure is believed only in the exact shape its
//! aggregator is known to send ([`SHAPES`]): the product, its fetcher URL, one count and at most
//! one feed id, in their places. Anything else (`Evil/1.0 (+http://x; 18446744073709551615
//! subscribers)`, a known name with a second count or a foreign URL) is no report at all, and
//! its poll counts as one direct client like any other. A believed figure is clamped to
//! [`MAX_SUBSCRIBERS`].

/// The most subscribers one report may claim: 10 million. The largest aggregators have had
/// some 15 million accounts in all, and the most-followed single feeds on any of them a few
/// million; a figure above this is not a count of readers, and clamping it keeps every sum the
/// stats add up (at most [`super::MAX_REPORTERS`] reports per feed per day) far from overflow.
pub(crate) const MAX_SUBSCRIBERS: u64 = 10_000_000;

/// What one aggregator reports for the feed it polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reported {
    /// Who reports, with the feed id when it gives one (an aggregator may poll one URL for
    /// several of its feeds, each with its own readers).
    pub(crate) key: String,
    pub(crate) name: String,
    /// At most [`MAX_SUBSCRIBERS`].
    pub(crate) subscribers: u64,
}

/// A subscriber count and the feed id, when the aggregator gives one.
type Figure<'a> = (u64, Option<&'a str>);

/// One aggregator's User-Agent shape: its name as the stats show it, and a parser that returns
/// the count and feed id only when the agent is exactly in that shape.
struct Shape {
    name: &'static str,
    parse: fn(&str) -> Option<Figure<'_>>,
}

/// The aggregators whose figures are believed, each in the shape it sends (see
/// tests/fixtures/user-agents.ndjson).
const SHAPES: &[Shape] = &[
    // Feedly/1.0 (+http://www.feedly.com/fetcher.html; 1234 subscribers; )
    Shape {
        name: "Feedly",
        parse: |ua| {
            let fields = product_comment(ua, "Feedly/")?;
            match fields.as_slice() {
                [url, count] | [url, count, ""]
                    if fetcher(url, "+", "www.feedly.com/fetcher.html") =>
                {
                    Some((subscribers(count)?, None))
                }
                _ => None,
            }
        },
    },
    // Mozilla/5.0 (compatible; Inoreader/1.0; +http://www.inoreader.com/feed-fetcher; 12 subscribers; )
    Shape {
        name: "Inoreader",
        parse: |ua| {
            let fields = product_comment(ua, "Mozilla/")?;
            match fields.as_slice() {
                ["compatible", product, url, count] | ["compatible", product, url, count, ""]
                    if versioned(product, "Inoreader/")
                        && fetcher(url, "+", "www.inoreader.com/feed-fetcher") =>
                {
                    Some((subscribers(count)?, None))
                }
                _ => None,
            }
        },
    },
    // Mozilla/5.0 (compatible; theoldreader.com; 8 subscribers; feed-id=4f3a2b1c0d9e8f7a6b5c4d3e)
    Shape {
        name: "theoldreader.com",
        parse: |ua| {
            let fields = product_comment(ua, "Mozilla/")?;
            match fields.as_slice() {
                ["compatible", "theoldreader.com", count] => Some((subscribers(count)?, None)),
                ["compatible", "theoldreader.com", count, id] => Some((
                    subscribers(count)?,
                    Some(feed_id(id.strip_prefix("feed-id=")?, false)?),
                )),
                _ => None,
            }
        },
    },
    // BazQux/2.4 (+https://bazqux.com/fetcher; 3 subscribers)
    Shape {
        name: "BazQux",
        parse: |ua| {
            let fields = product_comment(ua, "BazQux/")?;
            match fields.as_slice() {
                [url, count] | [url, count, ""] if fetcher(url, "+", "bazqux.com/fetcher") => {
                    Some((subscribers(count)?, None))
                }
                _ => None,
            }
        },
    },
    // Netvibes (https://www.netvibes.com/; 5 subscribers; feedID: 38221477)
    Shape {
        name: "Netvibes",
        parse: |ua| {
            let comment = ua.strip_prefix("Netvibes (")?.strip_suffix(')')?;
            let fields: Vec<&str> = comment.split(';').map(str::trim).collect();
            match fields.as_slice() {
                [url, count] if fetcher(url, "", "www.netvibes.com/") => {
                    Some((subscribers(count)?, None))
                }
                [url, count, id] if fetcher(url, "", "www.netvibes.com/") => Some((
                    subscribers(count)?,
                    Some(feed_id(id.strip_prefix("feedID:")?.trim_start(), true)?),
                )),
                _ => None,
            }
        },
    },
    // NewsBlur Feed Fetcher - 45 subscribers - https://www.newsblur.com/site/6243/slug (Mozilla/5.0 ...)
    Shape {
        name: "NewsBlur",
        parse: |ua| {
            let rest = ua.strip_prefix("NewsBlur Feed Fetcher - ")?;
            let (count, rest) = rest.split_once(" - ")?;
            let site = [
                "https://www.newsblur.com/site/",
                "http://www.newsblur.com/site/",
            ]
            .into_iter()
            .find_map(|prefix| rest.strip_prefix(prefix))?;
            let (id, _) = site.split_once('/')?;
            Some((subscribers(count)?, Some(feed_id(id, true)?)))
        },
    },
    // Feedbin feed-id:1373711 - 67 subscribers
    Shape {
        name: "Feedbin",
        parse: |ua| {
            let rest = ua.strip_prefix("Feedbin feed-id:")?;
            let (id, count) = rest.split_once(" - ")?;
            Some((subscribers(count)?, Some(feed_id(id, true)?)))
        },
    },
];

/// The aggregator and its subscriber count, when the User-Agent is one of [`SHAPES`].
pub(crate) fn parse(agent: &str) -> Option<Reported> {
    // Every feed poll comes through here: most agents name no count, and say so cheaply.
    if agent.len() > 512 || !mentions(agent, b"subscriber") {
        return None;
    }
    SHAPES.iter().find_map(|shape| {
        let (subscribers, id) = (shape.parse)(agent)?;
        Some(Reported {
            key: match id {
                Some(id) => format!("{} {id}", shape.name),
                None => shape.name.to_owned(),
            },
            name: shape.name.to_owned(),
            subscribers,
        })
    })
}

/// Whether `agent` holds `word` (not empty), in any case, without allocating: only where
/// its first letter is, found a vector at a time, is the rest compared.
fn mentions(agent: &str, word: &[u8]) -> bool {
    let agent = agent.as_bytes();
    let first = word[0];
    memchr::memchr2_iter(
        first.to_ascii_lowercase(),
        first.to_ascii_uppercase(),
        agent,
    )
    .any(|at| {
        agent
            .get(at..at + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    })
}

/// The `;`-separated fields, trimmed, of the comment of an agent that is exactly
/// `{product}{version} ({comment})`.
fn product_comment<'a>(agent: &'a str, product: &str) -> Option<Vec<&'a str>> {
    let (token, rest) = agent.split_once(' ')?;
    if !versioned(token, product) {
        return None;
    }
    let comment = rest.strip_prefix('(')?.strip_suffix(')')?;
    Some(comment.split(';').map(str::trim).collect())
}

/// `{product}{version}`, the version digits and dots.
fn versioned(token: &str, product: &str) -> bool {
    token.strip_prefix(product).is_some_and(|version| {
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    })
}

/// `{lead}http://{rest}` or `{lead}https://{rest}`.
fn fetcher(field: &str, lead: &str, rest: &str) -> bool {
    field
        .strip_prefix(lead)
        .and_then(|url| {
            url.strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
        })
        .is_some_and(|url| url == rest)
}

/// `N subscribers` (or `1 subscriber`): digits, optionally in thousands groups (`1,024`),
/// clamped to [`MAX_SUBSCRIBERS`].
fn subscribers(field: &str) -> Option<u64> {
    let digits = field
        .strip_suffix(" subscribers")
        .or_else(|| field.strip_suffix(" subscriber"))?;
    let mut groups = digits.split(',');
    let first = groups.next()?;
    let grouped = digits.contains(',');
    let first_ok = !first.is_empty()
        && first.bytes().all(|b| b.is_ascii_digit())
        && (!grouped || first.len() <= 3);
    if !first_ok || !groups.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let n = digits
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0_u64, |n, d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
    Some(n.min(MAX_SUBSCRIBERS))
}

/// A feed id: 1 to 64 ASCII letters, digits, `-` and `_` (only digits when `numeric`).
fn feed_id(id: &str, numeric: bool) -> Option<&str> {
    let ok = (1..=64).contains(&id.len())
        && id.bytes().all(|b| {
            b.is_ascii_digit() || (!numeric && (b.is_ascii_alphabetic() || b == b'-' || b == b'_'))
        });
    ok.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_found_in_any_case_anywhere_and_only_whole() {
        for (agent, found) in [
            (
                "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers)",
                true,
            ),
            ("NewsBlur Feed Fetcher - 7 SUBSCRIBERS", true),
            ("subscriber", true),
            ("xSubScriber", true),
            ("Mozilla/5.0 (X11; Linux x86_64) Safari/537.36", false),
            ("a subscribe", false),
            ("subscribe", false),
            ("", false),
        ] {
            assert_eq!(mentions(agent, b"subscriber"), found, "{agent:?}");
        }
    }

    /// Real aggregators' User-Agents, from tests/fixtures/user-agents.ndjson.
    #[test]
    fn aggregators_user_agents_give_their_subscribers() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/user-agents.ndjson"
        );
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let sample: serde_json::Value = serde_json::from_str(line).unwrap();
            let ua = sample["ua"].as_str().unwrap();
            let parsed = parse(ua);
            assert_eq!(
                parsed.as_ref().map(|r| r.name.as_str()),
                sample["aggregator"].as_str(),
                "{ua}"
            );
            assert_eq!(
                parsed.as_ref().map(|r| r.subscribers),
                sample["subscribers"].as_u64(),
                "{ua}"
            );
        }
    }

    /// Forged and malformed agents, from tests/fixtures/forged-user-agents.ndjson: none is
    /// believed beyond its known shape, and no figure passes the clamp.
    #[test]
    fn forged_agents_are_refused_or_clamped() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/forged-user-agents.ndjson"
        );
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let sample: serde_json::Value = serde_json::from_str(line).unwrap();
            let ua = sample["ua"].as_str().unwrap();
            let parsed = parse(ua);
            assert_eq!(
                parsed.as_ref().map(|r| r.name.as_str()),
                sample["aggregator"].as_str(),
                "{ua}: {}",
                sample["why"]
            );
            assert_eq!(
                parsed.as_ref().map(|r| r.subscribers),
                sample["subscribers"].as_u64(),
                "{ua}: {}",
                sample["why"]
            );
        }
    }

    #[test]
    fn counts_are_digits_in_proper_thousands_groups() {
        assert_eq!(subscribers("1,024 subscribers"), Some(1024));
        assert_eq!(subscribers("1 subscriber"), Some(1));
        assert_eq!(subscribers("12,345,678 subscribers"), Some(MAX_SUBSCRIBERS));
        assert_eq!(
            subscribers("18446744073709551615 subscribers"),
            Some(MAX_SUBSCRIBERS)
        );
        assert_eq!(
            subscribers(&format!("{} subscribers", "9".repeat(400))),
            Some(MAX_SUBSCRIBERS)
        );
        for bad in [
            "1,00,000 subscribers",
            ",5 subscribers",
            "5, subscribers",
            "-5 subscribers",
            "0x10 subscribers",
            " subscribers",
            "5 readers",
        ] {
            assert_eq!(subscribers(bad), None, "{bad}");
        }
    }

    #[test]
    fn feed_ids_keep_an_aggregators_feeds_apart() {
        assert_eq!(
            parse("Feedbin feed-id:1373711 - 67 subscribers")
                .unwrap()
                .key,
            "Feedbin 1373711"
        );
        assert_eq!(
            parse("NewsBlur Feed Fetcher - 45 subscribers - https://www.newsblur.com/site/6243/x")
                .unwrap()
                .key,
            "NewsBlur 6243"
        );
        assert_eq!(
            parse("BazQux/2.4 (+https://bazqux.com/fetcher; 3 subscribers)")
                .unwrap()
                .key,
            "BazQux"
        );
    }
}
