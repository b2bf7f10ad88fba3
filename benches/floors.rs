//! The gateway against the floors of its work, each measured in the same run on this machine:
//! nginx sending the same bytes (warm queries, listings, downloads) and the formats' own
//! readers doing the same replay (cold queries: `deltalake` for Delta, `pyiceberg` for
//! Iceberg, hudi-rs's Python `hudi` for Hudi). The benchmark starts nginx and the Python
//! readers itself (see `baselines`).
//!
//! - *first query*: a fresh gateway's first full query of the table (it loads the snapshot),
//!   time to the first body byte and to the last, against `DeltaTable(path)` +
//!   `get_add_actions()` in `deltalake`, `StaticTable.from_metadata(…).scan().plan_files()`
//!   in `pyiceberg`, or `HudiTable(path).get_file_slices()` in `hudi` (each a fresh table
//!   object; median of 3). Hudi's table is the demo's trips: no generator writes a many-file
//!   Hudi table.
//! - *warm full query*: the same query again, against nginx sending the identical body saved
//!   to a file (median of 7, one reqwest client for both).
//! - *64 connections*: wrk for `LAKESHARE_BENCH_SECONDS` (10) on a 1k-file query, a 10-file
//!   query and the share listing, against nginx serving each identical body.
//! - *download*: `/files` of a 105 MB file against nginx sending it.
//! - *memory*: this process's RSS before a fresh gateway's first query, after a query of one
//!   file (the snapshot cached), and after a full one (its signed lines cached).
//!
//! Run: `cargo bench -p lakeshare-benches --bench floors` (`scripts/setup` first, for nginx,
//! wrk and the Python environment). `LAKESHARE_BENCH_FILES=10000` picks the size.

mod baselines;
mod bench_tables;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use baselines::{Load, Nginx};
use lakeshare_model::TableSource;

const TOKEN: &str = "benchmark-token-0123456789";
const SECRET: &str = "benchmark-signing-secret";
const BIG_FILE_MB: usize = 105;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let files: usize = std::env::var("LAKESHARE_BENCH_FILES")
        .unwrap_or_else(|_| "100000".into())
        .parse()
        .expect("LAKESHARE_BENCH_FILES: a number");
    let seconds: u64 = std::env::var("LAKESHARE_BENCH_SECONDS")
        .unwrap_or_else(|_| "10".into())
        .parse()
        .expect("LAKESHARE_BENCH_SECONDS: a number");
    let large = bench_tables::delta_log(files).await;
    let tables = Tables {
        iceberg: bench_tables::native_iceberg(&large, files).await,
        large,
        thousand: bench_tables::delta_log(1000).await,
        ten: bench_tables::delta_log(10).await,
        // Boxed: hudi's writer makes a future too deep to lay out inline.
        hudi: Box::pin(demo_hudi_trips()).await,
    };
    let big = big_file(&tables.thousand);
    let served = tempfile::tempdir().expect("a folder for nginx");
    let report = Report::new(files);

    // Memory first, while this process has held nothing else.
    if wants("memory") {
        memory(&tables, files).await;
    }
    heap::stop();
    if wants("cold") {
        cold(&tables, &report).await;
    }
    if std::env::var("LAKESHARE_BENCH_ONLY").is_ok_and(|only| only == "load") {
        let load = delta_load(&tables, 20).await;
        println!(
            "the Delta adapter's load, median of 20: {:.1} ms",
            load.as_secs_f64() * 1e3
        );
    }
    if wants("warm") {
        warm(&tables, &report, &big, served.path(), seconds).await;
    }
}

/// Whether `LAKESHARE_BENCH_ONLY` (cases separated by commas: memory, cold, warm; default all)
/// asks for `case`. (`load` alone is the Delta adapter's load only, for a profiler.)
fn wants(case: &str) -> bool {
    std::env::var("LAKESHARE_BENCH_ONLY")
        .map_or(true, |only| only.split(',').any(|c| c.trim() == case))
}

