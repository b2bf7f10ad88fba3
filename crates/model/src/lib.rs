//! The common snapshot model: what every table format is reduced to before the gateway serves it.
//!
//! A format adapter (Delta, Iceberg, Hudi) implements [`TableSource`]; everything downstream of it
//! (pruning, paging, URL signing, the wire encoding) works on [`Snapshot`] and [`DataFile`] and never
//! learns which format a table was. That is the whole point of this crate: it is the seam.
//!
//! ```
//! use lakeshare_model::{DataFile, Snapshot, TableFormat, TableMetadata, TableProtocol};
//!
//! let snapshot = Snapshot {
//!     format: TableFormat::new("delta"),
//!     version: 3,
//!     timestamp_ms: 1_700_000_000_000,
//!     protocol: TableProtocol::legacy(1, 2),
//!     metadata: TableMetadata::new("7d5c…", r#"{"type":"struct","fields":[]}"#),
//!     files: vec![DataFile::new("file:///data/t/part-0.parquet", "0f3a…", 1024)].into(),
//!     native_id: None,
//!     unservable: None,
//! };
//! assert_eq!(snapshot.files.len(), 1);
//! assert!(snapshot.files.iter().all(|f| f.deletion_vector.is_none()));
//! ```

mod adapter;
mod changes;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod fault;
mod file_url;
mod governance;
mod id;
mod partition_values;
mod plain_path;
mod rows;
mod snapshot;
mod source;
mod version;

pub use adapter::{
    Catalog, CatalogKind, Format, FormatOptions, Formats, Opened, Place, Root, StoreAccess,
    Writable, bool_option, refuse_unknown_options,
};
pub use changes::{ChangeFile, ChangeKind, VersionChanges};
pub use error::{Error, Result, StorageFault};
pub use fault::{fault_of, store_fault};
pub use file_url::FileUrl;
pub use governance::{CONFIGURATION_PREFIX, Governance, GovernanceField, Provenance};
pub use id::{Sha256Id, path_ids, stable_uuid};
pub use partition_values::PartitionValues;
pub use plain_path::is_plain_path;
pub use rows::{Commit, Content, Evicted, Kept, Rows, TableWriter, VersionFootprint};
pub use snapshot::{
    DataFile, DeletionVector, FileStats, Snapshot, TableFormat, TableMetadata, TableProtocol,
};
pub use source::{NativeMetadata, TableSource};
pub use version::{TimestampBound, Version, VersionSpec, monotonic_commit_times, version_at};
