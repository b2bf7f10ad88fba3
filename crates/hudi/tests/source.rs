//! The adapter against tables written by hudi's own writer in a temporary folder: versions,
//! snapshots, merge-on-read refusal and the read-optimized view, cleaned versions, changes,
//! instants completed out of order, base files disagreeing with the schema; and against the
//! shared fixture tables written by Spark, where they are present.

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
        .map(|f| f.partition_values["city"].as_deref().unwrap().to_string())
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

/// The source keeps the table it opened while the timeline is unchanged: a commit written
/// after it opened (by another writer, with or without the metadata table) shows at the next
/// request, with its files, and so does a later one.
#[tokio::test]
async fn commits_written_after_the_source_opened_show_at_the_next_request() {
    for metadata_table in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let instants = write_with(dir.path(), TableTypeValue::CopyOnWrite, metadata_table).await;
        let source = open(dir.path(), HudiOptions::default()).await;
        let third: u64 = instants[2].parse().unwrap();
        for _ in 0..2 {
            assert_eq!(source.latest_version().await.unwrap(), third);
        }
        assert_eq!(rows(&source.snapshot(third).await.unwrap()), 5);

        let mut writer = Table::new(dir.path().to_str().unwrap()).await.unwrap();
        let mut expected_rows = 5;
        for (round, city) in ["sea", "bos"].into_iter().enumerate() {
            let id = 10 + round as i64;
            let w = writer.append([batch(&[id], city, 40)]).await.unwrap();
            let written: u64 = w.requested_time.expect("a commit").parse().unwrap();
            expected_rows += 1;
            let latest = source.latest_version().await.unwrap();
            assert_eq!(
                latest, written,
                "metadata table {metadata_table}: the new commit"
            );
            let snapshot = source.snapshot(latest).await.unwrap();
            assert_eq!(
                rows(&snapshot),
                expected_rows,
                "metadata table {metadata_table}"
            );
            assert!(
                snapshot
                    .files
                    .iter()
                    .any(|f| f.url.as_str().contains(&format!("city={city}"))),
                "metadata table {metadata_table}: the new partition's file"
            );
            assert_eq!(
                source.versions().await.unwrap().len(),
                4 + round,
                "metadata table {metadata_table}"
            );
        }
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

/// Every row of `version`, each formatted as one line, sorted: two reads are equal when these
/// are.
async fn row_lines(source: &HudiSource, version: u64) -> Vec<String> {
    use arrow_cast::display::{ArrayFormatter, FormatOptions};
    use futures::TryStreamExt;
    let rows = source.rows(version).await.unwrap();
    let batches: Vec<RecordBatch> = rows.batches.try_collect().await.unwrap();
    let mut lines = Vec::new();
    for batch in &batches {
        let options = FormatOptions::default();
        let columns: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = columns.iter().map(|c| c.value(row).to_string()).collect();
            lines.push(cells.join("|"));
        }
    }
    lines.sort();
    lines
}

#[tokio::test]
async fn the_demo_merge_on_read_trips_merge_to_the_copy_on_write_trips_at_every_instant() {
    // Both written by hudi's own writer with the same history: in the merge-on-read table the
    // upsert and the delete are log blocks, which its snapshots refuse, and its rows (hudi's
    // merged read, what a computed table is made from) are the copy-on-write table's.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let (cow, mor) = (root.join("cow"), root.join("mor"));
    lakeshare_demo::hudi::ensure_trips(&cow, false)
        .await
        .unwrap();
    lakeshare_demo::hudi::ensure_trips(&mor, true)
        .await
        .unwrap();
    let cow = open(&cow, HudiOptions::default()).await;
    let mor = open(&mor, HudiOptions::default()).await;
    let (cow_versions, mor_versions) =
        (cow.versions().await.unwrap(), mor.versions().await.unwrap());
    assert_eq!(mor_versions.len(), 4, "{mor_versions:?}");
    assert_eq!(cow_versions.len(), 4, "{cow_versions:?}");
    for (at, (c, m)) in cow_versions.iter().zip(&mor_versions).enumerate() {
        let snapshot = mor.snapshot(*m).await.unwrap();
        // The inserts are base files; the upsert and the delete wait in log files.
        match snapshot.unservable {
            None => assert!(at < 2, "instant {at} has no log files"),
            Some(reason) => {
                assert!(at >= 2, "instant {at}: {reason}");
                assert!(reason.contains("log files"), "{reason}");
            }
        }
        let (expected, merged) = (row_lines(&cow, *c).await, row_lines(&mor, *m).await);
        assert_eq!(merged.len(), expected.len(), "rows at instant {at}");
        assert!(merged == expected, "the rows at instant {at} differ");
    }
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
    assert_eq!(view.metadata.native["hudi.read-optimized"], "true");

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

/// The completed instant file of `instant` in a version 8+ timeline:
/// `.hoodie/timeline/<requested>_<completed>.<action>`.
fn completed_file(table: &std::path::Path, instant: &str) -> std::path::PathBuf {
    let timeline = table.join(".hoodie").join("timeline");
    std::fs::read_dir(&timeline)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&format!("{instant}_")) && name.ends_with(".commit")
        })
        .unwrap_or_else(|| panic!("no completed commit file for {instant}"))
}

