//! Cross-replica change notices for the PostgreSQL store: one connection per replica that
//! `LISTEN`s on [`postgres::CHANNEL`](super::postgres::CHANNEL) and wakes the caller when
//! another replica commits a write to the same schema.
//!
//! Notifications are only a prompt: the caller always catches up from the store's change
//! sequence, so a notice that is lost (the connection dropped, PostgreSQL restarted, the
//! listener's backend was terminated) costs nothing but time. After every (re)connection the
//! caller is woken once, which covers whatever happened while the listener was away, and while
//! it is away the caller is woken at every attempt to reconnect, so changes are still found.
//!
//! A connection that died without a word (a peer gone, a stalled network path) is found within
//! seconds: the listener pings the server every [`PING_EVERY`] and gives up on a ping that is
//! not answered within [`PING_DEADLINE`]; TCP keepalive is tuned too (`postgres::tuned_config`).
//! Whether the listener is connected is part of readiness ([`Health`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc};
use tokio_postgres::{AsyncMessage, NoTls};

use super::health::Health;
use super::postgres::CHANNEL;

/// Longest pause between reconnection attempts: short, so that cross-replica changes flow
/// again within about a second of the database coming back.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How often the connection is checked with an empty query ...
const PING_EVERY: Duration = Duration::from_secs(1);
/// ... and how long the answer may take before the connection counts as dead. Connecting and
/// `LISTEN` get the same deadline.
const PING_DEADLINE: Duration = Duration::from_secs(2);

/// Where to listen: the connection settings and the schema whose changes count. Made by the
/// store when it opens a PostgreSQL database ([`super::Opened::listener`]), so callers never
/// see the driver's configuration.
pub(crate) struct Listener {
    config: tokio_postgres::Config,
    schema: String,
}

impl Listener {
    pub(crate) fn new(config: tokio_postgres::Config, schema: String) -> Self {
        Self { config, schema }
    }
}

/// Listens until `stop` resolves (the shutdown), reconnecting after any failure, and calls
/// `wake.notify_one()` for every notice about the listener's schema, after every
/// (re)connection and at every attempt to reconnect. `Notify` coalesces a burst of notices
/// into one wake-up. It holds nothing to persist, so it stops at once.
pub(crate) async fn listen(
    listener: Listener,
    wake: Arc<Notify>,
    health: Arc<Health>,
    stop: impl Future<Output = ()>,
) {
    tokio::select! {
        () = listen_for_ever(listener, wake, health) => {}
        () = stop => {}
    }
}

async fn listen_for_ever(listener: Listener, wake: Arc<Notify>, health: Arc<Health>) {
    let Listener { config, schema } = listener;
    let mut backoff = Duration::from_millis(100);
    let mut lost: Option<Instant> = None;
    loop {
        let outcome = session(&config, &schema, &wake, &health, &mut lost).await;
        health.set_listener(false);
        match (&outcome, lost) {
            (Err(e), None) => {
                tracing::warn!(error = %e, "the PostgreSQL change listener lost its connection; reconnecting")
            }
            (Err(e), Some(_)) => {
                tracing::debug!(error = %e, ?backoff, "the PostgreSQL change listener could not reconnect; retrying")
            }
            (Ok(()), _) => {
                tracing::warn!("the PostgreSQL change listener was disconnected; reconnecting")
            }
        }
        if outcome.is_ok() {
            backoff = Duration::from_millis(100);
        }
        lost.get_or_insert_with(Instant::now);
        // The notices missed meanwhile are found by catching up from the change sequence.
        wake.notify_one();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

async fn bounded<T>(
    work: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, SessionError> {
    Ok(tokio::time::timeout(PING_DEADLINE, work)
        .await
        .map_err(|_| SessionError::Timeout(PING_DEADLINE))??)
}

/// One connection's life: LISTEN, wake once, then wake per notice until the connection ends
/// or stops answering pings.
async fn session(
    config: &tokio_postgres::Config,
    schema: &str,
    wake: &Notify,
    health: &Health,
    lost: &mut Option<Instant>,
) -> Result<(), SessionError> {
    let (client, mut connection) = bounded(config.connect(NoTls)).await?;
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
    // The driver ends with the connection; aborting it closes the connection.
    let _abort = AbortOnDrop(driver);
    bounded(client.batch_execute(&format!("LISTEN {CHANNEL}"))).await?;
    health.set_listener(true);
    match lost.take() {
        None => tracing::info!(schema, "listening for changes from other replicas"),
        Some(since) => tracing::info!(
            schema,
            away = ?since.elapsed(),
            "the change listener is connected again"
        ),
    }
    // Whatever was committed before LISTEN took effect is found by catching up now.
    wake.notify_one();
    let prefix = format!("{schema}:");
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            payload = received.recv() => match payload {
                Some(payload) => {
                    if payload.starts_with(&prefix) {
                        wake.notify_one();
                    }
                }
                None => return Ok(()),
            },
            // The ping is LISTEN again: a round trip that proves the connection alive, changes
            // nothing, and keeps the session recognisable as the listener to an operator
            // reading pg_stat_activity.
            _ = ping.tick() => {
                bounded(client.batch_execute(&format!("LISTEN {CHANNEL}"))).await?;
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
