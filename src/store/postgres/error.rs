//! How tokio-postgres's errors become [`StoreError`]s: the one place that decides which
//! SQLSTATEs are transient, so nothing outside the PostgreSQL backend sees a driver type.

use crate::store::StoreError;

/// SQLSTATE classes and codes that mean the server cannot do the work now but may later:
/// connection exceptions (08), insufficient resources (53, disk full among them), operator
/// intervention (57: shutdown, query cancelled by statement_timeout), lock not available
/// (55P03, lock_timeout), idle-in-transaction timeout (25P03), serialization failures (40).
fn transient(code: &str) -> bool {
    ["08", "53", "57", "40"]
        .iter()
        .any(|class| code.starts_with(class))
        || code == "55P03"
        || code == "25P03"
}

/// tokio-postgres errors print as "db error"; the server's own message is in the source.
/// Errors without a server message (I/O, a closed connection, a timed-out connect) and
/// transient SQLSTATEs become [`StoreError::Unavailable`].
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => {
                let message = format!("{} (SQLSTATE {})", db.message(), db.code().code());
                if transient(db.code().code()) {
                    StoreError::Unavailable(message)
                } else {
                    StoreError::Database {
                        message: format!("PostgreSQL error: {message}"),
                        transient: false,
                    }
                }
            }
            None => StoreError::Unavailable(match std::error::Error::source(&e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            }),
        }
    }
}
