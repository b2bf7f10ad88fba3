use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    DataFile, Error, Result, Rows, Snapshot, TableFormat, TimestampBound, Version, VersionChanges,
};

/// A table's own metadata document (see [`TableSource::native_metadata`]).
#[derive(Debug, Clone)]
pub struct NativeMetadata {
    /// The catalog format the document is in (`iceberg`).
    pub kind: &'static str,
    /// Where the document is, as the table's store names it.
    pub location: String,
    pub document: serde_json::Value,
}

/// One table in one format, at one location: the seam between format adapters and the gateway.
///
/// Contracts every implementation keeps:
/// - Versions only grow, and a version once returned always denotes the same snapshot, so callers
///   may cache [`Snapshot`]s by `(table, version)` for as long as they like.
/// - [`TableSource::snapshot`] returns exactly the requested version or
///   [`crate::Error::VersionNotFound`]; it never silently substitutes another one.
/// - File ids ([`crate::DataFile::id`]) are stable: the same file in any version of the table
///   gets the same id, because clients refresh URLs and cache reads by id. Within one snapshot
///   ids are unique.
/// - Files come in one deterministic order, by id ([`Snapshot::sort_files`]; the changes of a
///   commit by [`VersionChanges::sort_files`]), on every call and in every process: page tokens
///   continue "after file id X" on whichever replica receives them. The gateway sorts again
///   where snapshots enter its cache, so a slip costs time, not correctness.
/// - Errors that mean "not there" (missing table, unknown version, timestamp out of range) use
///   their own variants; anything else is a fault of the table or the store.
#[async_trait]
pub trait TableSource: Send + Sync + std::fmt::Debug {
    /// The table's format, for listings and logs; nothing downstream branches on it.
    fn format(&self) -> TableFormat;

    /// The newest committed version. Cheap enough to call on every request.
    async fn latest_version(&self) -> Result<Version>;

    /// The full snapshot (metadata and live files) at `version`.
    async fn snapshot(&self, version: Version) -> Result<Snapshot>;

    /// The version at a point in time. A timestamp before the first commit resolves to the
    /// earliest version for [`TimestampBound::AtOrAfter`] and is an error for
    /// [`TimestampBound::AtOrBefore`]; a timestamp after the newest commit resolves to the newest
    /// version for `AtOrBefore` (the table as it is now, as `deltalake` reads it) and is an error
    /// for `AtOrAfter` (no such version exists yet). Both errors are
    /// [`crate::Error::TimestampOutOfRange`].
    async fn version_at(&self, timestamp: DateTime<Utc>, bound: TimestampBound) -> Result<Version>;

    /// Every version that can be read now, oldest first. The default suits formats whose
    /// versions are consecutive numbers: from the earliest still readable to the latest.
    /// Formats with sparse versions (commit times, sequence numbers with gaps) list theirs.
    async fn versions(&self) -> Result<Vec<Version>> {
        let latest = self.latest_version().await?;
        let earliest = self
            .version_at(DateTime::<Utc>::MIN_UTC, TimestampBound::AtOrAfter)
            .await?;
        Ok((earliest.min(latest)..=latest).collect())
    }

    /// Every version that can be read now ([`Self::versions`]) with its commit time in ms,
    /// oldest first, times strictly increasing (the times [`Self::version_at`] resolves over),
    /// for computed tables whose history follows several sources by their commit times. The
    /// default reads each version's snapshot; formats whose timeline knows the times say so.
    async fn commits(&self) -> Result<Vec<(Version, i64)>> {
        let mut commits = Vec::new();
        for version in self.versions().await? {
            commits.push((version, self.snapshot(version).await?.timestamp_ms));
        }
        Ok(commits)
    }

    /// The table's own metadata at its latest version, where its format has a document that
    /// engines read directly (Iceberg's `metadata.json`), for catalogs that relay it rather than
    /// generate one. The default: none.
    async fn native_metadata(&self) -> Result<Option<NativeMetadata>> {
        Ok(None)
    }

    /// The positions (0-based row numbers within the file, ascending, each once) of the rows
    /// deleted from `file`, a file of one of this table's snapshots: those its
    /// [`crate::DeletionVector`] marks, exactly [`crate::DeletionVector::cardinality`] of them;
    /// none for a file without one. Outputs that cannot carry a deletion vector as it is (an
    /// Iceberg position delete file) are written from these. The default suits formats that
    /// never mark rows deleted in place: it refuses any deletion vector rather than drop it.
    async fn deleted_rows(&self, file: &DataFile) -> Result<Vec<u64>> {
        match &file.deletion_vector {
            None => Ok(Vec::new()),
            Some(_) => Err(Error::Unsupported(format!(
                "the {} adapter cannot read the deletion vector of data file {}",
                self.format(),
                file.id
            ))),
        }
    }

    /// The rows of `version`, read by the format's own reader (deletes applied, logs merged),
    /// for shares the gateway computes from the table. The default refuses.
    async fn rows(&self, version: Version) -> Result<Rows> {
        let _ = version;
        Err(Error::Unsupported(format!(
            "the {} adapter cannot read a table's rows, so no share can be computed from it",
            self.format()
        )))
    }

    /// The rows versions `after+1..=to` added, if those versions did nothing but add rows
    /// (no row removed or rewritten, no schema or protocol change); `None` if they did
    /// anything else, or the adapter cannot tell. Computed tables whose definitions work row
    /// by row then compute only these rows ([`crate::Content::Append`]). The default cannot tell.
    async fn appended(&self, after: Version, to: Version) -> Result<Option<Rows>> {
        let _ = (after, to);
        Ok(None)
    }

    /// The changes of versions `start..=end`, one entry per version, oldest first. Both ends
    /// must exist ([`crate::Error::VersionNotFound`] otherwise). Formats without a change feed
    /// keep the default, which says so.
    async fn changes(&self, start: Version, end: Version) -> Result<Vec<VersionChanges>> {
        let _ = (start, end);
        Err(Error::Unsupported(format!(
            "tables in the {} format do not provide a change data feed",
            self.format()
        )))
    }
}
