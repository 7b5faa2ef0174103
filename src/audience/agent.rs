//! Subscriber figures that aggregators put in their User-Agent when they poll a feed for many
//! readers at once: `Feedly/1.0 (...; 1234 subscribers; ...)`, `Feedbin feed-id:1373711 - 67
//! subscribers`, `NewsBlur Feed Fetcher - 45 subscribers - .../site/6243/...`. Pure parsing.

/// What one aggregator reports for the feed it polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// Who reports, with the feed id when it gives one (an aggregator may poll one URL for
    /// several of its feeds, each with its own readers).
    pub key: String,
    pub name: String,
    pub subscribers: u64,
}

/// The aggregator and its subscriber count, when the User-Agent carries one.
pub fn parse(agent: &str) -> Option<Reported> {
    // Every feed poll comes through here: most agents name no count, and say so cheaply.
    if !mentions(agent, b"subscriber") && !mentions(agent, b"reader") {
        return None;
    }
    let subscribers = count(agent)?;
    let name = name(agent)?;
    let key = match feed_id(agent) {
        Some(id) => format!("{name} {id}"),
        None => name.to_owned(),
    };
    Some(Reported {
        key,
        name: name.to_owned(),
        subscribers,
    })
}

/// Whether `agent` holds `word`, in any case, without allocating.
fn mentions(agent: &str, word: &[u8]) -> bool {
    agent
        .as_bytes()
        .windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word))
}

/// The number before "subscriber(s)" or "reader(s)", thousands separators allowed.
fn count(agent: &str) -> Option<u64> {
    let lower = agent.to_ascii_lowercase();
    ["subscriber", "reader"].iter().find_map(|word| {
        lower.match_indices(word).find_map(|(at, _)| {
            let before = lower[..at].trim_end();
            let digits: String = before
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_digit() || *c == ',')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .filter(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
    })
}

/// The product name: after `compatible;` in a Mozilla-style agent, else the first token.
fn name(agent: &str) -> Option<&str> {
    let rest = match agent.find("compatible;") {
        Some(at) => &agent[at + "compatible;".len()..],
        None => agent,
    };
    let name = rest
        .trim_start()
        .split(['/', ' ', '(', ';', ')'])
        .next()?
        .trim();
    (!name.is_empty() && name.bytes().any(|b| b.is_ascii_alphabetic())).then_some(name)
}

/// `feed-id=X`, `feed-id:X`, `feedID: X`, or NewsBlur's `/site/N/`.
fn feed_id(agent: &str) -> Option<String> {
    let lower = agent.to_ascii_lowercase();
    let value = |from: usize| {
        let id: String = agent[from..]
            .trim_start_matches([' ', '=', ':'])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        (!id.is_empty()).then_some(id)
    };
    for marker in ["feed-id", "feedid"] {
        if let Some(at) = lower.find(marker) {
            if let Some(id) = value(at + marker.len()) {
                return Some(id);
            }
        }
    }
    lower
        .find("/site/")
        .and_then(|at| value(at + "/site/".len()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
