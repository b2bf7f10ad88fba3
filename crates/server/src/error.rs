//! Errors as the protocol's `{errorCode, message}` bodies.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lakeshare_model::StorageFault;
use lakeshare_protocol::{ErrorBody, ErrorCode, JSON_CONTENT_TYPE};

/// An error a handler returns; its status and code are chosen where it is made, from what the
/// recipient did wrong, and its message names the offending value.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// For a 429 or 503: when the client may try again (`Retry-After`, whole seconds).
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429: over a rate limit, to retry after `wait`.
    pub fn too_many_requests(message: impl Into<String>, wait: std::time::Duration) -> Self {
        Self {
            retry_after: Some(wait),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::ResourceExhausted,
                message,
            )
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::ResourceDoesNotExist,
            message,
        )
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidParameterValue,
            message,
        )
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest,
            message,
        )
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedOperation,
            message,
        )
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            message,
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::PermissionDenied, message)
    }

    /// A transient failure of something the gateway depends on: a 503 with `Retry-After`,
    /// which clients retry.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(RETRY_AFTER_UNAVAILABLE),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::InternalError,
                message,
            )
        }
    }

    /// A fault of the server or the table's storage. The detail goes to the log; the recipient
    /// gets a reference to it, not our internals.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        let reference = format!("{:08x}", rand_reference());
        tracing::error!(reference, "{context}: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            format!("{context} failed on the server (reference {reference})"),
        )
    }

    /// Maps an adapter error for the table named `table` (`share.schema.table`).
    pub fn from_model(table: &str, error: &lakeshare_model::Error) -> Self {
        use lakeshare_model::Error as M;
        match error {
            M::VersionNotFound { .. } | M::TimestampOutOfRange(_) => {
                Self::invalid(format!("table '{table}': {error}"))
            }
            M::Unsupported(reason) => {
                let shown = without_locations(reason);
                if shown != *reason {
                    tracing::info!(table, "refused: {reason}");
                }
                Self::unsupported(format!("table '{table}': {shown}"))
            }
            M::TableNotFound { .. } => {
                tracing::error!(table, "{error}");
                Self::not_found(format!(
                    "the data of table '{table}' cannot be found at its location"
                ))
            }
            M::Storage { fault, .. } => {
                tracing::error!(table, "{error}");
                crate::metrics::store_error(*fault);
                // Transient faults get a 503 so clients retry; a refused credential will not
                // heal by itself, but it is still the provider's fault, not the recipient's.
                let (status, advice) = match fault {
                    StorageFault::AccessDenied | StorageFault::Misconfigured => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the provider must fix the store's configuration",
                    ),
                    _ => (StatusCode::SERVICE_UNAVAILABLE, "try again later"),
                };
                let message = format!("the storage of table '{table}' {fault}; {advice}");
                match status {
                    StatusCode::SERVICE_UNAVAILABLE => Self::unavailable(message),
                    _ => Self::new(status, ErrorCode::InternalError, message),
                }
            }
            M::NotReady {
                reason,
                retry_after_secs,
            } => Self {
                retry_after: Some(std::time::Duration::from_secs(*retry_after_secs)),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::InternalError,
                    format!("table '{table}': {reason}; try again later"),
                )
            },
            other => Self::internal(&format!("reading table '{table}'"), other),
        }
    }
}

/// When a recipient may retry after a transient failure of something the gateway depends on
/// (a store, an STS, an identity provider): worth asking again soon, not at once.
pub(crate) const RETRY_AFTER_UNAVAILABLE: std::time::Duration = std::time::Duration::from_secs(2);