/// The completion time of a completed instant file's name.
fn completion_of(file: &std::path::Path) -> String {
    let name = file.file_name().unwrap().to_string_lossy();
    name.split(['_', '.']).nth(1).unwrap().to_string()
}

/// `time` (`yyyyMMddHHmmssSSS`) plus `seconds`.
fn later(time: &str, seconds: i64) -> String {
    let t = chrono::NaiveDateTime::parse_from_str(&time[..14], "%Y%m%d%H%M%S").unwrap()
        + chrono::TimeDelta::milliseconds(time[14..].parse::<i64>().unwrap())
        + chrono::TimeDelta::seconds(seconds);
    t.format("%Y%m%d%H%M%S%3f").to_string()
}

#[tokio::test]
async fn versions_follow_completion_order_and_never_change_meaning() {
    let dir = tempfile::tempdir().unwrap();
    // Listings from storage, where renaming timeline files is all it takes to reorder them.
    let instants = write_with(dir.path(), TableTypeValue::CopyOnWrite, false).await;
    let [first, la, update] = [0, 1, 2].map(|i| instants[i].parse::<u64>().unwrap());
    // Two concurrent writers: the la insert (requested second) is still in flight when the
    // upsert (requested third) completes.
    let la_done = completed_file(dir.path(), &instants[1]);
    let aside = dir.path().join("la-commit-in-flight");
    std::fs::rename(&la_done, &aside).unwrap();
    let source = open(dir.path(), HudiOptions::default()).await;
    assert_eq!(source.latest_version().await.unwrap(), update);
    let served = source.snapshot(update).await.unwrap();
    // sf (updated) and nyc, without la's files, which are not committed yet.
    assert_eq!(rows(&served), 3);

    // The la insert completes after the upsert: a new version above it, read with both.
    let completed = later(&completion_of(&completed_file(dir.path(), &instants[2])), 1);
    let renamed = la_done.with_file_name(format!("{}_{completed}.commit", instants[1]));
    std::fs::rename(&aside, &renamed).unwrap();
    let latest = source.latest_version().await.unwrap();
    assert_eq!(latest, completed.parse::<u64>().unwrap());
    assert!(latest > update);
    let snapshot = source.snapshot(latest).await.unwrap();
    assert_eq!(rows(&snapshot), 5);
    assert_eq!(snapshot.native_id.as_deref(), Some(instants[1].as_str()));
    assert!(snapshot.unservable.is_none());
    // The la insert's requested time is no version: it would sit below one already served.
    let err = source.snapshot(la).await.unwrap_err();
    assert!(matches!(err, Error::VersionNotFound { .. }), "{err}");
    // The upsert's version would now read la's rows too (hudi reads by requested time), which
    // it did not have when it was served: refused, naming both instants.
    let err = source.snapshot(update).await.unwrap_err();
    let Error::Unsupported(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains(&instants[2]) && message.contains(&instants[1]),
        "{message}"
    );
    assert!(message.contains("completed later"), "{message}");
    // Its changes, and those of the late version (which start from it), are refused alike.
    for (start, end) in [(update, update), (latest, latest)] {
        let err = source.changes(start, end).await.unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{err}");
    }
    // The first version is untouched, and time travel by time still lands on versions.
    assert_eq!(rows(&source.snapshot(first).await.unwrap()), 3);
    let at = chrono::DateTime::from_timestamp_millis(snapshot.timestamp_ms).unwrap();
    assert_eq!(
        source
            .version_at(at, TimestampBound::AtOrBefore)
            .await
            .unwrap(),
        latest
    );
}

