//! The adapter against tables written by hudi's own writer in a temporary folder: versions,
//! snapshots, merge-on-read refusal and the read-optimized view, cleaned versions, changes.

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use hudi::config::table::TableTypeValue;
use hudi::table::Table;
use lakeshare_hudi::{HudiOptions, HudiSource};
use lakeshare_model::{ChangeKind, Error, TableSource, TimestampBound};

fn batch(ids: &[i64], city: &str, amount: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("amount", DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(vec![city; ids.len()])),
            Arc::new(Int64Array::from(vec![amount; ids.len()])),
        ],
    )
    .unwrap()
}

/// A table partitioned by `city` with three commits: sf and nyc inserted, la inserted, sf's
/// id 2 updated. Returns its folder and the instants, oldest first.
async fn write(dir: &std::path::Path, kind: TableTypeValue) -> Vec<String> {
    write_with(dir, kind, true).await
}

/// `write`, with or without the metadata table (without, file listings come from storage).
async fn write_with(
    dir: &std::path::Path,
    kind: TableTypeValue,
    metadata_table: bool,
) -> Vec<String> {
    let mut table = Table::create(dir.to_str().unwrap())
        .with_metadata_table_enabled(metadata_table)
        .with_table_name("orders")
        .with_table_type(kind)
        .with_record_key_fields(["id"])
        .with_partition_fields(["city"])
        .with_hive_style_partitioning(true)
        .with_option("hoodie.table.timeline.timezone", "UTC")
        .create()
        .await
        .unwrap();
    let mut instants = Vec::new();
    let w = table
        .append([batch(&[1, 2], "sf", 10), batch(&[3], "nyc", 20)])
        .await
        .unwrap();
    instants.push(w.requested_time.expect("a commit"));
    let w = table.append([batch(&[4, 5], "la", 30)]).await.unwrap();
    instants.push(w.requested_time.expect("a commit"));
    let w = table.upsert([batch(&[2], "sf", 99)]).await.unwrap();
    instants.push(w.requested_time.expect("a commit"));
    instants
}

async fn open(dir: &std::path::Path, options: HudiOptions) -> HudiSource {
    HudiSource::open(dir.to_str().unwrap(), options)
        .await
        .unwrap()
}

fn rows(snapshot: &lakeshare_model::Snapshot) -> u64 {
    snapshot
        .files
        .iter()
        .map(|f| {
            f.stats
                .as_ref()
                .and_then(|s| s.num_records)
                .expect("row counts")
        })
        .sum()
}

#[tokio::test]
async fn copy_on_write_versions_snapshots_and_changes() {
    let dir = tempfile::tempdir().unwrap();
    let instants = write(dir.path(), TableTypeValue::CopyOnWrite).await;
    let source = open(dir.path(), HudiOptions::default()).await;
    let versions: Vec<u64> = instants.iter().map(|i| i.parse().unwrap()).collect();

    assert_eq!(source.latest_version().await.unwrap(), versions[2]);
    let first = source.snapshot(versions[0]).await.unwrap();
    assert_eq!(first.native_id.as_deref(), Some(instants[0].as_str()));
    assert_eq!(first.metadata.partition_columns, ["city"]);
    assert_eq!(first.files.len(), 2);
    assert_eq!(rows(&first), 3);
    assert!(!first.metadata.schema_string.contains("_hoodie_"));
    let cities: Vec<_> = first
        .files
        .iter()
        .map(|f| f.partition_values["city"].clone().unwrap())
        .collect();
    assert!(cities.contains(&"sf".to_string()) && cities.contains(&"nyc".to_string()));

    let latest = source.snapshot(versions[2]).await.unwrap();
    assert_eq!(latest.files.len(), 3);
    assert_eq!(rows(&latest), 5);
    // Bounds from the metadata table's column statistics (hudi's writer keeps them).
    let sf = latest
        .files
        .iter()
        .find(|f| f.partition_values["city"].as_deref() == Some("sf"))
        .unwrap();
    let stats: serde_json::Value = serde_json::from_str(&sf.stats.as_ref().unwrap().json).unwrap();
    assert_eq!(stats["numRecords"], 2, "{stats}");
    assert_eq!(stats["minValues"]["id"], 1, "{stats}");
    assert_eq!(stats["maxValues"]["id"], 2, "{stats}");
    assert_eq!(stats["minValues"]["amount"], 10, "{stats}");
    assert_eq!(stats["maxValues"]["amount"], 99, "{stats}");
    assert_eq!(stats["nullCount"]["amount"], 0, "{stats}");
    assert!(stats["minValues"].get("_hoodie_record_key").is_none());
    // Files untouched since version 1 keep their ids.
    let nyc = |s: &lakeshare_model::Snapshot| {
        s.files
            .iter()
            .find(|f| f.partition_values["city"].as_deref() == Some("nyc"))
            .unwrap()
            .id
            .clone()
    };
    assert_eq!(nyc(&first), nyc(&latest));

    let missing = source.snapshot(versions[0] - 1).await.unwrap_err();
    assert!(
        matches!(missing, Error::VersionNotFound { .. }),
        "{missing}"
    );

    // The upsert rewrote sf's base file: one removed, one added, nothing else.
    let changes = source.changes(versions[1], versions[2]).await.unwrap();
    assert_eq!(changes.len(), 2);
    let kinds = |i: usize| -> Vec<ChangeKind> { changes[i].files.iter().map(|f| f.kind).collect() };
    assert_eq!(kinds(0), [ChangeKind::Added]);
    let mut upsert = kinds(1);
    upsert.sort_by_key(|k| *k as u8);
    assert_eq!(upsert, [ChangeKind::Added, ChangeKind::Removed]);
    // The first version's changes are everything it wrote.
    let from_start = source.changes(versions[0], versions[0]).await.unwrap();
    assert_eq!(from_start[0].files.len(), 2);
    assert!(from_start[0].metadata.is_some());

    // Time travel by commit time lands on each version.
    for v in &versions {
        let at = source.snapshot(*v).await.unwrap().timestamp_ms;
        let t = chrono::DateTime::from_timestamp_millis(at).unwrap();
        assert_eq!(
            source
                .version_at(t, TimestampBound::AtOrBefore)
                .await
                .unwrap(),
            *v
        );
    }
}