impl ApiError {
    /// Maps a failure to read, hash or sign the files of `asset` (`volume 'a.b.c'`, …).
    pub fn from_asset(asset: &str, error: &lakeshare_assets::Error) -> Self {
        use lakeshare_assets::Error as A;
        use lakeshare_storage::Error as S;
        match error {
            A::Storage(S::NotFound(_)) => {
                tracing::error!(asset, "{error}");
                Self::not_found(format!(
                    "the files of {asset} cannot be found at its location"
                ))
            }
            A::Storage(S::OutsideRoot { path, .. }) => Self::invalid(format!(
                "'{path}' is not a file of {asset}: paths are relative to its folder, without '.' or '..'"
            )),
            A::Storage(S::Store { .. }) | A::Changed { .. } => {
                tracing::warn!(asset, "{error}");
                Self::unavailable(format!(
                    "the storage of {asset} failed or changed while being read; try again later"
                ))
            }
            A::Storage(S::Refused { .. }) => {
                tracing::error!(asset, "{error}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::InternalError,
                    format!(
                        "the store of {asset} refused the gateway; the provider must fix the store's configuration"
                    ),
                )
            }
            A::Skill { .. } => {
                tracing::error!(asset, "{error}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::InternalError,
                    format!("{asset} cannot be served: its {error}; the provider must fix it"),
                )
            }
            other => Self::internal(&format!("reading the files of {asset}"), other),
        }
    }

    /// Maps a failure to sign the URLs of table `table`'s files.
    pub fn from_signing(table: &str, error: &lakeshare_storage::Error) -> Self {
        use lakeshare_storage::Error as S;
        let fault = match error {
            S::Store { .. } => StorageFault::Failed,
            S::Refused { .. } => StorageFault::AccessDenied,
            other => {
                return Self::internal(&format!("signing the files of table '{table}'"), other);
            }
        };
        Self::from_model(
            table,
            &lakeshare_model::Error::Storage {
                fault,
                detail: error.to_string(),
            },
        )
    }
}

/// `message` with every path or URL replaced by `<location>`: adapters and the libraries under
/// them write why they refuse a table, and some of that text names where its files are, which
/// is the provider's business. The whole message goes to the log.
fn without_locations(message: &str) -> String {
    let is_location = |word: &str| {
        let scheme = word
            .split_once("://")
            .is_some_and(|(s, _)| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()));
        let path = word.starts_with('/') && word[1..].contains('/');
        scheme || path
    };
    let mut out = String::with_capacity(message.len());
    for (i, word) in message.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let start = word
            .find(|c: char| !matches!(c, '\'' | '"' | '(' | '[' | '`'))
            .unwrap_or(word.len());
        let end = word
            .rfind(|c: char| !matches!(c, '\'' | '"' | ')' | ']' | '`' | ',' | '.' | ';' | ':'))
            .map_or(start, |e| e + 1)
            .max(start);
        if is_location(&word[start..end]) {
            out.push_str(&word[..start]);
            out.push_str("<location>");
            out.push_str(&word[end..]);
        } else {
            out.push_str(word);
        }
    }
    out
}

/// A random reference for an internal error, so references do not collide under load.
fn rand_reference() -> u32 {
    rand::random()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ErrorBody {
            error_code: self.code,
            message: self.message,
        })
        .expect("error bodies always serialise");
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(wait) = self.retry_after {
            headers.insert(header::RETRY_AFTER, retry_after(wait));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `Retry-After` for `wait`.
pub(crate) fn retry_after(wait: std::time::Duration) -> HeaderValue {
    HeaderValue::from(whole_seconds(wait))
}

/// `wait` in whole seconds, rounded up, at least 1 (`Retry-After` has no fractions).
pub(crate) fn whole_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::without_locations;

    #[test]
    fn refusals_name_no_paths_or_urls() {
        assert_eq!(
            without_locations("cannot read '/srv/lake/t/_delta_log/0.json': gone"),
            "cannot read '<location>': gone"
        );
        assert_eq!(
            without_locations("file s3://lake/hr/x.parquet (and file:///a/b) is outside"),
            "file <location> (and <location>) is outside"
        );
        let plain = "version 3 has ORC data files; use responseformat=delta (header a/b)";
        assert_eq!(without_locations(plain), plain);
    }
}
