//! Large synthetic Delta tables for benchmarks and scale tests: many small files, partitioned,
//! with sorted per-file statistics and a checkpoint.
//!
//! The log is written directly (one commit per 10,000 files) rather than through a writer, so a
//! 100,000-file table takes seconds; the checkpoint is written by deltalake. Data files can be
//! skipped for tests that only read metadata (the log then names files that do not exist, which
//! is fine for listing and signing but not for reading rows).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;
use deltalake::parquet::arrow::ArrowWriter;
use serde_json::json;

use crate::{Error, Result};

/// The shape of a synthetic table.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub files: usize,
    /// Distinct values of the partition column `day`; files are spread over them in order.
    pub partitions: usize,
    pub rows_per_file: usize,
    /// Whether to write the parquet data files the log names.
    pub data_files: bool,
}

/// Files per commit: large enough that the checkpoint matters, small enough that no single
/// commit file is unwieldy.
const FILES_PER_COMMIT: usize = 10_000;
/// Fixed so that reruns produce the same table.
const TABLE_ID: &str = "5ea1ab1e-0000-4000-8000-000000000001";
const BASE_TIME_MS: i64 = 1_704_067_200_000; // 2024-01-01

/// File `i` holds ids `i * rows .. (i + 1) * rows`, so statistics on `id` are sorted and
/// disjoint: a range predicate selects a proportional slice of the files.
pub async fn write(path: &Path, spec: Spec) -> Result<()> {
    let log = path.join("_delta_log");
    std::fs::create_dir_all(&log)?;
    let first_day = NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("value", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let schema_string = json!({"type": "struct", "fields": [
        {"name": "id", "type": "long", "nullable": false, "metadata": {}},
        {"name": "day", "type": "date", "nullable": false, "metadata": {}},
        {"name": "value", "type": "double", "nullable": true, "metadata": {}},
        {"name": "name", "type": "string", "nullable": true, "metadata": {}},
    ]})
    .to_string();

    let commits = spec.files.div_ceil(FILES_PER_COMMIT).max(1);
    for commit in 0..commits {
        let mut lines = Vec::new();
        let time = BASE_TIME_MS + commit as i64 * 60_000;
        if commit == 0 {
            lines.push(json!({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}));
            lines.push(json!({"metaData": {
                "id": TABLE_ID, "name": "synthetic", "format": {"provider": "parquet", "options": {}},
                "schemaString": schema_string, "partitionColumns": ["day"], "configuration": {},
                "createdTime": BASE_TIME_MS,
            }}));
        }
        for i in commit * FILES_PER_COMMIT..((commit + 1) * FILES_PER_COMMIT).min(spec.files) {
            let day =
                first_day + chrono::Days::new((i * spec.partitions / spec.files.max(1)) as u64);
            let day = day.format("%Y-%m-%d").to_string();
            let relative = format!("day={day}/part-{i:07}.parquet");
            let first_id = (i * spec.rows_per_file) as i64;
            let last_id = first_id + spec.rows_per_file as i64 - 1;
            let size = if spec.data_files {
                write_data_file(&path.join(&relative), &schema, first_id, spec.rows_per_file)?
            } else {
                1024
            };
            let stats = json!({
                "numRecords": spec.rows_per_file,
                "minValues": {"id": first_id, "value": 0.0, "name": format!("n{first_id:09}")},
                "maxValues": {"id": last_id, "value": 1.0, "name": format!("n{last_id:09}")},
                "nullCount": {"id": 0, "value": 0, "name": 0},
            });
            lines.push(json!({"add": {
                "path": relative, "partitionValues": {"day": day}, "size": size,
                "modificationTime": time, "dataChange": true, "stats": stats.to_string(),
            }}));
        }
        lines.push(json!({"commitInfo": {"timestamp": time, "operation": "WRITE", "engineInfo": "lakeshare-synthetic"}}));
        let mut file = std::fs::File::create(log.join(format!("{commit:020}.json")))?;
        for line in lines {
            writeln!(file, "{line}")?;
        }
    }

    let wrap = |source| Error::Delta {
        path: path.display().to_string(),
        source,
    };
    let url = deltalake::ensure_table_uri(path.to_string_lossy()).map_err(wrap)?;
    let table = deltalake::open_table(url).await.map_err(wrap)?;
    deltalake::checkpoints::create_checkpoint(&table, None)
        .await
        .map_err(wrap)?;
    Ok(())
}

/// Writes one small parquet file; returns its size.
fn write_data_file(path: &Path, schema: &Arc<Schema>, first_id: i64, rows: usize) -> Result<u64> {
    std::fs::create_dir_all(path.parent().expect("data files are in a partition folder"))?;
    let ids: Vec<i64> = (first_id..first_id + rows as i64).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(Float64Array::from_iter_values(
                ids.iter().map(|i| (*i % 1000) as f64 / 1000.0),
            )),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("n{i:09}")),
            )),
        ],
    )
    .expect("columns match the schema");
    let file = std::fs::File::create(path)?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), None)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    writer
        .write(&batch)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    writer
        .close()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(std::fs::metadata(path)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_a_readable_table_with_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec {
            files: 25,
            partitions: 5,
            rows_per_file: 4,
            data_files: true,
        };
        write(dir.path(), spec).await.unwrap();
        let url = deltalake::ensure_table_uri(dir.path().to_string_lossy()).unwrap();
        let table = deltalake::open_table(url).await.unwrap();
        let snapshot = table.snapshot().unwrap();
        assert_eq!(snapshot.log_data().num_files(), 25);
        assert!(
            dir.path()
                .join("_delta_log/00000000000000000000.checkpoint.parquet")
                .exists()
        );
        let days: std::collections::BTreeSet<_> = snapshot
            .log_data()
            .iter()
            .map(|f| f.partition_values_map()["day"].clone().unwrap())
            .collect();
        assert_eq!(days.len(), 5);
    }
}
