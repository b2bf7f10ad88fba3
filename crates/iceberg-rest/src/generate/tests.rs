use std::sync::Arc;

use iceberg::io::FileIO;
use iceberg::spec::{Literal, ManifestStatus, TableMetadata};
use lakeshare_model::{
    DataFile, FileStats, Snapshot, TableFormat, TableMetadata as Meta, TableProtocol,
};

use super::*;

const SCHEMA: &str = r#"{"type":"struct","fields":[
    {"name":"id","type":"long","nullable":false,"metadata":{}},
    {"name":"city","type":"string","nullable":true,"metadata":{}}
]}"#;

fn snapshot(version: u64, files: &[(&str, Option<&str>, u64)]) -> Snapshot {
    let mut metadata = Meta::new("8a5c3e38-0d5c-4bb8-b8e6-5d2a9b0c7e11", SCHEMA);
    metadata.partition_columns = vec!["city".into()];
    let files: Vec<DataFile> = files
        .iter()
        .map(|(name, city, rows)| {
            let mut f = DataFile::new(format!("file:///t/{name}"), *name, 100);
            f.partition_values.insert("city".into(), city.map(String::from));
            f.stats = Some(FileStats::from_json(format!(
                r#"{{"numRecords":{rows},"minValues":{{"id":1}},"maxValues":{{"id":{rows}}},"nullCount":{{"id":0}}}}"#
            )));
            f
        })
        .collect();
    Snapshot {
        format: TableFormat::new("test"),
        version,
        timestamp_ms: 1_700_000_000_000 + version as i64,
        protocol: TableProtocol::legacy(1, 2),
        metadata,
        files: files.into(),
        native_id: None,
        unservable: None,
    }
}

fn layout() -> Layout {
    Layout {
        location: "s3://bucket/t".into(),
        metadata_location: "s3://bucket/t/_meta".into(),
    }
}

fn path_of(f: &DataFile) -> Result<String> {
    Ok(f.url.as_str().replace("file:///t", "s3://bucket/t"))
}

type RowCounts<'a> = &'a (dyn Fn(&DataFile) -> Option<u64> + Sync);
type DeletedRows<'a> = &'a (dyn Fn(&DataFile) -> Option<Arc<[u64]>> + Sync);

/// What the generator is told of the files: their paths by [`path_of`], and the rest as given.
fn facts<'a>(row_count_of: RowCounts<'a>, deleted_rows_of: DeletedRows<'a>) -> FileFacts<'a> {
    FileFacts {
        path_of: &path_of,
        row_count_of,
        deleted_rows_of,
    }
}

const NOTHING_MORE: FileFacts<'static> = FileFacts {
    path_of: &path_of,
    row_count_of: &|_| None,
    deleted_rows_of: &|_| None,
};

async fn generate(
    snapshots: &[Snapshot],
) -> (Generator, Vec<Arc<VersionFiles>>, GeneratedMetadata) {
    let refs: Vec<&Snapshot> = snapshots.iter().collect();
    let generator = Generator::new(&refs[0].metadata.id, &refs, layout()).unwrap();
    let mut versions = Vec::new();
    let mut parent = None;
    for s in snapshots {
        versions.push(Arc::new(
            generator.version(s, parent, &NOTHING_MORE).await.unwrap(),
        ));
        parent = Some(s.version);
    }
    let metadata = generator
        .metadata(snapshots.last().unwrap(), &versions)
        .unwrap();
    (generator, versions, metadata)
}

/// The generated files in a FileIO, as a recipient's reader would find them.
async fn file_io(versions: &[Arc<VersionFiles>]) -> FileIO {
    let io = FileIO::new_with_memory();
    for v in versions {
        for f in &v.files {
            let path = format!("{}/{}", layout().metadata_location, f.name);
            io.new_output(&path)
                .unwrap()
                .write(f.bytes.clone())
                .await
                .unwrap();
        }
    }
    io
}

async fn manifest_list(io: &FileIO, path: &str) -> iceberg::spec::ManifestList {
    let bytes = io.new_input(path).unwrap().read().await.unwrap();
    iceberg::spec::ManifestList::parse_with_version(&bytes, iceberg::spec::FormatVersion::V2)
        .unwrap()
}

