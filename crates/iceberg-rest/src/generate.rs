//! Iceberg metadata for a table of any format, generated from its snapshots.
//!
//! Each served version becomes one Iceberg snapshot: a manifest list and manifests (Avro,
//! written with the `iceberg` crate's writers) naming the version's existing data files, with
//! their partition tuples, row counts and the bounds their statistics give exactly. A
//! `metadata.json` then lists the snapshots of the versions served together. Nothing is
//! copied: the manifests point at the table's own files, by the paths recipients read them at.
//! Rows a deletion vector removes become position delete files ([`crate::deletes`]), listed in
//! delete manifests of the same snapshot, so readers apply them as they read.
//!
//! Output is deterministic: a file's name is a digest of everything it is made from, and its
//! bytes depend only on that (the Avro sync marker, random in the writer, is replaced by one
//! derived from the name). So any replica that generates a file produces the same bytes under
//! the same name, and a name never changes meaning.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataContentType, DataFile as IcebergFile, DataFileBuilder, DataFileFormat, Datum, ManifestFile,
    ManifestListWriter, ManifestWriterBuilder, MappedField, NameMapping, PartitionSpec, Schema,
    SchemaRef, Transform,
};
use lakeshare_model::{DataFile, Snapshot, Version};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::schema::{FieldIds, IcebergSchema, convert, partition_columns};
use crate::values::{bounds, partition};
use crate::{Error, Result};

/// Entries per manifest: readers plan manifests in parallel, so big tables get several.
const MANIFEST_ENTRIES: usize = 10_000;

/// The first partition field id, by Iceberg convention.
const FIRST_PARTITION_FIELD_ID: i32 = 1000;

/// Where a table and its generated metadata are, as recipients address them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Iceberg's `location` of the table (`s3://bucket/prefix`).
    pub location: String,
    /// The folder the generated files are read from, without a trailing `/`.
    pub metadata_location: String,
}

/// One generated file: its name inside [`Layout::metadata_location`] and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub name: String,
    pub bytes: Bytes,
}

/// One version as an Iceberg snapshot.
#[derive(Debug, Clone)]
pub struct VersionFiles {
    pub version: Version,
    pub snapshot_id: i64,
    pub timestamp_ms: i64,
    pub schema_id: i32,
    /// Full path of the manifest list.
    pub manifest_list: String,
    /// The manifest list and the manifests.
    pub files: Vec<GeneratedFile>,
    pub summary: BTreeMap<String, String>,
}

/// A generated `metadata.json`.
#[derive(Debug, Clone)]
pub struct GeneratedMetadata {
    pub name: String,
    pub bytes: Bytes,
    /// The same document, for the `metadata` field of a load-table answer.
    pub value: Value,
}

/// What the generator learns of a version's data files from elsewhere than the snapshot.
pub struct FileFacts<'a> {
    /// The path recipients read a data file at.
    pub path_of: &'a (dyn Fn(&DataFile) -> Result<String> + Sync),
    /// The row count of a file whose statistics have none (from its footer, say).
    pub row_count_of: &'a (dyn Fn(&DataFile) -> Option<u64> + Sync),
    /// The positions of the rows deleted from a file with a deletion vector, ascending (see
    /// `TableSource::deleted_rows`); a version with a file this does not know is refused.
    pub deleted_rows_of: &'a (dyn Fn(&DataFile) -> Option<Arc<[u64]>> + Sync),
}

/// Generates Iceberg metadata for one table, for the versions it was made for.
#[derive(Debug)]
pub struct Generator {
    table_uuid: String,
    layout: Layout,
    ids: FieldIds,
    /// Distinct schema strings, in order of first appearance: their index is the schema id.
    schemas: Vec<String>,
    /// Distinct partition column lists, likewise numbered.
    specs: Vec<Vec<String>>,
    /// The partition field id of each partition column of any version.
    partition_field_ids: BTreeMap<String, i32>,
    /// Those columns, which every schema makes optional (see [`convert`]).
    partitioned: Vec<String>,
    fingerprint: String,
}

