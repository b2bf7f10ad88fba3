use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Version;

/// The format a table is stored in, by the name its adapter registers (the model names no
/// format: a new adapter brings its own name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableFormat(&'static str);

impl TableFormat {
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// The lower-case name used in configuration files and in OpenSharing responses.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for TableFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A table at one version: what a query is answered from.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub format: TableFormat,
    pub version: Version,
    /// Commit time of `version`, epoch milliseconds.
    pub timestamp_ms: i64,
    pub protocol: TableProtocol,
    pub metadata: TableMetadata,
    /// The live data files. Shared so a cached snapshot can be streamed by many requests at once.
    pub files: Arc<[DataFile]>,
    /// The format's own identifier of this version (Iceberg snapshot id, Hudi instant), if it has
    /// one distinct from `version`.
    pub native_id: Option<String>,
    /// Why the files of this version cannot be served, if they cannot (a merge-on-read table
    /// with uncompacted log files, say); `files` is empty then. Its metadata still can be:
    /// clients ask for the latest metadata before reading any version, and a recipient may
    /// look at the schema of a table it cannot read yet.
    pub unservable: Option<String>,
}

impl Snapshot {
    /// How many of the live files have rows deleted by a deletion vector: rows a reader that
    /// ignores the vectors would wrongly return.
    pub fn files_with_deletion_vectors(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.deletion_vector.is_some())
            .count()
    }

    /// Puts the files in the order the gateway serves them: by id (then URL, for ids an adapter
    /// failed to keep unique). Paging keys on this order, so every replica must agree on it
    /// whatever order the format's own reader listed the files in. Cheap when already sorted.
    pub fn sort_files(&mut self) {
        if self.files.is_sorted_by(|a, b| file_order(a, b).is_le()) {
            return;
        }
        // In place where the files are not shared yet (an adapter's fresh snapshot): copying
        // 100k entries to sort them would double the load's peak memory. Unstable (fewer moves
        // of these large entries) gives the one order all the same: two entries equal in it
        // would be one file listed twice, which serving refuses anyway.
        match Arc::get_mut(&mut self.files) {
            Some(files) => files.sort_unstable_by(file_order),
            None => {
                let mut files = self.files.to_vec();
                files.sort_unstable_by(file_order);
                self.files = files.into();
            }
        }
    }

    /// The total size of the live files in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// The one order of data files: id, then URL.
pub fn file_order(a: &DataFile, b: &DataFile) -> std::cmp::Ordering {
    a.id.cmp(&b.id).then_with(|| a.url.cmp(&b.url))
}

/// The Delta reader/writer protocol a table requires, in Delta's terms. Tables of other formats
/// report the protocol a Delta reader of the equivalent table would need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProtocol {
    pub min_reader_version: i32,
    pub min_writer_version: i32,
    /// Present only for reader version 3 (table features).
    pub reader_features: Option<Vec<String>>,
    /// Present only for writer version 7 (table features).
    pub writer_features: Option<Vec<String>>,
}

impl TableProtocol {
    /// A protocol without table features.
    pub fn legacy(min_reader_version: i32, min_writer_version: i32) -> Self {
        Self {
            min_reader_version,
            min_writer_version,
            reader_features: None,
            writer_features: None,
        }
    }

    /// Whether the reader features name `feature` (compared case-insensitively, as Delta
    /// feature names are written in camelCase by some writers and lower case by others).
    pub fn has_reader_feature(&self, feature: &str) -> bool {
        self.reader_features
            .iter()
            .flatten()
            .any(|f| f.eq_ignore_ascii_case(feature))
    }
}

/// Table-level metadata in Delta's shape, which is also the shape of the protocol's `metaData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMetadata {
    /// A stable unique id of the table (Delta's metadata id, Iceberg's table uuid, …).
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// The data file format, `parquet` for every table the gateway serves today.
    pub format_provider: String,
    /// The schema as a Delta/Spark JSON struct type, serialised.
    pub schema_string: String,
    pub partition_columns: Vec<String>,
    pub configuration: BTreeMap<String, String>,
    pub created_time: Option<i64>,
    /// Whether the table records its changes for the change data feed at this version: Delta's
    /// own table property, or always for formats whose feed is derived from their commits.
    pub change_data_feed: bool,
    /// Whether data files name columns by physical names other than the schema's (Delta column
    /// mapping), which a reader must apply: the parquet response format cannot carry it.
    pub column_mapping: bool,
    /// Top-level columns whose data files and statistics use another name: logical → physical.
    pub physical_names: BTreeMap<String, String>,
    /// What this version is in the table's own format (`iceberg.snapshot-id`, …), shared with
    /// recipients as configuration entries under these keys.
    pub native: BTreeMap<String, String>,
    /// Top-level columns the data files hold beyond the schema (bookkeeping a format writes
    /// into every file): readers that match file columns by name must be told to skip them.
    pub file_only_columns: Vec<String>,
    /// The field ids the data files carry, by column path (names joined by `.`, with
    /// `element`, `key` and `value` for the insides of arrays and maps), for formats whose
    /// writers put ids in every file (Iceberg); empty where the schema's own metadata holds
    /// them (Delta column mapping) or files have none.
    pub field_ids: BTreeMap<String, i32>,
}

