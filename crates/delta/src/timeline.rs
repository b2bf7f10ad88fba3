//! Which versions a Delta table has and when each was committed.

use chrono::{DateTime, Utc};
use deltalake::logstore::LogStore;
use futures::TryStreamExt;
use lakeshare_model::{Error, TimestampBound, Version};

/// The commits of a table that can still be read, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timeline {
    /// `(version, commit time in ms)`, versions ascending, times strictly increasing.
    pub(crate) commits: Vec<(Version, i64)>,
    /// The oldest version that can be reconstructed (0, or the oldest checkpoint once older
    /// commit files have been cleaned up).
    pub(crate) earliest: Version,
}

impl Timeline {
    /// Lists `_delta_log` once.
    pub(crate) async fn list(log_store: &dyn LogStore) -> deltalake::DeltaResult<Self> {
        let store = log_store.object_store(None);
        let log_path = log_store.log_path().clone();
        let mut commits = Vec::new();
        let mut checkpoints = Vec::new();
        let mut listing = store.list(Some(&log_path));
        while let Some(meta) = listing.try_next().await? {
            // Files in subfolders of _delta_log are not part of the log (Spark stages there).
            if meta.location.prefix_match(&log_path).map(|p| p.count()) != Some(1) {
                continue;
            }
            let Some(name) = meta.location.filename() else {
                continue;
            };
            if let Some(version) = commit_version(name) {
                commits.push((version, meta.last_modified.timestamp_millis()));
            } else if let Some(version) = checkpoint_version(name) {
                checkpoints.push(version);
            }
        }
        Ok(Self::from_listing(commits, &checkpoints))
    }

    /// Whether the log has commits after `version`: a listing of only the entries that sort
    /// after that commit's file, not of the whole log.
    pub(crate) async fn has_commits_after(
        log_store: &dyn LogStore,
        version: Version,
    ) -> deltalake::DeltaResult<bool> {
        let store = log_store.object_store(None);
        let log_path = log_store.log_path().clone();
        let offset = log_path.clone().join(format!("{version:020}.json"));
        let mut listing = store.list_with_offset(Some(&log_path), &offset);
        while let Some(meta) = listing.try_next().await? {
            if meta
                .location
                .filename()
                .and_then(commit_version)
                .is_some_and(|v| v > version)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub(crate) fn from_listing(mut commits: Vec<(Version, i64)>, checkpoints: &[Version]) -> Self {
        commits.sort_unstable();
        let earliest = if commits.first().is_some_and(|(v, _)| *v == 0) {
            0
        } else {
            // Without commit 0, the oldest readable version is the oldest checkpoint.
            checkpoints
                .iter()
                .copied()
                .min()
                .or(commits.first().map(|(v, _)| *v))
                .unwrap_or(0)
        };
        commits.retain(|(v, _)| *v >= earliest);
        lakeshare_model::monotonic_commit_times(&mut commits);
        Self { commits, earliest }
    }

    pub(crate) fn latest(&self) -> Option<Version> {
        self.commits.last().map(|(v, _)| *v)
    }

    pub(crate) fn timestamp_of(&self, version: Version) -> Option<i64> {
        self.commits
            .binary_search_by_key(&version, |(v, _)| *v)
            .ok()
            .map(|i| self.commits[i].1)
    }

    pub(crate) fn version_at(
        &self,
        timestamp: DateTime<Utc>,
        bound: TimestampBound,
    ) -> Result<Version, Error> {
        lakeshare_model::version_at(&self.commits, timestamp, bound)
    }
}

/// `00000000000000000012.json` → 12.
fn commit_version(name: &str) -> Option<Version> {
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// `00000000000000000010.checkpoint.parquet`, multi-part and v2 checkpoints → 10.
fn checkpoint_version(name: &str) -> Option<Version> {
    let (digits, rest) = name.split_at_checked(20)?;
    (rest.starts_with(".checkpoint") && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn parses_log_file_names() {
        assert_eq!(commit_version("00000000000000000012.json"), Some(12));
        assert_eq!(commit_version("00000000000000000012.crc"), None);
        assert_eq!(commit_version("_last_checkpoint"), None);
        assert_eq!(
            checkpoint_version("00000000000000000010.checkpoint.parquet"),
            Some(10)
        );
        assert_eq!(
            checkpoint_version("00000000000000000010.checkpoint.0000000001.0000000002.parquet"),
            Some(10)
        );
        assert_eq!(checkpoint_version("00000000000000000010.json"), None);
    }

    #[test]
    fn timestamps_are_made_strictly_increasing() {
        let t = Timeline::from_listing(vec![(2, 150), (0, 100), (1, 100)], &[]);
        assert_eq!(t.commits, vec![(0, 100), (1, 101), (2, 150)]);
        assert_eq!(t.timestamp_of(1), Some(101));
    }

    #[test]
    fn cleaned_up_logs_start_at_the_oldest_checkpoint() {
        let t = Timeline::from_listing(vec![(8, 80), (9, 90), (10, 100), (11, 110)], &[10]);
        assert_eq!(t.earliest, 10);
        assert_eq!(t.commits, vec![(10, 100), (11, 110)]);
    }

    #[test]
    fn resolves_both_bounds() {
        let t = Timeline::from_listing(vec![(0, 100), (1, 200), (2, 300)], &[]);
        assert_eq!(
            t.version_at(ts(200), TimestampBound::AtOrBefore).unwrap(),
            1
        );
        assert_eq!(
            t.version_at(ts(250), TimestampBound::AtOrBefore).unwrap(),
            1
        );
        assert_eq!(t.version_at(ts(250), TimestampBound::AtOrAfter).unwrap(), 2);
        assert_eq!(t.version_at(ts(200), TimestampBound::AtOrAfter).unwrap(), 1);
        assert_eq!(t.version_at(ts(50), TimestampBound::AtOrAfter).unwrap(), 0);
        let before = t
            .version_at(ts(50), TimestampBound::AtOrBefore)
            .unwrap_err();
        assert!(
            before.to_string().contains("before the earliest"),
            "{before}"
        );
        // As of a time after the newest commit, the table is as it is now.
        assert_eq!(
            t.version_at(ts(301), TimestampBound::AtOrBefore).unwrap(),
            2
        );
        let after = t
            .version_at(ts(301), TimestampBound::AtOrAfter)
            .unwrap_err();
        assert!(
            after.to_string().contains("after the latest version 2"),
            "{after}"
        );
    }
}