/// Memory held for a cached snapshot and for its signed lines: live heap (what the gateway
/// keeps, counted by this binary's allocator) and RSS (what the process holds from the system,
/// which also keeps what the log replay used and freed).
async fn memory(tables: &Tables, files: usize) {
    let gateway = Gateway::start(tables).await;
    // Sampled once the gateway has settled: it hands freed memory back in the background.
    let sample = || async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        (heap::live(), baselines::rss_bytes())
    };
    let before = sample().await;
    gateway.query("large", r#"{"maxFiles":1}"#).await;
    let snapshot = sample().await;
    gateway.query("large", "{}").await;
    let lines = sample().await;
    let hint = r#"{"jsonPredicateHints":"{\"op\":\"lessThan\",\"children\":[{\"op\":\"column\",\"name\":\"id\",\"valueType\":\"long\"},{\"op\":\"literal\",\"value\":\"1000\",\"valueType\":\"long\"}]}"}"#;
    gateway.query("large", hint).await;
    let pruning = sample().await;
    drop(gateway);
    let per_file = |from: u64, to: u64| to.saturating_sub(from) as f64 / files as f64;
    for (what, from, to) in [
        ("the snapshot cached", before, snapshot),
        ("its signed lines", snapshot, lines),
        ("its pruning statistics", lines, pruning),
    ] {
        println!(
            "memory, {what}: live heap +{:.0} MB ({:.0} B per file), RSS +{:.0} MB ({:.0} B per file)",
            mb(to.0.saturating_sub(from.0)),
            per_file(from.0, to.0),
            mb(to.1.saturating_sub(from.1)),
            per_file(from.1, to.1),
        );
    }
}

/// Live heap bytes, counted by a wrapper around the system allocator until [`heap::stop`]: the
/// count is one atomic all threads write, which would slow the timed cases after it.
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

    static LIVE: AtomicI64 = AtomicI64::new(0);
    static COUNTING: AtomicBool = AtomicBool::new(true);

    struct Counting;

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    fn count(bytes: i64) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    // SAFETY: every call is passed to the system allocator unchanged; only sizes are counted.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count(layout.size() as i64);
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            count(-(layout.size() as i64));
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count(layout.size() as i64);
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count(new_size as i64 - layout.size() as i64);
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    pub fn live() -> u64 {
        LIVE.load(Ordering::Relaxed).max(0) as u64
    }

    pub fn stop() {
        COUNTING.store(false, Ordering::Relaxed);
    }
}

/// A fresh gateway's first query against the format's own replay.
async fn cold(tables: &Tables, report: &Report) {
    let deltalake = median_of(3, || {
        baselines::python_seconds(DELTALAKE_REPLAY, &[&tables.large.to_string_lossy()])
    });
    first_query(
        tables,
        report,
        "large",
        "Delta",
        deltalake,
        "deltalake replay",
    )
    .await;
    // Where the time goes: the adapter's own load, without the server around it.
    report.row(
        "  of which the Delta adapter's load",
        delta_load(tables, 3).await,
        deltalake,
        "deltalake replay",
    );

    let metadata = tables.iceberg.join("metadata/00001-bench.metadata.json");
    let pyiceberg = median_of(3, || {
        baselines::python_seconds(PYICEBERG_PLAN, &[&metadata.to_string_lossy()])
    });
    first_query(
        tables,
        report,
        "iceberg",
        "Iceberg",
        pyiceberg,
        "pyiceberg plan_files",
    )
    .await;

    let hudi_rs = median_of(3, || {
        baselines::python_seconds(HUDI_FILE_SLICES, &[&tables.hudi.to_string_lossy()])
    });
    let label = "Hudi (demo trips)";
    first_query(
        tables,
        report,
        "hudi",
        label,
        hudi_rs,
        "hudi-rs file slices",
    )
    .await;
}

/// A fresh gateway's first full query of `table` (median of 3), to the first body byte and to
/// the last, each against `baseline`.
async fn first_query(
    tables: &Tables,
    report: &Report,
    table: &str,
    label: &str,
    baseline: Duration,
    baseline_name: &str,
) {
    let mut cold = Vec::new();
    for _ in 0..3 {
        let gateway = Gateway::start(tables).await;
        cold.push(gateway.query(table, "{}").await);
    }
    let cold = Fetched::median(cold);
    let to_first_byte = format!("first query, {label}: to first byte");
    report.row(&to_first_byte, cold.first_byte, baseline, baseline_name);
    let whole_body = format!("first query, {label}: whole body");
    report.row(&whole_body, cold.total, baseline, baseline_name);
}

