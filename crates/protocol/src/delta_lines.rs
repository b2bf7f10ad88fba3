//! The NDJSON lines of table reads in the delta response format: real Delta actions the client
//! writes into a local `_delta_log` and replays with a Delta reader. This is how tables whose
//! files cannot be read on their own (deletion vectors, column mapping) are shared.
//!
//! Every action must be a valid Delta action with all required fields, because the client's
//! Delta reader, not this protocol, is what interprets it.

use std::collections::BTreeMap;

use lakeshare_model::{DataFile, DeletionVector, TableMetadata, TableProtocol};
use serde::Serialize;

/// `{"protocol":{"deltaProtocol":{…}}}`: the table's own Delta protocol.
#[derive(Debug, Serialize)]
pub struct DeltaProtocolLine<'a> {
    protocol: DeltaProtocolWrapper<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeltaProtocolWrapper<'a> {
    delta_protocol: DeltaProtocol<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeltaProtocol<'a> {
    min_reader_version: i32,
    min_writer_version: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    reader_features: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    writer_features: Option<&'a [String]>,
}

impl<'a> DeltaProtocolLine<'a> {
    /// `version` is set only on historical protocol lines of change reads.
    pub fn new(protocol: &'a TableProtocol, version: Option<u64>) -> Self {
        Self {
            protocol: DeltaProtocolWrapper {
                delta_protocol: DeltaProtocol {
                    min_reader_version: protocol.min_reader_version,
                    min_writer_version: protocol.min_writer_version,
                    reader_features: protocol.reader_features.as_deref(),
                    writer_features: protocol.writer_features.as_deref(),
                },
                version,
            },
        }
    }
}

/// `{"metaData":{"deltaMetadata":{…},…}}`: the table's real metadata, configuration and
/// column-mapping annotations included.
#[derive(Debug, Serialize)]
pub struct DeltaMetadataLine<'a> {
    #[serde(rename = "metaData")]
    metadata: DeltaMetadataWrapper<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeltaMetadataWrapper<'a> {
    delta_metadata: DeltaMetadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_files: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeltaMetadata<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    format: DeltaFormat<'a>,
    schema_string: &'a str,
    partition_columns: &'a [String],
    configuration: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_time: Option<i64>,
}

#[derive(Debug, Serialize)]
struct DeltaFormat<'a> {
    provider: &'a str,
    options: BTreeMap<String, String>,
}

impl<'a> DeltaMetadataLine<'a> {
    pub fn new(
        metadata: &'a TableMetadata,
        version: Option<u64>,
        size: Option<u64>,
        num_files: Option<u64>,
    ) -> Self {
        Self {
            metadata: DeltaMetadataWrapper {
                delta_metadata: DeltaMetadata {
                    id: &metadata.id,
                    name: metadata.name.as_deref(),
                    description: metadata.description.as_deref(),
                    format: DeltaFormat {
                        provider: &metadata.format_provider,
                        options: BTreeMap::new(),
                    },
                    schema_string: &metadata.schema_string,
                    partition_columns: &metadata.partition_columns,
                    configuration: delta_configuration(metadata),
                    created_time: metadata.created_time,
                },
                version,
                size,
                num_files,
            },
        }
    }
}

/// The configuration a Delta reader sees: the table's own, what the version is in its own
/// format, and the change data feed property where the table's feed is on (a Delta reader
/// asks for it before reading changes, also of tables of other formats).
fn delta_configuration(metadata: &TableMetadata) -> BTreeMap<&str, &str> {
    let mut configuration: BTreeMap<&str, &str> = metadata
        .configuration
        .iter()
        .chain(&metadata.native)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if metadata.change_data_feed {
        configuration.insert("delta.enableChangeDataFeed", "true");
    }
    configuration
}

/// Which Delta action a `file` line carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaAction {
    Add,
    Remove,
    Cdc,
}