/// Replaces the Avro schema a v8+ commit's metadata records with `edit` of it.
fn edit_commit_schema(file: &std::path::Path, edit: impl Fn(&mut serde_json::Value)) {
    use hudi::metadata::commit::HoodieCommitMetadata;
    let mut metadata =
        HoodieCommitMetadata::from_avro_bytes(&std::fs::read(file).unwrap()).unwrap();
    let extra = metadata.extra_metadata.as_mut().unwrap();
    let mut schema: serde_json::Value = serde_json::from_str(&extra["schema"]).unwrap();
    edit(&mut schema);
    extra.insert("schema".into(), schema.to_string());
    std::fs::write(file, metadata.to_avro_bytes().unwrap()).unwrap();
}

/// Sets the Avro type of `column` (keeping it nullable).
fn set_type(column: &'static str, avro: &'static str) -> impl Fn(&mut serde_json::Value) {
    move |schema| {
        let fields = schema["fields"].as_array_mut().unwrap();
        let field = fields.iter_mut().find(|f| f["name"] == column).unwrap();
        field["type"] = serde_json::json!(["null", avro]);
    }
}

/// The Arrow type of `column` in the footer of the (one) base file in `partition`.
async fn file_type(table: &std::path::Path, partition: &str, column: &str) -> DataType {
    use hudi::config::HudiConfigs;
    use hudi::file_group::base_file::parquet::ParquetBaseFileReader;
    use hudi::storage::Storage;
    let file = std::fs::read_dir(table.join(partition))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|name| name.ends_with(".parquet"))
        .unwrap();
    let root = url::Url::from_directory_path(table).unwrap().to_string();
    let configs = HudiConfigs::new([("hoodie.base.path", root)]);
    let storage = Storage::new(Arc::default(), Arc::new(configs)).unwrap();
    let schema = ParquetBaseFileReader::new(storage)
        .get_schema(&format!("{partition}/{file}"))
        .await
        .unwrap();
    schema.field_with_name(column).unwrap().data_type().clone()
}

/// The Delta type of a top-level column of a snapshot's schema.
fn column_type(snapshot: &lakeshare_model::Snapshot, column: &str) -> String {
    let schema: serde_json::Value = serde_json::from_str(&snapshot.metadata.schema_string).unwrap();
    let fields = schema["fields"].as_array().unwrap();
    let field = fields.iter().find(|f| f["name"] == column).unwrap();
    field["type"].as_str().unwrap().to_string()
}

fn batch_with_string_amount(ids: &[i64], city: &str, amount: &str) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("amount", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(vec![city; ids.len()])),
            Arc::new(StringArray::from(vec![amount; ids.len()])),
        ],
    )
    .unwrap()
}

/// A copy-on-write `orders` table at `uri` (no metadata table) with its first commit: sf and
/// nyc, `amount` as int64. Returns that commit's instant.
async fn first_orders_commit(uri: &str) -> String {
    let mut table = Table::create(uri)
        .with_metadata_table_enabled(false)
        .with_table_name("orders")
        .with_table_type(TableTypeValue::CopyOnWrite)
        .with_record_key_fields(["id"])
        .with_partition_fields(["city"])
        .with_hive_style_partitioning(true)
        .with_option("hoodie.table.timeline.timezone", "UTC")
        .create()
        .await
        .unwrap();
    let w = table
        .append([batch(&[1, 2], "sf", 10), batch(&[3], "nyc", 20)])
        .await
        .unwrap();
    w.requested_time.unwrap()
}