/// The Delta adapter's load of the large table from a new source, `runs` times: the median.
/// `LAKESHARE_BENCH_ONLY=load` runs only this (20 times), for a profiler.
async fn delta_load(tables: &Tables, runs: usize) -> Duration {
    let mut loads = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let source = lakeshare_delta::DeltaSource::open(&tables.large.to_string_lossy())
            .await
            .expect("the table");
        let version = source.latest_version().await.expect("a version");
        let snapshot = source.snapshot(version).await.expect("a snapshot");
        loads.push(started.elapsed());
        // Freeing 100k entries is not part of the load (a served snapshot stays cached).
        drop(std::hint::black_box(snapshot));
    }
    loads.sort();
    loads[runs / 2]
}

/// The same answers again, against nginx sending their bytes.
async fn warm(tables: &Tables, report: &Report, big: &Path, served: &Path, seconds: u64) {
    let gateway = Gateway::start(tables).await;
    let body = gateway.body("large", "{}").await;
    std::fs::write(served.join("large.ndjson"), &body).expect("written");
    std::fs::write(
        served.join("thousand.ndjson"),
        gateway.body("thousand", "{}").await,
    )
    .expect("written");
    std::fs::write(served.join("ten.ndjson"), gateway.body("ten", "{}").await).expect("written");
    std::fs::write(served.join("shares.json"), gateway.get_body("shares").await).expect("written");
    std::fs::copy(big, served.join("big.bin")).expect("copied");
    let nginx = Nginx::serve(served);

    let mut warm = Vec::new();
    for _ in 0..7 {
        warm.push(gateway.query("large", "{}").await);
    }
    let warm = Fetched::median(warm);
    assert_eq!(
        warm.bytes,
        body.len(),
        "the warm answers are the first one's size"
    );
    let mut plain = Vec::new();
    for _ in 0..7 {
        plain.push(
            gateway
                .fetch(gateway.client.get(nginx.url("large.ndjson")))
                .await,
        );
    }
    let plain = Fetched::median(plain);
    assert_eq!(plain.bytes, body.len(), "nginx sends the same body");
    report.row(
        &format!("warm full query ({:.0} MB)", mb(body.len() as u64)),
        warm.total,
        plain.total,
        "nginx, same bytes",
    );
    report.row(
        "warm full query: to first byte",
        warm.first_byte,
        plain.first_byte,
        "nginx, same bytes",
    );

    let connections = 64;
    for (case, table, file) in [
        ("1k-file query", Some("thousand"), "thousand.ndjson"),
        ("10-file query", Some("ten"), "ten.ndjson"),
        ("list shares", None, "shares.json"),
    ] {
        let url = match table {
            Some(t) => gateway.query_url(t),
            None => gateway.url("shares"),
        };
        let ours = baselines::wrk(
            &Load {
                url: &url,
                post: table.map(|_| "{}"),
                token: Some(TOKEN),
            },
            connections,
            seconds,
        );
        let theirs = baselines::wrk(
            &Load {
                url: &nginx.url(file),
                post: None,
                token: None,
            },
            connections,
            seconds,
        );
        report.throughput(&format!("{case}, {connections} connections"), ours, theirs);
    }

    let download = gateway.signed_url(big);
    let mut times = Vec::new();
    let mut nginx_times = Vec::new();
    for _ in 0..5 {
        let got = gateway.fetch(gateway.client.get(&download)).await;
        assert_eq!(got.bytes, BIG_FILE_MB << 20);
        times.push(got.total);
        let got = gateway
            .fetch(gateway.client.get(nginx.url("big.bin")))
            .await;
        nginx_times.push(got.total);
    }
    times.sort();
    nginx_times.sort();
    let rate = |d: Duration| (BIG_FILE_MB << 20) as f64 / d.as_secs_f64() / 1e9;
    println!(
        "{:<44} {:>9.2} GB/s {:>9.2} GB/s {:>7.2}x   (nginx static)",
        format!("/files download, {BIG_FILE_MB} MB"),
        rate(times[2]),
        rate(nginx_times[2]),
        rate(times[2]) / rate(nginx_times[2]),
    );
}

