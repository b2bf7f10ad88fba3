//! The router: the sharing API under the configured prefix, signed files, health.

mod asset_files;
mod changes;
mod credentials;
mod files;
pub(crate) mod lists;
mod models;
mod skills;
mod tables;
mod volumes;

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
    let api = api.merge(asset_routes());
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

/// Volumes, models and skills: OpenSharing's endpoints, plus lakeshare's `files` and
/// `file-urls` under each.
fn asset_routes() -> Router<App> {
    let volume = "/shares/{share}/schemas/{schema}/volumes/{volume}";
    let skill = "/shares/{share}/schemas/{schema}/skills/{skill}";
    let model = "/shares/{share}/schemas/{schema}/models/{model}";
    let version = format!("{model}/versions/{{version}}");
    Router::new()
        .route("/shares/{share}/all-volumes", get(volumes::list_all))
        .route(
            "/shares/{share}/schemas/{schema}/volumes",
            get(volumes::list),
        )
        .route(volume, get(volumes::get))
        .route(&format!("{volume}/files"), get(volumes::files))
        .route(&format!("{volume}/file-urls"), post(volumes::file_urls))
        .route(
            &format!("{volume}/temporary-volume-credentials"),
            post(volumes::credentials),
        )
        .route("/shares/{share}/all-skills", get(skills::list_all))
        .route("/shares/{share}/schemas/{schema}/skills", get(skills::list))
        .route(skill, get(skills::get))
        .route(&format!("{skill}/files"), get(skills::files))
        .route(&format!("{skill}/file-urls"), post(skills::file_urls))
        .route(
            &format!("{skill}/temporary-skill-credentials"),
            post(skills::credentials),
        )
        .route("/shares/{share}/all-models", get(models::list_all))
        .route("/shares/{share}/schemas/{schema}/models", get(models::list))
        .route(model, get(models::get))
        .route(&format!("{model}/versions"), get(models::versions))
        .route(&format!("{model}/aliases/{{alias}}"), get(models::alias))
        .route(&version, get(models::version))
        .route(&format!("{version}/files"), get(models::files))
        .route(&format!("{version}/file-urls"), post(models::file_urls))
        .route(
            &format!("{version}/temporary-model-version-credentials"),
            post(models::credentials),
        )
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
