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
    let path = match app
        .file_tokens()
        .resolve(&token, lakeshare_storage::now_ms())
    {
        Ok(path) => path,
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
    match ServeFile::new(path).oneshot(request).await {
        Ok(response) => {
            let length = response
                .headers()
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if response.status().is_success() && !head {
                crate::metrics::COUNTERS
                    .bytes_served
                    .inc_by(length.unwrap_or(0));
            }
            response.map(Body::new)
        }
        Err(e) => ApiError::internal("serving a file", e).into_response(),
    }
}
