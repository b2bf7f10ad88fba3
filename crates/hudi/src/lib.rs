//! The Apache Hudi adapter: a table's completed timeline becomes protocol versions and the
//! newest file slice of each file group becomes a data file.
//!
//! Copy-on-write tables are served whole. Merge-on-read tables are served while no file group
//! has log files (updates not yet compacted into Parquet); otherwise a read is refused, because
//! a Delta Sharing client would read the base files alone and get outdated or deleted rows,
//! unless the provider chose to share the read-optimized view ([`HudiOptions::read_optimized`]).

mod error;
mod format;
mod partition;
mod schema;
mod source;
mod stats;
mod timeline;

pub use error::Error;

/// The format this adapter reads, by the name configurations and listings use.
pub const FORMAT: lakeshare_model::TableFormat = lakeshare_model::TableFormat::new("hudi");
pub use format::HudiFormat;
pub use schema::META_FIELDS;
pub use source::{HudiOptions, HudiSource};
