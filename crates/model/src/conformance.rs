//! The contract of [`TableSource`], checked the same way for every adapter.
//!
//! Each adapter's integration tests open tables it can read (the demo's trips, fixtures from
//! other writers) and call [`check`] on them; a new adapter gets the same checks by calling it on
//! its own tables. It panics, naming the contract and the version, on the first breach.
//!
//! What it checks: versions only grow and the latest is the last; `snapshot(v)` is exactly `v`,
//! twice the same, and an unknown version is `VersionNotFound`; files come sorted by id, ids are
//! unique within a snapshot and stable across versions (the same URL keeps its id); every file
//! (and deletion vector) lies under the table's root; `version_at` resolves commit times and
//! both out-of-range bounds as the trait says; a file's deleted rows are as many as its deletion
//! vector's cardinality, ascending; `changes(a, b)` lists exactly the versions
//! `a..=b`, with changed files under the root.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::{Error, Snapshot, TableSource, TimestampBound, Version};

/// What a table is expected to satisfy beyond the trait itself.
pub struct Expectations<'a> {
    /// Whether a URL lies under the table's root (its confinement folder).
    pub inside_root: &'a dyn Fn(&str) -> bool,
    /// At least this many versions (a history to check against).
    pub min_versions: usize,
}

/// Runs every check on `source`; panics on the first breach. Returns the versions it found.
pub async fn check(source: &dyn TableSource, expect: &Expectations<'_>) -> Vec<Version> {
    let latest = source.latest_version().await.expect("latest_version");
    let earliest = source
        .version_at(DateTime::<Utc>::UNIX_EPOCH, TimestampBound::AtOrAfter)
        .await
        .expect("version_at(epoch, AtOrAfter) is the earliest version");
    assert!(
        earliest <= latest,
        "earliest {earliest} after latest {latest}"
    );
    let changes = source.changes(earliest, latest).await;
    let versions: Vec<Version> = match &changes {
        Ok(commits) => commits.iter().map(|c| c.version).collect(),
        Err(Error::Unsupported(_)) => vec![earliest, latest],
        Err(e) => panic!("changes({earliest}, {latest}): {e}"),
    };
    assert!(
        versions.len() >= expect.min_versions,
        "expected at least {} versions, found {versions:?}",
        expect.min_versions
    );
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "versions must only grow: {versions:?}"
    );
    assert_eq!(
        versions.first(),
        Some(&earliest),
        "changes start at the start"
    );
    assert_eq!(
        versions.last(),
        Some(&latest),
        "the latest version is the last"
    );

    let commits = source.commits().await.expect("commits");
    let listed = source.versions().await.expect("versions");
    assert_eq!(
        commits.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        listed,
        "commits() lists the versions versions() does"
    );
    assert!(
        commits.windows(2).all(|w| w[0].1 < w[1].1),
        "commit times strictly increase: {commits:?}"
    );
    let commit_time: HashMap<Version, i64> = commits.iter().copied().collect();
    for &(version, ms) in &commits {
        let at = DateTime::from_timestamp_millis(ms).expect("a time");
        for bound in [TimestampBound::AtOrBefore, TimestampBound::AtOrAfter] {
            assert_eq!(
                source.version_at(at, bound).await.expect("version_at"),
                version,
                "version_at(commit time of {version}, {bound:?}) is {version}"
            );
        }
    }

    let mut ids_by_url: HashMap<crate::FileUrl, String> = HashMap::new();
    let mut previous_time = i64::MIN;
    for &version in &versions {
        let snapshot = source.snapshot(version).await.unwrap_or_else(|e| {
            panic!("snapshot({version}): {e}");
        });
        assert_eq!(
            snapshot.version, version,
            "snapshot({version}) is exactly {version}"
        );
        let again = source.snapshot(version).await.expect("snapshot again");
        assert_eq!(
            file_keys(&snapshot),
            file_keys(&again),
            "version {version}: the same files in the same order on every call"
        );
        check_files(&snapshot, expect, &mut ids_by_url);
        check_deleted_rows(source, &snapshot).await;
        assert!(
            snapshot.timestamp_ms >= previous_time,
            "version {version}: commit times do not go back"
        );
        previous_time = snapshot.timestamp_ms;
        if let Some(&ms) = commit_time.get(&version) {
            assert_eq!(
                snapshot.timestamp_ms, ms,
                "version {version}: the snapshot's commit time is commits()'s"
            );
        }
        if snapshot.unservable.is_none() {
            let at = DateTime::from_timestamp_millis(snapshot.timestamp_ms).expect("a time");
            let resolved = source
                .version_at(at, TimestampBound::AtOrBefore)
                .await
                .expect("version_at of a commit time");
            assert!(
                resolved >= version,
                "version_at(commit time of {version}, AtOrBefore) = {resolved}, before it"
            );
        }
    }

    match source.snapshot(latest + 1).await {
        Err(Error::VersionNotFound { requested, .. }) => assert_eq!(requested, latest + 1),
        Ok(s) => panic!("snapshot({}) returned version {}", latest + 1, s.version),
        Err(e) => panic!("snapshot({}) must be VersionNotFound, got {e}", latest + 1),
    }
    let future = Utc::now() + chrono::Duration::days(365 * 50);
    assert_eq!(
        source
            .version_at(future, TimestampBound::AtOrBefore)
            .await
            .expect("a time after the last commit, at or before"),
        latest,
        "a time after the last commit is the latest version (AtOrBefore)"
    );
    assert!(
        matches!(
            source.version_at(future, TimestampBound::AtOrAfter).await,
            Err(Error::TimestampOutOfRange(_))
        ),
        "no version at or after a future time"
    );
    assert!(
        matches!(
            source
                .version_at(DateTime::<Utc>::UNIX_EPOCH, TimestampBound::AtOrBefore)
                .await,
            Err(Error::TimestampOutOfRange(_))
        ),
        "no version at or before the epoch"
    );

    if let Ok(commits) = changes {
        for commit in &commits {
            for change in &commit.files {
                assert!(
                    (expect.inside_root)(&change.file.url.as_str()),
                    "version {}: changed file {} outside the root",
                    commit.version,
                    change.file.url
                );
            }
        }
        if versions.len() >= 3 {
            let (a, b) = (versions[1], versions[versions.len() - 2]);
            let middle: Vec<Version> = source
                .changes(a, b)
                .await
                .unwrap_or_else(|e| panic!("changes({a}, {b}): {e}"))
                .iter()
                .map(|c| c.version)
                .collect();
            let want: Vec<Version> = versions
                .iter()
                .copied()
                .filter(|v| (a..=b).contains(v))
                .collect();
            assert_eq!(
                middle, want,
                "changes({a}, {b}) lists exactly those versions"
            );
        }
    }
    versions
}

