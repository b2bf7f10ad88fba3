use serde::{Deserialize, Serialize};

/// The error codes of the protocol's error body. Clients show them to users and some branch on
/// them, so each one is used only for what the reference server uses it for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 404: a share, schema, table or file that does not exist, or is not granted to the caller.
    ResourceDoesNotExist,
    /// 400: a parameter has a value the server cannot accept.
    InvalidParameterValue,
    /// 400: the request body or a parameter cannot be parsed at all.
    MalformedRequest,
    /// 400: a well-formed request the server will not carry out for this table.
    UnsupportedOperation,
    /// 401: no bearer token, or one that is not valid.
    Unauthenticated,
    /// 403: a signed URL that has expired or was altered.
    PermissionDenied,
    /// 500: a fault of the server or of a table's storage.
    InternalError,
    /// 405: the endpoint exists but not for this HTTP method.
    MethodNotAllowed,
    /// 413: the request body is over the server's limit.
    RequestTooLarge,
    /// 429: the recipient is over its request rate limit; `Retry-After` says when to retry.
    ResourceExhausted,
}

/// The JSON body of every error response: `{"errorCode": …, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error_code: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_uses_protocol_names() {
        let body = ErrorBody {
            error_code: ErrorCode::ResourceDoesNotExist,
            message: "share 'x' not found".into(),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"errorCode":"RESOURCE_DOES_NOT_EXIST","message":"share 'x' not found"}"#
        );
    }
}
