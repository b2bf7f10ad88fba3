//! The demo as a Delta table with four versions and the change data feed on.
//!
//! - version 0: days 0–4 inserted (50,000 rows)
//! - version 1: days 5–9 appended (50,000 rows)
//! - version 2: every trip whose id is a multiple of 100 has its fare raised by 1.00
//! - version 3: trips with no passengers deleted

use std::path::Path;

use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder};

use crate::trips::{self, PARTITION_COLUMN};
use crate::{Error, Result};

/// The predicate of version 2's update, for documentation and tests.
pub const UPDATE_PREDICATE: &str = "trip_id % 100 = 0";
/// The predicate of version 3's delete.
pub const DELETE_PREDICATE: &str = "passengers = 0";

/// Writes the demo table at `path` unless a Delta table is already there.
/// Returns whether it wrote one.
pub async fn ensure_trips(path: &Path) -> Result<bool> {
    if path.join("_delta_log").is_dir() {
        return Ok(false);
    }
    std::fs::create_dir_all(path)?;
    let wrap = |source| Error::Delta {
        path: path.display().to_string(),
        source,
    };
    let url = deltalake::ensure_table_uri(path.to_string_lossy()).map_err(wrap)?;

    // A new table: built without loading, since loading a folder without a log makes the
    // kernel log an error ("No files in log segment") that reads like a failed demo.
    let table: DeltaTable = DeltaTableBuilder::from_url(url)
        .and_then(DeltaTableBuilder::build)
        .map_err(wrap)?;
    let table = table
        .write((0..5).map(trips::day))
        .with_save_mode(SaveMode::Append)
        .with_partition_columns([PARTITION_COLUMN])
        .with_table_name("trips")
        .with_description("Demo taxi trips: 100,000 rows over ten days, from lakeshare demo")
        .with_configuration([("delta.enableChangeDataFeed", Some("true"))])
        .await
        .map_err(wrap)?;
    let table = table
        .write((5..10).map(trips::day))
        .with_save_mode(SaveMode::Append)
        .await
        .map_err(wrap)?;
    let (table, _) = table
        .update()
        .with_predicate(UPDATE_PREDICATE)
        .with_update("fare", "fare + 1")
        .await
        .map_err(wrap)?;
    let (_table, _) = table
        .delete()
        .with_predicate(DELETE_PREDICATE)
        .await
        .map_err(wrap)?;
    Ok(true)
}

/// Appends `batches` to the Delta table at `path` (created on first use, partitioned by
/// `partition_columns`): small tables for tests, written by deltalake.
pub async fn append(
    path: &Path,
    batches: Vec<arrow_array::RecordBatch>,
    partition_columns: &[&str],
) -> Result<()> {
    std::fs::create_dir_all(path)?;
    let wrap = |source| Error::Delta {
        path: path.display().to_string(),
        source,
    };
    let url = deltalake::ensure_table_uri(path.to_string_lossy()).map_err(wrap)?;
    let table = if path.join("_delta_log").is_dir() {
        DeltaTable::try_from_url(url).await.map_err(wrap)?
    } else {
        DeltaTableBuilder::from_url(url)
            .and_then(DeltaTableBuilder::build)
            .map_err(wrap)?
    };
    let mut write = table.write(batches).with_save_mode(SaveMode::Append);
    if !partition_columns.is_empty() {
        write = write.with_partition_columns(partition_columns.iter().copied());
    }
    write.await.map_err(wrap)?;
    Ok(())
}

/// Sets table properties (`delta.enableChangeDataFeed`, …) on the Delta table at `path`, in a
/// commit of its own.
pub async fn set_properties(path: &Path, properties: &[(&str, &str)]) -> Result<()> {
    let wrap = |source| Error::Delta {
        path: path.display().to_string(),
        source,
    };
    let url = deltalake::ensure_table_uri(path.to_string_lossy()).map_err(wrap)?;
    DeltaTable::try_from_url(url)
        .await
        .map_err(wrap)?
        .set_tbl_properties()
        .with_properties(
            properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .await
        .map_err(wrap)?;
    Ok(())
}
