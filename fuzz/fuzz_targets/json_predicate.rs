//! `jsonPredicateHints` as a recipient sends it: parsed, converted and used to prune.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(hint) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some(predicate)) =
        lakeshare_filter::Predicate::from_hints(common::SCHEMA, Some(hint), &[])
    {
        let table = common::table();
        let pruned = predicate.prune_snapshot(&table);
        assert_eq!(pruned.keep.len(), table.files.len());
        // A file of which nothing is known can never be ruled out.
        assert!(
            pruned.keep[common::UNKNOWN],
            "a file of unknown content was pruned by {predicate}"
        );
    }
});
