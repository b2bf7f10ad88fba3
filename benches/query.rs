//! The query path at scale: synthetic Delta tables of 10k and 100k files (partitioned, sorted
//! statistics, a checkpoint), queried over loopback HTTP against a gateway running in this
//! process, next to the floor measured in the same run: signing the same URLs and serialising the
//! same NDJSON lines with nothing around them. The ratio is what the gateway costs on top.
//!
//! Run: `cargo bench -p lakeshare-benches` (tables are generated once under
//! `$CARGO_TARGET_DIR/bench-tables`). `LAKESHARE_BENCH_FILES=10000` picks the sizes.

mod bench_tables;

use std::path::Path;
use std::time::{Duration, Instant};

use lakeshare_model::TableSource;
use lakeshare_protocol::lines::FileLine;
use lakeshare_protocol::write_ndjson_line;
use lakeshare_storage::{LocalUrlSigner, Signer};

const TOKEN: &str = "benchmark-token-0123456789";
const SECRET: &str = "benchmark-signing-secret";
const ROWS_PER_FILE: usize = 10;
const RUNS: usize = 7;

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
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("LAKESHARE_BENCH_FILES: numbers separated by commas")
        })
        .collect();
    let root = bench_tables::bench_tables_dir();
    let mut tables = Vec::new();
    for &files in &sizes {
        let path = root.join(format!("synthetic-{files}"));
        if !path.join("_delta_log").is_dir() {
            let started = Instant::now();
            let spec = lakeshare_demo::synthetic::Spec {
                files,
                partitions: 100,
                rows_per_file: ROWS_PER_FILE,
                data_files: true,
            };
            lakeshare_demo::synthetic::write(&path, spec)
                .await
                .expect("generating the table");
            println!(
                "generated {} in {:.1} s",
                path.display(),
                started.elapsed().as_secs_f64()
            );
        }
        tables.push((files, path.canonicalize().expect("generated table")));
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("bound").port();
    let entries: String = tables
        .iter()
        .map(|(files, path)| {
            format!(
                "          - {{ name: t{files}, location: \"{}\" }}\n",
                path.display()
            )
        })
        .collect();
    let yaml = format!(
        "server: {{ listen: \"127.0.0.1:{port}\", signing_secret: \"{SECRET}\", snapshot_cache_mb: 1024 }}\n\
         shares:\n  - name: bench\n    schemas:\n      - name: s\n        tables:\n{entries}\
         recipients:\n  - {{ name: bench, token: \"{TOKEN}\", shares: [bench] }}\n"
    );
    let config =
        lakeshare_catalog::Config::from_yaml(&yaml, Path::new(".")).expect("bench configuration");
    let app = lakeshare_server::App::open(config, lakeshare_formats::enabled()).await;
    tokio::spawn(axum::serve(listener, app.router()).into_future());
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/delta-sharing/shares/bench/schemas/s/tables");

    println!("\nlakeshare query benchmark: median of {RUNS} runs, loopback HTTP, 2 tokio workers");
    println!(
        "{:<34} {:>7} {:>12} {:>10} {:>7}",
        "case", "files", "gateway ms", "floor ms", "ratio"
    );
    for (files, path) in &tables {
        let url = format!("{base}/t{files}/query");
        let source = lakeshare_delta::DeltaSource::open(&path.to_string_lossy())
            .await
            .expect("table");
        let started = Instant::now();
        let version = source.latest_version().await.expect("version");
        let snapshot = source.snapshot(version).await.expect("snapshot");
        let load = started.elapsed();
        let signer = LocalUrlSigner::new(
            Signer::from_secret(SECRET),
            &format!("http://127.0.0.1:{port}/files"),
            path,
            Duration::from_secs(3600),
        )
        .expect("signer");

        // First query: loads the snapshot into the gateway's cache. Its floor is the adapter's load.
        let (cold, lines) = time(|| post(&client, &url, "{}")).await;
        assert_eq!(lines, files + 2, "a full query returns every file");
        report(
            &format!("first query (snapshot load) {files}"),
            *files,
            cold,
            load,
        );

        let full = median(RUNS, || post(&client, &url, "{}")).await;
        report(
            &format!("full query {files}"),
            *files,
            full,
            floor(&snapshot.files, &signer),
        );

        // ids below 1% of the rows live in the first 1% of the files (sorted statistics).
        let cut = files * ROWS_PER_FILE / 100;
        let hint = format!(
            r#"{{"jsonPredicateHints":"{{\"op\":\"lessThan\",\"children\":[{{\"op\":\"column\",\"name\":\"id\",\"valueType\":\"long\"}},{{\"op\":\"literal\",\"value\":\"{cut}\",\"valueType\":\"long\"}}]}}"}}"#
        );
        let (_, selected) = time(|| post(&client, &url, &hint)).await;
        assert_eq!(
            selected,
            files / 100 + 2,
            "the hint selects 1% of the files"
        );
        let selective = median(RUNS, || post(&client, &url, &hint)).await;
        report(
            &format!("selective query (1%) {files}"),
            files / 100,
            selective,
            floor(&snapshot.files[..files / 100], &signer),
        );

        let paged = median(3, || paged_read(&client, &url, 1000)).await;
        report(
            &format!("paged query (maxFiles=1000) {files}"),
            *files,
            paged,
            floor(&snapshot.files, &signer),
        );
    }
}

fn report(case: &str, files: usize, gateway: Duration, floor: Duration) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{case:<34} {files:>7} {:>12.1} {:>10.1} {:>6.2}x",
        ms(gateway),
        ms(floor),
        ms(gateway) / ms(floor).max(1e-3)
    );
}

/// Sign every URL and serialise every line, as the gateway does, with nothing else around it.
fn floor(files: &[lakeshare_model::DataFile], signer: &LocalUrlSigner) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let mut buf = Vec::with_capacity(files.len() * 512);
            for file in files {
                let signed = signer.sign(&file.url.as_str()).expect("inside the root");
                write_ndjson_line(
                    &mut buf,
                    &FileLine::parquet(file, &signed.url, signed.expires_at_ms, None),
                );
            }
            std::hint::black_box(&buf);
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

async fn post(client: &reqwest::Client, url: &str, body: &str) -> usize {
    let response = client
        .post(url)
        .bearer_auth(TOKEN)
        .body(body.to_string())
        .send()
        .await
        .expect("query");
    assert!(
        response.status().is_success(),
        "query failed: {}",
        response.status()
    );
    let bytes = response.bytes().await.expect("body");
    bytes.iter().filter(|b| **b == b'\n').count()
}

/// Reads a whole table page by page; returns the number of file lines.
async fn paged_read(client: &reqwest::Client, url: &str, page: usize) -> usize {
    let mut token: Option<String> = None;
    let mut files = 0;
    loop {
        let body = match &token {
            None => format!(r#"{{"maxFiles":{page}}}"#),
            Some(t) => format!(r#"{{"maxFiles":{page},"pageToken":"{t}"}}"#),
        };
        let response = client
            .post(url)
            .bearer_auth(TOKEN)
            .body(body)
            .send()
            .await
            .expect("query");
        let text = response.text().await.expect("body");
        let last: serde_json::Value =
            serde_json::from_str(text.lines().last().expect("lines")).expect("json");
        files += text.lines().filter(|l| l.starts_with("{\"file\"")).count();
        match last["endStreamAction"]["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return files,
        }
    }
}

async fn time<F, Fut, T>(f: F) -> (Duration, T)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let started = Instant::now();
    let out = f().await;
    (started.elapsed(), out)
}

async fn median<F, Fut, T>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
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
