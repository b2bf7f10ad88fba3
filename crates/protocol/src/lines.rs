//! The NDJSON lines of table reads in the parquet response format.
//!
//! Types borrow from the snapshot so a query streaming 100k files serialises without copying them.

use std::collections::BTreeMap;

use lakeshare_model::{DataFile, TableMetadata};
use serde::Serialize;

/// `{"protocol":{"minReaderVersion":1}}`: the sharing protocol's reader version, not the table's
/// Delta protocol (that one travels only in the delta response format).
#[derive(Debug, Serialize)]
pub struct ProtocolLine {
    protocol: ParquetProtocol,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ParquetProtocol {
    min_reader_version: i32,
}

impl ProtocolLine {
    pub fn parquet() -> Self {
        Self {
            protocol: ParquetProtocol {
                min_reader_version: 1,
            },
        }
    }
}

/// `{"metaData":{…}}` in the parquet format.
#[derive(Debug, Serialize)]
pub struct MetadataLine<'a> {
    #[serde(rename = "metaData")]
    metadata: ParquetMetadata<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ParquetMetadata<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    format: Format<'a>,
    schema_string: &'a str,
    partition_columns: &'a [String],
    configuration: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_files: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Format<'a> {
    provider: &'a str,
}

/// Configuration keys the gateway itself sets, shared as they are: the table's governance
/// metadata. The rest of a table's configuration is the provider's business (writer settings,
/// retention, internal ids); what a version is in the table's own format is shared from
/// `TableMetadata::native`, and the change data feed from its typed flag.
const SHARED_PREFIXES: &[&str] = &["opensharing."];

impl<'a> MetadataLine<'a> {
    /// `version` is set for time-travel reads; `size`/`num_files` describe the snapshot.
    pub fn parquet(
        metadata: &'a TableMetadata,
        version: Option<u64>,
        size: Option<u64>,
        num_files: Option<u64>,
    ) -> Self {
        let configuration = metadata
            .change_data_feed
            .then_some(("enableChangeDataFeed", "true"))
            .into_iter()
            .chain(
                metadata
                    .configuration
                    .iter()
                    .filter(|(key, _)| SHARED_PREFIXES.iter().any(|p| key.starts_with(p)))
                    .chain(&metadata.native)
                    .map(|(key, value)| (key.as_str(), value.as_str())),
            )
            .collect();
        Self {
            metadata: ParquetMetadata {
                id: &metadata.id,
                name: metadata.name.as_deref(),
                description: metadata.description.as_deref(),
                format: Format {
                    provider: &metadata.format_provider,
                },
                schema_string: &metadata.schema_string,
                partition_columns: &metadata.partition_columns,
                configuration,
                version,
                size,
                num_files,
            },
        }
    }
}

/// `{"file":{…}}`: one data file of a snapshot read.
#[derive(Debug, Serialize)]
pub struct FileLine<'a> {
    file: ParquetFile<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ParquetFile<'a> {
    url: &'a str,
    id: &'a str,
    partition_values: &'a lakeshare_model::PartitionValues,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
    expiration_timestamp: i64,
}

impl<'a> FileLine<'a> {
    /// `url` is the signed URL the recipient reads; `version`/`timestamp` are set on time-travel
    /// reads, as the reference server does.
    pub fn parquet(
        file: &'a DataFile,
        url: &'a str,
        expiration_timestamp: i64,
        version_and_timestamp: Option<(u64, i64)>,
    ) -> Self {
        Self {
            file: ParquetFile {
                url,
                id: &file.id,
                partition_values: &file.partition_values,
                size: file.size,
                stats: file.stats.as_ref().map(|s| &*s.json),
                version: version_and_timestamp.map(|(v, _)| v),
                timestamp: version_and_timestamp.map(|(_, t)| t),
                expiration_timestamp,
            },
        }
    }

    /// The same line with the file's id in another scheme (see [`crate::FileIdHash`]).
    pub fn with_id(mut self, id: &'a str) -> Self {
        self.file.id = id;
        self
    }
}

