//! Politeness: an optional limit on unconditional polls per client per feed, answered 429 with
//! Retry-After. It is scoped to one feed (a reader polling fifty feeds is not punished), and a
//! request carrying a validator (If-None-Match or If-Modified-Since) is never limited — those are
//! the polls we want. Clients are told apart by peer address.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::model::FeedKey;

pub(crate) struct PollLimiter {
    per_window: u32,
    window: Duration,
    counts: moka::sync::Cache<(IpAddr, FeedKey), Arc<AtomicU32>>,
}

impl PollLimiter {
    /// `per_minute` unconditional polls of one feed by one client; 0 turns the limit off.
    pub(crate) fn per_minute(per_minute: u32) -> Option<Self> {
        (per_minute > 0).then(|| Self::new(per_minute, Duration::from_secs(60)))
    }

    pub(crate) fn new(per_window: u32, window: Duration) -> Self {
        Self {
            per_window,
            window,
            // Each count lives one window from its first poll: a fixed window per client and feed.
            counts: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(window)
                .build(),
        }
    }

    /// `Err(retry_after)` when this poll is one too many.
    pub(crate) fn check(&self, client: IpAddr, feed: &FeedKey) -> Result<(), Duration> {
        let count = self
            .counts
            .get_with((client, feed.clone()), || Arc::new(AtomicU32::new(0)));
        if count.fetch_add(1, Ordering::Relaxed) < self.per_window {
            Ok(())
        } else {
            Err(self.window)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FeedFormat;

    fn feed(slug: &str) -> FeedKey {
        FeedKey::current(slug, FeedFormat::Rss)
    }

    #[test]
    fn the_limit_is_per_client_and_per_feed() {
        let limiter = PollLimiter::new(2, Duration::from_secs(60));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(limiter.check(a, &feed("world")).is_ok());
        assert!(limiter.check(a, &feed("world")).is_ok());
        assert_eq!(
            limiter.check(a, &feed("world")),
            Err(Duration::from_secs(60))
        );
        assert!(
            limiter.check(a, &feed("g20")).is_ok(),
            "another feed is not limited"
        );
        assert!(
            limiter.check(b, &feed("world")).is_ok(),
            "another client is not limited"
        );
    }

    #[test]
    fn the_count_starts_again_after_the_window() {
        let limiter = PollLimiter::new(1, Duration::from_millis(50));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(limiter.check(a, &feed("world")).is_ok());
        assert!(limiter.check(a, &feed("world")).is_err());
        std::thread::sleep(Duration::from_millis(120));
        assert!(limiter.check(a, &feed("world")).is_ok());
    }
}
