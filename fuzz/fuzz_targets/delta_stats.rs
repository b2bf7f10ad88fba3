//! Delta statistics as a log's writer left them (`add.stats`, any JSON): read into pruning
//! statistics and used to prune without a crash; a file is never pruned for stats it lacks.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(stats) = std::str::from_utf8(data) else {
        return;
    };
    let table = common::snapshot(vec![
        common::file("fuzzed", Some("2021"), Some(stats)),
        common::file("none", Some("2021"), None),
    ]);
    let _ = lakeshare_model::FileStats::from_json(stats.to_string()).num_records;
    let hints = [
        r#"{"op":"equal","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"5","valueType":"long"}]}"#,
        r#"{"op":"lessThan","children":[{"op":"column","name":"ts","valueType":"timestamp"},{"op":"literal","value":"2021-01-01T05:00:00Z","valueType":"timestamp"}]}"#,
        r#"{"op":"isNull","children":[{"op":"column","name":"name","valueType":"string"}]}"#,
    ];
    for hint in hints {
        let predicate = lakeshare_filter::Predicate::from_hints(common::SCHEMA, Some(hint), &[])
            .expect("a valid hint")
            .expect("a predicate");
        let pruned = predicate.prune_snapshot(&table);
        assert_eq!(pruned.keep.len(), 2);
        assert!(pruned.keep[1]);
    }
});
