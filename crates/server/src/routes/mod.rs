//! The router: the sharing API under the configured prefix, signed files, health.

mod asset_files;
mod async_query;
mod changes;
mod common;
mod credentials;
#[cfg(feature = "iceberg-catalog")]
pub(crate) use credentials::vend;
mod files;
mod folder_assets;
pub(crate) mod lists;
mod models;
pub(crate) mod oauth;
mod skills;
mod tables;
mod volumes;

use axum::Router;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::error::ApiError;
use crate::limits;

pub(crate) use async_query::QUERY_TTL_MS as ASYNC_QUERY_TTL_MS;

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
        .route(
            &format!("{table}/queries/{{query_id}}"),
            post(async_query::poll),
        )
        .route(&format!("{table}/changes"), get(changes::changes))
        .route(
            &format!("{table}/temporary-table-credentials"),
            post(credentials::temporary_table_credentials),
        )
        .route("/oauth/token", post(oauth::token));
    // Counted per route template: a route layer runs once the route matched, so it knows it.
    let counted = || axum::middleware::from_fn(crate::metrics::record);
    let api = api.merge(asset_routes()).route_layer(counted());
    #[cfg(feature = "iceberg-catalog")]
    let api = api.nest(
        "/iceberg/v1",
        crate::rest_catalog::router().route_layer(counted()),
    );
    let bucket = format!("/{}", crate::app::S3_BUCKET);
    Router::new()
        .route(&bucket, axum::routing::any(s3))
        .route(&format!("{bucket}/{{*key}}"), axum::routing::any(s3))
        .route("/files/{token}", get(files::serve))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(crate::metrics::serve))
        .route_layer(counted())
        .nest(&app.config().server.prefix, api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(limits::MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(limits::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            app.request_limits(),
            limits::bound,
        ))
        // The span names the path, never the query: a pre-signed request's query holds its
        // signature and session token, which work until they expire.
        .layer(TraceLayer::new_for_http().make_span_with(
            |request: &axum::http::Request<axum::body::Body>| {
                tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
            },
        ))
        .layer(axum::middleware::from_fn(crate::audit::assign_request_id))
        .with_state(app)
}

/// Volumes, models and skills: OpenSharing's endpoints, plus lakeshare's `files` and
/// `file-urls` under each. Volumes and skills (one folder each) share one set of handlers.
fn asset_routes() -> Router<App> {
    let model = "/shares/{share}/schemas/{schema}/models/{model}";
    let version = format!("{model}/versions/{{version}}");
    Router::new()
        .merge(folder_assets::routes::<lakeshare_catalog::VolumeEntry>())
        .merge(folder_assets::routes::<lakeshare_catalog::SkillEntry>())
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

/// The built-in read-only S3 endpoint (see `lakeshare_s3_endpoint`).
async fn s3(
    axum::extract::State(app): axum::extract::State<App>,
    request: axum::extract::Request,
) -> axum::response::Response {
    app.s3_endpoint().handle(request).await
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// `/ready`: 200 once every table has been tried (tables that cannot be opened yet are counted,
/// not fatal: they are retried in the background and on first use), 503 before. Answers from
/// the state the background checks keep, so a probe costs nothing and cannot make the gateway
/// hit a failing store. Table names appear only for a caller with a valid bearer token, and
/// only the tables of its shares.
async fn ready(
    axum::extract::State(app): axum::extract::State<App>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, _) = request.into_parts();
    use axum::response::IntoResponse;
    let (ready, unavailable) = app.readiness();
    let mut body = serde_json::json!({
        "status": if ready { "ready" } else { "starting" },
        "tables": app.tables().len(),
        "unavailable": unavailable.len(),
    });
    let recipient = match crate::auth::bearer_token(&parts.headers) {
        Ok(token) => app
            .recipients()
            .admit(
                token,
                crate::client::address(&parts, app.config()),
                lakeshare_storage::now_ms(),
            )
            .await
            .ok(),
        Err(_) => None,
    };
    if let Some(recipient) = recipient {
        let names: Vec<String> = unavailable
            .iter()
            .filter(|t| recipient.may_read(&t.share))
            .map(|t| t.qualified_name())
            .collect();
        body["unavailableTables"] = names.into();
    }
    let status = if ready {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no endpoint at {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        lakeshare_protocol::ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
