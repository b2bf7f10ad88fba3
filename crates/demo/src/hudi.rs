//! The demo trips as Hudi tables with the same data and history as the Delta demo table,
//! written with the hudi crate's own writer: a copy-on-write table, and a merge-on-read one.
//!
//! - instant 1: days 0–4 inserted
//! - instant 2: days 5–9 inserted
//! - instant 3: the trips whose id is a multiple of 100 upserted with their fare raised by 1.00
//! - instant 4: trips with no passengers deleted
//!
//! In the merge-on-read table the upsert and the delete are log blocks beside the base files,
//! which the Delta Sharing file protocol cannot express: its instants 3 and 4 are served
//! merged, computed by the gateway (`materialize: auto`).
//!
//! hudi's writer partitions by string and integer columns only, so the tables are partitioned
//! by `vendor` (hive-style) instead of the Delta table's `pickup_date`; the rows are the same.

use std::path::Path;

use arrow_array::{Array, Decimal128Array, Int64Array, RecordBatch, UInt32Array};
use hudi::config::table::TableTypeValue;
use hudi::table::Table;

use crate::delta::DELETE_PREDICATE;
use crate::trips;
use crate::{Error, Result};

/// The partition column of the Hudi trips.
pub const PARTITION_COLUMN: &str = "vendor";

fn error(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Hudi(format!("{context}: {e}"))
}

/// Writes the Hudi trips at `path` unless a table is already there: copy-on-write, or
/// merge-on-read with `merge_on_read`. Returns whether it wrote one.
pub async fn ensure_trips(path: &Path, merge_on_read: bool) -> Result<bool> {
    if path.join(".hoodie").join("hoodie.properties").is_file() {
        return Ok(false);
    }
    // A failed run leaves no half table behind (its presence is what a later run checks).
    let _ = std::fs::remove_dir_all(path);
    let kind = if merge_on_read {
        TableTypeValue::MergeOnRead
    } else {
        TableTypeValue::CopyOnWrite
    };
    let written = write_trips(path, kind).await;
    if written.is_err() {
        let _ = std::fs::remove_dir_all(path);
    }
    written.map(|()| true)
}

async fn write_trips(path: &Path, kind: TableTypeValue) -> Result<()> {
    std::fs::create_dir_all(path)?;
    let uri = path
        .to_str()
        .ok_or_else(|| error("the demo folder", "is not valid UTF-8"))?;
    let mut table = Table::create(uri)
        .with_table_name("trips")
        .with_table_type(kind)
        .with_record_key_fields(["trip_id"])
        .with_partition_fields([PARTITION_COLUMN])
        .with_hive_style_partitioning(true)
        // Instant times in UTC, so a table written anywhere has the same kind of versions.
        .with_option("hoodie.table.timeline.timezone", "UTC")
        .create()
        .await
        .map_err(|e| error("creating the table", e))?;
    table
        .append((0..5).map(trips::day))
        .await
        .map_err(|e| error("inserting days 0-4", e))?;
    table
        .append((5..10).map(trips::day))
        .await
        .map_err(|e| error("inserting days 5-9", e))?;
    let raised = (0..trips::DAYS)
        .map(|d| raised_fares(&trips::day(d)))
        .collect::<Result<Vec<_>>>()?;
    table
        .upsert(raised)
        .await
        .map_err(|e| error("raising the fares", e))?;
    table
        .delete(DELETE_PREDICATE)
        .await
        .map_err(|e| error("deleting the trips without passengers", e))?;
    Ok(())
}

/// The rows of `day` that the Delta demo's update touches (`trip_id % 100 = 0`), with their
/// fare raised by 1.00, as the Delta demo's `fare + 1` leaves them.
fn raised_fares(day: &RecordBatch) -> Result<RecordBatch> {
    let column = |name: &str| {
        day.column_by_name(name)
            .ok_or_else(|| error("the trips", format!("have no column {name}")))
    };
    let ids = column("trip_id")?
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| error("the trips", "trip_id is not a long"))?;
    let rows: UInt32Array = (0..ids.len())
        .filter(|&i| ids.value(i) % 100 == 0)
        .map(|i| i as u32)
        .collect();
    let picked = arrow_select::take::take_record_batch(day, &rows)
        .map_err(|e| error("selecting the updated trips", e))?;
    let fare_at = picked
        .schema()
        .index_of("fare")
        .map_err(|e| error("the trips", e))?;
    let fares = picked
        .column(fare_at)
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .ok_or_else(|| error("the trips", "fare is not a decimal"))?;
    // Scale 2: one unit of fare is 100.
    let raised = fares
        .unary::<_, arrow_array::types::Decimal128Type>(|v| v + 100)
        .with_precision_and_scale(fares.precision(), fares.scale())
        .map_err(|e| error("raising the fares", e))?;
    let mut columns = picked.columns().to_vec();
    columns[fare_at] = std::sync::Arc::new(raised);
    RecordBatch::try_new(picked.schema(), columns).map_err(|e| error("the raised fares", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_update_raises_every_hundredth_fare_by_one() {
        let day = trips::day(3);
        let raised = raised_fares(&day).unwrap();
        assert_eq!(raised.num_rows(), trips::ROWS_PER_DAY / 100);
        let ids = raised
            .column_by_name("trip_id")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert!(ids.iter().all(|id| id.unwrap() % 100 == 0));
        let first_fare = |batch: &RecordBatch| {
            batch
                .column_by_name("fare")
                .unwrap()
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
                .value(0)
        };
        assert_eq!(first_fare(&raised) - first_fare(&day), 100);
    }
}