/// The Iceberg snapshot id (and sequence number) of a version: ids must be positive, and
/// every version, from 0 up, gets its own.
pub fn snapshot_id(version: Version) -> i64 {
    i64::try_from(version).map_or(i64::MAX, |v| v.saturating_add(1))
}

impl Generator {
    /// A generator for `versions` of the table `table_id` (its metadata id), oldest first: every
    /// version whose snapshot may be asked for must be among them, as field ids are assigned
    /// over all of their schemas.
    pub fn new(table_id: &str, versions: &[&Snapshot], layout: Layout) -> Result<Self> {
        let mut schemas: Vec<String> = Vec::new();
        let mut specs: Vec<Vec<String>> = Vec::new();
        let mut partition_field_ids = BTreeMap::new();
        for s in versions {
            let schema = file_schema(s)?;
            if !schemas.contains(&schema) {
                schemas.push(schema);
            }
            if !specs.contains(&s.metadata.partition_columns) {
                specs.push(s.metadata.partition_columns.clone());
            }
            for c in &s.metadata.partition_columns {
                let next = FIRST_PARTITION_FIELD_ID + partition_field_ids.len() as i32;
                partition_field_ids.entry(c.clone()).or_insert(next);
            }
        }
        let ids = FieldIds::assign(schemas.iter().map(String::as_str))?;
        let table_uuid = table_uuid(table_id);
        let fingerprint = digest([
            table_uuid.as_str(),
            layout.location.as_str(),
            layout.metadata_location.as_str(),
            &ids.fingerprint(),
            &schemas.join("\n"),
            &format!("{specs:?}{partition_field_ids:?}"),
            FORMAT_REVISION,
        ]);
        let partitioned = partition_field_ids.keys().cloned().collect();
        Ok(Self {
            table_uuid,
            layout,
            ids,
            schemas,
            specs,
            partition_field_ids,
            partitioned,
            fingerprint,
        })
    }

