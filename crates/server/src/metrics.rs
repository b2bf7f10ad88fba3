//! Prometheus metrics, served at `GET /metrics` on the main listener (OpenMetrics text).
//!
//! Labels are bounded by construction: routes are the router's templates
//! (`/delta-sharing/shares/{share}`), never the values a request put in them, so neither the
//! series count nor what a scrape shows depends on what recipients ask for. Gauges of the
//! caches are read when scraped.

use std::sync::LazyLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lakeshare_model::StorageFault;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::app::App;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// How credentials were made: by a store's STS, or by the built-in S3 endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct VendLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    fault: &'static str,
}

/// The counters, one set per process: they are counted where the work happens (signing,
/// streaming, the caches, the protocol edge), deep in code that holds no `App`. Each `App`'s
/// registry exposes the same set beside its own gauges.
pub(crate) struct Counters {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    /// File lines (data files, change files) in query and change-feed answers.
    pub files_served: Counter,
    /// Bytes downloaded through the gateway's own `/files` URLs.
    pub bytes_served: Counter,
    /// File URLs signed (pre-signed store URLs or the gateway's own).
    pub urls_signed: Counter,
    /// Temporary storage credentials issued, by kind.
    pub credentials: Family<VendLabels, Counter>,
    pub snapshot_hits: Counter,
    pub snapshot_misses: Counter,
    store_errors: Family<FaultLabels, Counter>,
    config_reloads: Family<ReloadLabels, Counter>,
    audit_write_errors: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    result: &'static str,
}

pub(crate) static COUNTERS: LazyLock<Counters> = LazyLock::new(|| Counters {
    requests: Family::default(),
    // 1 ms to about 33 s.
    latency: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16))),
    files_served: Counter::default(),
    bytes_served: Counter::default(),
    urls_signed: Counter::default(),
    credentials: Family::default(),
    snapshot_hits: Counter::default(),
    snapshot_misses: Counter::default(),
    store_errors: Family::default(),
    config_reloads: Family::default(),
    audit_write_errors: Counter::default(),
});

/// Counts an audit line that could not be written.
pub(crate) fn audit_write_failed() {
    COUNTERS.audit_write_errors.inc();
}

/// Counts a configuration reload: `applied` or `refused`.
pub(crate) fn config_reload(result: &'static str) {
    COUNTERS
        .config_reloads
        .get_or_create(&ReloadLabels { result })
        .inc();
}

/// Counts a store failure of kind `fault`.
pub(crate) fn store_error(fault: StorageFault) {
    let fault = match fault {
        StorageFault::Unreachable => "unreachable",
        StorageFault::TimedOut => "timed_out",
        StorageFault::AccessDenied => "access_denied",
        StorageFault::Misconfigured => "misconfigured",
        _ => "failed",
    };
    COUNTERS
        .store_errors
        .get_or_create(&FaultLabels { fault })
        .inc();
}

/// Counts credentials issued: `sts` (a store's) or `builtin` (the built-in S3 endpoint's).
pub(crate) fn credentials_issued(kind: &'static str) {
    COUNTERS
        .credentials
        .get_or_create(&VendLabels { kind })
        .inc();
}

/// One `App`'s registry: the process's counters and its own cache gauges.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    snapshot_entries: Gauge,
    snapshot_bytes: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let c = &*COUNTERS;
        let mut registry = Registry::with_prefix("lakeshare");
        registry.register(
            "requests",
            "HTTP requests answered, by route template, method and status",
            c.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to the response head, by route template",
            c.latency.clone(),
        );
        registry.register(
            "files_served",
            "File lines in query and change-feed answers",
            c.files_served.clone(),
        );
        registry.register(
            "file_bytes_served",
            "Bytes downloaded through the gateway's own file URLs",
            c.bytes_served.clone(),
        );
        registry.register("urls_signed", "File URLs signed", c.urls_signed.clone());
        registry.register(
            "credentials_issued",
            "Temporary storage credentials issued, by kind (sts, builtin)",
            c.credentials.clone(),
        );
        registry.register(
            "snapshot_cache_hits",
            "Snapshot loads answered from the cache",
            c.snapshot_hits.clone(),
        );
        registry.register(
            "snapshot_cache_misses",
            "Snapshot loads that read the table",
            c.snapshot_misses.clone(),
        );
        registry.register(
            "store_errors",
            "Store failures met while answering, by kind",
            c.store_errors.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads, by result (applied, refused)",
            c.config_reloads.clone(),
        );
        registry.register(
            "audit_write_errors",
            "Audit lines that could not be written to the sink",
            c.audit_write_errors.clone(),
        );
        lakeshare_materialize::metrics::register(&mut registry);
        let snapshot_entries = Gauge::default();
        registry.register(
            "snapshot_cache_entries",
            "Snapshots in the cache",
            snapshot_entries.clone(),
        );
        let snapshot_bytes = Gauge::default();
        registry.register(
            "snapshot_cache_bytes",
            "Estimated bytes of the snapshots in the cache",
            snapshot_bytes.clone(),
        );
        Self {
            registry,
            snapshot_entries,
            snapshot_bytes,
        }
    }
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The metrics as OpenMetrics text, with the cache gauges read now.
    async fn encode(&self, app: &App) -> String {
        let (entries, bytes) = app.cache().size().await;
        self.snapshot_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
        self.snapshot_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// `GET /metrics`.
pub async fn serve(State(app): State<App>) -> Response {
    let text = app.metrics().encode(&app).await;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// Middleware (a route layer, so the matched route is known): counts the request by route,
/// method and status, and times it to the response head.
pub async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let mut pending = Pending {
        route,
        method: method_label(request.method()),
        started: Instant::now(),
        status: None,
    };
    let response = next.run(request).await;
    pending.status = Some(response.status().as_u16());
    response
}

/// A request being answered; counted when dropped, so a request whose answer never came (the
/// request deadline cut it, the client went away) is counted too, with status 0.
struct Pending {
    route: String,
    method: &'static str,
    started: Instant,
    status: Option<u16>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        COUNTERS
            .latency
            .get_or_create(&RouteLabels {
                route: self.route.clone(),
            })
            .observe(self.started.elapsed().as_secs_f64());
        COUNTERS
            .requests
            .get_or_create(&RequestLabels {
                route: std::mem::take(&mut self.route),
                method: self.method.to_string(),
                status: self.status.unwrap_or(0),
            })
            .inc();
    }
}

/// The method as a label: the standard ones by name, anything else as `other` (a client may
/// send any token as a method; labels must not grow with what clients send).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}