#[tokio::test]
async fn base_files_holding_a_column_in_another_type_than_the_schema_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().to_str().unwrap();
    let first = first_orders_commit(uri).await;
    // The column changes type (long to string) between two writes, as a timestamp key
    // generator's partition source does between writers: hudi's writer takes the latest
    // commit's schema as the table's, so the first commit is made to say string while the
    // second writes, and its true schema is put back after.
    let first_commit = completed_file(dir.path(), &first);
    let recorded = std::fs::read(&first_commit).unwrap();
    edit_commit_schema(&first_commit, set_type("amount", "string"));
    let mut table = Table::new(uri).await.unwrap();
    let w = table
        .append([batch_with_string_amount(&[4, 5], "la", "30")])
        .await
        .unwrap();
    let second = w.requested_time.unwrap();
    std::fs::write(&first_commit, recorded).unwrap();

    // The files do disagree: sf's holds amount as int64, la's as a string.
    assert_eq!(
        file_type(dir.path(), "city=sf", "amount").await,
        DataType::Int64
    );
    assert_eq!(
        file_type(dir.path(), "city=la", "amount").await,
        DataType::Utf8
    );

    let source = open(dir.path(), HudiOptions::default()).await;
    // The first version's files all hold amount as its schema says.
    let consistent = source.snapshot(first.parse().unwrap()).await.unwrap();
    assert!(consistent.unservable.is_none());
    assert_eq!(rows(&consistent), 3);
    assert_eq!(column_type(&consistent, "amount"), "long");
    // The second's schema says string, but sf's and nyc's base files hold int64.
    let mixed = source.snapshot(second.parse().unwrap()).await.unwrap();
    assert!(mixed.files.is_empty());
    // Its metadata is still served.
    assert_eq!(column_type(&mixed, "amount"), "string");
    let message = mixed.unservable.expect("refused");
    assert!(
        message.contains("'amount'") && message.contains("int64") && message.contains("string"),
        "{message}"
    );
    assert!(message.contains("disagree with its schema"), "{message}");
    assert!(message.contains(&first), "{message}");
    let err = source
        .changes(second.parse().unwrap(), second.parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");

    // Computed (`materialize: auto`), the version's rows come in the type its schema says:
    // every file's values cast, whatever the file holds.
    let (schema, amounts) = amounts_of(&source, &second).await;
    assert_eq!(schema, DataType::Utf8);
    assert_eq!(amounts, ["10", "10", "20", "30", "30"]);

    // A table whose files all agree with its schema is served at every version.
    let other = tempfile::tempdir().unwrap();
    let instants = write(other.path(), TableTypeValue::CopyOnWrite).await;
    let source = open(other.path(), HudiOptions::default()).await;
    for instant in &instants {
        let snapshot = source.snapshot(instant.parse().unwrap()).await.unwrap();
        assert!(snapshot.unservable.is_none(), "{:?}", snapshot.unservable);
    }
}

/// The type of `amount` in the rows `version` computes from, and its values as strings, sorted
/// (every batch must have the rows' own schema).
async fn amounts_of(source: &HudiSource, version: &str) -> (DataType, Vec<String>) {
    use futures::TryStreamExt;
    let rows = source.rows(version.parse().unwrap()).await.unwrap();
    let at = rows.schema.index_of("amount").unwrap();
    let expected = rows.schema.field(at).data_type().clone();
    let batches: Vec<RecordBatch> = rows.batches.try_collect().await.unwrap();
    let mut values = Vec::new();
    for batch in &batches {
        assert_eq!(batch.schema(), rows.schema, "a batch in another schema");
        let column = arrow_cast::cast(batch.column(at), &DataType::Utf8).unwrap();
        let strings = column.as_any().downcast_ref::<StringArray>().unwrap();
        values.extend(strings.iter().map(|v| v.unwrap().to_string()));
    }
    values.sort();
    (expected, values)
}

/// The Avro type name of `column` (nullable or not) in the schema a v8+ commit's metadata
/// records.
fn commit_type(file: &std::path::Path, column: &str) -> String {
    use hudi::metadata::commit::HoodieCommitMetadata;
    let metadata = HoodieCommitMetadata::from_avro_bytes(&std::fs::read(file).unwrap()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&metadata.extra_metadata.unwrap()["schema"]).unwrap();
    let fields = schema["fields"].as_array().unwrap();
    let mut avro = fields.iter().find(|f| f["name"] == column).unwrap()["type"].clone();
    if let Some(branches) = avro.as_array() {
        avro = branches.iter().find(|b| *b != "null").unwrap().clone();
    }
    match avro.get("type") {
        Some(name) => name.as_str().unwrap().to_string(),
        None => avro.as_str().unwrap().to_string(),
    }
}

