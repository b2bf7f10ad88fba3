//! Where a table's current metadata comes from: a pinned file, the newest in a folder (on disk
//! or in a store), a SQLite catalog row, or a REST catalog.

use super::*;

/// Where the table's current metadata comes from.
#[derive(Clone)]
pub(super) enum MetadataPointer {
    /// One metadata JSON file, fixed.
    File(String),
    /// The newest metadata JSON in a table's `metadata/` folder, looked up on every request.
    Folder(PathBuf),
    /// The newest metadata JSON in a `metadata/` folder in an object store: the store (rooted
    /// at its bucket), the folder's key, and the URL the keys are relative to (`s3://bucket`).
    StoreFolder {
        store: Arc<dyn ObjectStore>,
        folder: object_store::path::Path,
        bucket_url: String,
    },
    /// The metadata location a SQL catalog (SQLite, as pyiceberg and Java's JDBC catalog write
    /// it) holds for the table, looked up on every request.
    SqlCatalog(SqlTable),
    /// The table as an Iceberg REST catalog serves it, asked on every request.
    Rest {
        catalog: Arc<RestCatalog>,
        ident: TableIdent,
    },
}

/// A table registered in a SQLite catalog.
#[derive(Debug, Clone)]
pub struct SqlTable {
    pub database: PathBuf,
    pub catalog_name: String,
    /// Dotted, as the catalog stores it.
    pub namespace: String,
    pub table: String,
}

impl SqlTable {
    /// The table's current metadata location, from a read-only connection.
    pub(super) fn metadata_location(&self) -> Result<String, String> {
        use rusqlite::{OpenFlags, OptionalExtension};
        let connection = rusqlite::Connection::open_with_flags(
            &self.database,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| format!("{}: {e}", self.database.display()))?;
        connection
            .query_row(
                "SELECT metadata_location FROM iceberg_tables \
                 WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3",
                [&self.catalog_name, &self.namespace, &self.table],
                |row| row.get::<_, Option<String>>(0),
            )
            .optional()
            .map_err(|e| format!("{}: {e}", self.database.display()))?
            .flatten()
            .ok_or_else(|| {
                format!(
                    "catalog '{}' in {} has no table {}.{}",
                    self.catalog_name,
                    self.database.display(),
                    self.namespace,
                    self.table
                )
            })
    }
}

/// The newest `*.metadata.json` in a table's `metadata/` folder: the highest version number
/// (`00005-<uuid>.metadata.json` or `v5.metadata.json`).
pub(super) fn newest_metadata(folder: &Path) -> std::result::Result<String, String> {
    let entries = std::fs::read_dir(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let number = metadata_number(&e.file_name().to_string_lossy())?;
            Some((number, e.path()))
        })
        .max_by_key(|(number, _)| *number)
        .map(|(_, path)| path.to_string_lossy().into_owned())
        .ok_or_else(|| format!("no *.metadata.json in {}", folder.display()))
}

/// The key of the newest `*.metadata.json` in a store folder.
pub(super) async fn newest_metadata_in_store(
    store: &dyn ObjectStore,
    folder: &object_store::path::Path,
) -> std::result::Result<String, String> {
    let listing = store
        .list_with_delimiter(Some(folder))
        .await
        .map_err(|e| format!("listing {folder}: {e}"))?;
    listing
        .objects
        .iter()
        .filter_map(|o| {
            let name = o.location.filename()?;
            Some((metadata_number(name)?, o.location.to_string()))
        })
        .max_by_key(|(number, _)| *number)
        .map(|(_, key)| key)
        .ok_or_else(|| format!("no *.metadata.json in {folder}"))
}

/// The version number in a metadata file name: `00005-<uuid>.metadata.json` or
/// `v5.metadata.json` → 5.
pub(super) fn metadata_number(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".metadata.json")?;
    let digits = stem.strip_prefix('v').unwrap_or(stem);
    digits.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_newest_metadata_file() {
        let dir = std::env::temp_dir().join(format!("lakeshare-iceberg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "00000-a.metadata.json",
            "00010-b.metadata.json",
            "00002-c.metadata.json",
            "snap-1.avro",
        ] {
            std::fs::write(dir.join(name), "{}").unwrap();
        }
        assert!(
            newest_metadata(&dir)
                .unwrap()
                .ends_with("00010-b.metadata.json")
        );
        std::fs::write(dir.join("v11.metadata.json"), "{}").unwrap();
        assert!(
            newest_metadata(&dir)
                .unwrap()
                .ends_with("v11.metadata.json")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
