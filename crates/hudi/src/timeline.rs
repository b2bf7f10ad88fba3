//! The completed timeline as protocol versions, and what each commit's metadata says.
//!
//! A version is the instant's requested time read as a number (`20240418173550988`): it grows
//! with every instant, it is what a Hudi user already calls the commit, and, unlike a position
//! in the timeline, it does not move when old instants are archived out of the active timeline.
//!
//! From table version 8 on, concurrent writers complete instants out of order: one requested
//! earlier can complete after one requested later. Versions then follow completion order, since
//! a commit becomes visible when it completes, and an instant that completes after a
//! later-requested one is numbered by its completion time (its requested time would fall below
//! versions already served). hudi reads a past version by *requested* time (see
//! [`VersionEntry::as_of`]), so a version an out-of-order instant has since slipped under no
//! longer reads as it did, and is refused ([`check_in_order`]).

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
    /// The requested time, as Hudi writes it: the instant's identity, and what the names of the
    /// files it wrote carry.
    pub instant: String,
    /// `instant` as a number (what [`version_of`] makes of it).
    pub requested: Version,
    /// When the instant completed, as Hudi writes it (table version 8 and up).
    pub completed: Option<String>,
    /// The instant time hudi reads this version as of: the latest requested time among the
    /// instants completed by then, which is this instant's own unless it completed after a
    /// later-requested one. hudi's time travel is by requested time: it sees every instant
    /// completed *now* whose requested time is at or before the bound (hudi-core 0.6
    /// `Timeline::create_view_as_of`, `FileGroup::get_file_slice_as_of`).
    pub as_of: String,
    /// `as_of` as a number.
    pub as_of_requested: Version,
    /// When the commit became visible (its completion time where recorded), epoch
    /// milliseconds, made strictly increasing along the versions.
    pub timestamp_ms: i64,
}

/// A completed instant before it is numbered.
struct Completed<'a> {
    instant: &'a Instant,
    requested: Version,
    /// The completion time as a number, where the timeline records it.
    completed: Option<Version>,
}

/// The data-changing instants of the active timeline in the order they completed, oldest first
/// (for tables before version 8, which record no completion times, in requested order).
pub(crate) fn versions(table: &Table) -> Result<Vec<VersionEntry>, Error> {
    let timezone = table.timezone();
    let mut completed = table
        .get_timeline()
        .completed_commits
        .iter()
        .map(completed_instant)
        .collect::<Result<Vec<_>, _>>()?;
    completed.sort_by_key(|c| (c.completed.unwrap_or(c.requested), c.requested));
    let numbers: Vec<(Version, Option<Version>)> = completed
        .iter()
        .map(|c| (c.requested, c.completed))
        .collect();
    let mut latest_requested: Option<&Completed> = None;
    let mut entries = Vec::with_capacity(completed.len());
    for (c, version) in completed.iter().zip(numbered(&numbers)) {
        if latest_requested.is_none_or(|l| c.requested > l.requested) {
            latest_requested = Some(c);
        }
        let as_of = latest_requested.expect("set above");
        entries.push(VersionEntry {
            version,
            instant: c.instant.timestamp.clone(),
            requested: c.requested,
            completed: c.instant.completion_timestamp.clone(),
            as_of: as_of.instant.timestamp.clone(),
            as_of_requested: as_of.requested,
            timestamp_ms: completed_ms(c.instant, &timezone),
        });
    }
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

fn completed_instant(instant: &Instant) -> Result<Completed<'_>, Error> {
    let unreadable = |time: &str| {
        Error::Corrupt(format!(
            "the timeline has an instant with the unreadable time '{time}'"
        ))
    };
    let requested = version_of(&instant.timestamp).ok_or_else(|| unreadable(&instant.timestamp))?;
    let completed = match instant.completion_timestamp.as_deref() {
        Some(time) => Some(version_of(time).ok_or_else(|| unreadable(time))?),
        None => None,
    };
    Ok(Completed {
        instant,
        requested,
        completed,
    })
}

fn completed_ms(instant: &Instant, timezone: &str) -> i64 {
    instant
        .completion_timestamp
        .as_deref()
        .and_then(|t| Instant::parse_datetime(t, timezone).ok())
        .map_or(instant.epoch_millis, |t: DateTime<Utc>| {
            t.timestamp_millis()
        })
}

