/// Why a URL could not be signed or a signed token not honoured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token was not signed by us, or was altered.
    #[error("the signed token is invalid or has been altered")]
    InvalidToken,

    /// The token was signed by us but its time is up.
    #[error("the signed URL expired at {expired_at_ms} (epoch ms)")]
    Expired { expired_at_ms: i64 },

    /// The file lies outside the table root the signer is confined to.
    #[error("{path} is outside the table root {root}")]
    OutsideRoot { path: String, root: String },

    /// The file the token names does not exist (any more).
    #[error("file not found: {0}")]
    NotFound(String),

    /// The URL is not one this signer handles (another scheme, not a valid URL).
    #[error("cannot sign {url}: {reason}")]
    Unsupported { url: String, reason: String },

    /// The object store (or its STS) failed: unreachable, timed out, a server error. Worth a
    /// retry.
    #[error("store '{store}': {reason}")]
    Store { store: String, reason: String },

    /// The object store (or its STS) refused the gateway: a configuration fault at the provider
    /// that no retry will heal.
    #[error("store '{store}' refused: {reason}")]
    Refused { store: String, reason: String },

    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
