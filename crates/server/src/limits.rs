//! Per-request bounds, and the protocol's error shape on the responses the framework writes
//! itself (body limits, unparsable paths, unknown methods).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lakeshare_protocol::ErrorCode;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// The largest request body accepted. Query bodies with predicate hints are the largest the
/// protocol has, and hints over 1 MiB are refused anyway.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// How long a request may take to produce its response head, and how many may be worked on at
/// once. Streaming a body (a long query answer, a file download) is not bounded by either: the
/// slot is released once the head is ready.
#[derive(Debug)]
pub struct RequestLimits {
    timeout: Duration,
    max_concurrent: usize,
    slots: Semaphore,
}

impl RequestLimits {
    pub fn new(timeout: Duration, max_concurrent: usize) -> Arc<Self> {
        Arc::new(Self {
            timeout,
            max_concurrent,
            slots: Semaphore::new(max_concurrent.max(1)),
        })
    }

    /// Whether these are the limits `timeout` and `max_concurrent` set (a reload then keeps
    /// them, and with them the requests running and waiting).
    pub fn are(&self, timeout: Duration, max_concurrent: usize) -> bool {
        self.timeout == timeout && self.max_concurrent == max_concurrent
    }
}

/// Middleware: waits for a slot and runs the request, both within the request timeout; past it
/// the answer is a 503 with `Retry-After`, which clients retry.
pub async fn bound(
    State(limits): State<Arc<RequestLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let Ok(slot) = tokio::time::timeout_at(deadline, limits.slots.acquire()).await else {
        return overloaded(format!(
            "the gateway is busy: no request slot freed up within {} s; try again shortly",
            limits.timeout.as_secs()
        ));
    };
    let response = tokio::time::timeout_at(deadline, next.run(request)).await;
    drop(slot);
    response.unwrap_or_else(|_| {
        overloaded(format!(
            "the request took longer than {} s to answer; try again later",
            limits.timeout.as_secs()
        ))
    })
}

fn overloaded(message: String) -> Response {
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::InternalError,
        message,
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Response mapper: an error response that is not already `{errorCode, message}` JSON (one the
/// framework wrote, such as a 413 for an oversized body or a 400 for an unparsable path) is
/// rewritten into that shape, keeping its status and headers such as `Allow`.
pub async fn json_errors(response: Response) -> Response {
    reshape_framework_errors(response, |status, message| {
        ApiError::new(status, code_for(status), message).into_response()
    })
    .await
}

/// An error response the framework wrote rather than a handler (neither JSON nor the S3
/// endpoint's XML) rebuilt by `shape` from its status and message, keeping its headers; any
/// other response as it is. Each family of routes gives its own error shape.
pub(crate) async fn reshape_framework_errors(
    response: Response,
    shape: impl FnOnce(StatusCode, String) -> Response,
) -> Response {
    let status = response.status();
    let is_shaped = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("application/xml"));
    if !(status.is_client_error() || status.is_server_error()) || is_shaped {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the request body is larger than the {} MiB this server accepts",
            MAX_BODY_BYTES / (1024 * 1024)
        ),
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_string(),
        _ => text,
    };
    let mut shaped = shape(status, message);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    shaped
}

fn code_for(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::NOT_FOUND => ErrorCode::ResourceDoesNotExist,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::RequestTooLarge,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::PermissionDenied,
        s if s.is_server_error() => ErrorCode::InternalError,
        StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::MalformedRequest,
        _ => ErrorCode::InvalidParameterValue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    fn slow_router(limits: Arc<RequestLimits>) -> Router {
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "done"
                }),
            )
            .route("/fast", get(|| async { "fast" }))
            .layer(axum::middleware::from_fn_with_state(limits, bound))
    }

    async fn status_of(router: &Router, path: &str) -> (StatusCode, Option<String>) {
        let response = router
            .clone()
            .oneshot(Request::get(path).body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        (response.status(), retry)
    }

    #[tokio::test]
    async fn slow_requests_and_waits_for_a_slot_end_in_a_503_with_retry_after() {
        let limits = RequestLimits::new(Duration::from_millis(200), 1);
        let router = slow_router(limits.clone());
        assert_eq!(
            status_of(&router, "/slow").await,
            (StatusCode::SERVICE_UNAVAILABLE, Some("1".into()))
        );
        assert_eq!(status_of(&router, "/fast").await.0, StatusCode::OK);
        // While every slot is taken, a request waits for one, then gives up.
        let taken = limits.slots.try_acquire().unwrap();
        assert_eq!(
            status_of(&router, "/fast").await,
            (StatusCode::SERVICE_UNAVAILABLE, Some("1".into()))
        );
        drop(taken);
        assert_eq!(status_of(&router, "/fast").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn framework_errors_get_the_protocol_shape() {
        let plain = (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded").into_response();
        let shaped = json_errors(plain).await;
        assert_eq!(shaped.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = axum::body::to_bytes(shaped.into_body(), 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errorCode"], "REQUEST_TOO_LARGE");
        let ok = json_errors("fine".into_response()).await;
        assert_eq!(ok.status(), StatusCode::OK);
    }
}
