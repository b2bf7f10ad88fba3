//! Errors in the Iceberg REST catalog's shape, `{"error": {message, type, code}}`: Iceberg
//! clients parse only that one on these routes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lakeshare_iceberg_rest::wire::{ErrorModel, ErrorResponse};

use crate::error::ApiError;

#[derive(Debug)]
pub struct IcebergError {
    pub status: StatusCode,
    /// Iceberg's exception name (`NoSuchTableException`, …), which Java maps to its own.
    pub kind: &'static str,
    pub message: String,
    /// For a 429: `Retry-After`.
    pub retry_after: Option<std::time::Duration>,
}

/// Which kind of object a 404 is about: Iceberg names the missing thing in the exception.
#[derive(Debug, Clone, Copy)]
pub enum Missing {
    Namespace,
    Table,
}

impl IcebergError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequestException", message)
    }

    pub fn no_such(missing: Missing, message: impl Into<String>) -> Self {
        let kind = match missing {
            Missing::Namespace => "NoSuchNamespaceException",
            Missing::Table => "NoSuchTableException",
        };
        Self::new(StatusCode::NOT_FOUND, kind, message)
    }

    /// The same error a Delta Sharing route would give, in Iceberg's shape; a 404 names the
    /// kind of object that is missing.
    pub fn from_api(error: ApiError, missing: Missing) -> Self {
        if error.status == StatusCode::NOT_FOUND {
            return Self::no_such(missing, error.message);
        }
        Self {
            retry_after: error.retry_after,
            ..Self::new(error.status, kind_for(error.status), error.message)
        }
    }
}

/// Iceberg's exception name for an error status that names no particular missing object.
fn kind_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "NoSuchEndpointException",
        StatusCode::UNAUTHORIZED => "NotAuthorizedException",
        StatusCode::FORBIDDEN => "ForbiddenException",
        StatusCode::METHOD_NOT_ALLOWED => "UnsupportedOperationException",
        StatusCode::TOO_MANY_REQUESTS => "TooManyRequestsException",
        StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailableException",
        s if s.is_server_error() => "ServerErrorException",
        _ => "BadRequestException",
    }
}

/// Response mapper of the catalog's routes: an error the framework wrote rather than a handler
/// (a path segment it could not decode, an oversized body) in Iceberg's shape, with its status
/// and headers; Iceberg clients parse no other on these routes.
pub(crate) async fn iceberg_errors(response: Response) -> Response {
    crate::limits::reshape_framework_errors(response, |status, message| {
        IcebergError::new(status, kind_for(status), message).into_response()
    })
    .await
}

impl IntoResponse for IcebergError {
    fn into_response(self) -> Response {
        let body = ErrorResponse {
            error: ErrorModel {
                message: self.message,
                kind: self.kind.to_string(),
                code: self.status.as_u16(),
            },
        };
        let mut response = (
            self.status,
            serde_json::to_vec(&body).expect("error bodies always serialise"),
        )
            .into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(wait) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, crate::error::retry_after(wait));
        }
        response
    }
}

pub type IcebergResult<T> = Result<T, IcebergError>;