    /// A digest of everything but the versions that goes into the generated files: two
    /// generators with the same fingerprint generate the same files for the same version.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn schema(&self, snapshot: &Snapshot) -> Result<(i32, IcebergSchema)> {
        let text = file_schema(snapshot)?;
        let id = self
            .schemas
            .iter()
            .position(|s| *s == text)
            .ok_or_else(|| not_prepared(snapshot.version))?;
        let id = id as i32;
        Ok((id, convert(&text, &self.ids, id, &self.partitioned)?))
    }

    fn spec(&self, schema: &Schema, columns: &[String]) -> Result<PartitionSpec> {
        let spec_id = self
            .specs
            .iter()
            .position(|s| s == columns)
            .ok_or_else(|| Error::Invalid("the partition columns were not prepared".into()))?;
        let mut builder = PartitionSpec::builder(schema.clone()).with_spec_id(spec_id as i32);
        let partitioned = partition_columns(schema, columns)?;
        for c in &partitioned {
            let name = avro_name(c);
            let clash = partitioned
                .iter()
                .find(|other| *other != c && avro_name(other) == name)
                .copied()
                .or_else(|| {
                    (name != *c)
                        .then(|| schema.field_by_name(&name).map(|f| f.name.as_str()))
                        .flatten()
                });
            if let Some(other) = clash {
                return Err(Error::Unsupported(format!(
                    "partition columns '{c}' and '{other}' would both be named '{name}' in Iceberg \
                     manifests (Avro names allow only letters, digits and '_')"
                )));
            }
        }
        for c in partitioned {
            let _ = self.partition_field_ids[c];
            builder = builder
                .add_unbound_field(iceberg::spec::UnboundPartitionField {
                    source_id: schema.field_by_name(c).map(|f| f.id).unwrap_or_default(),
                    field_id: Some(self.partition_field_ids[c]),
                    name: avro_name(c),
                    transform: Transform::Identity,
                })
                .map_err(|e| Error::Invalid(format!("partition column {c}: {e}")))?;
        }
        builder
            .build()
            .map_err(|e| Error::Invalid(format!("the partition spec: {e}")))
    }

    /// The manifests, delete files and manifest list of one version; `parent` is the version
    /// served before this one, if any.
    pub async fn version(
        &self,
        snapshot: &Snapshot,
        parent: Option<Version>,
        facts: &FileFacts<'_>,
    ) -> Result<VersionFiles> {
        let FileFacts {
            path_of,
            row_count_of,
            deleted_rows_of,
        } = *facts;
        if let Some(reason) = unrepresentable(snapshot) {
            return Err(Error::Unsupported(reason));
        }
        let (schema_id, converted) = self.schema(snapshot)?;
        let schema = Arc::new(converted.schema);
        let spec = self.spec(&schema, &snapshot.metadata.partition_columns)?;
        let columns = partition_columns(&schema, &snapshot.metadata.partition_columns)?;
        let snapshot_id = snapshot_id(snapshot.version);
        let sequence_number = snapshot_id;

        let string_limit = crate::values::string_bound_limit(&snapshot.metadata.configuration);
        let mut data_files = Vec::with_capacity(snapshot.files.len());
        let mut deletes = Vec::new();
        let mut records = 0u64;
        // What the version is made of, file by file, for its digest (and so its names).
        let mut inputs = Sha256::new();
        for file in snapshot.files.iter() {
            let record_count = file
                .stats
                .as_ref()
                .and_then(|s| s.num_records)
                .or_else(|| row_count_of(file))
                .ok_or_else(|| {
                    Error::Unsupported(format!(
                        "the row count of data file {} of version {} is not known, and Iceberg \
                         metadata requires it",
                        file.id, snapshot.version
                    ))
                })?;
            records += record_count;
            // A file's statistics describe its rows before any are deleted, which is what
            // Iceberg's do too: delete files are applied after.
            let b = bounds(file, &schema, &converted.stats_keys, string_limit);
            let path = path_of(file)?;
            inputs.update(file_line(file, &path).as_bytes());
            let partition = partition(file, &schema, &columns, &converted.stats_keys)?;
            if file.deletion_vector.is_some() {
                let rows = deleted_rows_of(file).ok_or_else(|| {
                    Error::Unsupported(format!(
                        "the deleted rows of data file {} of version {} are not known",
                        file.id, snapshot.version
                    ))
                })?;
                // A vector that deletes nothing needs no delete file.
                if !rows.is_empty() {
                    deletes.push(PositionDeletes {
                        data_path: path.clone(),
                        partition: partition.clone(),
                        rows,
                    });
                }
            }
            let data = DataFileBuilder::default()
                .content(DataContentType::Data)
                .file_path(path)
                .file_format(DataFileFormat::Parquet)
                .partition(partition)
                .partition_spec_id(spec.spec_id())
                .record_count(record_count)
                .file_size_in_bytes(file.size)
                .lower_bounds(b.lower)
                .upper_bounds(b.upper)
                .null_value_counts(b.null_counts)
                .build()
                .map_err(|e| Error::Invalid(format!("data file {}: {e}", file.id)))?;
            data_files.push(data);
        }

        let mut files = Vec::new();
        let mut delete_files = Vec::with_capacity(deletes.len());
        let mut deleted = 0u64;
        for d in &deletes {
            let (file, entry) = self.position_deletes(d, &spec)?;
            deleted += d.rows.len() as u64;
            files.push(file);
            delete_files.push(entry);
        }

        let version_digest = digest([
            self.fingerprint.as_str(),
            &snapshot.version.to_string(),
            &snapshot.timestamp_ms.to_string(),
            &hex::encode(inputs.finalize()),
            &files
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ]);
        let short = &version_digest[..16];
        let io = FileIO::new_with_memory();
        let mut manifests: Vec<ManifestFile> = Vec::new();
        let kinds = [(&data_files, "m"), (&delete_files, "d")];
        for (entries, kind) in kinds {
            for (i, chunk) in entries.chunks(MANIFEST_ENTRIES).enumerate() {
                let name = format!("{short}-{kind}{i}.avro");
                let manifest = self
                    .manifest(&io, &name, snapshot_id, (&schema, &spec), chunk)
                    .await?;
                let bytes = read_back(&io, &self.path(&name), &name).await?;
                // The manifest list records each manifest's length, which the marker swap keeps.
                manifests.push(manifest);
                files.push(GeneratedFile { name, bytes });
            }
        }

        let list_name = format!("snap-{snapshot_id}-{short}.avro");
        let list_path = self.path(&list_name);
        let output = io.new_output(&list_path).map_err(iceberg_error)?;
        let writer = output.writer().await.map_err(iceberg_error)?;
        let mut list = ManifestListWriter::v2(
            writer,
            snapshot_id,
            parent.map(self::snapshot_id),
            sequence_number,
        );
        list.add_manifests(manifests.into_iter())
            .map_err(iceberg_error)?;
        list.close().await.map_err(iceberg_error)?;
        let bytes = read_back(&io, &list_path, &list_name).await?;
        files.insert(
            0,
            GeneratedFile {
                name: list_name,
                bytes,
            },
        );

        let mut summary = BTreeMap::from([
            (
                "lakeshare.source-version".to_string(),
                snapshot.version.to_string(),
            ),
            (
                "lakeshare.source-format".to_string(),
                snapshot.format.to_string(),
            ),
            (
                "total-data-files".to_string(),
                snapshot.files.len().to_string(),
            ),
            (
                "added-data-files".to_string(),
                snapshot.files.len().to_string(),
            ),
            ("total-records".to_string(), records.to_string()),
            (
                "total-files-size".to_string(),
                snapshot.size_bytes().to_string(),
            ),
            (
                "total-delete-files".to_string(),
                delete_files.len().to_string(),
            ),
            (
                "added-delete-files".to_string(),
                delete_files.len().to_string(),
            ),
            ("total-position-deletes".to_string(), deleted.to_string()),
            ("added-position-deletes".to_string(), deleted.to_string()),
            ("total-equality-deletes".to_string(), "0".to_string()),
        ]);
        if let Some(native) = &snapshot.native_id {
            summary.insert("lakeshare.source-id".to_string(), native.clone());
        }
        Ok(VersionFiles {
            version: snapshot.version,
            snapshot_id,
            timestamp_ms: snapshot.timestamp_ms,
            schema_id,
            manifest_list: list_path,
            files,
            summary,
        })
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.layout.metadata_location)
    }

    /// One manifest of `entries` (all data files, or all delete files), written into `io`.
    async fn manifest(
        &self,
        io: &FileIO,
        name: &str,
        snapshot_id: i64,
        (schema, spec): (&SchemaRef, &PartitionSpec),
        entries: &[IcebergFile],
    ) -> Result<ManifestFile> {
        let output = io.new_output(self.path(name)).map_err(iceberg_error)?;
        let builder =
            ManifestWriterBuilder::new(output, Some(snapshot_id), schema.clone(), spec.clone());
        let deletes = entries
            .first()
            .is_some_and(|e| e.content_type() != DataContentType::Data);
        let mut writer = if deletes {
            builder.build_v2_deletes()
        } else {
            builder.build_v2_data()
        };
        // Every file is added by the snapshot, at its sequence number: a position delete
        // applies to data files of the same or a lower one.
        for entry in entries {
            writer
                .add_file(entry.clone(), snapshot_id)
                .map_err(iceberg_error)?;
        }
        writer.write_manifest_file().await.map_err(iceberg_error)
    }

    /// The position delete file of one data file, and its manifest entry.
    fn position_deletes(
        &self,
        d: &PositionDeletes,
        spec: &PartitionSpec,
    ) -> Result<(GeneratedFile, IcebergFile)> {
        let bytes = crate::deletes::position_delete_file(&d.data_path, &d.rows)?;
        let positions: Vec<u8> = d.rows.iter().flat_map(|r| r.to_le_bytes()).collect();
        let name = format!(
            "{}-pos.parquet",
            &digest([
                self.fingerprint.as_str(),
                crate::deletes::WRITER,
                &d.data_path,
                &hex::encode(Sha256::digest(&positions)),
            ])[..32]
        );
        let (first, last) = match (d.rows.first(), d.rows.last()) {
            (Some(&first), Some(&last)) => (first as i64, last as i64),
            _ => {
                return Err(Error::Invalid(format!(
                    "the deletion vector of {} deletes no rows",
                    d.data_path
                )));
            }
        };
        let path_bound = || Datum::string(d.data_path.clone());
        let entry = DataFileBuilder::default()
            .content(DataContentType::PositionDeletes)
            .file_path(self.path(&name))
            .file_format(DataFileFormat::Parquet)
            .partition(d.partition.clone())
            .partition_spec_id(spec.spec_id())
            .record_count(d.rows.len() as u64)
            .file_size_in_bytes(bytes.len() as u64)
            .lower_bounds(HashMap::from([
                (crate::deletes::FILE_PATH_ID, path_bound()),
                (crate::deletes::POS_ID, Datum::long(first)),
            ]))
            .upper_bounds(HashMap::from([
                (crate::deletes::FILE_PATH_ID, path_bound()),
                (crate::deletes::POS_ID, Datum::long(last)),
            ]))
            .null_value_counts(HashMap::from([
                (crate::deletes::FILE_PATH_ID, 0),
                (crate::deletes::POS_ID, 0),
            ]))
            .referenced_data_file(Some(d.data_path.clone()))
            .build()
            .map_err(|e| Error::Invalid(format!("the delete file of {}: {e}", d.data_path)))?;
        Ok((GeneratedFile { name, bytes }, entry))
    }

    /// The `metadata.json` of `versions` (oldest first; the last is current), whose
    /// snapshots are `files`, one per version in the same order. `current` is the current
    /// version's snapshot, for table-level fields (schema, partitioning, properties).
    pub fn metadata(
        &self,
        current: &Snapshot,
        files: &[Arc<VersionFiles>],
    ) -> Result<GeneratedMetadata> {
        let last = files
            .last()
            .filter(|f| f.version == current.version)
            .ok_or_else(|| Error::Invalid("the current version has no snapshot".into()))?;
        let (current_schema_id, converted) = self.schema(current)?;
        let schema = &converted.schema;
        let current_spec = self.spec(schema, &current.metadata.partition_columns)?;

        let mut schemas = Vec::new();
        for (id, text) in self.schemas.iter().enumerate() {
            let s = convert(text, &self.ids, id as i32, &self.partitioned)?;
            schemas.push(serde_json::to_value(&s.schema).map_err(json_error)?);
        }
        let mut specs = Vec::new();
        for (id, columns) in self.specs.iter().enumerate() {
            let schema_text = self
                .schemas
                .iter()
                .rev()
                .find(|text| {
                    convert(text, &self.ids, 0, &self.partitioned)
                        .is_ok_and(|s| partition_columns(&s.schema, columns).is_ok())
                })
                .ok_or_else(|| {
                    Error::Invalid(format!("partition columns {columns:?} match no schema"))
                })?;
            let s = convert(schema_text, &self.ids, 0, &self.partitioned)?;
            let spec = self.spec(&s.schema, columns)?;
            debug_assert_eq!(spec.spec_id(), id as i32);
            specs.push(serde_json::to_value(&spec).map_err(json_error)?);
        }

        let mut snapshots = Vec::new();
        let mut log = Vec::new();
        let mut timestamp = i64::MIN;
        let mut parent: Option<i64> = None;
        for f in files {
            // Iceberg wants snapshot times that do not go back; commit clocks sometimes do.
            timestamp = timestamp.max(f.timestamp_ms);
            let mut summary = serde_json::Map::new();
            let operation = if parent.is_none() {
                "append"
            } else {
                "overwrite"
            };
            summary.insert("operation".into(), Value::from(operation));
            for (k, v) in &f.summary {
                summary.insert(k.clone(), Value::from(v.clone()));
            }
            let mut snap = json!({
                "snapshot-id": f.snapshot_id,
                "sequence-number": f.snapshot_id,
                "timestamp-ms": timestamp,
                "manifest-list": f.manifest_list,
                "summary": summary,
                "schema-id": f.schema_id,
            });
            if let Some(p) = parent {
                snap["parent-snapshot-id"] = Value::from(p);
            }
            snapshots.push(snap);
            log.push(json!({"timestamp-ms": timestamp, "snapshot-id": f.snapshot_id}));
            parent = Some(f.snapshot_id);
        }

        // Columns files hold beyond the schema get ids above every column's, so that readers
        // applying the name mapping to a file find each of its columns (pyiceberg refuses a
        // file column the mapping lacks) and then skip them, as no schema field has their id.
        let mut mapped = converted.name_mapping.fields().to_vec();
        let extra = current
            .metadata
            .file_only_columns
            .iter()
            .filter(|name| converted.schema.field_by_name(name).is_none());
        for (i, name) in extra.enumerate() {
            let id = self.ids.last_column_id() + 1 + i as i32;
            mapped.push(MappedField::new(Some(id), vec![name.clone()], Vec::new()));
        }
        let name_mapping = NameMapping::new(mapped);
        let mut properties = BTreeMap::from([
            (
                "schema.name-mapping.default".to_string(),
                serde_json::to_string(&name_mapping).map_err(json_error)?,
            ),
            (
                "lakeshare.source-format".to_string(),
                current.format.to_string(),
            ),
            (
                "lakeshare.source-version".to_string(),
                current.version.to_string(),
            ),
        ]);
        if let Some(comment) = &current.metadata.description {
            properties.insert("comment".to_string(), comment.clone());
        }
        let last_partition_id = self
            .partition_field_ids
            .values()
            .copied()
            .max()
            .unwrap_or(FIRST_PARTITION_FIELD_ID - 1);
        let value = json!({
            "format-version": 2,
            "table-uuid": self.table_uuid,
            "location": self.layout.location,
            "last-sequence-number": last.snapshot_id,
            "last-updated-ms": timestamp,
            "last-column-id": self.ids.last_column_id(),
            "current-schema-id": current_schema_id,
            "schemas": schemas,
            "default-spec-id": current_spec.spec_id(),
            "partition-specs": specs,
            "last-partition-id": last_partition_id,
            "default-sort-order-id": 0,
            "sort-orders": [{"order-id": 0, "fields": []}],
            "properties": properties,
            "current-snapshot-id": last.snapshot_id,
            "snapshots": snapshots,
            "snapshot-log": log,
            "metadata-log": [],
            "refs": {"main": {"snapshot-id": last.snapshot_id, "type": "branch"}},
        });
        // What every reader will do with it: a document the Iceberg library refuses is a bug
        // here, and is better found before a recipient finds it.
        serde_json::from_value::<iceberg::spec::TableMetadata>(value.clone()).map_err(|e| {
            Error::Internal(format!("the generated Iceberg metadata is not valid: {e}"))
        })?;
        let text = serde_json::to_vec(&value).map_err(json_error)?;
        let lists: Vec<&str> = files.iter().map(|f| f.manifest_list.as_str()).collect();
        let name = format!(
            "v{}-{}.metadata.json",
            current.version,
            &digest([
                self.fingerprint.as_str(),
                &lists.join("\n"),
                &String::from_utf8_lossy(&text)
            ])[..16]
        );
        Ok(GeneratedMetadata {
            name,
            bytes: Bytes::from(text),
            value,
        })
    }
}

