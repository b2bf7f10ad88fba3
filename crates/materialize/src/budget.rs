//! The cache's size budgets: a table's own (`cache_budget:`) and the whole cache's
//! (`cache.budget:`). What a written table takes is counted from its log, version by version
//! ([`lakeshare_model::TableWriter::footprint`]); a table over budget drops its oldest
//! versions, which readers then refuse and whose files are deleted once no URL signed for
//! them lives. A table's latest version is never dropped, and a table shared without its
//! history keeps only that one anyway: such tables count towards the cache's budget but give
//! nothing back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use lakeshare_model::VersionFootprint;

use crate::Materialized;

/// What one written table takes, and where its readable versions start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Every version written, from version 0.
    pub versions: Vec<VersionFootprint>,
    /// The first version kept readable.
    pub from: usize,
    /// Whether versions before its latest may be dropped (a table shared with its history).
    pub droppable: bool,
}

impl Usage {
    /// The bytes kept on storage once the versions before `from` are evicted.
    pub fn bytes(&self) -> u64 {
        self.versions.get(self.from).map_or(0, |v| v.bytes_from)
    }

    /// When its oldest readable version was committed, if it may be dropped.
    fn oldest_droppable(&self) -> Option<i64> {
        (self.droppable && self.from + 1 < self.versions.len())
            .then(|| self.versions[self.from].committed_ms)
    }
}

/// Drops the oldest versions of `tables`, oldest commit first across all of them, until they
/// take at most `limit` bytes together or nothing more may be dropped. Returns whether they
/// fit.
pub(crate) fn fit(limit: u64, tables: &mut [&mut Usage]) -> bool {
    loop {
        let total: u64 = tables.iter().map(|t| t.bytes()).sum();
        if total <= limit {
            return true;
        }
        let oldest = tables
            .iter_mut()
            .filter_map(|t| Some((t.oldest_droppable()?, t)))
            .min_by_key(|(at, _)| *at);
        match oldest {
            Some((_, table)) => table.from += 1,
            None => return false,
        }
    }
}

/// The budget of the whole cache, shared by the computed tables a gateway (or a
/// `lakeshare materialize` run) opens: each table's usage as its last refresh measured it.
/// Tables not refreshed since this process started count as nothing until they are.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    /// By the written table's location: two entries computing the same table share a folder.
    tables: Mutex<BTreeMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    table: Weak<Materialized>,
    usage: Option<Usage>,
}

impl Budget {
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            tables: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts `table` under this budget from its next refresh on.
    pub fn register(&self, table: &Arc<Materialized>) {
        let mut tables = self.tables.lock().expect("not poisoned");
        tables.retain(|_, entry| entry.table.strong_count() > 0);
        tables.insert(
            table.target.location.clone(),
            Entry {
                table: Arc::downgrade(table),
                usage: None,
            },
        );
    }

    /// Records what the table at `location` takes now, and fits all the tables in the
    /// budget: the tables that must drop versions, with the first version each keeps. The
    /// usages recorded assume those drops are made. Also says whether they fit.
    pub(crate) fn fit(
        &self,
        location: &str,
        usage: Usage,
    ) -> (Vec<(Arc<Materialized>, usize)>, bool) {
        let mut tables = self.tables.lock().expect("not poisoned");
        tables.retain(|_, entry| entry.table.strong_count() > 0);
        let Some(entry) = tables.get_mut(location) else {
            return (Vec::new(), true);
        };
        entry.usage = Some(usage);
        let before: BTreeMap<String, usize> = tables
            .iter()
            .filter_map(|(at, e)| Some((at.clone(), e.usage.as_ref()?.from)))
            .collect();
        let mut usages: Vec<&mut Usage> = tables
            .values_mut()
            .filter_map(|e| e.usage.as_mut())
            .collect();
        let fits = fit(self.limit, &mut usages);
        let total: u64 = usages.iter().map(|u| u.bytes()).sum();
        crate::metrics::budget_used(total);
        let moved = tables
            .iter()
            .filter_map(|(at, e)| {
                let from = e.usage.as_ref()?.from;
                (before.get(at) != Some(&from)).then(|| Some((e.table.upgrade()?, from)))?
            })
            .collect();
        (moved, fits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of versions committed at `times`, each version adding `added` bytes and
    /// replacing what the one before added (as a table rewritten in full each version does).
    fn rewritten(times: &[i64], added: u64, droppable: bool) -> Usage {
        let n = times.len() as u64;
        Usage {
            versions: times
                .iter()
                .enumerate()
                .map(|(v, at)| VersionFootprint {
                    committed_ms: *at,
                    // From version v on: versions v..n, and the one v replaced.
                    bytes_from: (n - v as u64 + u64::from(v > 0)) * added,
                })
                .collect(),
            from: 0,
            droppable,
        }
    }

    #[test]
    fn the_oldest_versions_go_first_across_tables_never_a_latest() {
        let mut a = rewritten(&[10, 30, 50, 70], 100, true);
        let mut b = rewritten(&[20, 40, 60], 100, true);
        assert_eq!((a.bytes(), b.bytes()), (400, 300));
        // Dropping a version 0 frees nothing (version 1 still has the file it replaced);
        // the oldest go first, whatever their table: a@10, b@20, a@30.
        assert!(fit(650, &mut [&mut a, &mut b]));
        assert_eq!((a.from, b.from), (2, 1));
        assert_eq!(a.bytes() + b.bytes(), 600);
        assert!(fit(500, &mut [&mut a, &mut b]));
        assert_eq!((a.from, b.from), (2, 2), "b@40 before a@50");
        assert_eq!(a.bytes() + b.bytes(), 500);
        // Nothing more to drop: the latest versions stay, and the budget is not met.
        assert!(!fit(100, &mut [&mut a, &mut b]));
        assert_eq!((a.from, b.from), (3, 2));
        assert_eq!(a.bytes() + b.bytes(), 400);
    }

    #[test]
    fn a_table_without_its_history_counts_but_gives_nothing_back() {
        let mut kept = rewritten(&[1], 300, false);
        let mut history = rewritten(&[2, 3, 4], 100, true);
        assert!(fit(500, &mut [&mut kept, &mut history]));
        assert_eq!((kept.from, history.from), (0, 2));
        assert!(!fit(350, &mut [&mut kept, &mut history]));
        assert_eq!(kept.from, 0);
    }

    #[test]
    fn within_budget_nothing_moves() {
        let mut a = rewritten(&[1, 2, 3], 100, true);
        assert!(fit(300, &mut [&mut a]));
        assert_eq!(a.from, 0);
        assert!(fit(u64::MAX, &mut []));
    }
}