#[tokio::test]
async fn base_files_holding_another_type_than_every_commit_schema_says_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().to_str().unwrap();
    let first = first_orders_commit(uri).await;
    // The first commit's files hold amount as int64, but its recorded writer schema is made
    // to say string for good: the state a timestamp key generator can leave, where the schema
    // commits record is not the type the writer put in the files.
    let first_commit = completed_file(dir.path(), &first);
    edit_commit_schema(&first_commit, set_type("amount", "string"));
    let mut table = Table::new(uri).await.unwrap();
    let w = table
        .append([batch_with_string_amount(&[4, 5], "la", "30")])
        .await
        .unwrap();
    let second = w.requested_time.unwrap();

    // Every commit says string; the oldest files hold int64.
    assert_eq!(commit_type(&first_commit, "amount"), "string");
    assert_eq!(
        commit_type(&completed_file(dir.path(), &second), "amount"),
        "string"
    );
    assert_eq!(
        file_type(dir.path(), "city=sf", "amount").await,
        DataType::Int64
    );
    assert_eq!(
        file_type(dir.path(), "city=la", "amount").await,
        DataType::Utf8
    );

    let source = open(dir.path(), HudiOptions::default()).await;
    for version in [&first, &second] {
        let snapshot = source.snapshot(version.parse().unwrap()).await.unwrap();
        assert!(snapshot.files.is_empty(), "version {version}");
        assert_eq!(column_type(&snapshot, "amount"), "string");
        let message = snapshot.unservable.expect("refused");
        assert!(
            message.contains("column 'amount' is string")
                && message.contains("hold it as int64")
                && message.contains("disagree with its schema"),
            "{message}"
        );
        // Which files: the writer instant, how many, an example and its partition.
        assert!(
            message.contains(&format!("Hudi instant {first}")),
            "{message}"
        );
        assert!(message.contains("(2 live base file(s)"), "{message}");
        assert!(
            message.contains("partition 'city=sf'") || message.contains("partition 'city=nyc'"),
            "{message}"
        );
        assert!(message.contains("insert overwrite"), "{message}");
        // The same, from the footers kept.
        let again = source.snapshot(version.parse().unwrap()).await.unwrap();
        assert_eq!(again.unservable.as_deref(), Some(message.as_str()));
    }
    let err = source
        .changes(first.parse().unwrap(), second.parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
}

#[tokio::test]
async fn base_file_footers_are_read_once_per_writer_instant() {
    let dir = tempfile::tempdir().unwrap();
    let instants = write(dir.path(), TableTypeValue::CopyOnWrite).await;
    let latest: u64 = instants[2].parse().unwrap();
    let source = open(dir.path(), HudiOptions::default()).await;
    assert!(source.snapshot(latest).await.unwrap().unservable.is_none());
    // Every base file made unreadable: the source has what it needs from their footers.
    for partition in ["city=sf", "city=nyc", "city=la"] {
        for entry in std::fs::read_dir(dir.path().join(partition)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "parquet") {
                std::fs::write(&path, b"not parquet").unwrap();
            }
        }
    }
    let snapshot = source.snapshot(latest).await.unwrap();
    assert!(snapshot.unservable.is_none());
    assert_eq!(rows(&snapshot), 5);
    // A source that never read them does read them.
    let fresh = open(dir.path(), HudiOptions::default()).await;
    assert!(fresh.snapshot(latest).await.is_err());
}

/// The shared fixture tables (Hudi tables written by Spark, zipped).
fn fixtures() -> std::path::PathBuf {
    let tables = lakeshare_demo::fixtures::shared()
        .join("hudi")
        .join("sample_table");
    assert!(
        tables.is_dir(),
        "the shared Hudi fixtures are missing at {}",
        tables.display()
    );
    tables
}

/// Unzips `zip` into `into`; the table is the folder named after the zip file.
fn unzip(zip: &std::path::Path, into: &std::path::Path) -> std::path::PathBuf {
    let status = std::process::Command::new("unzip")
        .arg("-q")
        .arg(zip)
        .arg("-d")
        .arg(into)
        .status()
        .expect("unzip (scripts/setup installs it)");
    assert!(status.success(), "unzip {zip:?} failed");
    into.join(zip.file_stem().unwrap())
}

