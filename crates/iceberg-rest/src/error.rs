use thiserror::Error;

/// Why Iceberg metadata could not be generated.
#[derive(Debug, Clone, Error)]
pub enum Error {
    /// The version holds something Iceberg metadata cannot express correctly; the message says
    /// what, for the recipient.
    #[error("{0}")]
    Unsupported(String),
    /// The table's own metadata does not fit (a partition value that is not of its column's
    /// type, a schema without fields): the table, not the request, is at fault.
    #[error("{0}")]
    Invalid(String),
    /// Reading what the metadata needs (a file's footer, say) failed for a reason that may
    /// pass (storage): clients should retry.
    #[error("{0}")]
    Unavailable(String),
    /// The Iceberg writers failed: a fault of the gateway.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
