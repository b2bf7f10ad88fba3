//! A version's rows through iceberg-rust's own scan, which applies position and equality
//! delete files: the reader computed tables over an Iceberg table are made from. iceberg-rust
//! is on its own arrow major, so batches cross over as Arrow IPC (the format both majors read
//! and write), with the field metadata the scan attaches (Parquet field ids) left behind.

use std::collections::HashSet;
use std::io::Cursor;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use futures::{StreamExt as _, TryStreamExt as _};
use iceberg::TableIdent;
use iceberg::arrow::ArrowReaderBuilder;
use iceberg::table::Table;
use lakeshare_model::{Error as ModelError, Rows};

use super::{IcebergSource, Loaded};
use crate::Error;
use crate::versions::VersionEntry;

impl IcebergSource {
    pub(super) async fn rows_at(
        &self,
        loaded: &Loaded,
        entry: Option<VersionEntry>,
    ) -> Result<Rows, Error> {
        self.read_rows(loaded, entry, None).await
    }

    /// The rows of `files` alone (data file paths as the manifests name them) in version
    /// `entry`, read as `rows_at` reads the whole version (its delete files applied).
    pub(super) async fn rows_of(
        &self,
        loaded: &Loaded,
        entry: VersionEntry,
        files: HashSet<String>,
    ) -> Result<Rows, Error> {
        self.read_rows(loaded, Some(entry), Some(files)).await
    }

    async fn read_rows(
        &self,
        loaded: &Loaded,
        entry: Option<VersionEntry>,
        only: Option<HashSet<String>>,
    ) -> Result<Rows, Error> {
        let table = Table::builder()
            .metadata(loaded.metadata.clone())
            .identifier(TableIdent::from_strs(["lakeshare", "table"])?)
            .file_io(loaded.file_io.clone())
            .runtime(iceberg::Runtime::try_current()?)
            .readonly(true)
            .build()?;
        let Some(entry) = entry else {
            // Version 0: the table before its first snapshot, with no rows.
            return Ok(Rows {
                schema: arrow_schema(loaded.metadata.current_schema())?,
                timestamp_ms: loaded.metadata.last_updated_ms(),
                batches: Box::pin(futures::stream::empty()),
            });
        };
        let scan = table.scan().snapshot_id(entry.snapshot_id).build()?;
        let snapshot = loaded
            .metadata
            .snapshot_by_id(entry.snapshot_id)
            .ok_or_else(|| {
                Error::Unsupported(format!("snapshot {} is missing", entry.snapshot_id))
            })?;
        let schema = arrow_schema(snapshot.schema(&loaded.metadata)?.as_ref())?;
        let location = self.location.clone();
        let stream = match only {
            None => scan.to_arrow().await?,
            Some(files) => {
                let tasks = scan
                    .plan_files()
                    .await?
                    .try_filter(move |task| {
                        futures::future::ready(files.contains(&task.data_file_path))
                    })
                    .boxed();
                ArrowReaderBuilder::new(loaded.file_io.clone(), iceberg::Runtime::try_current()?)
                    .build()
                    .read(tasks)?
                    .stream()
            }
        };
        let target = schema.clone();
        let batches = stream.map(move |batch| {
            let fail = |reason: String| ModelError::Corrupt {
                location: location.clone(),
                reason,
            };
            let batch = batch.map_err(|e| fail(format!("reading its rows: {e}")))?;
            let batch = crossed(&batch).map_err(|e| fail(e.to_string()))?;
            RecordBatch::try_new(target.clone(), batch.columns().to_vec())
                .map_err(|e| fail(format!("its rows do not fit its schema: {e}")))
        });
        Ok(Rows {
            schema,
            timestamp_ms: entry.timestamp_ms,
            batches: batches.boxed(),
        })
    }
}

/// The arrow schema (ours, without field metadata) of an Iceberg schema, as iceberg-rust
/// converts it.
fn arrow_schema(schema: &iceberg::spec::Schema) -> Result<SchemaRef, Error> {
    let theirs = iceberg::arrow::schema_to_arrow_schema(schema)?;
    let empty = arrow_array_58::RecordBatch::new_empty(Arc::new(theirs));
    Ok(plain(&crossed(&empty)?.schema()))
}

/// `batch` of iceberg-rust's arrow as one of ours.
fn crossed(batch: &arrow_array_58::RecordBatch) -> Result<RecordBatch, Error> {
    let bad = |e: String| Error::Unsupported(format!("passing rows between arrow versions: {e}"));
    let mut bytes = Vec::new();
    {
        let mut writer = arrow_ipc_58::writer::StreamWriter::try_new(&mut bytes, &batch.schema())
            .map_err(|e| bad(e.to_string()))?;
        writer.write(batch).map_err(|e| bad(e.to_string()))?;
        writer.finish().map_err(|e| bad(e.to_string()))?;
    }
    let mut reader = arrow_ipc::reader::StreamReader::try_new(Cursor::new(bytes), None)
        .map_err(|e| bad(e.to_string()))?;
    match reader.next() {
        Some(batch) => batch.map_err(|e| bad(e.to_string())),
        None => Ok(RecordBatch::new_empty(reader.schema())),
    }
}

/// `schema` without its fields' metadata.
fn plain(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_metadata(Default::default()))
            .collect::<Vec<_>>(),
    ))
}
