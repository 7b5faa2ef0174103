//! How SQLite's errors become [`StoreError`]s: the one place that decides which of them are
//! transient ("not now" rather than "never"), so nothing outside the SQLite backend sees a
//! rusqlite type.

use crate::store::StoreError;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database {
            transient: unavailable(&e),
            message: format!("SQLite error: {e}"),
        }
    }
}

/// SQLite errors that say "not now" rather than "never": busy or locked past the busy
/// timeout, disk full, I/O errors, a file that cannot be opened, an interrupted statement.
fn unavailable(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(
            DatabaseBusy
                | DatabaseLocked
                | DiskFull
                | SystemIoFailure
                | CannotOpen
                | OperationInterrupted
                | OutOfMemory
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_transient_and_a_constraint_is_not() {
        let full: StoreError = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        )
        .into();
        assert!(full.is_unavailable(), "{full}");
        assert!(!full.is_internal());
        assert_eq!(full.to_string(), "SQLite error: database or disk is full");
        let constraint: StoreError = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            None,
        )
        .into();
        assert!(!constraint.is_unavailable(), "{constraint}");
    }
}