#[tokio::test]
async fn every_shared_fixture_keeps_its_versions_and_serves_them() {
    let fixtures = fixtures();
    let zips = [
        "cow/v6_complexkeygen_hivestyle",
        "cow/v6_empty",
        "cow/v6_nonpartitioned",
        "cow/v6_simplekeygen_nonhivestyle",
        "cow/v6_simplekeygen_nonhivestyle_overwritetable",
        "cow/v8_nonpartitioned",
        "cow/v8_simplekeygen_nonhivestyle",
        "cow/v9_txns_simple_nometa",
        "mor/parquet/v6_nonpartitioned",
        "mor/avro/v9_txns_simple_nometa",
    ];
    for name in zips {
        let dir = tempfile::tempdir().unwrap();
        let path = unzip(&fixtures.join(format!("{name}.zip")), dir.path());
        let location = path.to_str().unwrap();
        // Versions are the completed instants' requested times, as hudi lists them.
        let table = Table::new(location).await.unwrap();
        let instants: Vec<u64> = table
            .get_timeline()
            .completed_commits
            .iter()
            .map(|i| i.timestamp.parse().unwrap())
            .collect();
        let mor = name.starts_with("mor/");
        let source = open(&path, HudiOptions::default()).await;
        let latest = source.latest_version().await.unwrap();
        assert_eq!(
            latest,
            instants.iter().copied().max().unwrap_or(0),
            "{name}"
        );
        for &version in &instants {
            let snapshot = source.snapshot(version).await.unwrap();
            match snapshot.unservable {
                None => {}
                // Only uncompacted log files keep a fixture's version from being served.
                Some(reason) if mor && reason.contains("log files") => {}
                Some(reason) => panic!("{name} version {version}: {reason}"),
            }
        }
        if mor {
            let view = HudiOptions {
                read_optimized: true,
                ..Default::default()
            };
            let source = open(&path, view).await;
            for &version in &instants {
                let snapshot = source.snapshot(version).await.unwrap();
                assert_eq!(snapshot.unservable, None, "{name} version {version}");
            }
        } else if let (Some(first), Some(last)) = (instants.first(), instants.last()) {
            let changes = source.changes(*first, *last).await.unwrap();
            assert_eq!(changes.len(), instants.len(), "{name}");
        }
    }
}

/// The `TableSource` contract (`lakeshare_model::conformance`) on the demo's trips (written by
/// hudi's writer) and on every shared fixture written by Spark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_keep_the_table_source_contract() {
    use lakeshare_model::conformance::{Expectations, check};
    use lakeshare_storage::{LocalUrlSigner, Signer, UrlSigner};

    let check_table = |path: std::path::PathBuf, min_versions: usize| async move {
        let source = HudiSource::open(path.to_str().unwrap(), HudiOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let root = source.table_root().expect("a local table");
        let signer = LocalUrlSigner::new(
            Signer::random(),
            "http://gateway/files",
            &root,
            std::time::Duration::from_secs(60),
        )
        .unwrap();
        let inside = |url: &str| signer.check(url).is_ok();
        check(
            &source,
            &Expectations {
                inside_root: &inside,
                min_versions,
            },
        )
        .await
    };
    let dir = tempfile::tempdir().unwrap();
    let trips = dir.path().canonicalize().unwrap().join("trips");
    lakeshare_demo::hudi::ensure_trips(&trips, false)
        .await
        .unwrap();
    let versions = check_table(trips, 4).await;
    assert_eq!(versions.len(), 4, "the demo's four instants");

    let fixtures = fixtures();
    for name in [
        "cow/v6_complexkeygen_hivestyle",
        "cow/v6_nonpartitioned",
        "cow/v6_simplekeygen_nonhivestyle",
        "cow/v6_simplekeygen_nonhivestyle_overwritetable",
        "cow/v8_nonpartitioned",
        "cow/v8_simplekeygen_nonhivestyle",
        "cow/v9_txns_simple_nometa",
        "mor/parquet/v6_nonpartitioned",
        "mor/avro/v9_txns_simple_nometa",
    ] {
        let into = dir
            .path()
            .canonicalize()
            .unwrap()
            .join(name.replace('/', "-"));
        let path = unzip(&fixtures.join(format!("{name}.zip")), &into);
        let versions = check_table(path, 1).await;
        eprintln!("{name}: versions {versions:?} keep the contract");
    }
}
