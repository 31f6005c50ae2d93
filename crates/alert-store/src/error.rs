//! Storage errors.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
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
}

/// Shorthand.
pub type StoreResult<T> = Result<T, StoreError>;
