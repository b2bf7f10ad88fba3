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

/// The `id` values of `rows`, sorted.
async fn ids(rows: lakeshare_model::Rows) -> Vec<i64> {
    use futures::TryStreamExt as _;
    let batches: Vec<arrow_array::RecordBatch> = rows.batches.try_collect().await.unwrap();
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_replaces_appends_and_evicts_and_the_source_tells_appends() {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use lakeshare_model::{ChangeKind, Commit, Content, Place, TableSource, TableWriter};

    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().canonicalize().unwrap().join("written");
    let location = folder.to_str().unwrap();
    let place = || Place::Local { location };
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let batch = |ids: &[i64]| {
        RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(ids.to_vec()))],
        )
        .unwrap()
    };
    let commit = |content, rows: &[i64], after| Commit {
        schema: schema.clone(),
        content,
        rows: vec![batch(rows)],
        deleted: Vec::new(),
        inserted: Vec::new(),
        note: serde_json::json!({ "n": after }),
        after,
    };
    let writer = lakeshare_delta::DeltaTableWriter;
    assert_eq!(
        writer
            .commit(place(), commit(Content::Replace, &[1, 2], None))
            .await
            .unwrap(),
        0
    );
    // An append's first version cannot be one.
    assert!(
        writer
            .commit(place(), commit(Content::Append, &[9], None))
            .await
            .is_err()
    );
    assert_eq!(
        writer
            .commit(place(), commit(Content::Append, &[3], Some(0)))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        writer
            .commit(place(), commit(Content::Append, &[4, 5], Some(1)))
            .await
            .unwrap(),
        2
    );
    // A commit after a version that is not the latest conflicts.
    assert!(matches!(
        writer
            .commit(place(), commit(Content::Append, &[6], Some(1)))
            .await,
        Err(lakeshare_model::Error::Conflict(_))
    ));

    let source = DeltaSource::open(location).await.unwrap();
    assert_eq!(ids(source.rows(2).await.unwrap()).await, [1, 2, 3, 4, 5]);
    // Appends are told as such, and read alone; their feed is the added files.
    let appended = source.appended(0, 2).await.unwrap().expect("only appends");
    assert_eq!(ids(appended).await, [3, 4, 5]);
    let changes = source.changes(1, 2).await.unwrap();
    assert!(
        changes
            .iter()
            .all(|c| c.files.iter().all(|f| f.kind == ChangeKind::Added))
    );
    let nothing = source
        .appended(2, 2)
        .await
        .unwrap()
        .expect("nothing appended");
    assert!(ids(nothing).await.is_empty());

    // A replacement is no append; its replaced files go once old enough, the latest stays.
    assert_eq!(
        writer
            .commit(place(), commit(Content::Replace, &[7], Some(2)))
            .await
            .unwrap(),
        3
    );
    let source = DeltaSource::open(location).await.unwrap();
    assert!(source.appended(2, 3).await.unwrap().is_none());
    assert!(source.appended(0, 3).await.unwrap().is_none());
    let parquet = || {
        std::fs::read_dir(&folder)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "parquet")
            })
            .count()
    };
    assert_eq!(parquet(), 4);
    let too_recent = writer.evict(place(), 0, 3, 0).await.unwrap();
    assert_eq!((too_recent.files, too_recent.next), (0, 0));
    let future = chrono::Utc::now().timestamp_millis() + 60_000;
    let evicted = writer.evict(place(), 0, 3, future).await.unwrap();
    assert_eq!((evicted.files, evicted.next), (3, 4));
    assert!(evicted.bytes > 0);
    assert_eq!(parquet(), 1);
    assert_eq!(ids(source.rows(3).await.unwrap()).await, [7]);
    // Again: nothing left to delete, and no failure.
    assert_eq!(writer.evict(place(), 0, 3, future).await.unwrap().files, 0);
    assert_eq!(writer.notes(place(), 0).await.unwrap().len(), 4);
}

