/// Why hints could not be turned into a predicate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The hints exceed the size or depth limits; the request is refused.
    #[error("{0}")]
    TooLarge(String),

    /// The hint cannot be understood (unknown operator, column or type); every file is kept.
    #[error("{0}")]
    Unusable(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
