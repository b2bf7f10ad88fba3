//! The Delta Lake adapter: a [`TableSource`](lakeshare_model::TableSource) over a Delta table's
//! transaction log, through `deltalake`.
//!
//! Versions are Delta's own. Timestamps of versions are the commit files' modification times,
//! made strictly increasing as Delta Lake does for time travel (a commit stamped no later than its
//! predecessor counts as one millisecond after it), so `timestamp` reads agree with Spark and
//! with `deltalake`'s own `load_as_version`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use lakeshare_model::TableSource;
//!
//! let table = lakeshare_delta::DeltaSource::open("/data/orders").await?;
//! let latest = table.latest_version().await?;
//! let snapshot = table.snapshot(latest).await?;
//! println!("{} files at version {latest}", snapshot.files.len());
//! # Ok(()) }
//! ```

mod error;
mod format;
mod rows;
mod source;
mod timeline;
mod write;

pub use error::Error;

/// The format this adapter reads, by the name configurations and listings use.
pub const FORMAT: lakeshare_model::TableFormat = lakeshare_model::TableFormat::new("delta");
pub use format::DeltaFormat;
pub use source::DeltaSource;
pub use write::DeltaTableWriter;
