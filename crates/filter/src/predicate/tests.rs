use lakeshare_model::{DataFile, FileStats, Snapshot, TableFormat, TableMetadata, TableProtocol};

use super::*;

const SCHEMA: &str = r#"{"type":"struct","fields":[
    {"name":"id","type":"long","nullable":true,"metadata":{}},
    {"name":"name","type":"string","nullable":true,"metadata":{}},
    {"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
    {"name":"price","type":"decimal(10,2)","nullable":true,"metadata":{}},
    {"name":"day","type":"date","nullable":true,"metadata":{}},
    {"name":"year","type":"integer","nullable":true,"metadata":{}}]}"#;

fn file(id: &str, year: Option<&str>, stats: Option<&str>) -> DataFile {
    let mut f = DataFile::new(format!("file:///t/{id}"), id, 1);
    f.partition_values = [("year".to_string(), year.map(String::from))].into();
    f.stats = stats.map(|s| FileStats::from_json(s.to_string()));
    f
}

/// Four files: ids 0–9 and 10–19 (in 2020 and 2021), one with no stats, one with a null year.
fn snapshot() -> Snapshot {
    table(
        SCHEMA,
        vec![
            file(
                "a",
                Some("2020"),
                Some(
                    r#"{"numRecords":10,"minValues":{"id":0,"name":"alice","ts":"2021-01-01T00:00:00.000Z","price":1.5,"day":"2021-01-01"},"maxValues":{"id":9,"name":"bob","ts":"2021-01-01T10:00:00.000Z","price":9.99,"day":"2021-01-02"},"nullCount":{"id":0,"name":2,"ts":0,"price":0,"day":0}}"#,
                ),
            ),
            file(
                "b",
                Some("2021"),
                Some(
                    r#"{"numRecords":10,"minValues":{"id":10,"name":"carol","ts":"2021-02-01T00:00:00.000Z","price":10.00,"day":"2021-02-01"},"maxValues":{"id":19,"name":"dave","ts":"2021-02-01T10:00:00.123Z","price":20.00,"day":"2021-02-02"},"nullCount":{"id":0,"name":0,"ts":0,"price":0,"day":0}}"#,
                ),
            ),
            file("c", Some("2021"), None),
            file(
                "d",
                None,
                Some(
                    r#"{"numRecords":5,"minValues":{"id":100},"maxValues":{"id":200},"nullCount":{"id":0}}"#,
                ),
            ),
        ],
    )
}

/// A version of a table of `schema`, partitioned by `year`, holding `files`.
pub(super) fn table(schema: &str, files: Vec<DataFile>) -> Snapshot {
    let mut metadata = TableMetadata::new("t", schema);
    metadata.partition_columns = vec!["year".into()];
    Snapshot {
        format: TableFormat::new("delta"),
        version: 0,
        timestamp_ms: 0,
        protocol: TableProtocol::legacy(1, 2),
        metadata,
        files: files.into(),
        native_id: None,
        unservable: None,
    }
}

fn kept_json(hint: &str) -> Vec<String> {
    kept(
        Predicate::from_hints(SCHEMA, Some(hint), &[])
            .unwrap()
            .unwrap(),
    )
}

fn kept_sql(hints: &[&str]) -> Vec<String> {
    let hints: Vec<String> = hints.iter().map(|h| h.to_string()).collect();
    kept(
        Predicate::from_hints(SCHEMA, None, &hints)
            .unwrap()
            .unwrap(),
    )
}

fn kept(p: Predicate) -> Vec<String> {
    let s = snapshot();
    let pruned = p.prune_snapshot(&s);
    s.files
        .iter()
        .zip(pruned.keep)
        .filter(|(_, k)| *k)
        .map(|(f, _)| f.id.clone())
        .collect()
}

fn cmp(op: &str, column: &str, value_type: &str, value: &str) -> String {
    format!(
        r#"{{"op":"{op}","children":[{{"op":"column","name":"{column}","valueType":"{value_type}"}},{{"op":"literal","value":"{value}","valueType":"{value_type}"}}]}}"#
    )
}

