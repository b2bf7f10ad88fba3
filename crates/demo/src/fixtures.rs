//! The shared conformance fixtures (`../shared/fixtures`: Delta and Hudi tables written by
//! other writers), for the adapters' and the gateway's tests: where they are, and a copy of one
//! to read (or damage) without touching the original.

use std::path::{Path, PathBuf};

/// `$LAKESHARE_FIXTURES`, or the shared fixtures beside the project (where CI puts them). Their
/// absence panics: a suite that silently checks nothing is no check.
pub fn shared() -> PathBuf {
    let dir = std::env::var_os("LAKESHARE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    assert!(
        dir.join("delta").is_dir(),
        "the shared fixtures are missing at {} (set LAKESHARE_FIXTURES)",
        dir.display()
    );
    dir
}

/// Copies the folder `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