impl TableMetadata {
    /// Metadata with just an id and a schema; the rest empty.
    pub fn new(id: impl Into<String>, schema_string: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            description: None,
            format_provider: "parquet".to_string(),
            schema_string: schema_string.into(),
            partition_columns: Vec::new(),
            configuration: BTreeMap::new(),
            created_time: None,
            change_data_feed: false,
            column_mapping: false,
            physical_names: BTreeMap::new(),
            native: BTreeMap::new(),
            file_only_columns: Vec::new(),
            field_ids: BTreeMap::new(),
        }
    }
}

/// One live data file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Absolute URL of the file (`file:///…`, `s3://…`), resolved by the adapter against the table
    /// root, so that nothing downstream has to know how a format writes its paths.
    pub url: crate::FileUrl,
    /// Stable id of the file, the same in every version and every response (see [`crate::TableSource`]).
    pub id: String,
    /// The file's id under `fileidhash: delta` (SHA-256 of the path its log names it by, where
    /// `id` is the MD5 hex of it; see [`crate::path_ids`]); `None` where the adapter derives
    /// ids otherwise, and such a table refuses that header.
    pub sha256_id: Option<crate::Sha256Id>,
    pub size: u64,
    /// Partition column → value in the Delta Sharing string encoding; `None` is a null value.
    pub partition_values: crate::PartitionValues,
    pub stats: Option<FileStats>,
    /// When the file was written, epoch milliseconds.
    pub modification_time_ms: i64,
    /// Rows of this file that are deleted; the file must not be served as if complete. Boxed:
    /// most files have none, and every cached file entry would carry its size otherwise.
    pub deletion_vector: Option<Box<DeletionVector>>,
}

impl DataFile {
    /// A file the table's log names by `log_path`, with both of its ids (see
    /// [`crate::path_ids`]).
    pub fn at_path(url: impl Into<crate::FileUrl>, log_path: &str, size: u64) -> Self {
        let (id, sha256_id) = crate::path_ids(log_path);
        Self {
            sha256_id: Some(sha256_id),
            ..Self::new(url, id, size)
        }
    }

    /// A file with no partition values, stats or deletes.
    pub fn new(url: impl Into<crate::FileUrl>, id: impl Into<String>, size: u64) -> Self {
        Self {
            url: url.into(),
            id: id.into(),
            sha256_id: None,
            size,
            partition_values: crate::PartitionValues::new(),
            stats: None,
            modification_time_ms: 0,
            deletion_vector: None,
        }
    }
}

/// Per-file statistics, kept as the JSON document Delta writes (`numRecords`, `minValues`,
/// `maxValues`, `nullCount`, keyed by column name and nested for structs).
///
/// Kept as text rather than parsed values because that is exactly what the wire carries, and a
/// snapshot of 100k files holds it in a fraction of the memory a parsed tree would take; the
/// pruning code parses it into columns once per snapshot. Adapters of other formats render their
/// bounds in this same layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStats {
    /// Rows in the file before any deletion vector is applied, if the writer recorded it.
    pub num_records: Option<u64>,
    /// Boxed: no spare capacity kept beside 100k files' statistics.
    pub json: Box<str>,
}

impl FileStats {
    /// Wraps a Delta stats JSON document, reading `numRecords` out of it. A document that is not
    /// JSON is kept (the wire passes it through) but reports no row count.
    pub fn from_json(json: String) -> Self {
        #[derive(serde::Deserialize)]
        struct Counts {
            #[serde(rename = "numRecords")]
            num_records: Option<u64>,
        }
        let num_records = serde_json::from_str::<Counts>(&json)
            .ok()
            .and_then(|c| c.num_records);
        Self {
            num_records,
            json: json.into_boxed_str(),
        }
    }
}

/// A Delta deletion vector descriptor: which rows of a data file are deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionVector {
    /// `u` (relative path encoded in `path_or_inline_dv`), `i` (inline) or `p` (absolute path).
    pub storage_type: String,
    pub path_or_inline_dv: String,
    pub offset: Option<i32>,
    pub size_in_bytes: i32,
    /// Number of deleted rows.
    pub cardinality: i64,
    /// Where a persisted vector (storage types `u` and `p`) is stored, resolved by the adapter;
    /// `None` for inline vectors.
    pub absolute_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_row_count_is_read_from_the_json() {
        let s = FileStats::from_json(r#"{"numRecords":42,"minValues":{"a":1}}"#.into());
        assert_eq!(s.num_records, Some(42));
        let bad = FileStats::from_json("not json".into());
        assert_eq!(bad.num_records, None);
        assert_eq!(&*bad.json, "not json");
    }

    #[test]
    fn reader_features_compare_case_insensitively() {
        let p = TableProtocol {
            reader_features: Some(vec!["deletionVectors".into()]),
            ..TableProtocol::legacy(3, 7)
        };
        assert!(p.has_reader_feature("deletionvectors"));
        assert!(!p.has_reader_feature("columnMapping"));
    }
}
