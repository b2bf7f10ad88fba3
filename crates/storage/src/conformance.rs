//! The contract every [`UrlSigner`] keeps, checked the same way for each kind: local files, S3,
//! Azure and GCS (no network: store signers sign locally with static keys). Add a signer and run
//! [`conformance`] on it; what it misses shows up here.

use std::sync::Arc;
use std::time::Duration;

use crate::options::examples;
use crate::{LocalUrlSigner, Signer, Store, UrlSigner, now_ms};

/// A signer for the table at `root`, files it must sign (`inside`) and URLs it must refuse
/// (`outside`: siblings sharing a name prefix, parents, other buckets, other schemes,
/// traversals, the root itself).
struct Case<'a> {
    signer: Arc<dyn UrlSigner>,
    ttl: Duration,
    inside: Vec<String>,
    outside: Vec<&'a str>,
    /// Query keys of which a signed URL carries at least one: Delta kernel clients fetch an
    /// http(s) URL directly only when its query has a pre-signing key.
    presigning_keys: &'a [&'a str],
}

async fn conformance(case: Case<'_>) {
    let inside: Vec<&str> = case.inside.iter().map(String::as_str).collect();
    let before = now_ms();
    let signed = case.signer.sign_all(&inside).await.unwrap();
    assert_eq!(signed.len(), inside.len(), "one URL per file");
    let distinct: std::collections::HashSet<&str> = signed.iter().map(|s| s.url.as_str()).collect();
    assert_eq!(distinct.len(), signed.len(), "one distinct URL per file");
    for (file, url) in inside.iter().zip(&signed) {
        assert!(case.signer.check(file).is_ok(), "{file} is inside");
        // Expiries are whole seconds, so one may fall up to a second before `before + ttl`.
        assert!(url.expires_at_ms > before, "{file}: expires in the future");
        assert!(
            url.expires_at_ms <= now_ms() + case.ttl.as_millis() as i64,
            "{file}: never outlives the ttl"
        );
        assert!(
            url.expires_at_ms >= before - 1000 + case.ttl.as_millis() as i64 / 2,
            "{file}: lives at least half the ttl"
        );
        let parsed = url::Url::parse(&url.url).unwrap();
        assert!(matches!(parsed.scheme(), "http" | "https"), "{}", url.url);
        assert!(
            parsed
                .query_pairs()
                .any(|(k, _)| case.presigning_keys.contains(&k.as_ref())),
            "{}: no pre-signing key",
            url.url
        );
    }
    assert!(case.signer.sign_all(&[]).await.unwrap().is_empty());
    for url in &case.outside {
        assert!(case.signer.check(url).is_err(), "{url} must be refused");
        assert!(
            case.signer.sign_all(&[url]).await.is_err(),
            "{url} must be refused"
        );
        let mixed = [inside[0], url];
        assert!(
            case.signer.sign_all(&mixed).await.is_err(),
            "a batch with {url} must be refused whole"
        );
    }
}

const OUTSIDE_STORE: &[&str] = &[
    "s3://lake/sales/orders-other/x.parquet",
    "s3://lake/sales/x.parquet",
    "s3://lake/sales/orders",
    "s3://lake/sales/orders/../secrets/x.parquet",
    "s3://other/sales/orders/x.parquet",
    "gs://other/sales/orders/x.parquet",
    "file:///sales/orders/x.parquet",
];

fn files(scheme_and_root: &str) -> Vec<String> {
    ["part-0.parquet", "p=a%20b/part-1.parquet", "p=2/_dv/x.bin"]
        .iter()
        .map(|f| format!("{scheme_and_root}/{f}"))
        .collect()
}

#[tokio::test]
async fn local_signer_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap().join("orders");
    std::fs::create_dir_all(root.join("p=2")).unwrap();
    std::fs::create_dir_all(dir.path().join("orders-other")).unwrap();
    let ttl = Duration::from_secs(600);
    let signer =
        LocalUrlSigner::new(Signer::from_secret("k"), "http://gw/files", &root, ttl).unwrap();
    let url_of = |p: std::path::PathBuf| url::Url::from_file_path(p).unwrap().to_string();
    let inside = vec![
        url_of(root.join("part-0.parquet")),
        url_of(root.join("p=2/part-1.parquet")),
    ];
    let outside = [
        url_of(
            dir.path()
                .canonicalize()
                .unwrap()
                .join("orders-other/x.parquet"),
        ),
        url_of(dir.path().canonicalize().unwrap().join("x.parquet")),
        url_of(root.clone()),
        format!("{}/../x.parquet", url_of(root.clone())),
        "s3://lake/orders/x.parquet".to_string(),
    ];
    conformance(Case {
        signer: Arc::new(signer),
        ttl,
        inside,
        outside: outside.iter().map(String::as_str).collect(),
        presigning_keys: &["sp"],
    })
    .await;
}

#[tokio::test]
async fn s3_signer_keeps_the_contract() {
    let s3 = Arc::new(Store::build(&examples::s3("https://s3.example.com")).unwrap());
    let ttl = Duration::from_secs(600);
    conformance(Case {
        signer: Arc::new(s3.table_signer("s3://lake/sales/orders", ttl).unwrap()),
        ttl,
        inside: files("s3://lake/sales/orders"),
        outside: OUTSIDE_STORE.to_vec(),
        presigning_keys: &["X-Amz-Signature"],
    })
    .await;
}

#[tokio::test]
async fn azure_signer_keeps_the_contract() {
    let azure = Arc::new(Store::build(&examples::azure("lake", None)).unwrap());
    let ttl = Duration::from_secs(600);
    conformance(Case {
        signer: Arc::new(azure.table_signer("az://lake/sales/orders", ttl).unwrap()),
        ttl,
        inside: files("az://lake/sales/orders"),
        outside: vec![
            "az://lake/sales/orders-other/x.parquet",
            "az://lake/sales/x.parquet",
            "az://lake/sales/orders",
            "az://other/sales/orders/x.parquet",
            "abfss://lake@otheraccount.dfs.core.windows.net/sales/orders/x.parquet",
            "s3://lake/sales/orders/x.parquet",
        ],
        presigning_keys: &["sig"],
    })
    .await;
}

#[tokio::test]
async fn gcs_signer_keeps_the_contract() {
    let gcs = Arc::new(Store::build(&examples::gcs()).unwrap());
    let ttl = Duration::from_secs(600);
    conformance(Case {
        signer: Arc::new(gcs.table_signer("gs://lake/sales/orders", ttl).unwrap()),
        ttl,
        inside: files("gs://lake/sales/orders"),
        outside: vec![
            "gs://lake/sales/orders-other/x.parquet",
            "gs://lake/sales/x.parquet",
            "gs://lake/sales/orders",
            "gs://other/sales/orders/x.parquet",
            "s3://lake/sales/orders/x.parquet",
        ],
        presigning_keys: &["X-Goog-Signature"],
    })
    .await;
}
