//! What computing a materialized share costs, against DataFusion writing the same query result
//! straight to Parquet in the same run.
//!
//! - **Throughput:** a filter over data columns on the demo's Delta `trips` (its latest
//!   version) materialized into a fresh cache folder (`Materialized::refresh`: deltalake's
//!   scan, DataFusion, the Delta writer with statistics, the commit), in rows/s and MB/s of
//!   the written files; the baseline is DataFusion running the same SQL over deltalake's
//!   table provider and writing the result with `write_parquet`.
//! - **Refresh after an append:** one day of trips appended to the source, then the refresh
//!   of the materialized table (the filter works row by row and the source only appended, so
//!   only the appended rows are computed and their result appended); the baseline is a full
//!   rebuild of the same result into a fresh folder.
//!
//! Run: `cargo bench -p lakeshare-benches --bench materialize`.

mod bench_tables;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::SessionContext;
use lakeshare_materialize::{Definition, Materialized, Refreshed, Source, Target};
use lakeshare_model::TableSource;

const RUNS: usize = 5;
const SQL: &str = "SELECT * FROM b.s.trips WHERE fare > 20";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let root = bench_tables::bench_tables_dir().join("materialize");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("the bench folder");
    let root = root.canonicalize().expect("the bench folder");
    let trips = root.join("trips");
    lakeshare_demo::delta::ensure_trips(&trips)
        .await
        .expect("the Delta trips");
    let source = source(&trips).await;
    let rows_in = rows_of(&*source).await;

    let mut ours = Vec::new();
    let mut direct = Vec::new();
    let mut written = (0, 0);
    for run in 0..RUNS {
        let folder = root.join(format!("cache-{run}"));
        let (elapsed, rows, bytes) = materialize_into(&source, &folder).await;
        ours.push(elapsed);
        written = (rows, bytes);
        direct.push(datafusion_direct(&trips, &root.join(format!("direct-{run}"))).await);
    }
    let (rows, bytes) = written;
    let ours = median(ours);
    let direct = median(direct);
    println!(
        "materialize: {rows_in} source rows, {rows} rows written ({:.1} MB)",
        mb(bytes)
    );
    println!(
        "  materialized   {:>8.1} ms  {:>10.0} rows/s  {:>6.1} MB/s",
        ms(ours),
        rows as f64 / ours.as_secs_f64(),
        mb(bytes) / ours.as_secs_f64()
    );
    println!(
        "  datafusion     {:>8.1} ms  {:>10.0} rows/s  (write_parquet of the same query)",
        ms(direct),
        rows as f64 / direct.as_secs_f64()
    );
    println!("  ratio          {:>8.2}x", ratio(ours, direct));

    // A refresh after an append, against a full rebuild of the same result.
    let job = job(&source, &root.join("cache-refresh"));
    assert!(matches!(
        job.refresh().await,
        Ok(Refreshed::Committed { .. })
    ));
    lakeshare_demo::delta::append(
        &trips,
        vec![lakeshare_demo::trips::day(0)],
        &["pickup_date"],
    )
    .await
    .expect("an appended day");
    let started = Instant::now();
    let refreshed = job.refresh().await.expect("a refresh");
    let refresh = started.elapsed();
    assert!(
        matches!(refreshed, Refreshed::Committed { versions: 1, .. }),
        "{refreshed:?}"
    );
    let (rebuild, _, _) = materialize_into(&source, &root.join("cache-rebuild")).await;
    println!("refresh after an append of one day:");
    println!("  refresh        {:>8.1} ms", ms(refresh));
    println!("  full rebuild   {:>8.1} ms", ms(rebuild));
    println!("  ratio          {:>8.2}x", ratio(refresh, rebuild));
    let _ = std::fs::remove_dir_all(&root);
}

async fn source(trips: &Path) -> Arc<dyn TableSource> {
    Arc::new(
        lakeshare_delta::DeltaSource::open(&trips.to_string_lossy())
            .await
            .expect("the source"),
    )
}

fn job(source: &Arc<dyn TableSource>, folder: &Path) -> Materialized {
    let definition = Definition {
        sql: SQL.into(),
        sources: vec![Source {
            name: ["b".into(), "s".into(), "trips".into()],
            table: source.clone(),
            filter: None,
        }],
    };
    let target = Target {
        format: Arc::new(lakeshare_delta::DeltaFormat),
        writer: Arc::new(lakeshare_delta::DeltaTableWriter),
        location: folder.to_string_lossy().into_owned(),
        store: None,
        keep_replaced_for: Duration::from_secs(3600),
        budget_bytes: None,
        shared_budget: None,
    };
    Materialized::new("bench".into(), definition, target, false)
}

/// One materialization into a fresh `folder`: its time, and the rows and bytes written.
async fn materialize_into(source: &Arc<dyn TableSource>, folder: &Path) -> (Duration, usize, u64) {
    let job = job(source, folder);
    let started = Instant::now();
    let done = job.refresh().await.expect("a materialization");
    let elapsed = started.elapsed();
    assert!(matches!(done, Refreshed::Committed { .. }), "{done:?}");
    let written = lakeshare_delta::DeltaSource::open(&folder.to_string_lossy())
        .await
        .expect("the written table");
    let latest = written.latest_version().await.expect("a version");
    let snapshot = written.snapshot(latest).await.expect("its snapshot");
    let bytes = snapshot.size_bytes();
    (elapsed, rows_of(&written).await, bytes)
}

async fn rows_of(source: &dyn TableSource) -> usize {
    use futures::TryStreamExt as _;
    let latest = source.latest_version().await.expect("a version");
    let rows = source.rows(latest).await.expect("rows");
    let batches: Vec<_> = rows.batches.try_collect().await.expect("batches");
    batches.iter().map(|b| b.num_rows()).sum()
}

/// DataFusion over deltalake's table provider, writing the query's result as Parquet.
async fn datafusion_direct(trips: &Path, out: &Path) -> Duration {
    let started = Instant::now();
    let table = deltalake::open_table(
        deltalake::ensure_table_uri(trips.to_string_lossy()).expect("a table URL"),
    )
    .await
    .expect("the table");
    let ctx = SessionContext::new();
    let provider = table.table_provider().await.expect("a provider");
    table
        .update_datafusion_session(&ctx.state())
        .expect("the session");
    ctx.register_table("trips", provider).expect("registered");
    ctx.sql(&SQL.replace("b.s.trips", "trips"))
        .await
        .expect("planned")
        .write_parquet(&out.to_string_lossy(), DataFrameWriteOptions::new(), None)
        .await
        .expect("written");
    started.elapsed()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
