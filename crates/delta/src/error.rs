use deltalake::DeltaTableError;

/// Failures of the Delta adapter, before they are reduced to the model's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("'{location}' is not a usable table location: {reason}")]
    BadLocation { location: String, reason: String },

    #[error(transparent)]
    Delta(#[from] DeltaTableError),

    #[error("listing the log of {location}: {source}")]
    Listing {
        location: String,
        #[source]
        source: DeltaTableError,
    },
}

impl Error {
    /// Reduces to the model's error, keeping the "not there" cases distinguishable from faults,
    /// and transient store faults (worth a retry) from permanent ones.
    pub(crate) fn into_model(self, location: &str) -> lakeshare_model::Error {
        use lakeshare_model::Error as M;
        // A store failure can surface wrapped in any error of deltalake or the kernel (a
        // checkpoint read, a parquet footer): those are outages, not corrupt tables.
        if let Error::Delta(e) = &self
            && let Some(fault) = lakeshare_model::store_fault(e)
        {
            return M::Storage {
                fault,
                detail: format!("{location}: {e}"),
            };
        }
        match self {
            Error::BadLocation { location, reason } => M::TableNotFound { location, reason },
            Error::Delta(DeltaTableError::NotATable(reason)) => M::TableNotFound {
                location: location.to_string(),
                reason,
            },
            Error::Delta(
                e @ (DeltaTableError::ObjectStore { .. } | DeltaTableError::Io { .. }),
            ) => M::Storage {
                fault: lakeshare_model::fault_of(&e),
                detail: format!("{location}: {e}"),
            },
            Error::Delta(
                e @ (DeltaTableError::MissingFeature { .. }
                | DeltaTableError::UnsupportedColumnMapping { .. }),
            ) => M::Unsupported(e.to_string()),
            Error::Delta(e) => M::Corrupt {
                location: location.to_string(),
                reason: e.to_string(),
            },
            Error::Listing { source, .. } => M::Storage {
                fault: lakeshare_model::fault_of(&source),
                detail: format!("{location}: {source}"),
            },
        }
    }
}
