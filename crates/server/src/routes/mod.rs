//! The router: the sharing API under the configured prefix, signed files, health.

mod changes;
mod credentials;
mod files;
pub(crate) mod lists;
mod tables;

use axum::Router;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::error::ApiError;

pub fn router(app: App) -> Router {
    let table = "/shares/{share}/schemas/{schema}/tables/{table}";
    let api = Router::new()
        .route("/shares", get(lists::shares))
        .route("/shares/{share}", get(lists::share))
        .route("/shares/{share}/schemas", get(lists::schemas))
        .route(
            "/shares/{share}/schemas/{schema}/tables",
            get(lists::tables),
        )
        .route("/shares/{share}/all-tables", get(lists::all_tables))
        .route(table, get(tables::get_table).head(tables::version_head))
        .route(&format!("{table}/version"), get(tables::version))
        .route(&format!("{table}/metadata"), get(tables::metadata))
        .route(&format!("{table}/query"), post(tables::query))
        .route(&format!("{table}/changes"), get(changes::changes))
        .route(
            &format!("{table}/temporary-table-credentials"),
            post(credentials::temporary_table_credentials),
        );
    Router::new()
        .nest(&app.config().server.prefix, api)
        .route("/files/{token}", get(files::serve))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Ready once the configuration is loaded; reports how many tables are not yet openable.
async fn ready(
    axum::extract::State(app): axum::extract::State<App>,
) -> axum::Json<serde_json::Value> {
    let mut unavailable = Vec::new();
    for table in app.tables() {
        if app.open_table(table).await.is_err() {
            unavailable.push(table.qualified_name());
        }
    }
    axum::Json(serde_json::json!({
        "status": "ready",
        "tables": app.tables().len(),
        "unavailable": unavailable,
    }))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no endpoint at {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        lakeshare_protocol::ErrorCode::InvalidParameterValue,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
