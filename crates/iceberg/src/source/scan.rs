//! A snapshot from its manifests: data files with partition values and statistics, and the
//! refusal of snapshots whose delete files Delta Sharing clients could not apply.

use super::*;

/// How many manifests are read at once.
pub(super) const MANIFEST_READS: usize = 8;

impl IcebergSource {
    pub(super) async fn manifests(
        &self,
        loaded: &Loaded,
        snapshot: &SnapshotRef,
    ) -> Result<ManifestList, Error> {
        let metadata = &loaded.metadata;
        let bytes = loaded
            .file_io
            .new_input(snapshot.manifest_list())?
            .read()
            .await?;
        Ok(ManifestList::parse_with_version(
            &bytes,
            metadata.format_version(),
        )?)
    }

    /// Reads `manifests`, a few at a time, in order.
    pub(super) async fn read_manifests(
        &self,
        loaded: &Loaded,
        manifests: Vec<ManifestFile>,
    ) -> Result<Vec<(ManifestFile, Manifest)>, Error> {
        let file_io = loaded.file_io.clone();
        futures::stream::iter(manifests)
            .map(move |file| {
                let file_io = file_io.clone();
                async move {
                    let manifest = file.load_manifest(&file_io).await?;
                    Ok::<_, Error>((file, manifest))
                }
            })
            .buffered(MANIFEST_READS)
            .try_collect()
            .await
    }

    pub(super) async fn build_snapshot(
        &self,
        loaded: &Loaded,
        entry: Option<VersionEntry>,
    ) -> Result<Snapshot, Error> {
        let metadata = &loaded.metadata;
        refuse_renames(metadata)?;
        let Some(entry) = entry else {
            // Version 0: the table before its first snapshot.
            return self.assemble(
                metadata,
                metadata.current_schema(),
                0,
                metadata.last_updated_ms(),
                None,
                Vec::new(),
            );
        };
        let snapshot = metadata.snapshot_by_id(entry.snapshot_id).ok_or_else(|| {
            Error::Unsupported(format!("snapshot {} is missing", entry.snapshot_id))
        })?;
        let schema = snapshot.schema(metadata)?;
        let list = self.manifests(loaded, snapshot).await?;
        let manifests = self.read_manifests(loaded, list.entries().to_vec()).await?;
        refuse_deletes(&manifests, entry.version)?;
        let timestamps: HashMap<i64, i64> = metadata
            .snapshots()
            .map(|s| (s.snapshot_id(), s.timestamp_ms()))
            .collect();
        let specs: Vec<&PartitionSpec> = manifests
            .iter()
            .filter(|(_, m)| m.entries().iter().any(|e| e.is_alive()))
            .map(|(_, m)| m.metadata().partition_spec())
            .collect();
        let partition_columns = common_identity_columns(&specs, &schema);
        // Files under the table's location hold that prefix once, shared (see `FileUrl`).
        let root: std::sync::Arc<str> =
            files::file_url(&format!("{}/", metadata.location().trim_end_matches('/'))).into();
        let mut data_files = Vec::new();
        for (_, manifest) in &manifests {
            let positions = positions_in(
                manifest.metadata().partition_spec(),
                &schema,
                &partition_columns,
            );
            for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                let file = e.data_file();
                if file.file_format() != DataFileFormat::Parquet {
                    return Err(Error::Unsupported(format!(
                        "version {} has {:?} data files; Delta Sharing serves Parquet only",
                        entry.version,
                        file.file_format()
                    )));
                }
                let added_ms = e
                    .snapshot_id()
                    .and_then(|id| timestamps.get(&id).copied())
                    .unwrap_or(entry.timestamp_ms);
                let mut file = files::data_file(file, &schema, &positions, added_ms);
                file.url = file.url.sharing(&root);
                data_files.push(file);
            }
        }
        let mut snapshot = self.assemble(
            metadata,
            &schema,
            entry.version,
            entry.timestamp_ms,
            Some(entry.snapshot_id),
            data_files,
        )?;
        snapshot.metadata.partition_columns = partition_columns;
        Ok(snapshot)
    }

    pub(super) fn assemble(
        &self,
        metadata: &TableMetadata,
        schema: &Schema,
        version: Version,
        timestamp_ms: i64,
        snapshot_id: Option<i64>,
        data_files: Vec<DataFile>,
    ) -> Result<Snapshot, Error> {
        let (schema_string, features) = delta_schema(schema)?;
        let protocol = if features.timestamp_ntz {
            TableProtocol {
                min_reader_version: 3,
                min_writer_version: 7,
                reader_features: Some(vec!["timestampNtz".into()]),
                writer_features: Some(vec!["timestampNtz".into()]),
            }
        } else {
            TableProtocol::legacy(1, 2)
        };
        let mut model = ModelMetadata::new(metadata.uuid().to_string(), schema_string);
        model.description = metadata.properties().get("comment").cloned();
        // File-level changes can be read between any two snapshots.
        model.change_data_feed = true;
        model.native.insert(
            "iceberg.format-version".into(),
            (metadata.format_version() as u8).to_string(),
        );
        if let Some(id) = snapshot_id {
            model
                .native
                .insert("iceberg.snapshot-id".into(), id.to_string());
        }
        model.created_time = Some(timestamp_ms);
        // Iceberg writers put these ids in every data file; readers match columns by them.
        model.field_ids = crate::schema::field_ids(schema);
        let mut snapshot = Snapshot {
            format: crate::FORMAT,
            version,
            timestamp_ms,
            protocol,
            metadata: model,
            files: data_files.into(),
            native_id: snapshot_id.map(|id| id.to_string()),
            unservable: None,
        };
        snapshot.sort_files();
        Ok(snapshot)
    }
}

