//! OpenSharing's Iceberg REST catalog for recipients (the profile's `icebergEndpoint`):
//! every shared table, of every format, readable by Iceberg-only engines.
//!
//! Mounted at `{prefix}/iceberg/v1`; the share is the warehouse (`prefix = shares/{share}`),
//! its schemas the namespaces (one level). Tables are served from generated Iceberg metadata
//! ([`tables`]), their files read through the built-in S3 endpoint ([`objects`]).

mod error;
pub(crate) mod generated;
mod routes;
mod row_counts;
pub(crate) mod tables;

use axum::Router;
use axum::routing::{get, post};

use crate::app::App;

pub use error::IcebergError;

/// The catalog's routes, to be nested at `{prefix}/iceberg/v1`.
pub(crate) fn router() -> Router<App> {
    let namespace = "/shares/{share}/namespaces/{namespace}";
    let table = format!("{namespace}/tables/{{table}}");
    Router::new()
        .route("/config", get(routes::config))
        .route("/shares/{share}/namespaces", get(routes::list_namespaces))
        .route(
            namespace,
            get(routes::get_namespace).head(routes::head_namespace),
        )
        .route(&format!("{namespace}/tables"), get(routes::list_tables))
        .route(&table, get(routes::load_table).head(routes::head_table))
        .route(&format!("{table}/credentials"), get(routes::credentials))
        .route(&format!("{table}/metrics"), post(routes::metrics))
        // Iceberg clients given a `credential` (client_id:client_secret) get tokens here.
        .route("/oauth/tokens", post(crate::routes::oauth::token))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(error::iceberg_errors))
}

/// A known path with a method it does not serve (a write: the catalog is read-only), in
/// Iceberg's error shape rather than the framework's bare 405.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> IcebergError {
    IcebergError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "UnsupportedOperationException",
        format!(
            "the catalog is read-only: {method} is not served at {}",
            uri.path()
        ),
    )
}

async fn not_found(uri: axum::http::Uri) -> IcebergError {
    IcebergError::new(
        axum::http::StatusCode::NOT_FOUND,
        "NoSuchEndpointException",
        format!("no Iceberg catalog endpoint at {}", uri.path()),
    )
}
