//! The demo dataset: `trips`, 100,000 deterministic taxi trips over ten days, and the writers that
//! lay it down as real tables so `lakeshare demo` serves something worth reading.
//!
//! The same rows come out on every machine (a fixed-seed generator, no clock), so the README, the
//! tests and a recipient on another continent all see the same numbers.
//!
//! ```
//! let day = lakeshare_demo::trips::day(0);
//! assert_eq!(day.num_rows(), lakeshare_demo::trips::ROWS_PER_DAY);
//! ```

pub mod assets;
pub mod delta;
pub mod fixtures;
#[cfg(feature = "hudi")]
pub mod hudi;
#[cfg(feature = "iceberg")]
pub mod iceberg;
pub mod synthetic;
pub mod trips;

/// One of the demo's trips tables.
#[derive(Debug, Clone)]
pub struct TripsTable {
    /// The format's name, as configurations name it.
    pub format: &'static str,
    /// The table's name in its format's schema.
    pub name: &'static str,
    /// Whether some versions hold what the Delta Sharing file protocol cannot express (Hudi
    /// log files), so that it is shared computed (`materialize: auto`).
    pub computed: bool,
    pub path: std::path::PathBuf,
    /// Whether this call wrote it (rather than finding it there).
    pub written: bool,
}

/// The demo's trips in every format this build writes, under `root/<format>/trips` (written
/// on first use); the formats hold the same data and history.
pub async fn ensure_trips_tables(root: &std::path::Path) -> Result<Vec<TripsTable>> {
    let delta = root.join("delta").join("trips");
    // Each writer boxed: their futures together are too deep to lay out inline.
    let written = Box::pin(delta::ensure_trips(&delta)).await?;
    #[allow(unused_mut)]
    let mut tables = vec![TripsTable {
        format: "delta",
        name: "trips",
        computed: false,
        path: delta.clone(),
        written,
    }];
    #[cfg(feature = "iceberg")]
    {
        let path = root.join("iceberg").join("trips");
        let written = Box::pin(iceberg::ensure_trips(&delta, &path)).await?;
        tables.push(TripsTable {
            format: "iceberg",
            name: "trips",
            computed: false,
            path,
            written,
        });
    }
    #[cfg(feature = "hudi")]
    for (name, merge_on_read) in [("trips", false), ("trips_mor", true)] {
        let path = root.join("hudi").join(name);
        let written = Box::pin(hudi::ensure_trips(&path, merge_on_read)).await?;
        tables.push(TripsTable {
            format: "hudi",
            name,
            computed: merge_on_read,
            path,
            written,
        });
    }
    Ok(tables)
}

/// Why the demo could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("writing the demo Delta table at {path}: {source}")]
    Delta {
        path: String,
        #[source]
        source: deltalake::DeltaTableError,
    },
    #[error("writing the demo Iceberg table: {0}")]
    Iceberg(String),
    #[error("writing the demo Hudi table: {0}")]
    Hudi(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
