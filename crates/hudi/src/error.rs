/// Failures of the Hudi adapter, before they are reduced to the model's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("'{location}' is not a usable Hudi table location: {reason}")]
    BadLocation { location: String, reason: String },

    #[error(transparent)]
    Hudi(#[from] hudi::error::CoreError),

    /// The table's own metadata (timeline, commit metadata, schema) does not make sense.
    #[error("{0}")]
    Corrupt(String),

    #[error("{0}")]
    Unsupported(String),

    /// Merge-on-read file groups with log records at the version read: their base files alone
    /// are not the table's rows.
    #[error("{0}")]
    LogFiles(String),

    /// Live base files hold a column in another type than the version's schema: served
    /// together, a client would read the column with both types.
    #[error("{0}")]
    SchemaMismatch(String),

    /// The version is gone or was never there.
    #[error(transparent)]
    Model(#[from] lakeshare_model::Error),
}

impl Error {
    /// Reduces to the model's error: "not there" apart from faults, I/O apart from the rest.
    pub(crate) fn into_model(self, location: &str) -> lakeshare_model::Error {
        use hudi::error::CoreError;
        use lakeshare_model::Error as M;
        match self {
            Error::BadLocation { location, reason } => M::TableNotFound { location, reason },
            Error::Unsupported(reason)
            | Error::LogFiles(reason)
            | Error::SchemaMismatch(reason) => M::Unsupported(reason),
            Error::Corrupt(reason) => M::Corrupt {
                location: location.to_string(),
                reason,
            },
            Error::Model(e) => e,
            Error::Hudi(e) => match e {
                CoreError::Unsupported(reason) => M::Unsupported(reason),
                CoreError::SchemaNotFound(reason) => M::Unsupported(format!(
                    "the table has no schema to share yet (no commit records one and \
                     hoodie.properties has no hoodie.table.create.schema): {reason}"
                )),
                CoreError::Storage(s) => storage_error(location, s),
                CoreError::ReadLogFileError(io) => M::storage(format!("{location}: {io}")),
                other => M::Corrupt {
                    location: location.to_string(),
                    reason: other.to_string(),
                },
            },
        }
    }
}

/// A storage failure of hudi's, classified like the gateway's own store errors: a missing
/// `hoodie.properties` means there is no table, anything else is the store's fault.
fn storage_error(
    location: &str,
    error: hudi::storage::error::StorageError,
) -> lakeshare_model::Error {
    use hudi::storage::error::StorageError;
    use lakeshare_model::{Error as M, StorageFault};
    match error {
        // Only a missing hoodie.properties means there is no table; any other file vanishing
        // mid-read (archival, cleaning) is a transient fault of the read.
        StorageError::ObjectStoreError(object_store::Error::NotFound { path, .. })
            if path.ends_with("hoodie.properties") =>
        {
            M::TableNotFound {
                location: location.to_string(),
                reason: format!("{path} does not exist"),
            }
        }
        StorageError::ObjectStoreError(e) => M::Storage {
            fault: lakeshare_model::fault_of(&e),
            detail: format!("{location}: {e}"),
        },
        StorageError::Creation(reason) => M::Storage {
            fault: StorageFault::Misconfigured,
            detail: format!("{location}: {reason}"),
        },
        other => M::storage(format!("{location}: {other}")),
    }
}