#[test]
fn partition_values_prune_exactly() {
    assert_eq!(
        kept_json(&cmp("equal", "year", "int", "2021")),
        vec!["b", "c"]
    );
    assert_eq!(
        kept_json(&cmp("lessThan", "year", "int", "2021")),
        vec!["a"]
    );
    let is_null = r#"{"op":"isNull","children":[{"op":"column","name":"year","valueType":"int"}]}"#;
    assert_eq!(kept_json(is_null), vec!["d"]);
}

#[test]
fn statistics_prune_and_missing_stats_keep_the_file() {
    assert_eq!(
        kept_json(&cmp("greaterThanOrEqual", "id", "long", "15")),
        vec!["b", "c", "d"]
    );
    assert_eq!(
        kept_json(&cmp("equal", "id", "int", "5")),
        vec!["a", "c"],
        "int literal against a long column"
    );
    assert_eq!(
        kept_json(&cmp("equal", "name", "string", "bz")),
        vec!["c", "d"]
    );
    assert_eq!(
        kept_json(&cmp("lessThan", "day", "date", "2021-01-15")),
        vec!["a", "c", "d"]
    );
    assert_eq!(
        kept_json(&cmp("greaterThan", "price", "double", "15")),
        vec!["b", "c", "d"]
    );
}

#[test]
fn timestamp_maxima_are_rounded_up_to_the_next_millisecond() {
    // b's max is recorded as …10:00:00.123, but a row at …10:00:00.123456 may exist.
    let hint = cmp(
        "greaterThan",
        "ts",
        "timestamp",
        "2021-02-01T10:00:00.1234Z",
    );
    assert_eq!(kept_json(&hint), vec!["b", "c", "d"]);
    let later = cmp("greaterThan", "ts", "timestamp", "2021-02-01T10:00:00.124Z");
    assert_eq!(kept_json(&later), vec!["c", "d"]);
}

#[test]
fn boolean_structure_and_not() {
    let either = format!(
        r#"{{"op":"or","children":[{},{}]}}"#,
        cmp("equal", "id", "long", "3"),
        cmp("equal", "id", "long", "150")
    );
    assert_eq!(kept_json(&either), vec!["a", "c", "d"]);
    let both = format!(
        r#"{{"op":"and","children":[{},{}]}}"#,
        cmp("equal", "year", "int", "2021"),
        cmp("lessThan", "id", "long", "12")
    );
    assert_eq!(kept_json(&both), vec!["b", "c"]);
    let not = format!(
        r#"{{"op":"not","children":[{}]}}"#,
        cmp("lessThan", "id", "long", "10")
    );
    assert_eq!(kept_json(&not), vec!["b", "c", "d"]);
}

#[test]
fn legacy_sql_hints_are_anded_and_bad_ones_skipped() {
    assert_eq!(kept_sql(&["year = 2021", "id < 12"]), vec!["b", "c"]);
    assert_eq!(
        kept_sql(&["year = 2021", "this is not sql"]),
        vec!["b", "c"]
    );
    assert_eq!(kept_sql(&["'carol' <= name"]), vec!["b", "c", "d"]);
}

#[test]
fn unusable_hints_are_reported_as_such() {
    for hint in [
        r#"{"op":"equal","children":[{"op":"column","name":"nope","valueType":"int"},{"op":"literal","value":"1","valueType":"int"}]}"#,
        r#"{"op":"frobnicate","children":[]}"#,
        r#"{"op":"equal","children":[{"op":"column","name":"id","valueType":"long"}]}"#,
        &cmp("equal", "id", "long", "not-a-number"),
        "not json",
    ] {
        assert!(
            matches!(
                Predicate::from_hints(SCHEMA, Some(hint), &[]),
                Err(Error::Unusable(_))
            ),
            "{hint}"
        );
    }
    assert!(Predicate::from_hints(SCHEMA, None, &[]).unwrap().is_none());
}

