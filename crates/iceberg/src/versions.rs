//! Which snapshots of an Iceberg table are versions, and their numbers.
//!
//! A version must only grow and always denote the same snapshot: clients cache by version and
//! read change feeds "since version N". Iceberg offers two candidates, and each holds only under
//! a condition, which this module checks rather than assumes:
//!
//! - Format v2 and later: the snapshot's sequence number, assigned once at commit from a counter
//!   that never goes back (`last-sequence-number`). Snapshots kept from before an upgrade from
//!   v1 have none (0); they are not versions, whatever is expired later, so the versions of the
//!   v2 era never change. (Before, every version of an upgraded table was a commit time until
//!   its last v1 snapshot expired, and then they all became sequence numbers.)
//! - Format v1: the commit time in epoch ms, exactly as the snapshot records it. A snapshot
//!   stamped no later than its parent gets no version of its own; it is not shifted by 1 ms
//!   relative to a parent that may later expire. (One case stays beyond a stateless gateway:
//!   once such a parent expires, the snapshot stamped in the same millisecond takes that
//!   millisecond as its version. Format v2 tables do not have it.)
//!
//! What cannot be kept: after a rollback the current snapshot has a lower version than one the
//! table's own snapshot log shows was current before. Serving it as the latest version would make
//! versions go backwards, so the latest version is refused, saying so, until the next commit
//! (whose version is above every earlier one).

use iceberg::spec::{FormatVersion, SnapshotRef, TableMetadata};
use lakeshare_model::Version;

/// One version of the table: the snapshot it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VersionEntry {
    pub version: Version,
    /// Commit time, made strictly increasing over the entries (for timestamp lookups only).
    pub timestamp_ms: i64,
    pub snapshot_id: i64,
}

/// The versions of one metadata file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Versions {
    /// The current snapshot and those of its ancestors that are versions, oldest first.
    pub entries: Vec<VersionEntry>,
    /// Why the current snapshot cannot be served as the latest version, if it cannot.
    pub latest_refused: Option<String>,
}

impl Versions {
    /// The entries readers may read: all but a refused latest, which stays refused until the
    /// next commit.
    pub fn readable(&self) -> &[VersionEntry] {
        match self.latest_refused {
            Some(_) => &self.entries[..self.entries.len().saturating_sub(1)],
            None => &self.entries,
        }
    }
}

pub(crate) fn versions(metadata: &TableMetadata) -> Versions {
    let sequenced = metadata.format_version() >= FormatVersion::V2;
    let version_of = |snapshot: &SnapshotRef| -> Option<Version> {
        if sequenced {
            (snapshot.sequence_number() > 0).then_some(snapshot.sequence_number() as Version)
        } else {
            Some(snapshot.timestamp_ms().max(1) as Version)
        }
    };

    let mut entries: Vec<VersionEntry> = Vec::new();
    let mut current_version = None;
    let current_id = metadata.current_snapshot_id();
    for snapshot in ancestry(metadata) {
        let version =
            version_of(&snapshot).filter(|&v| entries.last().is_none_or(|last| last.version < v));
        if Some(snapshot.snapshot_id()) == current_id {
            current_version = version;
        }
        if let Some(version) = version {
            entries.push(VersionEntry {
                version,
                timestamp_ms: snapshot.timestamp_ms(),
                snapshot_id: snapshot.snapshot_id(),
            });
        }
    }
    let mut times: Vec<(Version, i64)> = entries.iter().map(|e| (0, e.timestamp_ms)).collect();
    lakeshare_model::monotonic_commit_times(&mut times);
    for (entry, (_, ms)) in entries.iter_mut().zip(times) {
        entry.timestamp_ms = ms;
    }

    let latest_refused = match (current_id, current_version) {
        (None, _) => None,
        (Some(_), None) if sequenced => Some(
            "the table's current snapshot predates its upgrade to Iceberg format v2 and has no \
             sequence number, so it has no version that stays stable; it is served once a new \
             commit lands"
                .to_string(),
        ),
        (Some(_), None) => Some(
            "the table's current snapshot is stamped no later than its parent; versions of \
             Iceberg format v1 tables are commit times, which must grow, so it is served once a \
             new commit lands"
                .to_string(),
        ),
        (Some(_), Some(current)) => metadata
            .history()
            .iter()
            .filter_map(|log| metadata.snapshot_by_id(log.snapshot_id))
            .filter_map(version_of)
            .filter(|&earlier| earlier > current)
            .max()
            .map(|earlier| {
                format!(
                    "the table was rolled back from version {earlier} to version {current}; \
                     versions must only grow, so its latest version is served again once a new \
                     commit lands (its version will be above {earlier})"
                )
            }),
    };
    Versions {
        entries,
        latest_refused,
    }
}

