//! The `TableSource` contract (`lakeshare_model::conformance`) on Iceberg tables: the demo's
//! trips (format v2, written with iceberg's own writer, four snapshots).

use std::time::Duration;

use lakeshare_iceberg::IcebergSource;
use lakeshare_model::conformance::{Expectations, check};
use lakeshare_storage::{LocalUrlSigner, Signer, UrlSigner};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_trips_keep_the_table_source_contract() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let delta = root.join("delta/trips");
    let trips = root.join("iceberg/trips");
    lakeshare_demo::delta::ensure_trips(&delta).await.unwrap();
    lakeshare_demo::iceberg::ensure_trips(&delta, &trips)
        .await
        .unwrap();
    let source = IcebergSource::open(trips.to_str().unwrap()).await.unwrap();
    let table_root = source.table_root().expect("a local table");
    let signer = LocalUrlSigner::new(
        Signer::random(),
        "http://gateway/files",
        &table_root,
        Duration::from_secs(60),
    )
    .unwrap();
    let inside = |url: &str| signer.check(url).is_ok();
    let versions = check(
        &source,
        &Expectations {
            inside_root: &inside,
            min_versions: 4,
        },
    )
    .await;
    // Sequence numbers, from 1.
    assert_eq!(versions, vec![1, 2, 3, 4]);
}
