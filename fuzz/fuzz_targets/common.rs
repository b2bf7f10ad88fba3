#![allow(dead_code, reason = "each target uses the part of it it needs")]

//! A small table the predicate targets prune: every column type hints can name, a partition
//! column, files with full, partial and no statistics, and one of which nothing is known.

use lakeshare_model::{DataFile, FileStats, Snapshot, TableFormat, TableMetadata, TableProtocol};

pub const SCHEMA: &str = r#"{"type":"struct","fields":[
    {"name":"id","type":"long","nullable":true,"metadata":{}},
    {"name":"name","type":"string","nullable":true,"metadata":{}},
    {"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
    {"name":"price","type":"decimal(10,2)","nullable":true,"metadata":{}},
    {"name":"day","type":"date","nullable":true,"metadata":{}},
    {"name":"ok","type":"boolean","nullable":true,"metadata":{}},
    {"name":"ratio","type":"double","nullable":true,"metadata":{}},
    {"name":"year","type":"integer","nullable":true,"metadata":{}}]}"#;

pub const FULL_STATS: &str = r#"{"numRecords":10,"minValues":{"id":0,"name":"alice","ts":"2021-01-01T00:00:00.000Z","price":1.5,"day":"2021-01-01","ratio":-1.0},"maxValues":{"id":9,"name":"bob","ts":"2021-01-01T10:00:00.000Z","price":9.99,"day":"2021-01-02","ratio":2.5},"nullCount":{"id":0,"name":2,"ts":0,"price":0,"day":0,"ok":1,"ratio":0}}"#;

pub fn file(id: &str, year: Option<&str>, stats: Option<&str>) -> DataFile {
    let mut f = DataFile::new(format!("file:///t/{id}"), id, 1);
    f.partition_values = [("year".to_string(), year.map(String::from))].into();
    f.stats = stats.map(|s| FileStats::from_json(s.to_string()));
    f
}

pub fn snapshot(files: Vec<DataFile>) -> Snapshot {
    let mut metadata = TableMetadata::new("t", SCHEMA);
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

pub fn table() -> Snapshot {
    snapshot(vec![
        file("a", Some("2020"), Some(FULL_STATS)),
        file(
            "b",
            Some("2021"),
            Some(
                r#"{"numRecords":5,"minValues":{"id":100},"maxValues":{"id":200},"nullCount":{"id":0}}"#,
            ),
        ),
        file("c", Some("2021"), None),
        file("d", None, Some(FULL_STATS)),
        unknown(),
    ])
}

/// Where `table()` puts a file recording neither statistics nor a partition value: nothing is
/// known of its rows, so no predicate may prune it.
pub const UNKNOWN: usize = 4;

fn unknown() -> DataFile {
    DataFile::new("file:///t/e", "e", 1)
}