/// Position and equality deletes (and v3 deletion vectors) hide rows of data files. They
/// cannot be expressed in Delta Sharing's file list, so such a snapshot is refused, never served
/// as if complete.
pub(super) fn refuse_deletes(
    manifests: &[(ManifestFile, Manifest)],
    version: Version,
) -> Result<(), Error> {
    let deletes = manifests.iter().any(|(file, manifest)| {
        file.content == ManifestContentType::Deletes
            && manifest
                .entries()
                .iter()
                .any(|e| e.is_alive() && e.content_type() != DataContentType::Data)
    });
    if deletes {
        return Err(delete_files_error(version));
    }
    Ok(())
}

pub(super) fn delete_files_error(version: Version) -> Error {
    Error::Unsupported(format!(
        "version {version} of the table has delete files (merge-on-read position or equality \
         deletes, or deletion vectors), whose deleted rows Delta Sharing clients cannot remove; \
         rewrite the data files (compaction) so the deletes are applied, or read it with an \
         Iceberg client"
    ))
}

/// The partition columns of a snapshot: identity-partitioned columns every partition spec in
/// use agrees on, in the order of the first.
pub(super) fn common_identity_columns(specs: &[&PartitionSpec], schema: &Schema) -> Vec<String> {
    let Some(first) = specs.first() else {
        return Vec::new();
    };
    identity_columns(first, schema)
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| {
            specs
                .iter()
                .all(|s| identity_columns(s, schema).iter().any(|(n, _)| n == name))
        })
        .collect()
}

/// Where each of `columns` sits in the partition tuples of files written with `spec`.
pub(super) fn positions_in(
    spec: &PartitionSpec,
    schema: &Schema,
    columns: &[String],
) -> Vec<(String, usize)> {
    identity_columns(spec, schema)
        .into_iter()
        .filter(|(name, _)| columns.contains(name))
        .collect()
}

