//! The demo trips as an Iceberg table with the same data and history as the Delta demo table.
//!
//! Each Delta commit becomes one Iceberg snapshot (sequence numbers 1–4 for Delta versions
//! 0–3): the data files the commit added are copied into the Iceberg table's folder (with the
//! partition column, which Delta leaves out of its files) and listed as added, the ones it
//! removed as deleted, the rest as existing. Bounds and counts come from the Delta statistics.
//! The Parquet files carry no Iceberg field ids, so the table has a name mapping
//! (`schema.name-mapping.default`), as Iceberg's `add_files` would give it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::kernel::Action;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum, FormatVersion, Literal,
    ManifestListWriter, ManifestWriterBuilder, NestedField, Operation, PartitionSpec,
    PrimitiveType, Schema, Snapshot, SortOrder, Struct, Summary, TableMetadataBuilder, Transform,
    Type,
};
use serde_json::Value;

use crate::{Error, Result};

/// Field ids, names and types of the trips, in the Delta table's column order.
const COLUMNS: [(i32, &str, PrimitiveType, bool); 9] = [
    (1, "trip_id", PrimitiveType::Long, true),
    (2, "pickup_at", PrimitiveType::Timestamptz, true),
    (3, "pickup_date", PrimitiveType::Date, true),
    (4, "vendor", PrimitiveType::String, true),
    (5, "passengers", PrimitiveType::Int, true),
    (6, "distance_km", PrimitiveType::Double, true),
    (
        7,
        "fare",
        PrimitiveType::Decimal {
            precision: 10,
            scale: 2,
        },
        true,
    ),
    (8, "tip", PrimitiveType::Double, false),
    (9, "payment", PrimitiveType::String, true),
];

fn error(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Iceberg(format!("{context}: {e}"))
}

/// Writes the Iceberg trips at `path` from the Delta trips at `delta_path`, unless a table is
/// already there. Returns whether it wrote one.
pub async fn ensure_trips(delta_path: &Path, path: &Path) -> Result<bool> {
    if path.join("metadata").is_dir() {
        return Ok(false);
    }
    // A failed run leaves no half table behind (its presence is what a later run checks).
    let written = write_trips(delta_path, path).await;
    if written.is_err() {
        let _ = std::fs::remove_dir_all(path.join("metadata"));
    }
    written.map(|()| true)
}

