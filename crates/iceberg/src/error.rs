/// Failures of the Iceberg adapter, before they are reduced to the model's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("'{location}' is not a usable Iceberg table location: {reason}")]
    BadLocation { location: String, reason: String },

    #[error(transparent)]
    Iceberg(#[from] iceberg::Error),

    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    /// Reduces to the model's error: "not there" apart from faults, I/O apart from the rest.
    pub(crate) fn into_model(self, location: &str) -> lakeshare_model::Error {
        use lakeshare_model::Error as M;
        match self {
            Error::BadLocation { location, reason } => M::TableNotFound { location, reason },
            Error::Unsupported(reason) => M::Unsupported(reason),
            Error::Iceberg(e) => match e.kind() {
                iceberg::ErrorKind::FeatureUnsupported => M::Unsupported(e.to_string()),
                iceberg::ErrorKind::TableNotFound | iceberg::ErrorKind::NamespaceNotFound => {
                    M::TableNotFound {
                        location: location.to_string(),
                        reason: e.to_string(),
                    }
                }
                _ if let Some(fault) = lakeshare_model::store_fault(&e) => M::Storage {
                    fault,
                    detail: format!("{location}: {e}"),
                },
                _ if is_io(&e) => M::storage(format!("{location}: {e}")),
                _ => M::Corrupt {
                    location: location.to_string(),
                    reason: e.to_string(),
                },
            },
        }
    }
}

/// Whether an iceberg error comes from reading storage (its chain holds an I/O error).
fn is_io(error: &iceberg::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        current = e.source();
    }
    error.to_string().contains("No such file")
}
