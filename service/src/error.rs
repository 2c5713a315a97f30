//! The service's error: what a domain operation can fail with, whichever door (gRPC or HTTP)
//! it was asked through. Each door maps it in one place (`grpc::status`, `http::error`).

use std::sync::Arc;

use crate::{domain::InvalidInput, render::RenderError, store::StoreError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("version conflict: expected version {expected}, current version is {current}")]
    Conflict { expected: u64, current: u64 },
    #[error(transparent)]
    Render(#[from] RenderError),
    /// A Watch asked to replay from a revision the change log no longer holds.
    #[error("revision {since} was pruned from the change log (oldest retained: {oldest}); resync")]
    Pruned { since: u64, oldest: u64 },
    /// What was asked contradicts the state it would change (moving `latest`, promoting in
    /// an auto scope).
    #[error("{0}")]
    Refused(String),
    /// No valid credentials.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Valid credentials without the right.
    #[error("permission denied: {0}")]
    Forbidden(String),
    /// A limit of the caller's or of the replica's is reached (open streams, say).
    #[error("resource exhausted: {0}")]
    Exhausted(String),
    /// The store failed; the detail is logged, never sent to callers.
    #[error("store unavailable")]
    Store(#[source] Arc<StoreError>),
}

impl Error {
    /// Stored content that does not decode: an error, never a silent default.
    pub fn corrupt(what: &str, e: &serde_json::Error) -> Self {
        StoreError::Corrupt(what.to_owned(), e.to_string()).into()
    }

    /// Prefixes the field an [`Error::Invalid`] names with where the input sat in a larger
    /// request (`messages` → `content.messages`).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Error::Invalid(invalid) => Error::Invalid(invalid.within(prefix)),
            other => other,
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { expected, current } => Error::Conflict { expected, current },
            StoreError::NotFound(what) => Error::NotFound(what),
            StoreError::AlreadyExists(what) => Error::AlreadyExists(what),
            StoreError::Refused(why) => Error::Refused(why),
            other => Error::Store(Arc::new(other)),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
