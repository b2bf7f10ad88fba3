//! Where benchmarks keep the tables they generate: under the cargo target directory, never in
//! the source tree (they are regenerated on demand and must not be committed).

#![allow(dead_code)] // each benchmark uses its own part

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lakeshare_iceberg_rest::{Generator, Layout};
use lakeshare_model::TableSource;

/// `<target dir>/bench-tables`: `$CARGO_TARGET_DIR` when set, otherwise the target directory the
/// running bench binary was built into (`<target>/<profile>/deps/<bench>`). A path relative to
/// the working directory would land in `benches/target`, since cargo runs benches from their
/// package folder.
pub fn bench_tables_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_path_buf())
        })
        .expect("the cargo target directory");
    target.join("bench-tables")
}

/// A synthetic Delta table of `files` files, its log only (100 date partitions, 10 rows per
/// file, sorted `id` statistics): for benchmarks that never read a data file.
pub async fn delta_log(files: usize) -> PathBuf {
    let path = bench_tables_dir().join(format!("synthetic-log-{files}"));
    if !path.join("_delta_log").is_dir() {
        let spec = lakeshare_demo::synthetic::Spec {
            files,
            partitions: 100,
            rows_per_file: 10,
            data_files: false,
        };
        lakeshare_demo::synthetic::write(&path, spec)
            .await
            .expect("generating the table");
    }
    path.canonicalize().expect("generated table")
}

/// A native Iceberg table of the same files: metadata written once by the generator, with the
/// table's own paths, into `<bench-tables>/synthetic-iceberg-{files}/metadata`.
pub async fn native_iceberg(delta: &Path, files: usize) -> PathBuf {
    let root = bench_tables_dir().join(format!("synthetic-iceberg-{files}"));
    let metadata_dir = root.join("metadata");
    if metadata_dir.is_dir() {
        return root.canonicalize().expect("the table");
    }
    std::fs::create_dir_all(&metadata_dir).expect("a folder");
    let root = root.canonicalize().expect("the table");
    let source = lakeshare_delta::DeltaSource::open(&delta.to_string_lossy())
        .await
        .expect("the Delta table");
    let version = source.latest_version().await.expect("version");
    let snapshot = source.snapshot(version).await.expect("snapshot");
    let base = format!("file://{}", root.display());
    let layout = Layout {
        location: base.clone(),
        metadata_location: format!("{base}/metadata"),
    };
    let generator = Generator::new(&snapshot.metadata.id, &[&snapshot], layout).expect("generator");
    let delta_root = format!("file://{}", delta.display());
    let path_of = |f: &lakeshare_model::DataFile| Ok(f.url.as_str().replace(&delta_root, &base));
    let made = generator
        .version(
            &snapshot,
            None,
            &lakeshare_iceberg_rest::FileFacts {
                path_of: &path_of,
                row_count_of: &|_| None,
                deleted_rows_of: &|_| None,
            },
        )
        .await
        .expect("manifests");
    for file in &made.files {
        std::fs::write(metadata_dir.join(&file.name), &file.bytes).expect("written");
    }
    let metadata = generator
        .metadata(&snapshot, &[Arc::new(made)])
        .expect("metadata");
    std::fs::write(
        metadata_dir.join("00001-bench.metadata.json"),
        &metadata.bytes,
    )
    .expect("written");
    assert_eq!(snapshot.files.len(), files);
    root
}
