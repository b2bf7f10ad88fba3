//! SQL text: a recipient's legacy `predicateHints` (parsed, converted, used to prune) and a
//! provider's partition `filter:` (checked against the schema, applied to files).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let table = common::table();
    if let Ok(Some(predicate)) =
        lakeshare_filter::Predicate::from_hints(common::SCHEMA, None, &[sql.to_string()])
    {
        let pruned = predicate.prune_snapshot(&table);
        assert_eq!(pruned.keep.len(), table.files.len());
        // A file of which nothing is known can never be ruled out.
        assert!(
            pruned.keep[common::UNKNOWN],
            "a file of unknown content was pruned by {predicate}"
        );
    }
    let filter = lakeshare_filter::PartitionFilter::new(sql);
    if filter.over_partitions(&table.metadata)
        // (The file recording no partition value is refused by a partition filter: left out.)
        && let Ok(keep) = filter.keep(&table.metadata, table.files[..common::UNKNOWN].iter())
    {
        assert_eq!(keep.len(), common::UNKNOWN);
        // Files "b" and "c" share their partition: a partition filter keeps both or neither.
        assert_eq!(keep[1], keep[2], "{sql} split one partition");
    }
});
