//! Storage errors.

/// A storage failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A unique name is already taken (`field` is `name`).
    #[error("{what} named `{name}` already exists")]
    NameTaken {
        /// `instance` or `group`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A referenced row does not exist (`field` names the reference, e.g. `instance_ids`).
    #[error("{field}: {message}")]
    BadReference {
        /// The request field that holds the reference.
        field: &'static str,
        /// What is missing.
        message: String,
    },
    /// The row is used elsewhere and cannot be deleted (e.g. an instance still in groups).
    #[error("{0}")]
    InUse(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
    /// The database cannot be reached now: connection refused or reset, no connection free
    /// within the pool's acquire timeout, an I/O error. Nothing of the call was committed
    /// (unless the connection broke during the commit itself, when the outcome is unknown:
    /// writes that repeat are deduplicated); trying again later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database has no room left (SQLite's `SQLITE_FULL`, PostgreSQL's `disk_full`,
    /// SQLSTATE 53100). Nothing of the call was committed; writes succeed again once there is
    /// room.
    #[error("database storage full: {0}")]
    Full(String),
}

impl StoreError {
    /// Whether the error is the database's state rather than the call's
    /// ([`Unavailable`](Self::Unavailable) or [`Full`](Self::Full)): the same call may succeed
    /// later, and other calls made meanwhile fail alike.
    pub fn is_outage(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Full(_))
    }
}

/// Shorthand.
pub type StoreResult<T> = Result<T, StoreError>;