#[tokio::test]
async fn a_version_whose_base_file_was_cleaned_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Without a metadata table, whose `files` partition the real cleaner would update too.
    let instants = write_with(dir.path(), TableTypeValue::CopyOnWrite, false).await;
    // What the cleaner does once sf's first base file is no longer retained.
    let sf = dir.path().join("city=sf");
    for entry in std::fs::read_dir(&sf).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(&format!("_{}.parquet", instants[0])) {
            std::fs::remove_file(path).unwrap();
        }
    }
    let source = open(dir.path(), HudiOptions::default()).await;
    let err = source
        .snapshot(instants[0].parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cleaner"), "{err}");
    // The newest version is whole.
    let latest = source.snapshot(instants[2].parse().unwrap()).await.unwrap();
    assert_eq!(rows(&latest), 5);
}

#[tokio::test]
async fn merge_on_read_log_files_are_refused_unless_read_optimized() {
    let dir = tempfile::tempdir().unwrap();
    let instants = write(dir.path(), TableTypeValue::MergeOnRead).await;
    let latest: u64 = instants[2].parse().unwrap();
    let source = open(dir.path(), HudiOptions::default()).await;
    // Before the upsert every file group is a base file alone.
    assert_eq!(
        rows(&source.snapshot(instants[1].parse().unwrap()).await.unwrap()),
        5
    );
    // The latest version has its metadata, but its files are refused, and so are its changes.
    let snapshot = source.snapshot(latest).await.unwrap();
    assert!(snapshot.files.is_empty());
    let message = snapshot.unservable.expect("refused");
    assert!(
        message.contains("log files") && message.contains("read_optimized"),
        "{message}"
    );
    let err = source.changes(latest, latest).await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");

    let read_optimized = open(
        dir.path(),
        HudiOptions {
            read_optimized: true,
            ..Default::default()
        },
    )
    .await;
    let view = read_optimized.snapshot(latest).await.unwrap();
    // The base files as they were: the update waits in a log file.
    assert_eq!(rows(&view), 5);
    assert_eq!(view.metadata.configuration["hudi.read-optimized"], "true");

    // Copy-on-write tables have no other view.
    let cow = tempfile::tempdir().unwrap();
    write(cow.path(), TableTypeValue::CopyOnWrite).await;
    let err = HudiSource::open(
        cow.path().to_str().unwrap(),
        HudiOptions {
            read_optimized: true,
            ..Default::default()
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("copy-on-write"), "{err}");
}

#[tokio::test]
async fn meta_fields_are_shared_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let instants = write(dir.path(), TableTypeValue::CopyOnWrite).await;
    let source = open(
        dir.path(),
        HudiOptions {
            meta_fields: true,
            ..Default::default()
        },
    )
    .await;
    let snapshot = source.snapshot(instants[0].parse().unwrap()).await.unwrap();
    assert!(
        snapshot
            .metadata
            .schema_string
            .contains(r#""name":"_hoodie_commit_time""#),
        "{}",
        snapshot.metadata.schema_string
    );
}

#[tokio::test]
async fn a_folder_without_a_table_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let err = HudiSource::open(dir.path().to_str().unwrap(), HudiOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TableNotFound { .. }), "{err:?}");
}
