//! What each format adapter costs per request, on the demo `trips` table written in all three
//! formats (same rows, same four commits), against the Delta adapter measured in the same run.
//!
//! Two costs matter to the gateway: `latest_version`, paid by every request, and a snapshot
//! load, paid once per version (the server caches snapshots by version). Both are measured on
//! a new source per run. Its first `latest_version` finds it as every later request does: each
//! adapter checks its log or timeline for new commits (a Hudi table lists its timeline folder
//! and is opened again only when that changed); no adapter-side cache helps the snapshot load.
//!
//! Run: `cargo bench -p lakeshare-benches --bench formats`.

mod bench_tables;

use std::sync::Arc;
use std::time::Instant;

use lakeshare_model::TableSource;

const RUNS: usize = 15;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let root = bench_tables::bench_tables_dir().join("demo");
    std::fs::create_dir_all(&root).expect("the bench folder");
    // hudi refuses paths with `..` in them.
    let root = root.canonicalize().expect("the bench folder");
    let delta = root.join("delta/trips");
    let iceberg = root.join("iceberg/trips");
    let hudi = root.join("hudi/trips");
    lakeshare_demo::delta::ensure_trips(&delta)
        .await
        .expect("the Delta trips");
    lakeshare_demo::iceberg::ensure_trips(&delta, &iceberg)
        .await
        .expect("the Iceberg trips");
    lakeshare_demo::hudi::ensure_trips(&hudi, false)
        .await
        .expect("the Hudi trips");

    type Opener = Box<dyn Fn() -> futures_open::Open>;
    let delta_at = delta.to_string_lossy().into_owned();
    let iceberg_at = iceberg.to_string_lossy().into_owned();
    let hudi_at = hudi.to_string_lossy().into_owned();
    let openers: Vec<(&str, Opener)> = vec![
        (
            "delta",
            Box::new(move || {
                let at = delta_at.clone();
                Box::pin(async move {
                    Arc::new(lakeshare_delta::DeltaSource::open(&at).await.unwrap())
                        as Arc<dyn TableSource>
                })
            }),
        ),
        (
            "iceberg",
            Box::new(move || {
                let at = iceberg_at.clone();
                Box::pin(async move {
                    Arc::new(lakeshare_iceberg::IcebergSource::open(&at).await.unwrap())
                        as Arc<dyn TableSource>
                })
            }),
        ),
        (
            "hudi",
            Box::new(move || {
                let at = hudi_at.clone();
                Box::pin(async move {
                    Arc::new(
                        lakeshare_hudi::HudiSource::open(&at, Default::default())
                            .await
                            .unwrap(),
                    ) as Arc<dyn TableSource>
                })
            }),
        ),
    ];

    println!("demo trips (100,000 rows, 4 commits) per format, median of {RUNS} cold runs");
    println!(
        "{:<8} {:>7} {:>18} {:>8} {:>18} {:>8}",
        "format", "files", "latest_version ms", "ratio", "snapshot load ms", "ratio"
    );
    let mut baseline: Option<(f64, f64)> = None;
    for (name, open) in &openers {
        let mut latest = Vec::with_capacity(RUNS);
        let mut load = Vec::with_capacity(RUNS);
        let mut files = 0;
        for _ in 0..RUNS {
            let source = open().await;
            let start = Instant::now();
            let version = source.latest_version().await.expect("a version");
            latest.push(start.elapsed().as_secs_f64() * 1e3);
            let source = open().await;
            let start = Instant::now();
            let snapshot = source.snapshot(version).await.expect("a snapshot");
            load.push(start.elapsed().as_secs_f64() * 1e3);
            files = snapshot.files.len();
        }
        let (latest, load) = (median(&mut latest), median(&mut load));
        let (base_latest, base_load) = *baseline.get_or_insert((latest, load));
        println!(
            "{name:<8} {files:>7} {latest:>18.2} {:>7.2}x {load:>18.2} {:>7.2}x",
            latest / base_latest,
            load / base_load
        );
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

mod futures_open {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    pub type Open = Pin<Box<dyn Future<Output = Arc<dyn lakeshare_model::TableSource>>>>;
}
