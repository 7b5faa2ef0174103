//! Connections to PostgreSQL: the settings every connection gets (schema, server-side
//! deadlines, TCP keepalive) and [`Conn`], the pooled connection that goes back to the pool
//! only after work that succeeded on it, so a hung or broken connection is never reused.

use std::time::Duration;

use super::schema::check_schema_name;
use crate::store::StoreError;

/// Parses the URL and pins every connection to the store's schema, with the default deadline.
#[cfg(test)]
pub(crate) fn connection_config(
    url: &str,
    schema: &str,
) -> Result<tokio_postgres::Config, StoreError> {
    tuned_config(url, schema, crate::store::DEFAULT_DEADLINE)
}

/// TCP keepalive: first probe after this much idleness ...
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
/// ... then one probe this often ...
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// ... and the peer is dead after this many unanswered.
const KEEPALIVE_RETRIES: u32 = 3;
/// Longest that sent data may stay unacknowledged before the kernel drops the connection.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(8);

/// Parses the URL and pins every connection to the store's schema, with deadlines: connecting
/// within `deadline`; on the server, each statement within most of it (`statement_timeout`,
/// so a slow statement fails cleanly before the client gives up), each lock wait within half
/// (`lock_timeout`, the write lock among them), and a transaction left idle — its client gone
/// — ended after twice the deadline, so that the write lock it held is released. Dead peers
/// are found by TCP keepalive on both sides within seconds, not the system's two hours.
pub(crate) fn tuned_config(
    url: &str,
    schema: &str,
    deadline: Duration,
) -> Result<tokio_postgres::Config, StoreError> {
    check_schema_name(schema)?;
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| StoreError::Config(e.to_string()))?;
    let ms = deadline.as_millis().max(1);
    config.options(format!(
        "-c search_path={schema} -c statement_timeout={} -c lock_timeout={} \
         -c idle_in_transaction_session_timeout={} -c tcp_keepalives_idle={} \
         -c tcp_keepalives_interval={} -c tcp_keepalives_count={KEEPALIVE_RETRIES}",
        (ms * 4 / 5).max(1),
        (ms / 2).max(1),
        (ms * 2).max(1000),
        KEEPALIVE_IDLE.as_secs(),
        KEEPALIVE_INTERVAL.as_secs(),
    ));
    if config.get_application_name().is_none() {
        config.application_name("wirefeed");
    }
    config
        .connect_timeout(deadline)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES)
        .tcp_user_timeout(TCP_USER_TIMEOUT);
    Ok(config)
}

/// A pooled connection that goes back to the pool only when the work done on it succeeded
/// ([`Conn::keep`]). Dropped otherwise — after an error, or with its call abandoned at its
/// deadline while a statement may still be in flight — it is taken out of the pool and
/// closed, so that a connection that hung or broke is never handed to the next request.
pub(super) struct Conn {
    object: Option<deadpool_postgres::Object>,
    keep: bool,
}

impl Conn {
    pub(super) fn new(object: deadpool_postgres::Object) -> Self {
        Self {
            object: Some(object),
            keep: false,
        }
    }

    pub(super) fn keep(&mut self) {
        self.keep = true;
    }
}

impl std::ops::Deref for Conn {
    type Target = deadpool_postgres::Object;
    fn deref(&self) -> &Self::Target {
        self.object.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.object.as_mut().expect("present until dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let (false, Some(object)) = (self.keep, self.object.take()) {
            // Closes the connection (its driver task is aborted) and shrinks the pool.
            drop(deadpool_postgres::Object::take(object));
        }
    }
}
