//! The `TableSource` contract (`lakeshare_model::conformance`) on Delta tables: the demo's trips,
//! and the shared fixtures written by other writers (Spark, Databricks, delta-rs).

use std::path::Path;
use std::time::Duration;

use lakeshare_delta::DeltaSource;
use lakeshare_model::conformance::{Expectations, check};
use lakeshare_storage::{LocalUrlSigner, Signer, UrlSigner};

/// Whether a URL lies in `root`, as the gateway's signer for the table decides it.
fn confined_to(root: &Path) -> impl Fn(&str) -> bool {
    let signer = LocalUrlSigner::new(
        Signer::random(),
        "http://gateway/files",
        root,
        Duration::from_secs(60),
    )
    .unwrap();
    move |url| signer.check(url).is_ok()
}

use lakeshare_demo::fixtures::shared as fixtures;

fn copy_dir(from: &Path, to: &Path) {
    lakeshare_demo::fixtures::copy_dir(from, to).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_trips_keep_the_table_source_contract() {
    let dir = tempfile::tempdir().unwrap();
    let trips = dir.path().canonicalize().unwrap().join("trips");
    lakeshare_demo::delta::ensure_trips(&trips).await.unwrap();
    let source = DeltaSource::open(trips.to_str().unwrap()).await.unwrap();
    let inside = confined_to(&trips);
    let versions = check(
        &source,
        &Expectations {
            inside_root: &inside,
            min_versions: 4,
        },
    )
    .await;
    assert_eq!(versions, vec![0, 1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_from_other_writers_keep_the_table_source_contract() {
    let fixtures = fixtures().join("delta");
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "simple_table",
        "simple_table_with_checkpoint",
        "delta-0.8.0-partitioned",
        "delta-0.8.0-null-partition",
        "delta-1.2.1-only-struct-stats",
        "table-with-dv-small",
        "table_with_column_mapping",
        "cdf-table",
    ] {
        let table = dir.path().canonicalize().unwrap().join(name);
        copy_dir(&fixtures.join(name), &table);
        let source = DeltaSource::open(table.to_str().unwrap())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let inside = confined_to(&table);
        let versions = check(
            &source,
            &Expectations {
                inside_root: &inside,
                min_versions: 1,
            },
        )
        .await;
        eprintln!("{name}: versions {versions:?} keep the contract");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_rows_are_read_from_the_deletion_vector_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().canonicalize().unwrap().join("dv");
    copy_dir(&fixtures().join("delta/table-with-dv-small"), &table);
    let source = DeltaSource::open(table.to_str().unwrap()).await.unwrap();
    use lakeshare_model::TableSource;
    let before = source.snapshot(0).await.unwrap();
    assert_eq!(
        source.deleted_rows(&before.files[0]).await.unwrap(),
        Vec::<u64>::new()
    );
    // Version 1 deleted `value IN (0, 9)` from the file written with values 0 to 9 in order.
    let after = source.snapshot(1).await.unwrap();
    assert_eq!(
        source.deleted_rows(&after.files[0]).await.unwrap(),
        vec![0, 9]
    );

    // One flipped byte in the stored vector fails its checksum: an error, never other rows.
    let bin = std::fs::read_dir(&table)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "bin"))
        .unwrap();
    let mut bytes = std::fs::read(&bin).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 0x01;
    std::fs::write(&bin, bytes).unwrap();
    let err = source.deleted_rows(&after.files[0]).await.unwrap_err();
    assert!(
        matches!(err, lakeshare_model::Error::Corrupt { .. }),
        "a damaged deletion vector is a corrupt table: {err}"
    );
    std::fs::remove_file(&bin).unwrap();
    let err = source.deleted_rows(&after.files[0]).await.unwrap_err();
    assert!(
        matches!(err, lakeshare_model::Error::Corrupt { .. }),
        "a missing deletion vector is a corrupt table: {err}"
    );
}