/// The rows deleted from one data file, to be written as its position delete file.
struct PositionDeletes {
    data_path: String,
    partition: iceberg::spec::Struct,
    rows: Arc<[u64]>,
}

/// Bumped whenever the generated files change for the same inputs, so that files cached by
/// an older gateway are not taken for this one's.
const FORMAT_REVISION: &str = "lakeshare-iceberg-4";

/// Why `snapshot` cannot be served as Iceberg at all, if it cannot: checked by
/// [`Generator::version`], and by callers that decide before generating anything.
pub fn unrepresentable(snapshot: &Snapshot) -> Option<String> {
    snapshot.unservable.clone()
}

/// The snapshot's schema string with the field ids its data files carry written in (see
/// [`crate::schema::with_file_ids`]): two versions are one schema only if both agree.
fn file_schema(snapshot: &Snapshot) -> Result<String> {
    crate::schema::with_file_ids(
        &snapshot.metadata.schema_string,
        &snapshot.metadata.field_ids,
    )
}

fn not_prepared(version: Version) -> Error {
    Error::Invalid(format!(
        "version {version} was not among the versions the generator was made for"
    ))
}

/// A partition field's name: its column's, made a valid Avro name the way Iceberg's Java
/// library does (`_x20` for a space, `_` before a leading digit). Manifests are Avro records
/// with a field per partition field, and strict Avro readers (Java's, `apache-avro`) refuse a
/// name like `Company Very Short`; readers find a partition field by its source column's id,
/// not by its name.
fn avro_name(column: &str) -> String {
    let mut out = String::with_capacity(column.len());
    for (i, c) in column.chars().enumerate() {
        match c {
            'A'..='Z' | 'a'..='z' | '_' => out.push(c),
            '0'..='9' if i > 0 => out.push(c),
            '0'..='9' => {
                out.push('_');
                out.push(c);
            }
            c => out.push_str(&format!("_x{:X}", u32::from(c))),
        }
    }
    out
}

