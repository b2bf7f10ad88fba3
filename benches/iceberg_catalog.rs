//! `loadTable` of the Iceberg REST catalog at scale: a synthetic Delta table of 100k files
//! served as Iceberg through generated metadata, next to relaying a native Iceberg table of the
//! same files, measured in the same run.
//!
//! - *generated, cold*: the first `loadTable` of a freshly started gateway: it replays the Delta
//!   log and writes the manifests, manifest list and `metadata.json`.
//! - *generated, warm*: later `loadTable`s, served from what the first one made.
//! - *relay, cold / warm* (the baseline): what relaying a native Iceberg table costs the gateway,
//!   which is how the catalog serves Iceberg tables in stores that vend credentials: open the
//!   table and read its metadata (cold), or take the already loaded metadata (warm), then
//!   serialise the answer. The native table is made once from the same snapshot (its manifests
//!   name the same files), so both sides describe the same 100k files.
//!
//! Run: `cargo bench -p lakeshare-benches --bench iceberg_catalog` (tables are generated once
//! under `$CARGO_TARGET_DIR/bench-tables`). `LAKESHARE_BENCH_FILES=10000` picks the sizes.

mod bench_tables;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lakeshare_model::{Format, Place, TableSource};

const TOKEN: &str = "benchmark-token-0123456789";
const SECRET: &str = "benchmark-signing-secret";
const RUNS: usize = 5;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let sizes: Vec<usize> = std::env::var("LAKESHARE_BENCH_FILES")
        .unwrap_or_else(|_| "100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("LAKESHARE_BENCH_FILES: numbers"))
        .collect();
    println!(
        "\nlakeshare Iceberg catalog benchmark: loadTable, median of {RUNS} runs, loopback HTTP, 2 tokio workers"
    );
    println!(
        "{:<30} {:>7} {:>12} {:>11} {:>7}",
        "case", "files", "generated ms", "relay ms", "ratio"
    );
    for files in sizes {
        let delta = bench_tables::delta_log(files).await;
        let iceberg = bench_tables::native_iceberg(&delta, files).await;

        let relay_cold = median(RUNS, || async {
            let source = open_iceberg(&iceberg).await;
            relay(&*source).await
        })
        .await;
        let source = open_iceberg(&iceberg).await;
        relay(&*source).await;
        let relay_warm = median(RUNS, || relay(&*source)).await;

        let mut cold = Vec::new();
        let mut warm = Duration::ZERO;
        for run in 0..RUNS {
            let gateway = Gateway::start(&delta, files).await;
            cold.push(gateway.load().await);
            if run == 0 {
                warm = median(RUNS, || gateway.load()).await;
            }
        }
        cold.sort();
        report("loadTable cold", files, cold[cold.len() / 2], relay_cold);
        report("loadTable warm", files, warm, relay_warm);
    }
}

fn report(case: &str, files: usize, generated: Duration, relay: Duration) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{case:<30} {files:>7} {:>12.1} {:>11.1} {:>6.2}x",
        ms(generated),
        ms(relay),
        ms(generated) / ms(relay).max(0.001)
    );
}

async fn median<F, Fut, T>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        std::hint::black_box(f().await);
        times.push(started.elapsed());
    }
    times.sort();
    times[runs / 2]
}

async fn open_iceberg(root: &Path) -> Arc<dyn TableSource> {
    let location = root.to_string_lossy().to_string();
    lakeshare_iceberg::IcebergFormat
        .open(
            Place::Local {
                location: &location,
            },
            &BTreeMap::new(),
        )
        .await
        .expect("the Iceberg table")
        .source
}

/// What relaying costs the gateway: the table's own metadata, serialised as the answer.
async fn relay(source: &dyn TableSource) -> usize {
    let native = source
        .native_metadata()
        .await
        .expect("metadata")
        .expect("an Iceberg table has its own");
    let body = serde_json::json!({
        "metadata-location": native.location,
        "metadata": native.document,
        "config": {},
        "storage-credentials": [],
    });
    serde_json::to_vec(&body).expect("serialises").len()
}

struct Gateway {
    client: reqwest::Client,
    url: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Gateway {
    async fn start(delta: &Path, files: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let port = listener.local_addr().expect("bound").port();
        let yaml = format!(
            "server: {{ listen: \"127.0.0.1:{port}\", signing_secret: \"{SECRET}\", snapshot_cache_mb: 2048 }}\n\
             shares:\n  - name: bench\n    schemas:\n      - name: s\n        tables:\n          - {{ name: t{files}, location: \"{}\" }}\n\
             recipients:\n  - {{ name: bench, token: \"{TOKEN}\", shares: [bench] }}\n",
            delta.display()
        );
        let config = lakeshare_catalog::Config::from_yaml(&yaml, Path::new("."))
            .expect("bench configuration");
        let app = lakeshare_server::App::new(config, lakeshare_formats::enabled());
        let server = tokio::spawn(async move {
            axum::serve(listener, app.router()).await.expect("served");
        });
        Self {
            client: reqwest::Client::new(),
            url: format!(
                "http://127.0.0.1:{port}/delta-sharing/iceberg/v1/shares/bench/namespaces/s/tables/t{files}"
            ),
            _server: server,
        }
    }

    async fn load(&self) -> Duration {
        let started = Instant::now();
        let response = self
            .client
            .get(&self.url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("an answer");
        assert!(response.status().is_success(), "{}", response.status());
        let body = response.bytes().await.expect("a body");
        assert!(body.len() > 100);
        started.elapsed()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self._server.abort();
    }
}
