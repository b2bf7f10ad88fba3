/// A configuration that cannot be used, with enough detail to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// The YAML does not parse into the configuration's shape (a typo in a key, a wrong type).
    #[error("{file}: {field}: {reason}")]
    Syntax {
        file: String,
        field: String,
        reason: String,
    },

    /// The file parses but says something contradictory or unusable.
    #[error("{file}: {field}: {reason}")]
    Invalid {
        file: String,
        field: String,
        reason: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