/// `{"add"|"cdf"|"remove":{…}}`: one file of a change read in the parquet format. Every line
/// carries its commit's version and time; the client turns them into `_commit_version` and
/// `_commit_timestamp`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeLine<'a> {
    Add(ChangeFile<'a>),
    Cdf(ChangeFile<'a>),
    Remove(ChangeFile<'a>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeFile<'a> {
    url: &'a str,
    id: &'a str,
    partition_values: &'a lakeshare_model::PartitionValues,
    size: u64,
    timestamp: i64,
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<&'a str>,
    expiration_timestamp: i64,
}

impl<'a> ChangeLine<'a> {
    pub fn parquet(
        kind: lakeshare_model::ChangeKind,
        file: &'a DataFile,
        url: &'a str,
        expiration_timestamp: i64,
        version: u64,
        timestamp: i64,
    ) -> Self {
        use lakeshare_model::ChangeKind;
        let body = ChangeFile {
            url,
            id: &file.id,
            partition_values: &file.partition_values,
            size: file.size,
            timestamp,
            version,
            stats: (kind == ChangeKind::Added)
                .then(|| file.stats.as_ref().map(|s| &*s.json))
                .flatten(),
            expiration_timestamp,
        };
        match kind {
            ChangeKind::Added => ChangeLine::Add(body),
            ChangeKind::ChangeData => ChangeLine::Cdf(body),
            ChangeKind::Removed => ChangeLine::Remove(body),
        }
    }

    /// The same line with the file's id in another scheme (see [`crate::FileIdHash`]).
    pub fn with_id(mut self, id: &'a str) -> Self {
        match &mut self {
            ChangeLine::Add(body) | ChangeLine::Cdf(body) | ChangeLine::Remove(body) => {
                body.id = id
            }
        }
        self
    }
}

/// `{"endStreamAction":{…}}`: the last line of a read, sent only to clients that asked for it
/// (the Python connector crashes on any line it does not expect).
#[derive(Debug, Default, Serialize)]
pub struct EndStreamLine {
    #[serde(rename = "endStreamAction")]
    action: EndStreamAction,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct EndStreamAction {
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_url_expiration_timestamp: Option<i64>,
    /// A failure after the answer began: the client must fail the read.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<String>,
    /// The status the failure would have had, had it come before the answer (as the
    /// reference server and the Scala client have it).
    #[serde(skip_serializing_if = "Option::is_none")]
    http_status_error_code: Option<u16>,
}

impl EndStreamLine {
    /// The same line, stating `ms` as the earliest expiry of the URLs it follows.
    pub fn with_min_url_expiration(mut self, ms: i64) -> Self {
        self.action.min_url_expiration_timestamp = Some(ms);
        self
    }

    pub fn new(
        next_page_token: Option<String>,
        refresh_token: Option<String>,
        min_url_expiration_timestamp: Option<i64>,
    ) -> Self {
        Self {
            action: EndStreamAction {
                refresh_token,
                next_page_token,
                min_url_expiration_timestamp,
                ..EndStreamAction::default()
            },
        }
    }

    /// The last line of a read that failed after it began: no tokens (nothing after it may be
    /// read), `message` and the status the failure maps to.
    pub fn failed(message: impl Into<String>, status: u16) -> Self {
        Self {
            action: EndStreamAction {
                error_message: Some(message.into()),
                http_status_error_code: Some(status),
                ..EndStreamAction::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ndjson_line;
    use lakeshare_model::FileStats;

    #[test]
    fn change_lines_carry_version_and_timestamp() {
        let f = DataFile::new("file:///t/c.parquet", "c1", 5);
        let line = String::from_utf8(ndjson_line(&ChangeLine::parquet(
            lakeshare_model::ChangeKind::ChangeData,
            &f,
            "https://x/c",
            9,
            2,
            200,
        )))
        .unwrap();
        assert_eq!(
            line,
            "{\"cdf\":{\"url\":\"https://x/c\",\"id\":\"c1\",\"partitionValues\":{},\"size\":5,\"timestamp\":200,\"version\":2,\"expirationTimestamp\":9}}\n"
        );
    }

    #[test]
    fn end_stream_line_omits_what_it_does_not_have() {
        let line = String::from_utf8(ndjson_line(&EndStreamLine::new(
            Some("t".into()),
            None,
            Some(5),
        )))
        .unwrap();
        assert_eq!(
            line,
            "{\"endStreamAction\":{\"nextPageToken\":\"t\",\"minUrlExpirationTimestamp\":5}}\n"
        );
    }

    #[test]
    fn metadata_line_shares_only_the_cdf_flag_and_native_facts() {
        let mut md = TableMetadata::new("abc", r#"{"type":"struct","fields":[]}"#);
        md.partition_columns = vec!["d".into()];
        md.change_data_feed = true;
        md.configuration
            .insert("delta.enableChangeDataFeed".into(), "true".into());
        md.native.insert("x.version-id".into(), "7".into());
        md.configuration
            .insert("delta.logRetentionDuration".into(), "interval 1 day".into());
        let line = String::from_utf8(ndjson_line(&MetadataLine::parquet(
            &md,
            Some(2),
            None,
            Some(3),
        )))
        .unwrap();
        assert_eq!(
            line,
            concat!(
                r#"{"metaData":{"id":"abc","format":{"provider":"parquet"},"#,
                r#""schemaString":"{\"type\":\"struct\",\"fields\":[]}","partitionColumns":["d"],"#,
                r#""configuration":{"enableChangeDataFeed":"true","x.version-id":"7"},"version":2,"numFiles":3}}"#,
                "\n"
            )
        );
    }

    #[test]
    fn file_line_keeps_null_partition_values_and_raw_stats() {
        let mut f = DataFile::new("file:///t/a.parquet", "id1", 10);
        f.partition_values.insert("p".into(), None);
        f.partition_values.insert("q".into(), Some("2021".into()));
        f.stats = Some(FileStats::from_json(r#"{"numRecords":1}"#.into()));
        let line = String::from_utf8(ndjson_line(&FileLine::parquet(&f, "https://x/y", 99, None)))
            .unwrap();
        assert_eq!(
            line,
            concat!(
                r#"{"file":{"url":"https://x/y","id":"id1","partitionValues":{"p":null,"q":"2021"},"#,
                r#""size":10,"stats":"{\"numRecords\":1}","expirationTimestamp":99}}"#,
                "\n"
            )
        );
    }
}