/// deltalake's replay of a table's log: its add actions, every file's path, size and stats.
const DELTALAKE_REPLAY: &str = r#"
import sys, time
from deltalake import DeltaTable
started = time.perf_counter()
table = DeltaTable(sys.argv[1])
actions = table.get_add_actions(flatten=True)
assert actions.num_rows > 0
print(time.perf_counter() - started)
"#;

/// pyiceberg's planning of a full scan: every data file of the current snapshot.
const PYICEBERG_PLAN: &str = r#"
import sys, time
from pyiceberg.table import StaticTable
started = time.perf_counter()
table = StaticTable.from_metadata("file://" + sys.argv[1])
tasks = list(table.scan().plan_files())
assert len(tasks) > 0
print(time.perf_counter() - started)
"#;

/// hudi-rs's listing of the file slices a snapshot read of the latest instant would read.
const HUDI_FILE_SLICES: &str = r#"
import sys, time
import hudi
started = time.perf_counter()
table = hudi.HudiTable(sys.argv[1])
slices = table.get_file_slices()
assert len(slices) > 0
print(time.perf_counter() - started)
"#;

struct Tables {
    large: PathBuf,
    thousand: PathBuf,
    ten: PathBuf,
    iceberg: PathBuf,
    /// The demo's trips written by hudi's own writer (six base files, four instants): no
    /// generator writes a many-file Hudi table, so Hudi's cold figure is a small table's.
    hudi: PathBuf,
}

async fn demo_hudi_trips() -> PathBuf {
    let root = bench_tables::bench_tables_dir().join("demo");
    std::fs::create_dir_all(&root).expect("the bench folder");
    // hudi refuses paths with `..` in them.
    let path = root
        .canonicalize()
        .expect("the bench folder")
        .join("hudi/trips");
    lakeshare_demo::hudi::ensure_trips(&path, false)
        .await
        .expect("the Hudi trips");
    path
}

/// A 105 MB file inside the 1k-file table's folder, so the gateway signs it (once).
fn big_file(table: &Path) -> PathBuf {
    let path = table.join("big.bin");
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some((BIG_FILE_MB << 20) as u64) {
        let block: Vec<u8> = (0..1 << 20).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, block.repeat(BIG_FILE_MB)).expect("written");
    }
    path
}

/// A gateway in this process on a loopback port, serving the tables.
struct Gateway {
    client: reqwest::Client,
    port: u16,
    server: tokio::task::JoinHandle<()>,
}

impl Gateway {
    async fn start(tables: &Tables) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let port = listener.local_addr().expect("bound").port();
        let entry = |name: &str, path: &Path| {
            format!(
                "          - {{ name: {name}, location: \"{}\" }}\n",
                path.display()
            )
        };
        let iceberg = &tables.iceberg;
        let yaml = format!(
            "server: {{ listen: \"127.0.0.1:{port}\", signing_secret: \"{SECRET}\", snapshot_cache_mb: 2048 }}\n\
             shares:\n  - name: bench\n    schemas:\n      - name: s\n        tables:\n{}{}{}          - {{ name: iceberg, location: \"{}\", format: iceberg }}\n          - {{ name: hudi, location: \"{}\", format: hudi }}\n\
             recipients:\n  - {{ name: bench, token: \"{TOKEN}\", shares: [bench] }}\n",
            entry("large", &tables.large),
            entry("thousand", &tables.thousand),
            entry("ten", &tables.ten),
            iceberg.display(),
            tables.hudi.display(),
        );
        let config = lakeshare_catalog::Config::from_yaml(&yaml, Path::new("."))
            .expect("bench configuration");
        let app = lakeshare_server::App::open(config, lakeshare_formats::enabled()).await;
        let server = tokio::spawn(async move {
            axum::serve(listener, app.router()).await.expect("served");
        });
        Self {
            client: reqwest::Client::new(),
            port,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/delta-sharing/{path}", self.port)
    }