/// The version numbers of instants `(requested, completed)` in completion order: each one's
/// requested time while that grows, so in-order timelines keep the numbers Hudi users know;
/// otherwise (an instant that completed after a later-requested one, or after such an instant)
/// its completion time, which is later than the version of every instant completed before it.
///
/// An instant overtaken by a later-requested one keeps its number while it is in the active
/// timeline: Hudi archives instants oldest-requested first and never past a pending one, so
/// whatever overtook it is still there. One numbered by completion only because an
/// earlier-requested late instant completed just before it could fall back to its requested
/// time once that instant is archived, which Hudi does only well behind the latest commits.
fn numbered(instants: &[(Version, Option<Version>)]) -> Vec<Version> {
    let mut out: Vec<Version> = Vec::with_capacity(instants.len());
    for &(requested, completed) in instants {
        let version = match out.last() {
            Some(&previous) if requested <= previous => {
                completed.unwrap_or(requested).max(previous + 1)
            }
            _ => requested,
        };
        out.push(version);
    }
    out
}

/// Refuses to read `entries[at]` once an instant requested at or before the instant it is read
/// as of has completed after it.
///
/// hudi reads a past version by requested time, over the instants completed now: when the
/// version was the latest, such an instant was still in flight and its files were not seen;
/// now they would be. Nothing hudi offers reads the table as it was between the two
/// completions, and serving the version with that instant's files would make it mean something
/// else than it did, so it is refused. The newest version is never affected.
pub(crate) fn check_in_order(entries: &[VersionEntry], at: usize) -> Result<(), Error> {
    let entry = &entries[at];
    let Some(late) = entries[at + 1..]
        .iter()
        .find(|e| e.requested <= entry.as_of_requested)
    else {
        return Ok(());
    };
    Err(Error::Unsupported(format!(
        "version {} (Hudi instant {}, completed {}) cannot be read as it was: instant {} was \
         requested before it but completed later ({}), and Hudi reads a past version by \
         requested time, so that instant's files would now be part of it. Concurrent writers \
         completed these instants out of order; the newest version ({}) reads the table as it is",
        entry.version,
        entry.instant,
        entry.completed.as_deref().unwrap_or("at an unknown time"),
        late.instant,
        late.completed.as_deref().unwrap_or("at an unknown time"),
        entries.last().map_or(entry.version, |e| e.version),
    )))
}

/// The earliest requested time among `entries`: "just before" it, hudi sees only what commits
/// before the active timeline (archived ones) left.
pub(crate) fn earliest_instant(entries: &[VersionEntry]) -> Option<&str> {
    entries
        .iter()
        .min_by_key(|e| e.requested)
        .map(|e| e.instant.as_str())
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
    fn in_order_instants_keep_their_requested_times_as_versions() {
        // Sequential, and concurrent but completing in requested order (2 requested before 1
        // completed), and without completion times (table version 6).
        let overlapping = [(100, Some(300)), (200, Some(400)), (500, Some(600))];
        assert_eq!(numbered(&overlapping), [100, 200, 500]);
        assert_eq!(numbered(&[(100, None), (200, None)]), [100, 200]);
    }

    #[test]
    fn an_instant_completing_after_a_later_requested_one_is_numbered_by_its_completion() {
        // In completion order: B (200, done 300), then A (100, done 400), then D (350, done
        // 500), requested before A completed, then E (600, done 700).
        let instants = [
            (200, Some(300)),
            (100, Some(400)),
            (350, Some(500)),
            (600, Some(700)),
        ];
        let versions = numbered(&instants);
        assert_eq!(versions, [200, 400, 500, 600]);
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
        // Two instants completing in the same millisecond still get two versions.
        assert_eq!(numbered(&[(200, Some(300)), (100, Some(300))]), [200, 300]);
    }

    fn entry(version: Version, requested: Version, as_of: Version) -> VersionEntry {
        VersionEntry {
            version,
            instant: requested.to_string(),
            requested,
            completed: Some((version + 1).to_string()),
            as_of: as_of.to_string(),
            as_of_requested: as_of,
            timestamp_ms: 0,
        }
    }

    #[test]
    fn a_version_an_earlier_requested_instant_completed_after_is_refused() {
        // B (200) completed before A (100), so A is read as of 200, and so is B: reading B now
        // would include A's files, which it did not have when it was the latest.
        let entries = [
            entry(200, 200, 200),
            entry(400, 100, 200),
            entry(600, 600, 600),
        ];
        let err = check_in_order(&entries, 0).unwrap_err().to_string();
        assert!(
            err.contains("version 200") && err.contains("instant 100") && err.contains("(401)"),
            "{err}"
        );
        assert!(
            err.contains("requested time") && err.contains("(600)"),
            "{err}"
        );
        assert!(check_in_order(&entries, 1).is_ok());
        assert!(check_in_order(&entries, 2).is_ok());
        // In order, nothing is refused.
        let in_order = [entry(100, 100, 100), entry(200, 200, 200)];
        assert!((0..2).all(|at| check_in_order(&in_order, at).is_ok()));
        assert_eq!(earliest_instant(&entries), Some("100"));
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