/// `{"file":{…,"deltaSingleAction":{"add"|"remove"|"cdc":{…}}}}`, the action's `path` replaced by
/// a signed URL and a persisted deletion vector's location likewise.
#[derive(Debug, Serialize)]
pub struct DeltaFileLine<'a> {
    file: DeltaFile<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeltaFile<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
    expiration_timestamp: i64,
    delta_single_action: SingleAction<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum SingleAction<'a> {
    Add(FileAction<'a>),
    Remove(FileAction<'a>),
    Cdc(FileAction<'a>),
}

/// The fields of an add, remove or cdc action; the ones an action does not have are skipped.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FileAction<'a> {
    path: &'a str,
    partition_values: &'a lakeshare_model::PartitionValues,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    modification_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_timestamp: Option<i64>,
    data_change: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    extended_file_metadata: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_vector: Option<WireDeletionVector<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireDeletionVector<'a> {
    storage_type: &'a str,
    path_or_inline_dv: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<i32>,
    size_in_bytes: i32,
    cardinality: i64,
}

/// The parts of a delta `file` line that are not in the [`DataFile`] itself.
#[derive(Debug, Clone, Copy)]
pub struct DeltaFileContext<'a> {
    pub action: DeltaAction,
    /// The signed URL of the data file.
    pub url: &'a str,
    pub expiration_timestamp: i64,
    /// The signed URL of a persisted deletion vector (storage types `u`/`p`), which is then sent
    /// as storage type `p`; inline vectors travel as they are.
    pub deletion_vector_url: Option<&'a str>,
    /// Commit version and time, on change reads.
    pub version_and_timestamp: Option<(u64, i64)>,
}