fn file_keys(snapshot: &Snapshot) -> Vec<(&str, &crate::FileUrl)> {
    snapshot
        .files
        .iter()
        .map(|f| (f.id.as_str(), &f.url))
        .collect()
}

/// Every file's deleted rows are as many as its deletion vector says, ascending, unique.
async fn check_deleted_rows(source: &dyn TableSource, snapshot: &Snapshot) {
    let version = snapshot.version;
    for file in snapshot.files.iter() {
        let rows = source.deleted_rows(file).await.unwrap_or_else(|e| {
            panic!("version {version}: deleted_rows of {}: {e}", file.id);
        });
        let expected = file.deletion_vector.as_ref().map_or(0, |dv| dv.cardinality);
        assert_eq!(
            rows.len() as i64,
            expected,
            "version {version}: {} has as many deleted rows as its deletion vector's cardinality",
            file.id
        );
        assert!(
            rows.windows(2).all(|w| w[0] < w[1]),
            "version {version}: deleted rows of {} ascending and unique",
            file.id
        );
    }
}

fn check_files(
    snapshot: &Snapshot,
    expect: &Expectations<'_>,
    ids_by_url: &mut HashMap<crate::FileUrl, String>,
) {
    let version = snapshot.version;
    assert!(
        snapshot.files.windows(2).all(|w| w[0].id < w[1].id),
        "version {version}: files sorted by id, ids unique"
    );
    if snapshot.unservable.is_some() {
        assert!(
            snapshot.files.is_empty(),
            "version {version}: an unservable version lists no files"
        );
    }
    for file in snapshot.files.iter() {
        assert!(
            (expect.inside_root)(&file.url.as_str()),
            "version {version}: {} outside the table's root",
            file.url
        );
        if let Some(url) = file
            .deletion_vector
            .as_ref()
            .and_then(|dv| dv.absolute_url.as_deref())
        {
            assert!(
                (expect.inside_root)(url),
                "version {version}: deletion vector {url} outside the root"
            );
        }
        if let Some(before) = ids_by_url.insert(file.url.clone(), file.id.clone()) {
            assert_eq!(
                before, file.id,
                "version {version}: {} changed its id",
                file.url
            );
        }
        // Both ids come from one path (`path_ids`): a client asking for `fileidhash: delta`
        // gets ids as stable as the default ones.
        let sha = file.sha256_id.map(|id| id.hex()).unwrap_or_else(|| {
            panic!("version {version}: {} has no fileidhash=delta id", file.url)
        });
        assert!(
            sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "version {version}: {} has a SHA-256 hex id",
            file.url
        );
    }
    let mut sha_ids: Vec<_> = snapshot.files.iter().map(|f| &f.sha256_id).collect();
    sha_ids.sort();
    assert!(
        sha_ids.windows(2).all(|w| w[0] != w[1]),
        "version {version}: fileidhash=delta ids unique"
    );
}
