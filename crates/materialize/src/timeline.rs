//! The history of a table computed from several sources: the sources' commits merged by
//! commit time.
//!
//! A view over tables A and B, shared with its history, has one version for every moment
//! one of them committed (from the first moment all of them have a version on): the view
//! over A and B as they both stood then. That is what a reader travelling to that time in
//! the sources would have seen, and what the view would have served had it been running.

use std::collections::BTreeMap;

use lakeshare_model::Version;

/// The sources' versions at each moment one of them committed, oldest first, given each
/// source's commits (`(version, commit time in ms)`, oldest first). Commits at the same
/// millisecond are one moment; moments before every source has a version are left out.
pub(crate) fn joint(
    commits: &BTreeMap<String, Vec<(Version, i64)>>,
) -> Vec<(BTreeMap<String, Version>, i64)> {
    let mut moments: Vec<(i64, &str, Version)> = commits
        .iter()
        .flat_map(|(key, list)| list.iter().map(move |&(v, ms)| (ms, key.as_str(), v)))
        .collect();
    // Each source's own times strictly increase (`TableSource::commits`), so its commits
    // keep their order.
    moments.sort_by_key(|(ms, _, _)| *ms);
    let mut at: BTreeMap<String, Version> = BTreeMap::new();
    let mut steps: Vec<(BTreeMap<String, Version>, i64)> = Vec::new();
    let mut i = 0;
    while i < moments.len() {
        let ms = moments[i].0;
        while i < moments.len() && moments[i].0 == ms {
            let (_, key, version) = moments[i];
            let entry = at.entry(key.to_string()).or_insert(version);
            *entry = (*entry).max(version);
            i += 1;
        }
        if at.len() == commits.len() && steps.last().is_none_or(|(last, _)| *last != at) {
            steps.push((at.clone(), ms));
        }
    }
    steps
}

/// The steps of `joint` still to compute: after `done` (the versions the latest written
/// version was computed from) and up to `latest` (the sources' latest versions as read).
pub(crate) fn after(
    steps: Vec<(BTreeMap<String, Version>, i64)>,
    done: &BTreeMap<String, Version>,
    latest: &BTreeMap<String, Version>,
) -> Vec<BTreeMap<String, Version>> {
    let within = |step: &BTreeMap<String, Version>| {
        step.iter().all(|(key, v)| {
            done.get(key).is_none_or(|d| v >= d) && latest.get(key).is_some_and(|l| v <= l)
        })
    };
    steps
        .into_iter()
        .map(|(step, _)| step)
        .filter(|step| within(step) && step != done)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(pairs: &[(&str, Version)]) -> BTreeMap<String, Version> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn every_commit_of_any_source_is_a_step_once_all_have_a_version() {
        let commits = BTreeMap::from([
            ("a".to_string(), vec![(0, 10), (1, 20), (2, 40)]),
            ("b".to_string(), vec![(0, 30), (1, 50)]),
        ]);
        let steps = joint(&commits);
        assert_eq!(
            steps,
            vec![
                (at(&[("a", 1), ("b", 0)]), 30),
                (at(&[("a", 2), ("b", 0)]), 40),
                (at(&[("a", 2), ("b", 1)]), 50),
            ]
        );
    }

    #[test]
    fn commits_at_the_same_moment_are_one_step() {
        let commits = BTreeMap::from([
            ("a".to_string(), vec![(0, 10), (1, 30)]),
            ("b".to_string(), vec![(0, 10), (5, 30)]),
        ]);
        assert_eq!(
            joint(&commits),
            vec![
                (at(&[("a", 0), ("b", 0)]), 10),
                (at(&[("a", 1), ("b", 5)]), 30)
            ]
        );
    }

    #[test]
    fn a_source_without_versions_leaves_no_step() {
        let commits = BTreeMap::from([
            ("a".to_string(), vec![(0, 10)]),
            ("b".to_string(), Vec::new()),
        ]);
        assert!(joint(&commits).is_empty());
    }

    #[test]
    fn only_steps_after_what_is_done_and_up_to_the_latest_are_left() {
        let commits = BTreeMap::from([
            ("a".to_string(), vec![(0, 10), (1, 20), (2, 40), (3, 60)]),
            ("b".to_string(), vec![(0, 30), (1, 50)]),
        ]);
        let left = after(
            joint(&commits),
            &at(&[("a", 1), ("b", 0)]),
            &at(&[("a", 2), ("b", 1)]),
        );
        assert_eq!(
            left,
            vec![at(&[("a", 2), ("b", 0)]), at(&[("a", 2), ("b", 1)])]
        );
        // Nothing done yet: from the first step on.
        assert_eq!(
            after(
                joint(&commits),
                &BTreeMap::new(),
                &at(&[("a", 3), ("b", 1)])
            )
            .len(),
            4
        );
    }
}