async fn write_trips(delta_path: &Path, path: &Path) -> Result<()> {
    let url = deltalake::ensure_table_uri(delta_path.to_string_lossy())
        .map_err(|e| error("the Delta demo table", e))?;
    let delta = deltalake::open_table(url)
        .await
        .map_err(|e| error("the Delta demo table", e))?;
    let latest = delta.version().unwrap_or(0);
    std::fs::create_dir_all(path.join("data"))?;
    std::fs::create_dir_all(path.join("metadata"))?;
    let location = std::fs::canonicalize(path)?;

    let schema = Arc::new(schema()?);
    let spec = PartitionSpec::builder(schema.clone())
        .with_spec_id(0)
        .add_partition_field("pickup_date", "pickup_date", Transform::Identity)
        .and_then(|b| b.build())
        .map_err(|e| error("the partition spec", e))?;
    let file_io = FileIO::new_with_fs();
    let root = location.to_string_lossy().into_owned();
    let mut builder = TableMetadataBuilder::new(
        (*schema).clone(),
        spec.clone(),
        SortOrder::unsorted_order(),
        format!("file://{root}"),
        FormatVersion::V2,
        HashMap::from([
            ("schema.name-mapping.default".to_string(), name_mapping()),
            (
                "comment".to_string(),
                "Demo taxi trips: the Delta demo table's data and history, as Iceberg".to_string(),
            ),
        ]),
    )
    .map_err(|e| error("the table metadata", e))?;

    // Data files by path, as of the last snapshot written: (file, sequence number added at,
    // snapshot id added in).
    let mut live: BTreeMap<String, (DataFile, i64, i64)> = BTreeMap::new();
    let mut parent = None;
    for version in 0..=latest {
        let sequence = version as i64 + 1;
        let snapshot_id = 1000 + sequence;
        let bytes = delta
            .log_store()
            .read_commit_entry(version)
            .await
            .map_err(|e| error("reading the Delta log", e))?
            .ok_or_else(|| error("reading the Delta log", format!("no commit {version}")))?;
        let actions = deltalake::logstore::get_actions(version, &bytes)
            .map_err(|e| error("reading the Delta log", e))?;
        let mut added = Vec::new();
        let mut removed = Vec::new();
        for action in actions {
            match action {
                Action::Add(add) if add.data_change => {
                    let days = partition_days(&add.partition_values, &add.path)?;
                    let size = rewrite_with_partition(delta_path, &location, &add.path, days)?;
                    let file = data_file(&location, &add.path, size, days, add.stats.as_deref())?;
                    added.push((add.path, file));
                }
                Action::Remove(remove) if remove.data_change => removed.push(remove.path),
                _ => {}
            }
        }
        let manifest_path = format!("{root}/metadata/snap-{snapshot_id}-manifest.avro");
        let mut writer = ManifestWriterBuilder::new(
            file_io
                .new_output(&manifest_path)
                .map_err(|e| error("a manifest", e))?,
            Some(snapshot_id),
            schema.clone(),
            spec.clone(),
        )
        .build_v2_data();
        for path in &removed {
            if let Some((file, added_seq, _)) = live.remove(path) {
                writer
                    .add_delete_file(file, added_seq, Some(added_seq))
                    .map_err(|e| error("a manifest", e))?;
            }
        }
        for (file, added_seq, added_in) in live.values() {
            writer
                .add_existing_file(file.clone(), *added_in, *added_seq, Some(*added_seq))
                .map_err(|e| error("a manifest", e))?;
        }
        for (path, file) in added {
            writer
                .add_file(file.clone(), sequence)
                .map_err(|e| error("a manifest", e))?;
            live.insert(path, (file, sequence, snapshot_id));
        }
        let manifest = writer
            .write_manifest_file()
            .await
            .map_err(|e| error("a manifest", e))?;
        let list_path = format!("{root}/metadata/snap-{snapshot_id}.avro");
        let mut list = ManifestListWriter::v2(
            file_io
                .new_output(&list_path)
                .map_err(|e| error("a manifest list", e))?
                .writer()
                .await
                .map_err(|e| error("a manifest list", e))?,
            snapshot_id,
            parent,
            sequence,
        );
        list.add_manifests(std::iter::once(manifest))
            .map_err(|e| error("a manifest list", e))?;
        list.close()
            .await
            .map_err(|e| error("a manifest list", e))?;
        let operation = if removed.is_empty() {
            Operation::Append
        } else {
            Operation::Overwrite
        };
        let snapshot = Snapshot::builder()
            .with_snapshot_id(snapshot_id)
            .with_parent_snapshot_id(parent)
            .with_sequence_number(sequence)
            .with_timestamp_ms(commit_time_ms(delta_path, version)?)
            .with_manifest_list(format!("file://{list_path}"))
            .with_summary(Summary {
                operation,
                additional_properties: HashMap::new(),
            })
            .with_schema_id(schema.schema_id())
            .build();
        builder = builder
            .set_branch_snapshot(snapshot, "main")
            .map_err(|e| error("a snapshot", e))?;
        parent = Some(snapshot_id);
    }
    let metadata = builder
        .build()
        .map_err(|e| error("the table metadata", e))?
        .metadata;
    let json = serde_json::to_vec(&metadata).map_err(|e| error("the table metadata", e))?;
    std::fs::write(
        location.join(format!(
            "metadata/{:05}-{}.metadata.json",
            latest + 1,
            metadata.uuid()
        )),
        json,
    )?;
    Ok(())
}

fn schema() -> Result<Schema> {
    Schema::builder()
        .with_schema_id(0)
        .with_fields(COLUMNS.iter().map(|(id, name, ty, required)| {
            Arc::new(NestedField::new(
                *id,
                *name,
                Type::Primitive(ty.clone()),
                *required,
            ))
        }))
        .build()
        .map_err(|e| error("the schema", e))
}

/// `schema.name-mapping.default`: each field id with the column name the files use.
fn name_mapping() -> String {
    let fields: Vec<Value> = COLUMNS
        .iter()
        .map(|(id, name, ..)| serde_json::json!({ "field-id": id, "names": [name] }))
        .collect();
    Value::Array(fields).to_string()
}

/// The `pickup_date` of a Delta file, as days since the epoch.
fn partition_days(partition_values: &HashMap<String, Option<String>>, path: &str) -> Result<i32> {
    let date = partition_values
        .get("pickup_date")
        .cloned()
        .flatten()
        .ok_or_else(|| error("a Delta file", format!("{path} has no pickup_date")))?;
    match Datum::date_from_str(&date)
        .map_err(|e| error("a partition value", e))?
        .literal()
    {
        iceberg::spec::PrimitiveLiteral::Int(days) => Ok(*days),
        other => Err(error("a partition value", format!("{other:?}"))),
    }
}

