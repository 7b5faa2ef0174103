//! Content distribution (WebSub §7): POST the updated feed to each subscriber's callback,
//! signed when it gave a secret, retried with exponential backoff until it answers 2xx. Each
//! delivery is its own task holding a queue slot, and waits only for its own callback host's
//! permits, so a slow or dead subscriber delays nobody else; a newer delivery of the same feed
//! to the same callback makes a waiting older one give way. Every delivery is one of the hub's
//! counted tasks; once the hub is stopping, a delivery's next attempt is made at once and is
//! its last (see the module documentation of `websub`).

use std::sync::Arc;

use hmac::{KeyInit, Mac};
use http::header;
use tokio::sync::OwnedSemaphorePermit;

use super::{Hub, HubStats, hex};
use crate::model::FeedKey;
use crate::store::Subscription;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

enum Sent {
    Delivered,
    /// The subscriber answered 410: it wants no more.
    Gone,
}

impl Hub {
    /// Queues the current version of `feed` for one subscriber.
    pub(super) fn enqueue(self: &Arc<Self>, subscription: Subscription, feed: FeedKey) {
        let Ok(slot) = Arc::clone(&self.queue).try_acquire_owned() else {
            HubStats::bump(&self.stats.dropped);
            tracing::warn!(host = %subscription.callback_host, "WebSub queue full; delivery dropped");
            return;
        };
        let generation = {
            let mut generations = self.generations.lock().expect("generations lock");
            let newest = generations
                .entry((subscription.callback.clone(), subscription.topic.clone()))
                .or_default();
            *newest += 1;
            *newest
        };
        self.spawn(Arc::clone(self).deliver(subscription, feed, generation, slot));
    }

    async fn deliver(
        self: Arc<Self>,
        subscription: Subscription,
        feed: FeedKey,
        generation: u64,
        _slot: OwnedSemaphorePermit,
    ) {
        let id = (subscription.callback.clone(), subscription.topic.clone());
        let mut last = false;
        for attempt in 0..self.config.attempts.max(1) {
            if attempt > 0 {
                if last || self.is_stopping() {
                    tracing::info!(host = %subscription.callback_host, topic = %subscription.topic,
                        "shutting down: delivery not retried");
                    break;
                }
                let backoff = self.config.retry_first * 2u32.saturating_pow(attempt - 1);
                last = !self.backoff(backoff).await;
            }
            let _host = self
                .host_slot(&subscription.callback_host)
                .acquire_owned()
                .await;
            if self.superseded(&id, generation) {
                HubStats::bump(&self.stats.superseded);
                return;
            }
            match self.send(&subscription, &feed).await {
                Ok(Sent::Delivered) => {
                    HubStats::bump(&self.stats.deliveries);
                    self.finish(&id, generation);
                    return;
                }
                Ok(Sent::Gone) => {
                    tracing::info!(host = %subscription.callback_host, topic = %subscription.topic,
                        "subscriber answered 410; subscription ended");
                    if let Err(e) = self
                        .store
                        .unsubscribe(&subscription.topic, &subscription.callback)
                        .await
                    {
                        tracing::warn!(error = %e, "could not end a subscription");
                    }
                    self.finish(&id, generation);
                    return;
                }
                Err(why) => {
                    HubStats::bump(&self.stats.delivery_failures);
                    tracing::debug!(host = %subscription.callback_host, attempt, %why, "delivery failed");
                }
            }
        }
        HubStats::bump(&self.stats.given_up);
        tracing::warn!(host = %subscription.callback_host, topic = %subscription.topic,
            attempts = self.config.attempts, "delivery given up");
        self.finish(&id, generation);
    }

    fn superseded(&self, id: &(String, String), generation: u64) -> bool {
        let generations = self.generations.lock().expect("generations lock");
        generations
            .get(id)
            .is_some_and(|newest| *newest != generation)
    }

    /// Forgets the delivery's generation unless a newer one is queued.
    fn finish(&self, id: &(String, String), generation: u64) {
        let mut generations = self.generations.lock().expect("generations lock");
        if generations.get(id) == Some(&generation) {
            generations.remove(id);
        }
    }

    async fn send(&self, subscription: &Subscription, feed: &FeedKey) -> Result<Sent, String> {
        let current = self.cache.get(feed).await.map_err(|e| e.to_string())?;
        let body = current.identity();
        let mut request = self
            .client
            .post(&subscription.callback)
            .header(header::CONTENT_TYPE, current.content_type.clone())
            .header(header::LINK, current.link.clone());
        if let Some(secret) = &subscription.secret {
            request = request.header("x-hub-signature", signature(secret, &body));
        }
        let response = request.body(body).send().await.map_err(|e| e.to_string())?;
        match response.status() {
            status if status.is_success() => Ok(Sent::Delivered),
            reqwest::StatusCode::GONE => Ok(Sent::Gone),
            status => Err(format!("answered {status}")),
        }
    }

    /// Tells an external hub which feeds changed (the de facto `hub.mode=publish` ping), with
    /// the same retries as deliveries.
    pub(super) async fn ping(self: Arc<Self>, hub: String, topics: Vec<String>) {
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("hub.mode", "publish");
            for topic in &topics {
                form.append_pair("hub.url", topic);
            }
            form.finish()
        };
        // The operator named this hub, so it may be on a private network: a plain client.
        let client = reqwest::Client::builder()
            .timeout(self.config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build();
        let Ok(client) = client else { return };
        let mut last = false;
        for attempt in 0..self.config.attempts.max(1) {
            if attempt > 0 {
                if last || self.is_stopping() {
                    break;
                }
                last = !self
                    .backoff(self.config.retry_first * 2u32.saturating_pow(attempt - 1))
                    .await;
            }
            let sent = client
                .post(&hub)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    HubStats::bump(&self.stats.pings);
                    return;
                }
                Ok(response) => tracing::debug!(status = %response.status(), "hub refused a ping"),
                Err(e) => tracing::debug!(error = %e, "could not ping the hub"),
            }
            HubStats::bump(&self.stats.ping_failures);
        }
        tracing::warn!(%hub, feeds = topics.len(), "gave up pinging the external hub");
    }
}

/// `X-Hub-Signature` (WebSub §7.1): `sha256=` and the hex HMAC of the body under the secret.
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