#[tokio::test]
async fn every_version_reads_back_as_an_iceberg_snapshot_of_its_files() {
    let v0 = snapshot(0, &[("a.parquet", Some("sf"), 3)]);
    let v1 = snapshot(1, &[("a.parquet", Some("sf"), 3), ("b.parquet", None, 5)]);
    let (_, versions, generated) = generate(&[v0, v1]).await;
    let metadata: TableMetadata = serde_json::from_value(generated.value.clone()).unwrap();
    assert_eq!(metadata.current_snapshot_id(), Some(snapshot_id(1)));
    assert_eq!(metadata.snapshots().count(), 2);
    let name_mapping = metadata
        .properties()
        .get("schema.name-mapping.default")
        .unwrap();
    assert!(name_mapping.contains("\"city\""), "{name_mapping}");

    let io = file_io(&versions).await;
    for (version, expected) in [
        (0u64, vec![("a.parquet", Some("sf"), 3u64)]),
        (
            1,
            vec![("a.parquet", Some("sf"), 3), ("b.parquet", None, 5)],
        ),
    ] {
        let snap = metadata.snapshot_by_id(snapshot_id(version)).unwrap();
        assert_eq!(
            snap.summary().additional_properties["lakeshare.source-version"],
            version.to_string()
        );
        let list = manifest_list(&io, snap.manifest_list()).await;
        let mut seen = Vec::new();
        for manifest in list.entries() {
            for entry in manifest.load_manifest(&io).await.unwrap().entries() {
                assert_eq!(entry.status(), ManifestStatus::Added);
                let file = entry.data_file();
                let city = file.partition()[0].clone();
                seen.push((file.file_path().to_string(), city, file.record_count()));
            }
        }
        let want: Vec<_> = expected
            .iter()
            .map(|(name, city, rows)| {
                (
                    format!("s3://bucket/t/{name}"),
                    city.map(Literal::string),
                    *rows,
                )
            })
            .collect();
        assert_eq!(seen, want, "version {version}");
    }
}

#[tokio::test]
async fn the_same_inputs_give_the_same_names_and_bytes() {
    let v0 = snapshot(0, &[("a.parquet", Some("sf"), 3)]);
    let (_, first, m1) = generate(std::slice::from_ref(&v0)).await;
    let (_, second, m2) = generate(std::slice::from_ref(&v0)).await;
    assert_eq!(first[0].files, second[0].files);
    assert_eq!((m1.name, m1.bytes), (m2.name.clone(), m2.bytes));
    let v0b = snapshot(0, &[("a.parquet", Some("sf"), 4)]);
    let (_, other, _) = generate(&[v0b]).await;
    assert_ne!(
        first[0].files[0].name, other[0].files[0].name,
        "other rows, other name"
    );
}

#[tokio::test]
async fn bounds_of_many_columns_are_written_in_one_order() {
    // The writers fill a manifest's maps from hash maps, whose order differs on every call.
    let mut v0 = snapshot(0, &[("a.parquet", Some("sf"), 3)]);
    v0.metadata.schema_string = r#"{"type":"struct","fields":[
        {"name":"id","type":"long","nullable":false,"metadata":{}},
        {"name":"city","type":"string","nullable":true,"metadata":{}},
        {"name":"a","type":"long","nullable":true,"metadata":{}},
        {"name":"b","type":"long","nullable":true,"metadata":{}},
        {"name":"c","type":"string","nullable":true,"metadata":{}}
    ]}"#
    .into();
    let mut files = v0.files.to_vec();
    files[0].stats = Some(FileStats::from_json(
        r#"{"numRecords":3,"minValues":{"id":1,"a":1,"b":2,"c":"x"},"maxValues":{"id":3,"a":5,"b":6,"c":"y"},"nullCount":{"id":0,"a":0,"b":1,"c":2}}"#.into(),
    ));
    v0.files = files.into();
    let (_, first, _) = generate(std::slice::from_ref(&v0)).await;
    for _ in 0..8 {
        let (_, again, _) = generate(std::slice::from_ref(&v0)).await;
        assert_eq!(first[0].files, again[0].files);
    }
}

#[tokio::test]
async fn versions_iceberg_cannot_express_are_refused_with_the_reason() {
    let mut v1 = snapshot(1, &[("a.parquet", Some("sf"), 3)]);
    let mut files = v1.files.to_vec();
    files[0].stats = None;
    v1.files = files.into();
    let generator = Generator::new("t", &[&v1], layout()).unwrap();
    let err = generator
        .version(&v1, None, &NOTHING_MORE)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("row count of data file a.parquet"), "{err}");
    let counted = generator
        .version(&v1, None, &facts(&|_| Some(3), &|_| None))
        .await
        .unwrap();
    assert_eq!(counted.summary["total-records"], "3");
}

