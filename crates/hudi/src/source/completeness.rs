//! Whether a version's files are all still there: the cleaner may have removed base files a
//! past version (or the predecessor a change read compares with) needs; and row counts.

use super::*;

impl HudiSource {
    /// Refuses a past version whose files the cleaner has already removed.
    ///
    /// Hudi's cleaner deletes old base files once newer ones have been retained long enough. A
    /// read as of an older instant then silently misses those file groups, because hudi picks
    /// the newest base file at or before the instant and finds none. The commit metadata says
    /// which base file each group had at `entries[at]`: the one the latest-requested commit up
    /// to it wrote (hudi picks base files by requested time), or (for groups first rewritten
    /// later) the later commit's `prevCommit`; and groups that a later commit replaces without
    /// having written them since must still be there. Any group the listing lacks, or has at
    /// another instant, means the version is no longer whole.
    pub(super) fn check_whole(
        &self,
        loaded: &Loaded,
        infos: &[Arc<CommitInfo>],
        at: usize,
        live: &[Live],
    ) -> Result<(), Error> {
        let entries = &loaded.entries;
        let version = entries[at].version;
        // What the read saw: the instants requested at or before this.
        let bound = entries[at].as_of_requested;
        let found: HashMap<&FileGroupId, &str> = live
            .iter()
            .map(|l| (&l.group, l.instant.as_str()))
            .collect();
        // Group → the base file instant it must have (None: any requested by `bound`).
        let mut expected: HashMap<&FileGroupId, Option<&str>> = HashMap::new();
        let mut seen: Vec<usize> = (0..=at).collect();
        seen.sort_by_key(|&i| entries[i].requested);
        for i in seen {
            for write in infos[i].writes.iter().filter(|w| w.is_base_file()) {
                expected.insert(&write.group, Some(&entries[i].instant));
            }
            for replaced in &infos[i].replaced {
                expected.remove(replaced);
            }
        }
        let replaced_by_then: HashSet<&FileGroupId> =
            infos[..=at].iter().flat_map(|i| &i.replaced).collect();
        let mut written_later: HashSet<&FileGroupId> = HashSet::new();
        for info in &infos[at + 1..] {
            for replaced in &info.replaced {
                if !written_later.contains(replaced)
                    && !replaced_by_then.contains(replaced)
                    && !expected.contains_key(replaced)
                {
                    expected.insert(replaced, None);
                }
            }
            for write in info.writes.iter().filter(|w| w.is_base_file()) {
                if !written_later.insert(&write.group) || expected.contains_key(&write.group) {
                    continue;
                }
                if let Some(prev) = &write.prev_commit
                    && version_of(prev).is_some_and(|p| p <= bound)
                {
                    expected.insert(&write.group, Some(prev));
                }
            }
        }
        for (group, instant) in expected {
            let whole = match (found.get(group), instant) {
                (Some(have), Some(want)) => *have == want,
                (Some(have), None) => version_of(have).is_some_and(|h| h <= bound),
                (None, _) => false,
            };
            if !whole {
                return Err(Error::Unsupported(format!(
                    "version {version} can no longer be read: the Hudi cleaner has removed the \
                     base file that file group {} (partition '{}') had then",
                    group.1, group.0
                )));
            }
        }
        Ok(())
    }
}

/// Refuses a change range whose starting point is incomplete: every base file a commit
/// rewrites (its `prevCommit`) and every group it replaces must be among the files before it,
/// or the feed would show rows inserted without the deletes of the rows they replace.
pub(super) fn check_predecessors(
    entry: &VersionEntry,
    info: &CommitInfo,
    before: &[Live],
) -> Result<(), Error> {
    let had: HashMap<&FileGroupId, &str> = before
        .iter()
        .map(|l| (&l.group, l.instant.as_str()))
        .collect();
    let rewrites = info
        .writes
        .iter()
        .filter(|w| w.is_base_file())
        .filter_map(|w| Some((&w.group, Some(w.prev_commit.as_deref()?))));
    let replaces = info.replaced.iter().map(|g| (g, None));
    for (group, prev) in rewrites.chain(replaces) {
        let present = match (had.get(group), prev) {
            (Some(have), Some(want)) => *have == want,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !present {
            return Err(Error::Unsupported(format!(
                "the changes of version {} cannot be listed: the base file it replaced in file \
                 group {} (partition '{}') is gone (cleaned, or written by an archived commit)",
                entry.version, group.1, group.0
            )));
        }
    }
    Ok(())
}

/// Rows per base file `((partition, file id), instant)`, from the write statistics of the
/// commits `seen` (a commit records the complete row count of each base file it writes).
pub(super) fn record_counts(
    seen: &[VersionEntry],
    infos: &[Arc<CommitInfo>],
) -> HashMap<(FileGroupId, String), u64> {
    let mut counts = HashMap::new();
    for (entry, info) in seen.iter().zip(infos) {
        for write in info.writes.iter().filter(|w| w.is_base_file()) {
            if let Some(n) = write.num_writes {
                counts.insert((write.group.clone(), entry.instant.clone()), n);
            }
        }
    }
    counts
}
