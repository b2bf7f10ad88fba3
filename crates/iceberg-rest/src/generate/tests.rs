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
    Ok(f.url.replace("file:///t", "s3://bucket/t"))
}

async fn generate(
    snapshots: &[Snapshot],
) -> (Generator, Vec<Arc<VersionFiles>>, GeneratedMetadata) {
    let refs: Vec<&Snapshot> = snapshots.iter().collect();
    let generator = Generator::new(&refs[0].metadata.id, &refs, layout()).unwrap();
    let mut versions = Vec::new();
    let mut parent = None;
    for s in snapshots {
        versions.push(Arc::new(
            generator
                .version(s, parent, &path_of, &|_| None)
                .await
                .unwrap(),
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
        let bytes = io
            .new_input(snap.manifest_list())
            .unwrap()
            .read()
            .await
            .unwrap();
        let list = iceberg::spec::ManifestList::parse_with_version(
            &bytes,
            iceberg::spec::FormatVersion::V2,
        )
        .unwrap();
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
async fn versions_iceberg_cannot_express_are_refused_with_the_reason() {
    let mut v0 = snapshot(0, &[("a.parquet", Some("sf"), 3)]);
    let mut files = v0.files.to_vec();
    files[0].deletion_vector = Some(lakeshare_model::DeletionVector {
        storage_type: "u".into(),
        path_or_inline_dv: "x".into(),
        offset: Some(1),
        size_in_bytes: 10,
        cardinality: 1,
        absolute_url: None,
    });
    v0.files = files.into();
    let generator = Generator::new("t", &[&v0], layout()).unwrap();
    let err = generator
        .version(&v0, None, &path_of, &|_| None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)));
    assert!(err.to_string().contains("deletion vectors"), "{err}");

    let mut v1 = snapshot(1, &[("a.parquet", Some("sf"), 3)]);
    let mut files = v1.files.to_vec();
    files[0].stats = None;
    v1.files = files.into();
    let generator = Generator::new("t", &[&v1], layout()).unwrap();
    let err = generator
        .version(&v1, None, &path_of, &|_| None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("row count of data file a.parquet"), "{err}");
    let counted = generator
        .version(&v1, None, &path_of, &|_| Some(3))
        .await
        .unwrap();
    assert_eq!(counted.summary["total-records"], "3");
}
