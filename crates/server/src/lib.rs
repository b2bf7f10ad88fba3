//! The HTTP edge of lakeshare: the Delta Sharing / OpenSharing REST API, the signed file route,
//! and health checks, as one axum [`Router`].
//!
//! Everything protocol-visible is decided here and only here: which recipient a token belongs
//! to, what a recipient may see (an ungranted share is indistinguishable from a missing one),
//! which status and error code a failure becomes, and how a snapshot is streamed as NDJSON.
//! Format adapters and storage know nothing of HTTP.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = lakeshare_catalog::Config::load(std::path::Path::new("catalogs/example.yaml"))?;
//! // The formats this build reads are the binary's choice; the server names none.
//! let app = lakeshare_server::App::open(config, lakeshare_formats::enabled()).await;
//! let listener = tokio::net::TcpListener::bind(app.config().server.listen_addr()).await?;
//! let limits = app.connection_limits();
//! lakeshare_server::serve(listener, app.router(), limits, std::future::pending()).await;
//! # Ok(()) }
//! ```

mod app;
mod audit;
mod auth;
mod builtin_s3;
mod cache;
mod client;
mod computed;
mod cursor;
mod encode;
mod error;
mod etag;
mod folders;
mod limits;
mod memory;
mod metrics;
mod oidc;
mod pages;
mod rate;
mod registry;
mod reload;
#[cfg(feature = "iceberg-catalog")]
mod rest_catalog;
mod routes;
mod serve;
mod signed_lines;
mod tls;

pub use app::App;
pub use client::Peer;
pub use error::ApiError;
pub use folders::{SharedFolder, open_folder, shared_folders};
pub use registry::{Catalogs, OpenedTable, Opener, Stores, TableHandle, open_table};
pub use reload::{Live, Reloaded, Routes};
pub use serve::{Limits, serve};
pub use tls::load as load_tls;