impl<'a> DeltaFileLine<'a> {
    pub fn new(file: &'a DataFile, cx: DeltaFileContext<'a>) -> Self {
        let deletion_vector =
            file.deletion_vector
                .as_deref()
                .map(|dv: &'a DeletionVector| match cx.deletion_vector_url {
                    Some(url) => WireDeletionVector {
                        storage_type: "p",
                        path_or_inline_dv: url,
                        offset: dv.offset,
                        size_in_bytes: dv.size_in_bytes,
                        cardinality: dv.cardinality,
                    },
                    None => WireDeletionVector {
                        storage_type: &dv.storage_type,
                        path_or_inline_dv: &dv.path_or_inline_dv,
                        offset: dv.offset,
                        size_in_bytes: dv.size_in_bytes,
                        cardinality: dv.cardinality,
                    },
                });
        let is_add = cx.action == DeltaAction::Add;
        let action = FileAction {
            path: cx.url,
            partition_values: &file.partition_values,
            size: file.size,
            modification_time: (cx.action != DeltaAction::Remove)
                .then_some(file.modification_time_ms),
            deletion_timestamp: (cx.action == DeltaAction::Remove)
                .then(|| cx.version_and_timestamp.map(|(_, t)| t))
                .flatten(),
            data_change: cx.action != DeltaAction::Cdc,
            extended_file_metadata: (cx.action == DeltaAction::Remove).then_some(true),
            stats: is_add
                .then(|| file.stats.as_ref().map(|s| &*s.json))
                .flatten(),
            deletion_vector: (cx.action != DeltaAction::Cdc)
                .then_some(deletion_vector)
                .flatten(),
        };
        let delta_single_action = match cx.action {
            DeltaAction::Add => SingleAction::Add(action),
            DeltaAction::Remove => SingleAction::Remove(action),
            DeltaAction::Cdc => SingleAction::Cdc(action),
        };
        Self {
            file: DeltaFile {
                id: &file.id,
                version: cx.version_and_timestamp.map(|(v, _)| v),
                timestamp: cx.version_and_timestamp.map(|(_, t)| t),
                expiration_timestamp: cx.expiration_timestamp,
                delta_single_action,
            },
        }
    }

    /// The same line with the file's id in another scheme (see [`crate::FileIdHash`]).
    pub fn with_id(mut self, id: &'a str) -> Self {
        self.file.id = id;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ndjson_line;
    use lakeshare_model::FileStats;

    fn line<T: Serialize>(value: &T) -> serde_json::Value {
        serde_json::from_slice(&ndjson_line(value)).unwrap()
    }

    #[test]
    fn protocol_and_metadata_carry_the_tables_own_values() {
        let protocol = TableProtocol {
            reader_features: Some(vec!["deletionVectors".into()]),
            writer_features: Some(vec!["deletionVectors".into()]),
            ..TableProtocol::legacy(3, 7)
        };
        assert_eq!(
            line(&DeltaProtocolLine::new(&protocol, None)),
            serde_json::json!({"protocol":{"deltaProtocol":{"minReaderVersion":3,"minWriterVersion":7,
                "readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}}})
        );
        let mut md = TableMetadata::new("abc", "{}");
        md.configuration
            .insert("delta.columnMapping.mode".into(), "name".into());
        let v = line(&DeltaMetadataLine::new(&md, Some(4), None, Some(2)));
        assert_eq!(
            v["metaData"]["deltaMetadata"]["configuration"]["delta.columnMapping.mode"],
            "name"
        );
        assert_eq!(
            v["metaData"]["deltaMetadata"]["format"],
            serde_json::json!({"provider":"parquet","options":{}})
        );
        assert_eq!(v["metaData"]["version"], 4);
        assert_eq!(v["metaData"]["numFiles"], 2);
    }

    #[test]
    fn add_lines_rewrite_paths_and_persisted_deletion_vectors() {
        let mut f = DataFile::new("file:///t/a.parquet", "id1", 10);
        f.modification_time_ms = 7;
        f.stats = Some(FileStats::from_json(r#"{"numRecords":3}"#.into()));
        f.deletion_vector = Some(Box::new(DeletionVector {
            storage_type: "u".into(),
            path_or_inline_dv: "ab^-aqEH.-t@S}K{vb[*k^".into(),
            offset: Some(1),
            size_in_bytes: 36,
            cardinality: 2,
            absolute_url: Some("file:///t/deletion_vector_x.bin".into()),
        }));
        let v = line(&DeltaFileLine::new(
            &f,
            DeltaFileContext {
                action: DeltaAction::Add,
                url: "https://gw/files/t1",
                expiration_timestamp: 99,
                deletion_vector_url: Some("https://gw/files/t2"),
                version_and_timestamp: None,
            },
        ));
        assert_eq!(
            v,
            serde_json::json!({"file":{"id":"id1","expirationTimestamp":99,"deltaSingleAction":{"add":{
                "path":"https://gw/files/t1","partitionValues":{},"size":10,"modificationTime":7,"dataChange":true,
                "stats":"{\"numRecords\":3}",
                "deletionVector":{"storageType":"p","pathOrInlineDv":"https://gw/files/t2","offset":1,"sizeInBytes":36,"cardinality":2}}}}})
        );
    }

    #[test]
    fn remove_and_cdc_lines_have_their_own_fields() {
        let f = DataFile::new("file:///t/a.parquet", "id1", 10);
        let cx = |action| DeltaFileContext {
            action,
            url: "u",
            expiration_timestamp: 1,
            deletion_vector_url: None,
            version_and_timestamp: Some((3, 300)),
        };
        let remove = line(&DeltaFileLine::new(&f, cx(DeltaAction::Remove)));
        let action = &remove["file"]["deltaSingleAction"]["remove"];
        assert_eq!(action["deletionTimestamp"], 300);
        assert_eq!(action["dataChange"], true);
        assert!(action.get("modificationTime").is_none());
        assert_eq!(remove["file"]["version"], 3);
        let cdc = line(&DeltaFileLine::new(&f, cx(DeltaAction::Cdc)));
        assert_eq!(cdc["file"]["deltaSingleAction"]["cdc"]["dataChange"], false);
        assert_eq!(cdc["file"]["timestamp"], 300);
    }
}