/// Why the generator refuses `version`, told nothing beyond the snapshot: a refusal, never a fault.
async fn refusal(version: &Snapshot) -> Error {
    let generator = Generator::new("t", &[version], layout()).unwrap();
    let err = generator
        .version(version, None, &NOTHING_MORE)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    err
}

fn with_deletion_vector(mut s: Snapshot, file: usize, cardinality: i64) -> Snapshot {
    let mut files = s.files.to_vec();
    files[file].deletion_vector = Some(Box::new(lakeshare_model::DeletionVector {
        storage_type: "u".into(),
        path_or_inline_dv: "x".into(),
        offset: Some(1),
        size_in_bytes: 10,
        cardinality,
        absolute_url: Some("file:///t/deletion_vector_x.bin".into()),
    }));
    s.files = files.into();
    s
}

#[tokio::test]
async fn deleted_rows_become_a_position_delete_file_of_their_data_file_alone() {
    let v0 = with_deletion_vector(
        snapshot(0, &[("a.parquet", Some("sf"), 3), ("b.parquet", None, 5)]),
        0,
        2,
    );
    let err = refusal(&v0).await;
    let generator = Generator::new("t", &[&v0], layout()).unwrap();
    assert!(
        err.to_string()
            .contains("deleted rows of data file a.parquet"),
        "{err}"
    );

    let deleted = |f: &DataFile| (f.id == "a.parquet").then(|| Arc::from(vec![0u64, 2]));
    let made = generator
        .version(&v0, None, &facts(&|_| None, &deleted))
        .await
        .unwrap();
    assert_eq!(made.summary["total-delete-files"], "1");
    assert_eq!(made.summary["total-position-deletes"], "2");
    let again = generator
        .version(&v0, None, &facts(&|_| None, &deleted))
        .await
        .unwrap();
    assert_eq!(made.files, again.files, "the same deletes, the same files");

    let metadata = generator.metadata(&v0, &[Arc::new(made.clone())]).unwrap();
    let metadata: TableMetadata = serde_json::from_value(metadata.value).unwrap();
    let io = file_io(&[Arc::new(made.clone())]).await;
    let snap = metadata.snapshot_by_id(snapshot_id(0)).unwrap();
    let list = manifest_list(&io, snap.manifest_list()).await;
    let mut delete_entries = Vec::new();
    let mut data_paths = Vec::new();
    for manifest in list.entries() {
        let loaded = manifest.load_manifest(&io).await.unwrap();
        for entry in loaded.entries() {
            let file = entry.data_file();
            match file.content_type() {
                DataContentType::Data => data_paths.push(file.file_path().to_string()),
                DataContentType::PositionDeletes => {
                    assert_eq!(
                        manifest.content,
                        iceberg::spec::ManifestContentType::Deletes
                    );
                    assert_eq!(entry.sequence_number(), Some(snapshot_id(0)));
                    delete_entries.push(file.clone());
                }
                other => panic!("unexpected content {other:?}"),
            }
        }
    }
    assert_eq!(
        data_paths,
        ["s3://bucket/t/a.parquet", "s3://bucket/t/b.parquet"]
    );
    let [delete] = &delete_entries[..] else {
        panic!("one delete file: {delete_entries:?}")
    };
    assert_eq!(delete.record_count(), 2);
    assert_eq!(delete.partition()[0], Some(Literal::string("sf")));
    assert!(
        delete.file_path().ends_with("-pos.parquet"),
        "{}",
        delete.file_path()
    );

    // The file holds exactly the deleted positions of its data file.
    let bytes = io
        .new_input(delete.file_path())
        .unwrap()
        .read()
        .await
        .unwrap();
    assert_eq!(bytes.len() as u64, delete.file_size_in_bytes());
    let batches: Vec<arrow_array::RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
    let rows: Vec<(String, i64)> = batches
        .iter()
        .flat_map(|b| {
            let paths = b
                .column(0)
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap();
            let pos = b
                .column(1)
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .unwrap();
            (0..b.num_rows())
                .map(|i| (paths.value(i).to_string(), pos.value(i)))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("s3://bucket/t/a.parquet".to_string(), 0),
            ("s3://bucket/t/a.parquet".to_string(), 2)
        ]
    );
}

