//! The change between two versions of a computed table, as multisets of rows: a row present
//! twice before and once after is one deletion. Rows are compared by their whole encoded
//! value (arrow's row format: nulls equal, floats by bits), so the result is exact for every
//! type the row format encodes and refused for the rest.

use std::collections::HashMap;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::interleave_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, SortField};
use lakeshare_model::{Error, Result};

/// The rows of `before` missing from `after` (deleted) and of `after` missing from `before`
/// (inserted), each as often as its count differs. Both sides are in `schema`.
pub fn diff(
    schema: &SchemaRef,
    before: &[RecordBatch],
    after: &[RecordBatch],
) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
    let fields = schema
        .fields()
        .iter()
        .map(|f| SortField::new(f.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields).map_err(|e| {
        Error::Unsupported(format!(
            "the change data feed of a computed table cannot compare its rows: {e}"
        ))
    })?;
    // Per distinct row: its count before minus after, and where one copy of it is on each side.
    let mut rows: HashMap<Vec<u8>, Tally> = HashMap::new();
    for (side, batches) in [(Side::Before, before), (Side::After, after)] {
        for (b, batch) in batches.iter().enumerate() {
            let encoded = converter
                .convert_columns(batch.columns())
                .map_err(|e| Error::Unsupported(format!("comparing rows: {e}")))?;
            for (r, row) in encoded.iter().enumerate() {
                let tally = rows.entry(row.as_ref().to_vec()).or_default();
                match side {
                    Side::Before => {
                        tally.count += 1;
                        tally.before.get_or_insert((b, r));
                    }
                    Side::After => {
                        tally.count -= 1;
                        tally.after.get_or_insert((b, r));
                    }
                }
            }
        }
    }
    let mut deleted = Vec::new();
    let mut inserted = Vec::new();
    for tally in rows.values() {
        let copies = tally.count.unsigned_abs() as usize;
        match (tally.count > 0, tally.before, tally.after) {
            (true, Some(at), _) => deleted.extend(std::iter::repeat_n(at, copies)),
            (false, _, Some(at)) => inserted.extend(std::iter::repeat_n(at, copies)),
            _ => {}
        }
    }
    // A deterministic order, whatever the hash map's.
    deleted.sort_unstable();
    inserted.sort_unstable();
    Ok((take(before, &deleted)?, take(after, &inserted)?))
}

#[derive(Clone, Copy)]
enum Side {
    Before,
    After,
}

#[derive(Default)]
struct Tally {
    count: i64,
    before: Option<(usize, usize)>,
    after: Option<(usize, usize)>,
}

/// The rows at `at` (batch, row) of `batches`, in batches of at most 8192 rows.
fn take(batches: &[RecordBatch], at: &[(usize, usize)]) -> Result<Vec<RecordBatch>> {
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    at.chunks(8192)
        .map(|chunk| {
            interleave_record_batch(&refs, chunk)
                .map_err(|e| Error::Unsupported(format!("collecting changed rows: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests;
