//! Reading a table's rows, and writing tables the gateway computes: the seams under
//! materialized shares (a share's view, column subset or filter over data columns is computed
//! from the rows of its sources and written as a table of its own).

use std::fmt;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::{Place, Result, Version};

/// The rows of one version of a table, as its own reader gives them: deleted rows removed,
/// logs merged, columns by their logical names, partition values filled in.
pub struct Rows {
    pub schema: SchemaRef,
    /// When the version was committed, epoch milliseconds, as
    /// [`crate::TableSource::version_at`] counts it.
    pub timestamp_ms: i64,
    pub batches: BoxStream<'static, Result<RecordBatch>>,
}

impl fmt::Debug for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rows")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// One version to commit to a written table: its content (whole, or what it adds), and what
/// changed since the version before it (for the written table's change data feed).
#[derive(Debug, Clone)]
pub struct Commit {
    pub schema: SchemaRef,
    /// How `rows` relate to the previous version's.
    pub content: Content,
    /// The rows of the new version ([`Content::Replace`]) or the rows it adds to the previous
    /// version's ([`Content::Append`]).
    pub rows: Vec<RecordBatch>,
    /// For [`Content::Replace`]: rows of the previous version the new one no longer has, and
    /// rows it adds (each in `schema`); empty for a table's first version or a new schema.
    pub deleted: Vec<RecordBatch>,
    pub inserted: Vec<RecordBatch>,
    /// What the version was computed from (the sources' versions), kept with the commit
    /// itself so that the two can never disagree, and read back with [`TableWriter::last_note`].
    pub note: serde_json::Value,
    /// The version the commit must follow (`None`: the table must not exist yet). Another
    /// writer (a replica, `lakeshare materialize`) that committed first makes this one fail
    /// with [`crate::Error::Conflict`] rather than commit twice.
    pub after: Option<Version>,
}

/// What a [`Commit`]'s rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// The whole content: every row of the previous version is replaced.
    Replace,
    /// Rows added to the previous version's, which all stay (an incremental refresh after
    /// the sources only appended); they are the version's change data, all inserts. The
    /// schema is the previous version's.
    Append,
    /// The content is that of the previous version: nothing is written but the note (so that
    /// a table following one source's versions has a version for each of them); `rows`,
    /// `deleted` and `inserted` are then empty.
    Unchanged,
}

/// A format in which the gateway writes tables of its own (materialized shares). Written
/// tables are read back through the same format's [`crate::Format::open`], so they are served
/// like any table, change data feed included.
#[async_trait]
pub trait TableWriter: Send + Sync + fmt::Debug {
    /// The latest version of the written table at `place` and the note committed with it, or
    /// `None` if nothing was written there yet.
    async fn last_note(&self, place: Place<'_>) -> Result<Option<(Version, serde_json::Value)>>;

    /// The notes of versions `from..=latest` of the written table at `place`, oldest first
    /// (empty if nothing was written there); a version committed without one gets `Null`.
    async fn notes(
        &self,
        place: Place<'_>,
        from: Version,
    ) -> Result<Vec<(Version, serde_json::Value)>>;

    /// Commits `commit` as the next version of the table at `place` (creating it for
    /// `after: None`) and returns that version.
    async fn commit(&self, place: Place<'_>, commit: Commit) -> Result<Version>;

    /// Deletes the files versions `from..=keep` stopped referencing (data files they replaced,
    /// and their change data), so that no version before `keep` can be read any more, as far
    /// as those versions were committed before `before_ms` (epoch milliseconds): files a
    /// reader may still hold a URL for stay. The log stays whole (its notes are the version
    /// map). Deleting what is already gone is no failure.
    async fn evict(
        &self,
        place: Place<'_>,
        from: Version,
        keep: Version,
        before_ms: i64,
    ) -> Result<Evicted>;

    /// What the written table at `place` holds on its storage, version by version (empty if
    /// nothing was written there): what each version's files take, for the cache's budgets.
    async fn footprint(&self, place: Place<'_>) -> Result<Vec<VersionFootprint>>;

    /// The first version of the written table at `place` kept readable, as
    /// [`TableWriter::keep_from`] last recorded it (`None`: every version is).
    async fn kept(&self, place: Place<'_>) -> Result<Option<Kept>>;

    /// Records that versions before `kept.from` are dropped: readers refuse them from now on,
    /// and their files may be deleted ([`TableWriter::evict`] up to `kept.from - 1`) once no
    /// URL signed before `kept.since_ms` can still be in use. Kept beside the table, so that
    /// every replica and every restart sees it.
    async fn keep_from(&self, place: Place<'_>, kept: Kept) -> Result<()>;
}

/// One version of a written table, as [`TableWriter::footprint`] counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionFootprint {
    /// When the version was committed, epoch milliseconds (0 if it does not say).
    pub committed_ms: i64,
    /// The bytes of the data and change files that stay on storage when every version before
    /// this one is dropped and evicted: the files this version and later ones read, the
    /// change data from this version on, and the files this version itself replaced (which
    /// an eviction up to the version before leaves). For version 0, everything written.
    pub bytes_from: u64,
}

/// Where a written table's readable versions start ([`TableWriter::keep_from`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Kept {
    /// The first readable version.
    pub from: Version,
    /// When the versions before it were dropped, epoch milliseconds.
    pub since_ms: i64,
}

/// What [`TableWriter::evict`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evicted {
    pub files: usize,
    pub bytes: u64,
    /// The first version not yet evicted (committed too recently, or after `keep`): where the
    /// next eviction starts.
    pub next: Version,
}