/// The bytes of the Parquet files below `folder` (data and change data).
fn parquet_bytes(folder: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            total += parquet_bytes(&path);
        } else if path.extension().is_some_and(|x| x == "parquet") {
            total += path.metadata().unwrap().len();
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_counts_what_each_version_keeps_and_records_the_first_kept() {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use lakeshare_model::{Commit, Content, Kept, Place, TableSource, TableWriter};

    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().canonicalize().unwrap().join("written");
    let location = folder.to_str().unwrap();
    let place = || Place::Local { location };
    let writer = lakeshare_delta::DeltaTableWriter;
    assert!(writer.footprint(place()).await.unwrap().is_empty());
    assert_eq!(writer.kept(place()).await.unwrap(), None);

    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let batch = |ids: &[i64]| {
        vec![
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from(ids.to_vec()))],
            )
            .unwrap(),
        ]
    };
    let commit = |content, rows: &[i64], deleted: &[i64], inserted: &[i64], after| Commit {
        schema: schema.clone(),
        content,
        rows: batch(rows),
        deleted: if deleted.is_empty() {
            Vec::new()
        } else {
            batch(deleted)
        },
        inserted: if inserted.is_empty() {
            Vec::new()
        } else {
            batch(inserted)
        },
        note: serde_json::json!({}),
        after,
    };
    // Replaced, appended, replaced with change data, unchanged, replaced again.
    let commits = [
        commit(Content::Replace, &[1, 2], &[], &[], None),
        commit(Content::Append, &[3], &[], &[], Some(0)),
        commit(Content::Replace, &[1, 3, 4], &[2], &[4], Some(1)),
        Commit {
            rows: Vec::new(),
            ..commit(Content::Unchanged, &[], &[], &[], Some(2))
        },
        commit(Content::Replace, &[5], &[1, 3, 4], &[5], Some(3)),
    ];
    for (version, c) in commits.into_iter().enumerate() {
        assert_eq!(writer.commit(place(), c).await.unwrap(), version as u64);
    }
    let footprint = writer.footprint(place()).await.unwrap();
    assert_eq!(footprint.len(), 5);
    assert!(
        footprint
            .windows(2)
            .all(|w| w[0].committed_ms <= w[1].committed_ms)
    );
    assert!(footprint[0].committed_ms > 0);
    // Version 0 on: everything written. Each later one: exactly what stays on disk once the
    // versions before it are evicted.
    assert_eq!(footprint[0].bytes_from, parquet_bytes(&folder));
    let future = chrono::Utc::now().timestamp_millis() + 60_000;
    for from in 1..5u64 {
        writer.evict(place(), 0, from - 1, future).await.unwrap();
        assert_eq!(
            footprint[from as usize].bytes_from,
            parquet_bytes(&folder),
            "from version {from}"
        );
    }
    assert!(
        footprint
            .windows(2)
            .all(|w| w[0].bytes_from >= w[1].bytes_from)
    );
    // Still what the log says after the evictions.
    assert_eq!(writer.footprint(place()).await.unwrap(), footprint);

    // The first kept version is recorded beside the table, which reads as before.
    let kept = Kept {
        from: 3,
        since_ms: 1_234,
    };
    writer.keep_from(place(), kept).await.unwrap();
    assert_eq!(writer.kept(place()).await.unwrap(), Some(kept));
    let later = Kept {
        from: 4,
        since_ms: 5_678,
    };
    writer.keep_from(place(), later).await.unwrap();
    assert_eq!(writer.kept(place()).await.unwrap(), Some(later));
    // A writer that saw less (another replica) never lowers it, nor does a repeat.
    let behind = Kept {
        from: 2,
        since_ms: 9_999,
    };
    writer.keep_from(place(), behind).await.unwrap();
    writer
        .keep_from(
            place(),
            Kept {
                from: 4,
                since_ms: 7_777,
            },
        )
        .await
        .unwrap();
    assert_eq!(writer.kept(place()).await.unwrap(), Some(later));
    let source = DeltaSource::open(location).await.unwrap();
    assert_eq!(source.versions().await.unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(ids(source.rows(4).await.unwrap()).await, [5]);
}