#[test]
fn oversized_and_overdeep_hints_are_refused() {
    let big = "x".repeat(MAX_HINT_BYTES + 1);
    assert!(matches!(
        Predicate::from_hints(SCHEMA, Some(&big), &[]),
        Err(Error::TooLarge(_))
    ));
    let mut deep = cmp("equal", "id", "long", "1");
    for _ in 0..MAX_HINT_DEPTH {
        deep = format!(r#"{{"op":"not","children":[{deep}]}}"#);
    }
    assert!(matches!(
        Predicate::from_hints(SCHEMA, Some(&deep), &[]),
        Err(Error::TooLarge(_))
    ));
    assert_eq!(nesting(r#"{"a":"{{{{","b":{"c":{}}}"#), (3, 3));
    let many: Vec<String> = (0..=MAX_SQL_HINTS).map(|_| "1 = 1".to_string()).collect();
    assert!(matches!(
        Predicate::from_hints(SCHEMA, None, &many),
        Err(Error::TooLarge(_))
    ));
    let wide = format!(
        r#"{{"op":"or","children":[{}]}}"#,
        vec![cmp("equal", "id", "long", "1"); MAX_HINT_NODES / 3 + 1].join(",")
    );
    assert!(matches!(
        Predicate::from_hints(SCHEMA, Some(&wide), &[]),
        Err(Error::TooLarge(_))
    ));
}

#[test]
fn truncated_string_maxima_are_not_trusted() {
    let mut s = snapshot();
    let long = "m".repeat(40);
    s.files = vec![file(
        "e",
        Some("2020"),
        Some(&format!(
            r#"{{"numRecords":1,"minValues":{{"name":"a"}},"maxValues":{{"name":"{long}"}}}}"#
        )),
    )]
    .into();
    let p = Predicate::from_hints(SCHEMA, Some(&cmp("equal", "name", "string", "zzz")), &[])
        .unwrap()
        .unwrap();
    assert_eq!(p.prune_snapshot(&s).keep, vec![true]);
}

#[test]
fn decimal_bounds_survive_floating_point_parsing() {
    // 9007199254740993.00 is not an f64; parsed, it reads as …992. The bound must still cover it.
    let schema = r#"{"type":"struct","fields":[{"name":"d","type":"decimal(20,2)","nullable":true,"metadata":{}}]}"#;
    let mut s = snapshot();
    s.metadata = TableMetadata::new("t", schema);
    let mut f = DataFile::new("file:///t/x", "x", 1);
    f.stats = Some(FileStats::from_json(
        r#"{"numRecords":1,"minValues":{"d":9007199254740993.00},"maxValues":{"d":9007199254740993.00},"nullCount":{"d":0}}"#.into(),
    ));
    s.files = vec![f].into();
    let hint = r#"{"op":"equal","children":[{"op":"column","name":"d","valueType":"long"},{"op":"literal","value":"9007199254740993","valueType":"long"}]}"#;
    let p = Predicate::from_hints(schema, Some(hint), &[])
        .unwrap()
        .unwrap();
    assert_eq!(p.prune_snapshot(&s).keep, vec![true]);
}

#[test]
fn missing_or_empty_partition_values_are_unknown_not_non_null() {
    let mut s = snapshot();
    let mut missing = DataFile::new("file:///t/m", "m", 1);
    missing.stats = Some(FileStats::from_json(r#"{"numRecords":3}"#.into()));
    let mut empty = file("e", Some(""), Some(r#"{"numRecords":3}"#));
    empty.id = "e".into();
    s.files = vec![missing, empty].into();
    let is_null = r#"{"op":"isNull","children":[{"op":"column","name":"year","valueType":"int"}]}"#;
    let p = Predicate::from_hints(SCHEMA, Some(is_null), &[])
        .unwrap()
        .unwrap();
    assert_eq!(p.prune_snapshot(&s).keep, vec![true, true]);
}
