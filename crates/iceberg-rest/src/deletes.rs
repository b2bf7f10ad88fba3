//! Iceberg v2 position delete files: the rows a data file's deletion vector removes, in the
//! form every Iceberg reader applies.
//!
//! One delete file per data file, naming only that file, with equal lower and upper bounds on
//! its `file_path` column: readers then match it to its data file alone (pyiceberg by the
//! bounds; polars' native reader requires a delete file limited to one data file), and never
//! read it for another. Its bytes depend only on the data file's path and the positions, so,
//! like the manifests, it is named by a digest of them.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use iceberg::metadata_columns::{
    RESERVED_COL_NAME_DELETE_FILE_PATH, RESERVED_COL_NAME_DELETE_FILE_POS,
    RESERVED_FIELD_ID_DELETE_FILE_PATH, RESERVED_FIELD_ID_DELETE_FILE_POS,
};
use parquet::arrow::{ArrowWriter, PARQUET_FIELD_ID_META_KEY};

use crate::{Error, Result};

/// The field id of a position delete file's `file_path` column (Iceberg reserves it).
pub(crate) const FILE_PATH_ID: i32 = RESERVED_FIELD_ID_DELETE_FILE_PATH;
/// The field id of its `pos` column.
pub(crate) const POS_ID: i32 = RESERVED_FIELD_ID_DELETE_FILE_POS;

/// What writes the files: part of their names, as another writer could lay out the same rows
/// in other bytes.
pub(crate) const WRITER: &str = parquet::file::properties::DEFAULT_CREATED_BY;

/// The Parquet bytes of a position delete file holding `rows` (ascending) of `data_path`.
pub(crate) fn position_delete_file(data_path: &str, rows: &[u64]) -> Result<Bytes> {
    let field = |name: &str, data_type: DataType, id: i32| {
        Field::new(name, data_type, false).with_metadata(
            [(PARQUET_FIELD_ID_META_KEY.to_string(), id.to_string())]
                .into_iter()
                .collect(),
        )
    };
    let schema = Arc::new(Schema::new(vec![
        field(
            RESERVED_COL_NAME_DELETE_FILE_PATH,
            DataType::Utf8,
            FILE_PATH_ID,
        ),
        field(RESERVED_COL_NAME_DELETE_FILE_POS, DataType::Int64, POS_ID),
    ]));
    let positions = rows
        .iter()
        .map(|&r| i64::try_from(r))
        .collect::<std::result::Result<Vec<i64>, _>>()
        .map_err(|_| Error::Invalid(format!("a deleted row of {data_path} is past 2^63")))?;
    let paths: ArrayRef = Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
        data_path,
        positions.len(),
    )));
    let positions: ArrayRef = Arc::new(Int64Array::from(positions));
    let batch =
        RecordBatch::try_new(schema.clone(), vec![paths, positions]).map_err(write_error)?;
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, None).map_err(write_error)?;
    writer.write(&batch).map_err(write_error)?;
    writer.close().map_err(write_error)?;
    Ok(Bytes::from(out))
}

fn write_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("writing a position delete file: {e}"))
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    #[test]
    fn a_delete_file_names_its_data_file_at_each_position_with_iceberg_field_ids() {
        let bytes = position_delete_file("s3://b/t/files/a.parquet", &[0, 9]).unwrap();
        assert_eq!(
            bytes,
            position_delete_file("s3://b/t/files/a.parquet", &[0, 9]).unwrap()
        );
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let ids: Vec<i32> = reader
            .parquet_schema()
            .columns()
            .iter()
            .map(|c| c.self_type().get_basic_info().id())
            .collect();
        assert_eq!(ids, [FILE_PATH_ID, POS_ID]);
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let batch = &batches[0];
        let paths = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let pos = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(
            paths.iter().flatten().collect::<Vec<_>>(),
            ["s3://b/t/files/a.parquet"; 2]
        );
        assert_eq!(pos.values(), &[0, 9]);
    }
}