/// Iceberg needs a UUID; tables whose id is not one get one derived from it.
fn table_uuid(id: &str) -> String {
    let looks_like_uuid = id.len() == 36
        && id.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if looks_like_uuid {
        return id.to_ascii_lowercase();
    }
    let h = Sha256::digest(id.as_bytes());
    let mut b: [u8; 16] = h[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x50; // version 5 style: name-based
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

fn digest<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// What of a data file goes into its version's digest: everything its manifest entry is
/// made from, with `path`, the path recipients read it at.
fn file_line(f: &DataFile, path: &str) -> String {
    format!(
        "{}\0{}\0{}\0{:?}\0{}\0{:?}\n",
        f.id,
        path,
        f.size,
        f.partition_values,
        f.stats.as_ref().map_or("", |s| &*s.json),
        // The descriptor, not where the gateway found the vector (a server path).
        f.deletion_vector.as_ref().map(|dv| (
            &dv.storage_type,
            &dv.path_or_inline_dv,
            dv.offset,
            dv.size_in_bytes,
            dv.cardinality
        ))
    )
}

/// Reads a file the writers put in memory back, made deterministic (see [`crate::avro`]).
async fn read_back(io: &FileIO, path: &str, name: &str) -> Result<Bytes> {
    let bytes = io
        .new_input(path)
        .map_err(iceberg_error)?
        .read()
        .await
        .map_err(iceberg_error)?;
    let marker: [u8; 16] = Sha256::digest(name.as_bytes())[..16]
        .try_into()
        .expect("16 bytes");
    crate::avro::canonical(&crate::avro::sorted_maps(&bytes)?, marker)
}

fn iceberg_error(e: iceberg::Error) -> Error {
    Error::Internal(format!("writing Iceberg metadata: {e}"))
}

fn json_error(e: serde_json::Error) -> Error {
    Error::Internal(format!("writing Iceberg metadata: {e}"))
}

#[cfg(test)]
mod tests;
