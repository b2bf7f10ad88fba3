//! Apache Iceberg tables as Delta Sharing tables.
//!
//! An Iceberg table is read from its metadata JSON (a file, or the newest one in the table's
//! `metadata/` folder) with the `iceberg` crate; its snapshots become versions, its manifests
//! data files with statistics, its schema a Delta schema string. Nothing of iceberg's own types
//! (nor its arrow major) leaves this crate.
//!
//! Versions: for format v2 and later a snapshot's version is its sequence number, which the
//! table assigns once, in commit order, and never changes (not when older snapshots expire).
//! Format v1 has no sequence numbers, so there the version is the snapshot's commit time in
//! epoch milliseconds, equally stable. Version 0 is the table before its first snapshot. Only
//! the current snapshot and its ancestors are versions: a snapshot left behind by a rollback is
//! not. The snapshot id travels as the snapshot's native id.

mod catalog;
mod error;
mod files;
mod format;
mod schema;
mod source;
mod versions;

pub use catalog::IcebergCatalog;
pub use error::Error;

/// The format this adapter reads, by the name configurations and listings use.
pub const FORMAT: lakeshare_model::TableFormat = lakeshare_model::TableFormat::new("iceberg");
pub use format::{IcebergFormat, IcebergRestCatalogs, IcebergSqlCatalogs};
pub use source::{IcebergSource, SqlTable};
