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

/// Makes commit times strictly increasing, oldest first, as Delta Lake does: a commit stamped
/// no later than its predecessor counts as 1 ms after it. `commits` are `(version, ms)`.
pub fn monotonic_commit_times(commits: &mut [(Version, i64)]) {
    for i in 1..commits.len() {
        if commits[i].1 <= commits[i - 1].1 {
            commits[i].1 = commits[i - 1].1 + 1;
        }
    }
}

/// The version a timestamp resolves to over `commits` (`(version, ms)`, times strictly
/// increasing), with the semantics of [`crate::TableSource::version_at`].
pub fn version_at(
    commits: &[(Version, i64)],
    timestamp: DateTime<Utc>,
    bound: TimestampBound,
) -> Result<Version, crate::Error> {
    use crate::Error;
    let t = timestamp.timestamp_millis();
    let (Some(&(first_v, first_t)), Some(&(last_v, last_t))) = (commits.first(), commits.last())
    else {
        return Err(Error::TimestampOutOfRange(
            "the table has no commits".into(),
        ));
    };
    let show = |ms: i64| {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_else(|| ms.to_string())
    };
    match bound {
        TimestampBound::AtOrBefore if t < first_t => Err(Error::TimestampOutOfRange(format!(
            "timestamp {} is before the earliest available version {first_v}, committed at {}",
            show(t),
            show(first_t)
        ))),
        TimestampBound::AtOrBefore => {
            let after = commits.partition_point(|(_, ct)| *ct <= t);
            Ok(commits[after - 1].0)
        }
        TimestampBound::AtOrAfter if t > last_t => Err(Error::TimestampOutOfRange(format!(
            "timestamp {} is after the latest version {last_v}, committed at {}",
            show(t),
            show(last_t)
        ))),
        TimestampBound::AtOrAfter => {
            let at = commits.partition_point(|(_, ct)| *ct < t);
            Ok(commits[at].0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn commit_times_are_made_strictly_increasing() {
        let mut commits = vec![(0, 100), (1, 100), (2, 90), (3, 500)];
        monotonic_commit_times(&mut commits);
        assert_eq!(commits, vec![(0, 100), (1, 101), (2, 102), (3, 500)]);
    }

    #[test]
    fn version_at_resolves_both_bounds_and_refuses_outside_the_history() {
        let commits = [(3, 1000), (5, 2000), (9, 3000)];
        let before = |ms| version_at(&commits, at(ms), TimestampBound::AtOrBefore);
        let after = |ms| version_at(&commits, at(ms), TimestampBound::AtOrAfter);
        assert_eq!(before(1000).unwrap(), 3);
        assert_eq!(before(1999).unwrap(), 3);
        assert_eq!(before(2000).unwrap(), 5);
        assert_eq!(
            before(99_999).unwrap(),
            9,
            "after the last commit: the latest"
        );
        assert!(matches!(
            before(999),
            Err(crate::Error::TimestampOutOfRange(_))
        ));
        assert_eq!(
            after(0).unwrap(),
            3,
            "before the first commit: the earliest"
        );
        assert_eq!(after(1001).unwrap(), 5);
        assert_eq!(after(3000).unwrap(), 9);
        let late = after(3001).unwrap_err().to_string();
        assert!(late.contains("after the latest version 9"), "{late}");
        assert!(matches!(
            version_at(&[], at(0), TimestampBound::AtOrAfter),
            Err(crate::Error::TimestampOutOfRange(_))
        ));
    }
}