/// A table with delete files, written by hand (pyiceberg writes none): the snapshot before the
/// deletes is served, the one with them is refused, and so is its change feed.
#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use iceberg::spec::{
        DataContentType, DataFileBuilder, DataFileFormat, FormatVersion, ManifestListWriter,
        ManifestWriterBuilder, NestedField, Operation, PartitionSpec, PrimitiveType, Schema,
        Snapshot, SortOrder, Struct, Summary, TableMetadataBuilder, Type,
    };
    use lakeshare_model::TableSource;

    use super::*;

    fn file(root: &str, name: &str, content: DataContentType) -> iceberg::spec::DataFile {
        DataFileBuilder::default()
            .content(content)
            .file_path(format!("{root}/data/{name}"))
            .file_format(DataFileFormat::Parquet)
            .file_size_in_bytes(100)
            .record_count(10)
            .partition(Struct::empty())
            .partition_spec_id(0)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn snapshots_with_delete_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = format!("file://{}", dir.path().canonicalize().unwrap().display());
        std::fs::create_dir_all(dir.path().join("metadata")).unwrap();
        let schema = Arc::new(
            Schema::builder()
                .with_schema_id(0)
                .with_fields(vec![Arc::new(NestedField::required(
                    1,
                    "id",
                    Type::Primitive(PrimitiveType::Long),
                ))])
                .build()
                .unwrap(),
        );
        let spec = PartitionSpec::builder(schema.clone())
            .with_spec_id(0)
            .build()
            .unwrap();
        let io = FileIO::new_with_fs();
        let mut builder = TableMetadataBuilder::new(
            (*schema).clone(),
            spec.clone(),
            SortOrder::unsorted_order(),
            root.clone(),
            FormatVersion::V2,
            HashMap::new(),
        )
        .unwrap();
        let data = file(&root, "a.parquet", DataContentType::Data);
        for (sequence, with_deletes) in [(1i64, false), (2, true)] {
            let snapshot_id = 100 + sequence;
            let manifest_path = format!("{root}/metadata/m{sequence}.avro");
            let mut writer = ManifestWriterBuilder::new(
                io.new_output(&manifest_path).unwrap(),
                Some(snapshot_id),
                schema.clone(),
                spec.clone(),
            )
            .build_v2_data();
            if sequence == 1 {
                writer.add_file(data.clone(), 1).unwrap();
            } else {
                writer
                    .add_existing_file(data.clone(), 101, 1, Some(1))
                    .unwrap();
            }
            let mut manifests = vec![writer.write_manifest_file().await.unwrap()];
            if with_deletes {
                let mut deletes = ManifestWriterBuilder::new(
                    io.new_output(format!("{root}/metadata/d{sequence}.avro"))
                        .unwrap(),
                    Some(snapshot_id),
                    schema.clone(),
                    spec.clone(),
                )
                .build_v2_deletes();
                deletes
                    .add_file(
                        file(&root, "a-deletes.parquet", DataContentType::PositionDeletes),
                        sequence,
                    )
                    .unwrap();
                manifests.push(deletes.write_manifest_file().await.unwrap());
            }
            let list_path = format!("{root}/metadata/snap-{snapshot_id}.avro");
            let mut list = ManifestListWriter::v2(
                io.new_output(&list_path).unwrap().writer().await.unwrap(),
                snapshot_id,
                (sequence > 1).then_some(101),
                sequence,
            );
            list.add_manifests(manifests.into_iter()).unwrap();
            list.close().await.unwrap();
            let snapshot = Snapshot::builder()
                .with_snapshot_id(snapshot_id)
                .with_parent_snapshot_id((sequence > 1).then_some(101))
                .with_sequence_number(sequence)
                .with_timestamp_ms(1_700_000_000_000 + sequence)
                .with_manifest_list(list_path)
                .with_summary(Summary {
                    operation: if with_deletes {
                        Operation::Delete
                    } else {
                        Operation::Append
                    },
                    additional_properties: HashMap::new(),
                })
                .with_schema_id(0)
                .build();
            builder = builder.set_branch_snapshot(snapshot, "main").unwrap();
        }
        let metadata = builder.build().unwrap().metadata;
        std::fs::write(
            dir.path().join("metadata/00002-x.metadata.json"),
            serde_json::to_vec(&metadata).unwrap(),
        )
        .unwrap();

        let source = IcebergSource::open(&dir.path().to_string_lossy())
            .await
            .unwrap();
        assert_eq!(source.latest_version().await.unwrap(), 2);
        assert_eq!(source.snapshot(1).await.unwrap().files.len(), 1);
        let refused = source.snapshot(2).await.unwrap_err().to_string();
        assert!(refused.contains("delete files"), "{refused}");
        let changes = source.changes(2, 2).await.unwrap_err().to_string();
        assert!(changes.contains("delete files"), "{changes}");
    }
}
