use lakeshare_model::{ChangeFile, ChangeKind, DataFile, TableMetadata, VersionChanges};

use super::PartitionFilter;

fn metadata(partitions: &[&str]) -> TableMetadata {
    let schema = r#"{"type":"struct","fields":[
        {"name":"id","type":"long","nullable":true,"metadata":{}},
        {"name":"region","type":"string","nullable":true,"metadata":{}},
        {"name":"year","type":"integer","nullable":true,"metadata":{}},
        {"name":"day","type":"date","nullable":true,"metadata":{}},
        {"name":"tags","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}}]}"#;
    let mut m = TableMetadata::new("t", schema);
    m.partition_columns = partitions.iter().map(|p| p.to_string()).collect();
    m
}

fn file(id: &str, values: &[(&str, Option<&str>)]) -> DataFile {
    let mut f = DataFile::new(format!("file:///t/{id}.parquet"), id, 1);
    f.partition_values = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect();
    f
}

fn kept(filter: &str, metadata: &TableMetadata, files: &[DataFile]) -> Vec<String> {
    PartitionFilter::new(filter)
        .retain(metadata, files)
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect()
}

fn files() -> Vec<DataFile> {
    vec![
        file("a", &[("region", Some("EU")), ("year", Some("2024"))]),
        file("b", &[("region", Some("EU")), ("year", Some("2023"))]),
        file("c", &[("region", Some("US")), ("year", Some("2025"))]),
        file("d", &[("region", None), ("year", Some("2025"))]),
        file("e", &[("region", Some("")), ("year", None)]),
        file("f", &[("region", None), ("year", Some("2024"))]),
    ]
}

#[test]
fn keeps_exactly_the_files_whose_values_satisfy_the_condition() {
    let m = metadata(&["region", "year"]);
    assert_eq!(kept("region = 'EU' AND year >= 2024", &m, &files()), ["a"]);
    assert_eq!(
        kept("region = 'EU' OR year = 2025", &m, &files()),
        ["a", "b", "c", "d"]
    );
    assert_eq!(kept("year IN (2023, 2025)", &m, &files()), ["b", "c", "d"]);
    // A string literal compared with an integer column is coerced, as a reader's WHERE does.
    assert_eq!(kept("year = '2023'", &m, &files()), ["b"]);
}

#[test]
fn unknown_is_not_satisfied_and_null_or_empty_values_are_null() {
    let m = metadata(&["region", "year"]);
    // d, f (null) and e (empty) have no region: `<>` is unknown for them, as in WHERE.
    assert_eq!(kept("region <> 'EU'", &m, &files()), ["c"]);
    assert_eq!(kept("NOT (region = 'EU')", &m, &files()), ["c"]);
    assert_eq!(kept("region IS NULL", &m, &files()), ["d", "e", "f"]);
    assert_eq!(
        kept("year IS NULL OR region = 'US'", &m, &files()),
        ["c", "e"]
    );
}

#[test]
fn dates_and_physical_names() {
    let mut m = metadata(&["day"]);
    m.physical_names.insert("day".into(), "col-5a1b2c".into());
    let files = vec![
        file("x", &[("col-5a1b2c", Some("2024-01-01"))]),
        file("y", &[("col-5a1b2c", Some("2024-03-01"))]),
    ];
    assert_eq!(kept("day >= DATE '2024-02-01'", &m, &files), ["y"]);
    assert_eq!(kept("day < '2024-02-01'", &m, &files), ["x"]);
    // Keyed by the logical name, under which this table records no values: refused.
    let logical = [file("z", &[("day", Some("2024-03-01"))])];
    assert!(
        PartitionFilter::new("day < '2024-02-01'")
            .retain(&m, &logical)
            .is_err()
    );
}

#[test]
fn refuses_what_it_cannot_decide_exactly() {
    let m = metadata(&["region", "year"]);
    let error = |filter: &str, files: &[DataFile]| {
        PartitionFilter::new(filter)
            .retain(&m, files)
            .unwrap_err()
            .to_string()
    };
    let e = error("region = 'EU' AND id > 5", &files());
    assert!(
        e.contains("names id, which is not a partition column"),
        "{e}"
    );
    assert!(e.contains("partition columns: region, year"), "{e}");
    let e = error("colour = 'red'", &files());
    assert!(e.contains("does not fit the table's schema"), "{e}");
    let e = error("random() < 0.5", &files());
    assert!(e.contains("changes between calls"), "{e}");
    let e = error("year + 1", &files());
    assert!(e.contains("not a condition"), "{e}");
    let bad = [file(
        "g",
        &[("region", Some("EU")), ("year", Some("twenty"))],
    )];
    let e = error("region = 'EU'", &bad);
    assert!(e.contains("partition value \"twenty\" for year"), "{e}");
    // No value recorded at all: the file's rows may be of any partition.
    let unrecorded = [file("h", &[("year", Some("2024"))])];
    let e = error("region IS NULL", &unrecorded);
    assert!(
        e.contains("records no value for partition column region"),
        "{e}"
    );
    // A partition column of a type with no scalar comparison stops the filter.
    let nested = metadata(&["tags"]);
    let e = PartitionFilter::new("true")
        .retain(&nested, &[file("t", &[])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("partition column tags"), "{e}");
}

#[test]
fn applies_to_no_files_and_to_unpartitioned_tables_with_constant_conditions() {
    let m = metadata(&["region"]);
    assert!(kept("region = 'EU'", &m, &[]).is_empty());
    let plain = metadata(&[]);
    // Nothing to judge: not refused, even where the filter could not apply to a file.
    assert!(kept("region = 'EU'", &plain, &[]).is_empty());
    assert_eq!(kept("1 = 1", &plain, &[file("a", &[])]), ["a"]);
    assert!(kept("1 = 0", &plain, &[file("a", &[])]).is_empty());
    let e = PartitionFilter::new("region = 'EU'")
        .retain(&plain, &[file("a", &[])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("partition columns: none"), "{e}");
}

#[test]
fn change_files_are_judged_by_the_metadata_in_force_at_their_commit() {
    let change = |kind, f| ChangeFile { kind, file: f };
    let commit = |version, metadata, files| VersionChanges {
        version,
        timestamp_ms: 0,
        metadata,
        protocol: None,
        files,
    };
    let by_year = metadata(&["year"]);
    let mut commits = vec![
        commit(
            1,
            None,
            vec![
                change(ChangeKind::Added, file("a", &[("year", Some("2024"))])),
                change(ChangeKind::Removed, file("b", &[("year", Some("2023"))])),
                change(ChangeKind::ChangeData, file("c", &[("year", Some("2024"))])),
            ],
        ),
        // From version 2 the table is partitioned by region instead.
        commit(
            2,
            Some(metadata(&["region"])),
            vec![change(
                ChangeKind::Added,
                file("d", &[("region", Some("EU"))]),
            )],
        ),
    ];
    let e = PartitionFilter::new("year = 2024")
        .retain_changes(&by_year, &mut commits.clone())
        .unwrap_err();
    assert_eq!(e.0, 2);
    let e = e.1.to_string();
    assert!(
        e.contains("names year, which is not a partition column"),
        "{e}"
    );
    let mut first = commits[..1].to_vec();
    PartitionFilter::new("year = 2024")
        .retain_changes(&by_year, &mut first)
        .unwrap();
    let ids: Vec<&str> = first[0].files.iter().map(|c| c.file.id.as_str()).collect();
    // The commit wrote change data: its added and removed files are not changes of their own.
    assert_eq!(ids, ["c"]);
    // Files that record no region (written before the table was partitioned by it) cannot be
    // judged by a filter on region, even one that accepts nulls.
    let e = PartitionFilter::new("region = 'EU' OR region IS NULL")
        .retain_changes(&metadata(&["region"]), &mut commits)
        .unwrap_err();
    assert_eq!(e.0, 1);
    assert!(e.1.to_string().contains("records no value"), "{}", e.1);
    let mut later = commits[1..].to_vec();
    PartitionFilter::new("region = 'EU' OR region IS NULL")
        .retain_changes(&metadata(&["region"]), &mut later)
        .unwrap();
    assert_eq!(later[0].files.len(), 1);
}
