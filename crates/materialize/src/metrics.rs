//! What materializing does, for the gateway's `/metrics`: counted here, where the work
//! happens, and registered by the server beside its own metrics ([`register`]). No label
//! names a table, so a scrape shows nothing of what the shares hold.

use std::sync::LazyLock;
use std::time::Duration;

use lakeshare_model::Content;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HowLabels {
    how: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

struct Metrics {
    versions: Family<HowLabels, Counter>,
    rows: Counter,
    refreshes: Family<ResultLabels, Counter>,
    version_seconds: Histogram,
    running: Gauge,
    pending: Gauge,
    evicted_files: Counter,
    evicted_bytes: Counter,
    dropped_versions: Counter,
    over_budget: Counter,
    budget_used: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    versions: Family::default(),
    rows: Counter::default(),
    refreshes: Family::default(),
    // 10 ms to about 11 minutes.
    version_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 17)),
    running: Gauge::default(),
    pending: Gauge::default(),
    evicted_files: Counter::default(),
    evicted_bytes: Counter::default(),
    dropped_versions: Counter::default(),
    over_budget: Counter::default(),
    budget_used: Gauge::default(),
});

/// Registers the materializing metrics in `registry`.
pub fn register(registry: &mut Registry) {
    let m = &*METRICS;
    registry.register(
        "materialized_versions",
        "Versions of computed tables committed, by how (replace: computed in full; append: \
         computed from the rows the source appended; unchanged: the result did not change)",
        m.versions.clone(),
    );
    registry.register(
        "materialized_rows",
        "Rows computed into committed versions of computed tables",
        m.rows.clone(),
    );
    registry.register(
        "materialize_refreshes",
        "Refreshes of computed tables, by result (committed, unchanged, up_to_date, failed)",
        m.refreshes.clone(),
    );
    registry.register(
        "materialize_version_seconds",
        "Time to compute and commit one version of a computed table",
        m.version_seconds.clone(),
    );
    registry.register(
        "materialize_running",
        "Refreshes of computed tables running now",
        m.running.clone(),
    );
    registry.register(
        "materialize_pending_versions",
        "Versions the running refreshes have still to compute, the one in progress included",
        m.pending.clone(),
    );
    registry.register(
        "materialize_evicted_files",
        "Files of computed tables' versions no longer served, deleted from the cache",
        m.evicted_files.clone(),
    );
    registry.register(
        "materialize_evicted_bytes",
        "Bytes of those files",
        m.evicted_bytes.clone(),
    );
    registry.register(
        "materialize_dropped_versions",
        "Oldest versions of computed tables dropped (no longer readable) to keep within a \
         cache budget",
        m.dropped_versions.clone(),
    );
    registry.register(
        "materialize_over_budget",
        "Times a computed table was found over its budget or the cache's with nothing left \
         to drop (a table's latest version is never dropped)",
        m.over_budget.clone(),
    );
    registry.register(
        "materialize_cache_budget_used_bytes",
        "Bytes the computed tables under the cache's budget take, as their last refreshes \
         measured",
        m.budget_used.clone(),
    );
}

/// Counts versions dropped to fit a budget.
pub(crate) fn dropped(versions: u64) {
    METRICS.dropped_versions.inc_by(versions);
}

/// Counts a table over its budget with only its latest version left.
pub(crate) fn over_budget() {
    METRICS.over_budget.inc();
}

/// What the tables under the cache's budget take.
pub(crate) fn budget_used(bytes: u64) {
    METRICS
        .budget_used
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
}

/// Counts files deleted from the cache.
pub(crate) fn evicted(files: usize, bytes: u64) {
    METRICS.evicted_files.inc_by(files as u64);
    METRICS.evicted_bytes.inc_by(bytes);
}

/// Counts a committed version.
pub(crate) fn committed(content: Content, rows: usize, took: Duration) {
    let how = match content {
        Content::Replace => "replace",
        Content::Append => "append",
        Content::Unchanged => "unchanged",
    };
    METRICS.versions.get_or_create(&HowLabels { how }).inc();
    METRICS.rows.inc_by(rows as u64);
    METRICS.version_seconds.observe(took.as_secs_f64());
}

/// Counts a finished refresh.
pub(crate) fn refreshed(result: &'static str) {
    METRICS
        .refreshes
        .get_or_create(&ResultLabels { result })
        .inc();
}

/// A running refresh, counted while it lives, with the versions it has left.
pub(crate) struct Running {
    left: i64,
    started: bool,
}

impl Running {
    pub(crate) fn start(versions: usize) -> Self {
        let left = i64::try_from(versions).unwrap_or(i64::MAX);
        METRICS.running.inc();
        METRICS.pending.inc_by(left);
        Self {
            left,
            started: false,
        }
    }

    /// The next version is being computed: the one before is done.
    pub(crate) fn next(&mut self) {
        if self.started && self.left > 0 {
            METRICS.pending.dec();
            self.left -= 1;
        }
        self.started = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        METRICS.running.dec();
        METRICS.pending.dec_by(self.left);
    }
}
