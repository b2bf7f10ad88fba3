//! `GET/HEAD /files/{token}`: the data files of local tables, behind signed, expiring tokens.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use lakeshare_storage::Error as StorageError;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::app::App;
use crate::error::ApiError;

/// Serves the file a token grants, with `Content-Length`, `Range` (206) and `HEAD` handled by
/// tower-http. Refusals are 403 without detail beyond the reason: the caller holds a URL, not an
/// account, so there is nobody to tell more.
pub async fn serve(
    State(app): State<App>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let granted = match app.file_tokens().grant(&token, lakeshare_storage::now_ms()) {
        Ok(granted) => granted,
        Err(StorageError::Expired { .. }) => {
            return ApiError::forbidden(
                "this signed URL has expired; query the table again for a fresh one",
            )
            .into_response();
        }
        Err(StorageError::NotFound(_)) => {
            return ApiError::not_found("the file of this signed URL no longer exists")
                .into_response();
        }
        Err(StorageError::Io { .. }) => {
            return ApiError::internal("serving a file", "I/O error resolving a signed file")
                .into_response();
        }
        Err(_) => return ApiError::forbidden("this signed URL is not valid").into_response(),
    };
    let head = request.method() == axum::http::Method::HEAD;
    let client = crate::client::address_of(request.extensions(), request.headers(), app.config());
    let request_id = crate::audit::request_id(request.extensions());
    let range = request
        .headers()
        .get(axum::http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        // As sent, within reason: an audit line is not the place for a client's essay.
        .map(|r| r.chars().take(128).collect::<String>());
    match ServeFile::new(&granted.path).oneshot(request).await {
        Ok(response) => {
            let length = response
                .headers()
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if response.status().is_success() && !head {
                crate::metrics::COUNTERS
                    .bytes_served
                    .inc_by(length.unwrap_or(0));
                app.audit().record(
                    "file_download",
                    crate::audit::Caller {
                        recipient: granted.recipient.as_deref(),
                        client,
                        request_id: &request_id,
                    },
                    serde_json::json!({
                        "object": granted.object,
                        "file": granted.relative,
                        "bytes": length,
                        "status": response.status().as_u16(),
                        "range": range,
                    }),
                );
            }
            response.map(Body::new)
        }
        Err(e) => ApiError::internal("serving a file", e).into_response(),
    }
}