/// The current snapshot and its ancestors, oldest first; expired ancestors end the history.
fn ancestry(metadata: &TableMetadata) -> Vec<SnapshotRef> {
    let mut chain = Vec::new();
    let mut next = metadata.current_snapshot_id();
    while let Some(id) = next {
        let Some(snapshot) = metadata.snapshot_by_id(id) else {
            break;
        };
        chain.push(snapshot.clone());
        next = snapshot.parent_snapshot_id();
    }
    chain.reverse();
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metadata JSON with the given snapshots `(id, parent, sequence number, timestamp)`, the
    /// current one, and the snapshot log (ids main pointed to, in order).
    fn metadata(
        format_version: u8,
        snapshots: &[(i64, Option<i64>, i64, i64)],
        current: Option<i64>,
        log: &[i64],
    ) -> TableMetadata {
        let snapshots: Vec<serde_json::Value> = snapshots
            .iter()
            .map(|&(id, parent, seq, ts)| {
                let mut s = serde_json::json!({
                    "snapshot-id": id,
                    "timestamp-ms": ts,
                    "summary": { "operation": "append" },
                    "manifest-list": format!("/t/metadata/snap-{id}.avro"),
                    "schema-id": 0,
                });
                if let Some(parent) = parent {
                    s["parent-snapshot-id"] = parent.into();
                }
                if format_version >= 2 && seq > 0 {
                    s["sequence-number"] = seq.into();
                }
                s
            })
            .collect();
        let log: Vec<serde_json::Value> = log
            .iter()
            .map(|id| serde_json::json!({ "snapshot-id": id, "timestamp-ms": 1 }))
            .collect();
        let last_seq = 9;
        let mut json = serde_json::json!({
            "format-version": format_version,
            "table-uuid": "9c12d441-03fe-4693-9a96-a0705ddf69c1",
            "location": "/t",
            "last-updated-ms": 1_700_000_000_000i64,
            "last-column-id": 1,
            "schemas": [{ "type": "struct", "schema-id": 0, "fields": [
                { "id": 1, "name": "x", "required": false, "type": "long" } ] }],
            "current-schema-id": 0,
            "partition-specs": [{ "spec-id": 0, "fields": [] }],
            "default-spec-id": 0,
            "last-partition-id": 999,
            "sort-orders": [{ "order-id": 0, "fields": [] }],
            "default-sort-order-id": 0,
            "snapshots": snapshots,
            "snapshot-log": log,
            "metadata-log": [],
            "properties": {},
        });
        if format_version >= 2 {
            json["last-sequence-number"] = last_seq.into();
        } else {
            json["schema"] = json["schemas"][0].clone();
            json["partition-spec"] = serde_json::json!([]);
        }
        if let Some(current) = current {
            json["current-snapshot-id"] = current.into();
        }
        serde_json::from_value(json).expect("valid table metadata")
    }

    fn numbers(v: &Versions) -> Vec<Version> {
        v.entries.iter().map(|e| e.version).collect()
    }

    #[test]
    fn v2_versions_are_sequence_numbers() {
        let m = metadata(
            2,
            &[(10, None, 1, 1000), (11, Some(10), 2, 2000)],
            Some(11),
            &[10, 11],
        );
        let v = versions(&m);
        assert_eq!(numbers(&v), vec![1, 2]);
        assert_eq!(v.latest_refused, None);
    }

    /// An upgraded table: v1-era snapshots (no sequence number) are not versions, before and
    /// after they expire, so the v2-era versions never change.
    #[test]
    fn an_upgrade_from_v1_keeps_the_v2_versions_when_old_snapshots_expire() {
        let before_expiry = metadata(
            2,
            &[
                (10, None, 0, 1_700_000_000_000),
                (11, Some(10), 0, 1_700_000_001_000),
                (12, Some(11), 1, 1_700_000_002_000),
                (13, Some(12), 2, 1_700_000_003_000),
            ],
            Some(13),
            &[10, 11, 12, 13],
        );
        let after_expiry = metadata(
            2,
            &[
                (12, Some(11), 1, 1_700_000_002_000),
                (13, Some(12), 2, 1_700_000_003_000),
            ],
            Some(13),
            &[12, 13],
        );
        let (a, b) = (versions(&before_expiry), versions(&after_expiry));
        assert_eq!(numbers(&a), vec![1, 2]);
        assert_eq!(a.entries, b.entries);
        assert_eq!((a.latest_refused, b.latest_refused), (None, None));

        // Upgraded, with no v2 commit yet: the current snapshot has no stable version.
        let just_upgraded = metadata(2, &[(10, None, 0, 1_700_000_000_000)], Some(10), &[10]);
        let v = versions(&just_upgraded);
        assert!(v.entries.is_empty());
        assert!(v.latest_refused.unwrap().contains("upgrade"));
    }

    /// Format v1: exact commit times; a snapshot stamped no later than its parent gets none,
    /// and the others are not shifted relative to a parent that may expire.
    #[test]
    fn v1_versions_are_exact_commit_times() {
        let m = metadata(
            1,
            &[
                (10, None, 0, 5000),
                (11, Some(10), 0, 5000),
                (12, Some(11), 0, 7000),
            ],
            Some(12),
            &[10, 11, 12],
        );
        let v = versions(&m);
        assert_eq!(numbers(&v), vec![5000, 7000]);
        assert_eq!(v.entries[0].snapshot_id, 10);
        assert_eq!(v.latest_refused, None);

        let m = metadata(
            1,
            &[
                (10, None, 0, 4000),
                (11, Some(10), 0, 5000),
                (12, Some(11), 0, 7000),
            ],
            Some(12),
            &[10, 11, 12],
        );
        let expired = metadata(
            1,
            &[(11, Some(10), 0, 5000), (12, Some(11), 0, 7000)],
            Some(12),
            &[11, 12],
        );
        assert_eq!(numbers(&versions(&m)), vec![4000, 5000, 7000]);
        assert_eq!(versions(&m).entries[1..], versions(&expired).entries[..]);

        let skewed = metadata(
            1,
            &[(10, None, 0, 5000), (11, Some(10), 0, 4000)],
            Some(11),
            &[10, 11],
        );
        let v = versions(&skewed);
        assert_eq!(numbers(&v), vec![5000]);
        assert!(
            v.latest_refused
                .unwrap()
                .contains("no later than its parent")
        );
    }

    /// A rollback makes the current snapshot's version lower than one served before: the
    /// latest version is refused (the older versions stay readable) until the next commit.
    #[test]
    fn a_rollback_refuses_the_latest_version_until_the_next_commit() {
        let rolled_back = metadata(
            2,
            &[
                (10, None, 1, 1000),
                (11, Some(10), 2, 2000),
                (12, Some(11), 3, 3000),
            ],
            Some(11),
            &[10, 11, 12, 11],
        );
        let v = versions(&rolled_back);
        assert_eq!(numbers(&v), vec![1, 2]);
        let why = v.latest_refused.unwrap();
        assert!(
            why.contains("rolled back from version 3 to version 2"),
            "{why}"
        );

        let committed_again = metadata(
            2,
            &[
                (10, None, 1, 1000),
                (11, Some(10), 2, 2000),
                (12, Some(11), 3, 3000),
                (13, Some(11), 4, 4000),
            ],
            Some(13),
            &[10, 11, 12, 11, 13],
        );
        let v = versions(&committed_again);
        assert_eq!(numbers(&v), vec![1, 2, 4]);
        assert_eq!(v.latest_refused, None);
    }
}
