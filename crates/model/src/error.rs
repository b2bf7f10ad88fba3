use crate::Version;

/// What can go wrong when an adapter opens a table. The variants are the distinctions the HTTP
/// edge needs to choose a status: "you asked for something that is not there" (4xx) versus "the
/// table or the store is broken" (5xx).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The table's location holds no table of the expected format.
    #[error("no table found at {location}: {reason}")]
    TableNotFound { location: String, reason: String },

    /// The requested version is not (or no longer) reconstructable.
    #[error("version {requested} does not exist; the table has versions {earliest} to {latest}")]
    VersionNotFound {
        requested: Version,
        earliest: Version,
        latest: Version,
    },

    /// A timestamp falls outside the table's commit history.
    #[error("{0}")]
    TimestampOutOfRange(String),

    /// The table uses something this gateway cannot serve faithfully.
    #[error("{0}")]
    Unsupported(String),

    /// The table's own metadata is unreadable or inconsistent.
    #[error("corrupt table at {location}: {reason}")]
    Corrupt { location: String, reason: String },

    /// Reading from storage failed (network, permissions, I/O).
    #[error("storage error: {0}")]
    Storage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
