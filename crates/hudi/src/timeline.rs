//! The completed timeline as protocol versions, and what each commit's metadata says.
//!
//! A version is the instant's requested time read as a number (`20240418173550988`): it grows
//! with every instant, it is what a Hudi user already calls the commit, and, unlike a position
//! in the timeline, it does not move when old instants are archived out of the active timeline.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hudi::table::Table;
use hudi::timeline::instant::Instant;
use lakeshare_model::{Version, monotonic_commit_times};
use serde_json::Value;

use crate::Error;

/// One completed instant that changed the table's data.
#[derive(Debug, Clone)]
pub(crate) struct VersionEntry {
    pub version: Version,
    /// The requested time, as Hudi writes it: the instant's identity and the time travel key.
    pub instant: String,
    /// When the commit became visible (its completion time where recorded), epoch
    /// milliseconds, made strictly increasing along the versions.
    pub timestamp_ms: i64,
}

/// The data-changing instants of the active timeline, oldest first.
pub(crate) fn versions(table: &Table) -> Result<Vec<VersionEntry>, Error> {
    let timezone = table.timezone();
    let mut entries = table
        .get_timeline()
        .completed_commits
        .iter()
        .map(|instant| entry(instant, &timezone))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.version);
    let mut times: Vec<(Version, i64)> = entries
        .iter()
        .map(|e| (e.version, e.timestamp_ms))
        .collect();
    monotonic_commit_times(&mut times);
    for (entry, (_, ms)) in entries.iter_mut().zip(times) {
        entry.timestamp_ms = ms;
    }
    Ok(entries)
}

fn entry(instant: &Instant, timezone: &str) -> Result<VersionEntry, Error> {
    let version = version_of(&instant.timestamp).ok_or_else(|| {
        Error::Corrupt(format!(
            "the timeline has an instant with the unreadable time '{}'",
            instant.timestamp
        ))
    })?;
    let completed_ms = instant
        .completion_timestamp
        .as_deref()
        .and_then(|t| Instant::parse_datetime(t, timezone).ok())
        .map(|t: DateTime<Utc>| t.timestamp_millis());
    Ok(VersionEntry {
        version,
        instant: instant.timestamp.clone(),
        timestamp_ms: completed_ms.unwrap_or(instant.epoch_millis),
    })
}

/// The version number of an instant time: its digits, with second-precision instants of old
/// tables (`yyyyMMddHHmmss`) scaled to the millisecond form so both kinds order together.
pub(crate) fn version_of(instant: &str) -> Option<Version> {
    if !instant.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: Version = instant.parse().ok()?;
    match instant.len() {
        17 => Some(n),
        14 => n.checked_mul(1000),
        _ => None,
    }
}

/// The instant time 1 ms (or, for second-precision instants, 1 s) before `instant`: the
/// time travel key of "just before this commit", which also sees commits that were archived.
pub(crate) fn instant_before(instant: &str) -> Option<String> {
    let seconds = NaiveDateTime::parse_from_str(instant.get(..14)?, "%Y%m%d%H%M%S").ok()?;
    match instant.len() {
        17 => {
            let millis: i64 = instant[14..].parse().ok()?;
            let t = seconds + TimeDelta::milliseconds(millis - 1);
            Some(t.format("%Y%m%d%H%M%S%3f").to_string())
        }
        14 => Some(
            (seconds - TimeDelta::seconds(1))
                .format("%Y%m%d%H%M%S")
                .to_string(),
        ),
        _ => None,
    }
}

/// What one commit's metadata records, as far as the gateway needs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommitInfo {
    pub writes: Vec<WriteStat>,
    /// File groups this commit replaced (insert overwrite, clustering).
    pub replaced: Vec<FileGroupId>,
    /// The writer's Avro schema.
    pub schema: Option<String>,
    /// The write operation (`UPSERT`, `INSERT_OVERWRITE`, `CLUSTER`, `COMPACT`…).
    pub operation: Option<String>,
}

/// A file group: file ids are unique only within a partition (bucket indexes reuse them).
pub(crate) type FileGroupId = (String, String);

/// One file a commit wrote.
#[derive(Debug, Clone)]
pub(crate) struct WriteStat {
    /// The file group, as `(partition path, file id)`.
    pub group: FileGroupId,
    /// Relative to the table root.
    pub path: String,
    /// Records in the file version written (for a base file: all its rows).
    pub num_writes: Option<u64>,
    /// The instant of the file group's previous base file, if there was one.
    pub prev_commit: Option<String>,
}