    fn query_url(&self, table: &str) -> String {
        self.url(&format!("shares/bench/schemas/s/tables/{table}/query"))
    }

    fn query_request(&self, table: &str, body: &str) -> reqwest::RequestBuilder {
        self.client
            .post(self.query_url(table))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    async fn query(&self, table: &str, body: &str) -> Fetched {
        self.fetch(self.query_request(table, body)).await
    }

    async fn body(&self, table: &str, body: &str) -> Vec<u8> {
        read(self.query_request(table, body)).await
    }

    async fn get_body(&self, path: &str) -> Vec<u8> {
        read(self.client.get(self.url(path)).bearer_auth(TOKEN)).await
    }

    /// Times `request`: to the first body chunk and to the end.
    async fn fetch(&self, request: reqwest::RequestBuilder) -> Fetched {
        let started = Instant::now();
        let mut response = answered(request).await;
        let mut bytes = 0;
        let mut first_byte = None;
        while let Some(chunk) = response.chunk().await.expect("the body") {
            first_byte.get_or_insert_with(|| started.elapsed());
            bytes += chunk.len();
        }
        let total = started.elapsed();
        Fetched {
            first_byte: first_byte.unwrap_or(total),
            total,
            bytes,
        }
    }

    /// A URL of the gateway's own file route for `file` (in a table's folder).
    fn signed_url(&self, file: &Path) -> String {
        let root = file.parent().expect("in a folder");
        let signer = lakeshare_storage::LocalUrlSigner::new(
            lakeshare_storage::Signer::from_secret(SECRET),
            &format!("http://127.0.0.1:{}/files", self.port),
            root,
            Duration::from_secs(3600),
        )
        .expect("signer");
        let url = url::Url::from_file_path(file).expect("a file URL");
        signer.sign(url.as_str()).expect("signed").url
    }
}

/// The answer to `request`, which must be a success (its body is shown otherwise).
async fn answered(request: reqwest::RequestBuilder) -> reqwest::Response {
    let response = request.send().await.expect("an answer");
    let status = response.status();
    if !status.is_success() {
        panic!("{status}: {}", response.text().await.unwrap_or_default());
    }
    response
}

async fn read(request: reqwest::RequestBuilder) -> Vec<u8> {
    let response = answered(request).await;
    response.bytes().await.expect("a body").to_vec()
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Debug, Clone, Copy)]
struct Fetched {
    first_byte: Duration,
    total: Duration,
    bytes: usize,
}

impl Fetched {
    /// The median of each time on its own.
    fn median(mut runs: Vec<Fetched>) -> Fetched {
        let middle = runs.len() / 2;
        runs.sort_by_key(|f| f.first_byte);
        let first_byte = runs[middle].first_byte;
        runs.sort_by_key(|f| f.total);
        Fetched {
            first_byte,
            ..runs[middle]
        }
    }
}

fn median_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| f()).collect();
    times.sort();
    times[runs / 2]
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

struct Report;

impl Report {
    fn new(files: usize) -> Self {
        println!(
            "\nlakeshare floors: {files}-file tables, loopback HTTP, 2 tokio workers, every baseline in this run"
        );
        println!(
            "{:<44} {:>14} {:>14} {:>8}   baseline",
            "case", "lakeshare", "baseline", "ratio"
        );
        Self
    }

    /// A time against its baseline's: the ratio is ours over theirs (lower is better).
    fn row(&self, case: &str, ours: Duration, theirs: Duration, baseline: &str) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{case:<44} {:>11.1} ms {:>11.1} ms {:>7.2}x   ({baseline})",
            ms(ours),
            ms(theirs),
            ms(ours) / ms(theirs).max(0.001)
        );
    }

    /// Requests per second against the baseline's: the ratio is ours over theirs (higher is
    /// better).
    fn throughput(&self, case: &str, ours: baselines::Throughput, theirs: baselines::Throughput) {
        println!(
            "{case:<44} {:>9.0} req/s {:>9.0} req/s {:>7.2}x   (nginx, same bytes; {} and {} requests)",
            ours.per_second,
            theirs.per_second,
            ours.per_second / theirs.per_second.max(0.001),
            ours.requests,
            theirs.requests,
        );
    }
}
