//! A subscriber's request to the hub (WebSub §5.1): a form with `hub.mode`, `hub.topic`,
//! `hub.callback` and optionally `hub.lease_seconds` and `hub.secret`, checked here before
//! anything is done with it. Pure parsing: no I/O.

use std::time::Duration;

use url::Url;

use crate::model::FeedKey;
use crate::site::Site;

/// Longest secret WebSub allows (§5.1: "MUST be less than 200 bytes").
const MAX_SECRET: usize = 199;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Subscribe,
    Unsubscribe,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Subscribe => "subscribe",
            Mode::Unsubscribe => "unsubscribe",
        }
    }
}

/// A well-formed request for a feed of this site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Intent {
    pub(crate) mode: Mode,
    /// The feed's canonical URL.
    pub(crate) topic: String,
    pub(crate) feed: FeedKey,
    pub(crate) callback: Url,
    /// The lease granted: the one asked for, clamped to the configured bounds.
    pub(crate) lease: Duration,
    pub(crate) secret: Option<String>,
}

/// Lease bounds from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Leases {
    pub(crate) default: Duration,
    pub(crate) min: Duration,
    pub(crate) max: Duration,
}

/// Reads a request body (`application/x-www-form-urlencoded`). The error is a sentence for the
/// subscriber.
pub(crate) fn parse(form: &[u8], site: &Site, leases: Leases) -> Result<Intent, String> {
    let mut mode = None;
    let mut topic = None;
    let mut callback = None;
    let mut lease = None;
    let mut secret = None;
    for (key, value) in url::form_urlencoded::parse(form) {
        let slot = match key.as_ref() {
            "hub.mode" => &mut mode,
            "hub.topic" => &mut topic,
            "hub.callback" => &mut callback,
            "hub.lease_seconds" => &mut lease,
            "hub.secret" => &mut secret,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(format!("{key} is given more than once"));
        }
    }
    let mode = match mode.as_deref() {
        Some("subscribe") => Mode::Subscribe,
        Some("unsubscribe") => Mode::Unsubscribe,
        Some("publish") => {
            return Err("this hub publishes its own feeds; hub.mode=publish is not taken".into());
        }
        Some(other) => {
            return Err(format!(
                "hub.mode {other:?} is not subscribe or unsubscribe"
            ));
        }
        None => return Err("hub.mode is missing".into()),
    };
    let topic = topic.ok_or("hub.topic is missing")?;
    let (slug, format) = site.feed_from_url(&topic).ok_or_else(|| {
        format!(
            "{topic:?} is not a feed of this hub; topics look like {}",
            site.feed_url("world", crate::model::FeedFormat::Atom)
        )
    })?;
    let callback = callback.ok_or("hub.callback is missing")?;
    let callback = Url::parse(&callback)
        .map_err(|e| format!("hub.callback {callback:?} is not a URL: {e}"))?;
    if !matches!(callback.scheme(), "http" | "https") || callback.host_str().is_none() {
        return Err("hub.callback must be an http or https URL with a host".into());
    }
    if callback.fragment().is_some() {
        return Err("hub.callback must not have a fragment".into());
    }
    let lease =
        match lease {
            None => leases.default,
            Some(raw) => Duration::from_secs(raw.trim().parse::<u64>().map_err(|_| {
                format!("hub.lease_seconds {raw:?} is not a whole number of seconds")
            })?),
        }
        .clamp(leases.min, leases.max);
    let secret = secret.filter(|s| !s.is_empty());
    if secret.as_ref().is_some_and(|s| s.len() > MAX_SECRET) {
        return Err(format!(
            "hub.secret must be shorter than {} bytes",
            MAX_SECRET + 1
        ));
    }
    Ok(Intent {
        mode,
        topic: site.feed_url(&slug, format),
        feed: FeedKey::current(slug, format),
        callback,
        lease,
        secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FeedFormat;

    const LEASES: Leases = Leases {
        default: Duration::from_secs(864_000),
        min: Duration::from_secs(3_600),
        max: Duration::from_secs(2_592_000),
    };

    fn site() -> Site {
        Site::new(
            "https://wire.example.com",
            "Wirefeed",
            "wire.example.com,2026",
        )
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes()
    }

    #[test]
    fn a_subscription_names_a_feed_and_a_callback() {
        let intent = parse(
            &form(&[
                ("hub.mode", "subscribe"),
                ("hub.topic", "https://wire.example.com/feeds/g20.atom"),
                ("hub.callback", "https://reader.example.net/push?feed=7"),
                ("hub.secret", "s3cret"),
            ]),
            &site(),
            LEASES,
        )
        .unwrap();
        assert_eq!(intent.mode, Mode::Subscribe);
        assert_eq!(intent.feed, FeedKey::current("g20", FeedFormat::Atom));
        assert_eq!(intent.callback.query(), Some("feed=7"));
        assert_eq!(intent.lease, LEASES.default);
        assert_eq!(intent.secret.as_deref(), Some("s3cret"));
    }

    #[test]
    fn leases_are_clamped_to_the_configured_bounds() {
        let lease = |asked: &str| {
            parse(
                &form(&[
                    ("hub.mode", "subscribe"),
                    ("hub.topic", "https://wire.example.com/feeds/world.rss"),
                    ("hub.callback", "https://reader.example.net/cb"),
                    ("hub.lease_seconds", asked),
                ]),
                &site(),
                LEASES,
            )
            .map(|i| i.lease.as_secs())
        };
        assert_eq!(lease("60"), Ok(3_600));
        assert_eq!(lease("7200"), Ok(7_200));
        assert_eq!(lease("99999999999"), Ok(2_592_000));
        assert!(lease("soon").is_err());
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let error = |pairs: &[(&str, &str)]| parse(&form(pairs), &site(), LEASES).unwrap_err();
        let topic = ("hub.topic", "https://wire.example.com/feeds/world.json");
        let callback = ("hub.callback", "https://reader.example.net/cb");
        assert!(error(&[topic, callback]).contains("hub.mode is missing"));
        assert!(error(&[("hub.mode", "publish"), topic, callback]).contains("publishes its own"));
        assert!(error(&[("hub.mode", "subscribe"), callback]).contains("hub.topic"));
        assert!(
            error(&[
                ("hub.mode", "subscribe"),
                ("hub.topic", "https://elsewhere.example/feed"),
                callback
            ])
            .contains("not a feed of this hub")
        );
        assert!(
            error(&[
                ("hub.mode", "subscribe"),
                topic,
                ("hub.callback", "ftp://x/")
            ])
            .contains("http")
        );
        let long = "k".repeat(200);
        assert!(
            error(&[
                ("hub.mode", "subscribe"),
                topic,
                callback,
                ("hub.secret", &long)
            ])
            .contains("shorter than 200")
        );
        assert!(
            error(&[("hub.mode", "subscribe"), topic, topic, callback]).contains("more than once")
        );
    }
}