impl WriteStat {
    /// Whether the commit wrote a base file, as opposed to appending to a log file (log files
    /// are hidden files: `.{fileId}_{instant}.log.{n}_{token}`).
    pub fn is_base_file(&self) -> bool {
        let name = self.path.rsplit('/').next().unwrap_or(&self.path);
        !name.is_empty() && !name.starts_with('.')
    }
}

impl CommitInfo {
    /// Parses commit metadata as hudi renders it in JSON (the v6 JSON files as they are, the
    /// Avro-encoded metadata of v8+ converted).
    pub fn parse(json: &str) -> Result<Self, Error> {
        let v: Value = serde_json::from_str(json)
            .map_err(|e| Error::Corrupt(format!("commit metadata is not JSON: {e}")))?;
        let mut info = CommitInfo {
            operation: v["operationType"].as_str().map(str::to_string),
            schema: v["extraMetadata"]["schema"]
                .as_str()
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string),
            ..Default::default()
        };
        if let Some(partitions) = v["partitionToWriteStats"].as_object() {
            let stats = partitions
                .iter()
                .filter_map(|(p, s)| Some((p, s.as_array()?)));
            for (partition, stat) in stats.flat_map(|(p, s)| s.iter().map(move |s| (p, s))) {
                let (Some(file_id), Some(path)) = (stat["fileId"].as_str(), stat["path"].as_str())
                else {
                    continue;
                };
                info.writes.push(WriteStat {
                    group: (partition.clone(), file_id.to_string()),
                    path: path.to_string(),
                    num_writes: stat["numWrites"].as_u64(),
                    prev_commit: stat["prevCommit"]
                        .as_str()
                        .filter(|p| *p != "null" && !p.is_empty())
                        .map(str::to_string),
                });
            }
        }
        if let Some(partitions) = v["partitionToReplaceFileIds"].as_object() {
            for (partition, ids) in partitions {
                for id in ids
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    info.replaced.push((partition.clone(), id.to_string()));
                }
            }
        }
        Ok(info)
    }

    /// Whether the commit only reorganised files without changing any row (clustering).
    pub fn rewrites_only(&self) -> bool {
        self.operation
            .as_deref()
            .is_some_and(|op| op.eq_ignore_ascii_case("cluster"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_instant_digits_and_old_instants_scale_up() {
        assert_eq!(version_of("20240418173550988"), Some(20240418173550988));
        assert_eq!(version_of("20240418173550"), Some(20240418173550000));
        assert_eq!(version_of("2024041817355"), None);
        assert_eq!(version_of("2024-04-18"), None);
    }

    #[test]
    fn the_instant_before_borrows_across_seconds() {
        assert_eq!(
            instant_before("20240418173500000").as_deref(),
            Some("20240418173459999")
        );
        assert_eq!(
            instant_before("20240101000000000").as_deref(),
            Some("20231231235959999")
        );
        assert_eq!(
            instant_before("20240418173500").as_deref(),
            Some("20240418173459")
        );
    }

    #[test]
    fn commit_metadata_gives_writes_replacements_and_schema() {
        let json = r#"{
          "partitionToWriteStats": {"10": [
            {"fileId": "a-0", "path": "10/a-0_0-1-2_002.parquet", "prevCommit": "001", "numWrites": 2},
            {"fileId": "b-0", "path": "10/.b-0_002.log.1_0-1-1", "prevCommit": "002", "numWrites": 1}
          ]},
          "partitionToReplaceFileIds": {"20": ["c-0"]},
          "extraMetadata": {"schema": "{\"type\":\"record\"}"},
          "operationType": "CLUSTER"
        }"#;
        let info = CommitInfo::parse(json).unwrap();
        assert_eq!(info.writes.len(), 2);
        assert!(info.writes[0].is_base_file());
        assert!(!info.writes[1].is_base_file());
        assert_eq!(info.writes[0].prev_commit.as_deref(), Some("001"));
        assert_eq!(info.writes[0].num_writes, Some(2));
        assert_eq!(info.replaced, [("20".to_string(), "c-0".to_string())]);
        assert_eq!(info.writes[0].group, ("10".to_string(), "a-0".to_string()));
        assert!(info.schema.is_some());
        assert!(info.rewrites_only());
        let first = CommitInfo::parse(
            r#"{"partitionToWriteStats":{"":[{"fileId":"a","path":"a_1.parquet","prevCommit":"null"}]}}"#,
        )
        .unwrap();
        assert_eq!(first.writes[0].prev_commit, None);
        assert_eq!(first.schema, None);
    }
}
