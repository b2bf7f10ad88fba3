//! Predicate hints → DataFusion expressions → the files of a snapshot that may hold matching rows.
//!
//! Recipients send hints (`jsonPredicateHints`, legacy SQL `predicateHints`) so the gateway can
//! skip files. Hints are best effort by protocol: a file may only be dropped when its partition
//! values or statistics *prove* that no row in it matches; anything unknown keeps the file, and a
//! hint that cannot be understood keeps every file. Only oversized hints are refused outright.
//!
//! ```
//! use lakeshare_filter::Predicate;
//!
//! let schema = r#"{"type":"struct","fields":[
//!     {"name":"id","type":"long","nullable":true,"metadata":{}},
//!     {"name":"day","type":"date","nullable":true,"metadata":{}}]}"#;
//! let hint = r#"{"op":"equal","children":[
//!     {"op":"column","name":"day","valueType":"date"},
//!     {"op":"literal","value":"2021-04-29","valueType":"date"}]}"#;
//! let predicate = Predicate::from_hints(schema, Some(hint), &[]).unwrap().unwrap();
//! assert_eq!(predicate.to_string(), "day = Date32(\"2021-04-29\")");
//! ```

mod error;
mod json;
mod partition;
mod predicate;
mod schema;
mod stats;

pub use partition::{FilterError, PartitionFilter};
pub use stats::FileStatistics;

pub use error::{Error, Result};
pub use predicate::{
    MAX_HINT_BYTES, MAX_HINT_DEPTH, MAX_HINT_NODES, MAX_SQL_HINTS, Predicate, Pruned,
};
pub use schema::arrow_schema;
