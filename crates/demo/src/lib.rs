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
pub mod hudi;
pub mod iceberg;
pub mod synthetic;
pub mod trips;

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
