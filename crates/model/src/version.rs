use chrono::{DateTime, Utc};

/// A table version as the sharing protocol sees it: a number that grows with every commit and
/// never changes meaning. Delta versions are used as they are; adapters of formats with other
/// native identifiers (Iceberg snapshot ids, Hudi instants) map them onto such a sequence and
/// expose the native id beside it in [`crate::Snapshot::native_id`].
pub type Version = u64;

/// Which snapshot of a table a request wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Version(Version),
    /// The snapshot that was current at this instant (the last commit at or before it).
    Timestamp(DateTime<Utc>),
}

/// Which side of a timestamp [`crate::TableSource::version_at`] resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampBound {
    /// The last version committed at or before the timestamp: time travel ("as of").
    AtOrBefore,
    /// The first version committed at or after the timestamp: the start of a range.
    AtOrAfter,
}
