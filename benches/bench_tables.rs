//! Where benchmarks keep the tables they generate: under the cargo target directory, never in
//! the source tree (they are regenerated on demand and must not be committed).

use std::path::PathBuf;

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
