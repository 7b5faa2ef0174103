//! Cross-replica change notices for the PostgreSQL store: one connection per replica that
//! `LISTEN`s on [`postgres::CHANNEL`](super::postgres::CHANNEL) and wakes the caller when
//! another replica commits a write to the same schema.
//!
//! Notifications are only a prompt: the caller always catches up from the store's change
//! sequence, so a notice that is lost (the connection dropped, PostgreSQL restarted, the
//! listener's backend was terminated) costs nothing but time. After every (re)connection the
//! caller is woken once, which covers whatever happened while the listener was away.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc};
use tokio_postgres::{AsyncMessage, NoTls};

use super::postgres::CHANNEL;

/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Listens for ever, reconnecting after any failure, and calls `wake.notify_one()` for every
/// notice about `schema` and after every (re)connection. `Notify` coalesces a burst of notices
/// into one wake-up.
pub async fn listen(config: tokio_postgres::Config, schema: String, wake: Arc<Notify>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match session(&config, &schema, &wake).await {
            Ok(()) => {
                tracing::warn!("the PostgreSQL change listener was disconnected; reconnecting");
                backoff = Duration::from_millis(100);
            }
            Err(e) => {
                tracing::warn!(error = %e, ?backoff, "the PostgreSQL change listener failed; retrying");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life: LISTEN, wake once, then wake per notice until the connection ends.
async fn session(
    config: &tokio_postgres::Config,
    schema: &str,
    wake: &Notify,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (notices, mut received) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if notices.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "the listening connection ended");
                    break;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    tracing::info!(schema, "listening for changes from other replicas");
    // Whatever was committed before LISTEN took effect is found by catching up now.
    wake.notify_one();
    let prefix = format!("{schema}:");
    while let Some(payload) = received.recv().await {
        if payload.starts_with(&prefix) {
            wake.notify_one();
        }
    }
    driver.abort();
    Ok(())
}