#[tokio::test]
async fn the_delete_file_bounds_name_its_data_file() {
    let v0 = with_deletion_vector(snapshot(0, &[("a.parquet", Some("sf"), 3)]), 0, 1);
    let generator = Generator::new("t", &[&v0], layout()).unwrap();
    let deleted = |_: &DataFile| Some(Arc::from(vec![1u64]));
    let made = generator
        .version(&v0, None, &facts(&|_| None, &deleted))
        .await
        .unwrap();
    let (_, entry) = generator
        .position_deletes(
            &PositionDeletes {
                data_path: "s3://bucket/t/a.parquet".into(),
                partition: iceberg::spec::Struct::from_iter([Some(Literal::string("sf"))]),
                rows: Arc::from(vec![1u64]),
            },
            &generator
                .spec(
                    &generator.schema(&v0).unwrap().1.schema,
                    &v0.metadata.partition_columns,
                )
                .unwrap(),
        )
        .unwrap();
    let path = Datum::string("s3://bucket/t/a.parquet");
    assert_eq!(entry.lower_bounds()[&crate::deletes::FILE_PATH_ID], path);
    assert_eq!(entry.upper_bounds()[&crate::deletes::FILE_PATH_ID], path);
    assert_eq!(
        entry.referenced_data_file().as_deref(),
        Some("s3://bucket/t/a.parquet")
    );
    assert!(
        made.files
            .iter()
            .any(|f| entry.file_path().ends_with(&f.name)),
        "the entry names the generated file"
    );
}

#[test]
fn partition_field_names_are_valid_avro_names() {
    assert_eq!(avro_name("city"), "city");
    assert_eq!(avro_name("Company Very Short"), "Company_x20Very_x20Short");
    assert_eq!(avro_name("2nd-col"), "_2nd_x2Dcol");
    assert_eq!(avro_name("été"), "_xE9t_xE9");
}

#[tokio::test]
async fn a_partition_column_avro_cannot_name_still_gives_readable_manifests() {
    let mut v0 = snapshot(0, &[("a.parquet", Some("sf"), 3)]);
    v0.metadata.schema_string = SCHEMA.replace("\"city\"", "\"home city\"");
    v0.metadata.partition_columns = vec!["home city".into()];
    let mut files = v0.files.to_vec();
    files[0].partition_values = [("home city".to_string(), Some("sf".to_string()))].into();
    v0.files = files.into();
    let (_, versions, metadata) = generate(std::slice::from_ref(&v0)).await;
    let spec = &metadata.value["partition-specs"][0]["fields"][0];
    assert_eq!(spec["name"], "home_x20city");
    for f in versions[0]
        .files
        .iter()
        .filter(|f| f.name.ends_with(".avro"))
    {
        let reader = apache_avro::Reader::new(&f.bytes[..]).unwrap();
        assert!(reader.count() > 0, "{} has records", f.name);
    }
}

#[tokio::test]
async fn partition_columns_avro_would_name_alike_are_refused_by_name() {
    let mut v0 = snapshot(0, &[("a.parquet", Some("sf"), 3)]);
    v0.metadata.schema_string = r#"{"type":"struct","fields":[
        {"name":"id","type":"long","nullable":false,"metadata":{}},
        {"name":"a b","type":"string","nullable":true,"metadata":{}},
        {"name":"a_x20b","type":"string","nullable":true,"metadata":{}}
    ]}"#
    .into();
    v0.metadata.partition_columns = vec!["a b".into()];
    let mut files = v0.files.to_vec();
    files[0].partition_values = [("a b".to_string(), Some("x".to_string()))].into();
    v0.files = files.into();
    let err = refusal(&v0).await;
    assert!(err.to_string().contains("'a b' and 'a_x20b'"), "{err}");
}

#[tokio::test]
async fn a_deletion_vector_that_deletes_nothing_needs_no_delete_file() {
    let v0 = with_deletion_vector(snapshot(0, &[("a.parquet", Some("sf"), 3)]), 0, 0);
    let generator = Generator::new("t", &[&v0], layout()).unwrap();
    let made = generator
        .version(
            &v0,
            None,
            &facts(&|_| None, &|_| Some(Arc::from(Vec::new()))),
        )
        .await
        .unwrap();
    assert_eq!(made.summary["total-delete-files"], "0");
}
