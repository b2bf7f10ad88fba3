//! The cost of pre-signing file URLs, per store kind, against the gateway's own HMAC-signed local
//! URLs measured in the same run. A query answer signs one URL per file line, in batches of 256
//! (as the server does), so this is the per-file price of serving a table from each store.
//!
//! No network is involved: S3 uses static credentials (SigV4 is local HMACs), Azure an account
//! key (a service SAS), GCS a service-account key (RSA-SHA256).
//!
//! Run: `cargo bench -p lakeshare-benches --bench signing`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lakeshare_catalog::Config;
use lakeshare_storage::{LocalUrlSigner, Signer, Store, UrlSigner};

const URLS: usize = 10_000;
const BATCH: usize = 256;
const RUNS: usize = 5;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let dir = std::env::temp_dir().join("lakeshare-signing-bench/table");
    std::fs::create_dir_all(&dir).expect("a table folder");
    let local = LocalUrlSigner::new(
        Signer::from_secret("benchmark-signing-secret"),
        "http://127.0.0.1:8080/files",
        &dir,
        Duration::from_secs(3600),
    )
    .expect("a local signer");
    let local_urls: Vec<String> = (0..URLS)
        .map(|i| {
            url::Url::from_file_path(
                dir.join(format!("date=2024-01-{:02}/part-{i:05}.parquet", i % 28)),
            )
            .unwrap()
            .to_string()
        })
        .collect();
    let floor = median_ms(&local, &local_urls).await;
    println!("{URLS} URLs signed in batches of {BATCH}, median of {RUNS} runs");
    println!(
        "{:<36} {:>10} {:>12} {:>8}",
        "signer", "total ms", "µs per URL", "ratio"
    );
    report("local HMAC token (floor)", floor, floor);
    let key = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/storage/tests/data/gcs_test_key.pem"
    ))
    .expect("the test key");
    let gcs_key = serde_json::json!({
        "type": "service_account", "project_id": "bench", "private_key_id": "0",
        "private_key": key, "client_email": "signer@bench.iam.gserviceaccount.com",
        "client_id": "0", "token_uri": "https://oauth2.googleapis.com/token",
    })
    .to_string();
    let yaml = format!(
        r#"
stores:
  - {{ name: s3, kind: s3, bucket: lake, endpoint: "http://10.0.0.5:8333", public_endpoint: "https://s3.example.com", access_key_id: AKIDEXAMPLE, secret_access_key: wJalrXUtnFEMI }}
  - {{ name: azure, kind: azure, account: acme, container: lake, access_key: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==" }}
  - {{ name: gcs, kind: gcs, bucket: lake, service_account_key: {gcs_key} }}
"#,
        gcs_key = serde_json::to_string(&gcs_key).unwrap()
    );
    let config = Config::from_yaml(&yaml, std::path::Path::new("/")).expect("the bench stores");
    for (store, scheme, label) in [
        ("s3", "s3", "S3 SigV4 (public endpoint)"),
        ("azure", "az", "Azure service SAS"),
        ("gcs", "gs", "GCS V4 (RSA)"),
    ] {
        let options = config.store(store).unwrap().store_options().unwrap();
        let fresh_signer = || {
            Arc::new(Store::build(&options).expect("a store"))
                .table_signer(
                    &format!("{scheme}://lake/sales/orders"),
                    Duration::from_secs(3600),
                )
                .expect("a table signer")
        };
        let urls: Vec<String> = (0..URLS)
            .map(|i| {
                format!(
                    "{scheme}://lake/sales/orders/date=2024-01-{:02}/part-{i:05}.parquet",
                    i % 28
                )
            })
            .collect();
        // Each cold run on a new store, so nothing is cached.
        let mut cold = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            cold.push(once_ms(&fresh_signer(), &urls).await);
        }
        cold.sort_by(f64::total_cmp);
        report(label, cold[RUNS / 2], floor);
        // A warm signer: what a repeated read of the same table pays.
        let warm = fresh_signer();
        once_ms(&warm, &urls).await;
        report(
            &format!("{label}, again"),
            median_ms(&warm, &urls).await,
            floor,
        );
    }
}

async fn once_ms(signer: &dyn UrlSigner, urls: &[String]) -> f64 {
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let started = Instant::now();
    for batch in refs.chunks(BATCH) {
        let signed = signer.sign_all(batch).await.expect("signing");
        assert_eq!(signed.len(), batch.len());
    }
    started.elapsed().as_secs_f64() * 1000.0
}

async fn median_ms(signer: &dyn UrlSigner, urls: &[String]) -> f64 {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        times.push(once_ms(signer, urls).await);
    }
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

fn report(label: &str, ms: f64, floor: f64) {
    println!(
        "{label:<36} {ms:>10.1} {:>12.2} {:>7.2}x",
        ms * 1000.0 / URLS as f64,
        ms / floor
    );
}