/// Copies a Delta data file into the Iceberg table's `data/`, adding the partition column Delta
/// leaves out of its files (Iceberg readers expect every column in the file). Returns the new
/// file's size.
fn rewrite_with_partition(
    delta_path: &Path,
    location: &Path,
    relative: &str,
    days: i32,
) -> Result<u64> {
    use arrow_array::{ArrayRef, Date32Array, RecordBatch};
    use deltalake::parquet::arrow::ArrowWriter;
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let from = delta_path.join(decode(relative));
    let to = location.join("data").join(decode(relative));
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let failed = |e: &dyn std::fmt::Display| error(&format!("rewriting {relative}"), e);
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&from)?)
        .map_err(|e| failed(&e))?;
    // The file's own column types (the Delta writer may use string views), in the trips' order.
    let file_schema = builder.schema().clone();
    let fields: Vec<arrow_schema::FieldRef> = crate::trips::schema()
        .fields()
        .iter()
        .map(|f| {
            file_schema
                .field_with_name(f.name())
                .map(|own| Arc::new(own.clone()))
                .unwrap_or_else(|_| f.clone())
        })
        .collect();
    let schema = Arc::new(arrow_schema::Schema::new(fields));
    let reader = builder.build().map_err(|e| failed(&e))?;
    let mut writer = ArrowWriter::try_new(std::fs::File::create(&to)?, schema.clone(), None)
        .map_err(|e| failed(&e))?;
    for batch in reader {
        let batch = batch.map_err(|e| failed(&e))?;
        let dates: ArrayRef = Arc::new(Date32Array::from(vec![days; batch.num_rows()]));
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                if f.name() == "pickup_date" {
                    Ok(dates.clone())
                } else {
                    batch
                        .column_by_name(f.name())
                        .cloned()
                        .ok_or_else(|| failed(&format!("no column {}", f.name())))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let full = RecordBatch::try_new(schema.clone(), columns).map_err(|e| failed(&e))?;
        writer.write(&full).map_err(|e| failed(&e))?;
    }
    writer.close().map_err(|e| failed(&e))?;
    Ok(std::fs::metadata(&to)?.len())
}

fn decode(path: &str) -> PathBuf {
    PathBuf::from(
        url::form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| path.to_string()),
    )
}

/// The Iceberg data file for a Delta add action, with bounds from its statistics.
fn data_file(
    location: &Path,
    relative: &str,
    size: u64,
    days: i32,
    stats: Option<&str>,
) -> Result<DataFile> {
    let stats: Value = stats
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| error("Delta statistics", e))?
        .unwrap_or(Value::Null);
    let day = Datum::date(days);
    let mut lower = HashMap::from([(3, day.clone())]);
    let mut upper = HashMap::from([(3, day)]);
    let mut nulls = HashMap::from([(3, 0u64)]);
    for (id, name, ty, _) in &COLUMNS {
        if let Some(v) = stats["nullCount"][name].as_u64() {
            nulls.insert(*id, v);
        }
        if let Some(d) = bound(ty, &stats["minValues"][name], false) {
            lower.insert(*id, d);
        }
        if let Some(d) = bound(ty, &stats["maxValues"][name], true) {
            upper.insert(*id, d);
        }
    }
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(format!(
            "file://{}",
            location.join("data").join(decode(relative)).display()
        ))
        .file_format(DataFileFormat::Parquet)
        .file_size_in_bytes(size)
        .record_count(stats["numRecords"].as_u64().unwrap_or(0))
        .partition(Struct::from_iter([Some(Literal::date(days))]))
        .partition_spec_id(0)
        .lower_bounds(lower)
        .upper_bounds(upper)
        .null_value_counts(nulls)
        .build()
        .map_err(|e| error("a data file", e))
}

/// A Delta statistic as an Iceberg bound. Delta truncates timestamps to milliseconds, so an
/// upper bound is widened by 999µs; strings Delta may have truncated (32+ characters) and
/// decimals are left out.
fn bound(ty: &PrimitiveType, value: &Value, upper: bool) -> Option<Datum> {
    Some(match ty {
        PrimitiveType::Long => Datum::long(value.as_i64()?),
        PrimitiveType::Int => Datum::int(i32::try_from(value.as_i64()?).ok()?),
        PrimitiveType::Double => Datum::double(value.as_f64()?),
        PrimitiveType::String => {
            let s = value.as_str()?;
            if s.chars().count() >= 32 {
                return None;
            }
            Datum::string(s)
        }
        PrimitiveType::Timestamptz => {
            let at = chrono::DateTime::parse_from_rfc3339(value.as_str()?).ok()?;
            let micros = at.timestamp_micros() + if upper { 999 } else { 0 };
            Datum::timestamptz_micros(micros)
        }
        _ => return None,
    })
}

/// When Delta commit `version` was made: its commit file's modification time.
fn commit_time_ms(delta_path: &Path, version: u64) -> Result<i64> {
    let file = delta_path.join(format!("_delta_log/{version:020}.json"));
    let modified = std::fs::metadata(&file)?.modified()?;
    Ok(modified
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0))
}
