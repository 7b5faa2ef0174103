//! [`StoreError`], the one error every store call returns. It names no backend: each backend
//! turns its own errors into these words when they happen (`sqlite/error.rs`,
//! `postgres/error.rs`), deciding there whether a failure is transient, so callers outside the
//! store only ask [`StoreError::is_unavailable`] and [`StoreError::is_internal`].

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store (its file or its database) could not be opened.
    #[error("could not open the store at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: Box<StoreError>,
    },
    #[error(
        "the store's schema is version {found}, newer than this wirefeed understands ({known}); upgrade wirefeed"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// The database refused or failed a statement. `message` says which database and why;
    /// `transient` when a retry later may succeed (busy, locked, disk full, I/O errors).
    #[error("{message}")]
    Database { message: String, transient: bool },
    #[error("no database connection available: {0}")]
    Pool(String),
    #[error("the store is misconfigured: {0}")]
    Config(String),
    #[error("a stored article could not be read back: {0}")]
    Corrupt(String),
    #[error("the store's worker thread stopped: {0}")]
    Worker(String),
    /// The store could not be reached or could not do the work just now (connection refused
    /// or lost, server shutting down, statement or lock timeout, disk full): a retry later
    /// may succeed.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The store did not answer within its deadline.
    #[error("the store did not answer within {0:?}")]
    Timeout(std::time::Duration),
}

impl StoreError {
    /// Whether the store could not be reached or did not answer in time: transient, worth a
    /// retry, answered 503 with Retry-After, and what marks the store down.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::Timeout(_) | StoreError::Pool(_) => true,
            StoreError::Database { transient, .. } => *transient,
            StoreError::Open { source, .. } => source.is_unavailable(),
            _ => false,
        }
    }

    /// Whether what the store holds could not be understood: a bug or a damaged store, not
    /// something a retry mends (answered 500).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt(_) | StoreError::SchemaTooNew { .. } | StoreError::Config(_)
        )
    }
}
