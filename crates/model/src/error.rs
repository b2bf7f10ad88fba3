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

    /// Another writer committed the version a write meant to commit.
    #[error("{0}")]
    Conflict(String),

    /// The table is being computed and cannot be read yet (a materialized share's first
    /// version); ask again in `retry_after_secs`.
    #[error("{reason}")]
    NotReady {
        reason: String,
        retry_after_secs: u64,
    },

    /// Reading from storage failed (network, permissions, I/O). `detail` is for the log: it may
    /// name internal addresses; `fault` is what a recipient may be told.
    #[error("storage error ({fault}): {detail}")]
    Storage { fault: StorageFault, detail: String },
}

impl Error {
    /// A storage failure of unknown cause.
    pub fn storage(detail: impl Into<String>) -> Self {
        Error::Storage {
            fault: StorageFault::Failed,
            detail: detail.into(),
        }
    }
}

/// Why a store failed, as far as a recipient is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    /// No connection could be made.
    Unreachable,
    /// The store did not answer within the configured timeout.
    TimedOut,
    /// The store refused the gateway's credentials.
    AccessDenied,
    /// The store's configuration cannot work (a malformed key, say).
    Misconfigured,
    /// Anything else: server errors of the store, unexpected answers, local I/O.
    Failed,
}

impl std::fmt::Display for StorageFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StorageFault::Unreachable => "cannot be reached",
            StorageFault::TimedOut => "did not answer in time",
            StorageFault::AccessDenied => "refused the gateway's credentials",
            StorageFault::Misconfigured => "is misconfigured",
            StorageFault::Failed => "failed",
        })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
