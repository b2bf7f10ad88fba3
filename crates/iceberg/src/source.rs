//! [`IcebergSource`]: one Iceberg table behind the `TableSource` seam.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use iceberg::io::{FileIO, FileIOBuilder};
use iceberg::spec::{
    DataContentType, DataFileFormat, Manifest, ManifestContentType, ManifestFile, ManifestList,
    ManifestStatus, Operation, PartitionSpec, Schema, SnapshotRef, TableMetadata,
};
use iceberg::{Catalog, TableIdent};
use iceberg_catalog_rest::RestCatalog;
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use lakeshare_model::{
    ChangeFile, ChangeKind, DataFile, Error as ModelError, Result, Snapshot, TableFormat,
    TableMetadata as ModelMetadata, TableProtocol, TableSource, TimestampBound, Version,
    VersionChanges,
};
use object_store::ObjectStore;
use tokio::sync::Mutex;

use crate::Error;
use crate::files::{self, identity_columns};
use crate::schema::delta_schema;
use crate::versions::{VersionEntry, Versions, versions};

mod appended;
mod changes;
mod pointer;
mod rows;
mod scan;

pub use pointer::SqlTable;
use pointer::{MetadataPointer, newest_metadata, newest_metadata_in_store};

/// The table's metadata as last read, with its versions.
struct Loaded {
    path: String,
    metadata: Arc<TableMetadata>,
    /// How this metadata's files are read (a REST catalog may hand out its own credentials).
    file_io: FileIO,
    /// The versions: the current snapshot and its ancestors, oldest first.
    versions: Versions,
}

/// An Iceberg table on the local filesystem.
pub struct IcebergSource {
    location: String,
    pointer: MetadataPointer,
    file_io: FileIO,
    /// The table's own location, as its metadata states it: a path, `file://` or store URL.
    table_location: String,
    loaded: Mutex<Option<Arc<Loaded>>>,
}

impl std::fmt::Debug for IcebergSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcebergSource")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl IcebergSource {
    /// Opens the table at `location`: a metadata JSON file, or a table folder whose newest
    /// `metadata/*.metadata.json` is the current metadata.
    pub async fn open(location: &str) -> Result<Self> {
        Self::try_open(location)
            .await
            .map_err(|e| e.into_model(location))
    }

    /// Opens a table registered in a SQLite catalog; `location` names it in messages.
    pub async fn open_in_sql_catalog(location: &str, table: SqlTable) -> Result<Self> {
        // Tables of a SQLite catalog must lie in the folder of its database (where pyiceberg
        // and the JDBC catalog put the warehouse by default).
        let allowed = table
            .database
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Self::with_pointer(
            location,
            MetadataPointer::SqlCatalog(table),
            FileIO::new_with_fs(),
        )
        .await
        .and_then(|source| source.local_within(&allowed))
        .map_err(|e| e.into_model(location))
    }

    /// Opens the table at `location`, a store URL (`s3://bucket/path`) of a table folder or of a
    /// metadata JSON. `store` reads the bucket (for finding the newest metadata); `file_io_props`
    /// configure iceberg's own reader (`s3.endpoint`, `s3.access-key-id`, …).
    pub async fn open_in_store(
        location: &str,
        store: Arc<dyn ObjectStore>,
        file_io_props: HashMap<String, String>,
    ) -> Result<Self> {
        Self::try_open_in_store(location, store, file_io_props)
            .await
            .map_err(|e| e.into_model(location))
    }

    async fn try_open_in_store(
        location: &str,
        store: Arc<dyn ObjectStore>,
        file_io_props: HashMap<String, String>,
    ) -> Result<Self, Error> {
        let url = url::Url::parse(location).map_err(|e| Error::BadLocation {
            location: location.to_string(),
            reason: e.to_string(),
        })?;
        let pointer = if location.ends_with(".metadata.json") {
            MetadataPointer::File(location.to_string())
        } else {
            let key = object_store::path::Path::from_url_path(url.path()).map_err(|e| {
                Error::BadLocation {
                    location: location.to_string(),
                    reason: e.to_string(),
                }
            })?;
            MetadataPointer::StoreFolder {
                store,
                folder: key.join("metadata"),
                bucket_url: format!("{}://{}", url.scheme(), url.authority()),
            }
        };
        Self::with_pointer(location, pointer, object_store_file_io(file_io_props)).await
    }

    /// Opens `namespace.table` in a connected REST catalog.
    pub async fn open_in_rest(
        location: &str,
        catalog: Arc<RestCatalog>,
        namespace: &str,
        table: &str,
    ) -> Result<Self> {
        let open = async {
            let ident = TableIdent::from_strs(namespace.split('.').chain([table]))?;
            let pointer = MetadataPointer::Rest { catalog, ident };
            Self::with_pointer(location, pointer, FileIO::new_with_fs()).await
        };
        open.await.map_err(|e| e.into_model(location))
    }

    /// Refuses a table whose files are not on the local filesystem inside `allowed`, for
    /// openings that sign its files with local URLs. The table's location comes from its own
    /// metadata, which anyone able to commit to the table writes; without this check a table
    /// claiming `/` as its location would have the gateway sign any file a manifest names.
    fn local_within(self, allowed: &Path) -> Result<Self, Error> {
        let Some(root) = self.table_root() else {
            tracing::error!(declared = %self.table_location, "refusing Iceberg table: its files are not on the local filesystem");
            return Err(Error::Unsupported(
                "the table's metadata places its files outside the gateway's disk; the provider must configure the store they live in".into(),
            ));
        };
        let inside = match (root.canonicalize(), allowed.canonicalize()) {
            (Ok(root), Ok(allowed)) => root.starts_with(&allowed) && root.parent().is_some(),
            _ => false,
        };
        if !inside {
            tracing::error!(declared = %root.display(), allowed = %allowed.display(), "refusing Iceberg table: its metadata places it outside its configured folder");
            return Err(Error::Unsupported(
                "the table's metadata places it outside the folder this share allows it to be in"
                    .into(),
            ));
        }
        Ok(self)
    }

    async fn try_open(location: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::BadLocation {
            location: location.to_string(),
            reason: reason.to_string(),
        };
        let path = Path::new(location.strip_prefix("file://").unwrap_or(location));
        // The table must be the folder configured (for a metadata file: the folder above its
        // metadata/ folder).
        let (pointer, allowed) = if path.is_file() {
            let table_folder = path
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            (
                MetadataPointer::File(path.to_string_lossy().into_owned()),
                table_folder,
            )
        } else if path.join("metadata").is_dir() {
            (
                MetadataPointer::Folder(path.join("metadata")),
                path.to_path_buf(),
            )
        } else {
            return Err(bad(
                "neither a metadata JSON file nor a table folder with a metadata/ folder",
            ));
        };
        Self::with_pointer(location, pointer, FileIO::new_with_fs())
            .await?
            .local_within(&allowed)
    }

    async fn with_pointer(
        location: &str,
        pointer: MetadataPointer,
        file_io: FileIO,
    ) -> Result<Self, Error> {
        let mut source = Self {
            location: location.to_string(),
            pointer,
            file_io,
            table_location: String::new(),
            loaded: Mutex::new(None),
        };
        let loaded = source.load().await?;
        source.table_location = loaded.metadata.location().trim_end_matches('/').to_string();
        Ok(source)
    }

    /// The folder the table's data and metadata live under, for a table on the local
    /// filesystem; URLs are signed only inside it.
    pub fn table_root(&self) -> Option<PathBuf> {
        let location = &self.table_location;
        if let Some(path) = location
            .strip_prefix("file://")
            .or_else(|| location.strip_prefix("file:"))
        {
            return Some(PathBuf::from(path));
        }
        (!location.contains("://")).then(|| PathBuf::from(location))
    }

    /// The table's location as its metadata states it (`s3://bucket/path`, …): files are signed
    /// only under it.
    pub fn table_location(&self) -> &str {
        &self.table_location
    }

    /// The path of the current metadata JSON (not for REST tables, which come whole).
    async fn current_path(&self) -> Result<String, Error> {
        let found = match &self.pointer {
            MetadataPointer::File(path) => Ok(path.clone()),
            // A directory listing blocks: off the async workers, like the SQLite lookup.
            MetadataPointer::Folder(folder) => {
                let folder = folder.clone();
                tokio::task::spawn_blocking(move || newest_metadata(&folder))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r)
            }
            MetadataPointer::StoreFolder {
                store,
                folder,
                bucket_url,
            } => newest_metadata_in_store(&**store, folder)
                .await
                .map(|key| format!("{bucket_url}/{key}")),
            MetadataPointer::Rest { .. } => Err("a REST table has no metadata path".into()),
            MetadataPointer::SqlCatalog(table) => {
                let table = table.clone();
                tokio::task::spawn_blocking(move || table.metadata_location())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r)
            }
        };
        found.map_err(|reason| Error::BadLocation {
            location: self.location.clone(),
            reason,
        })
    }

    /// The current metadata, read again only when a newer metadata file has appeared.
    async fn load(&self) -> Result<Arc<Loaded>, Error> {
        if let MetadataPointer::Rest { catalog, ident } = &self.pointer {
            let table =
                crate::catalog::with_fresh_token(catalog, || catalog.load_table(ident)).await?;
            let path = table.metadata_location().unwrap_or_default().to_string();
            let mut cached = self.loaded.lock().await;
            if let Some(loaded) = cached.as_ref()
                && loaded.path == path
                && !path.is_empty()
            {
                return Ok(loaded.clone());
            }
            let metadata = table.metadata_ref();
            if let Some(previous) = cached.as_ref() {
                same_table(&previous.metadata, &metadata)?;
            }
            let loaded = Arc::new(Loaded {
                path,
                versions: versions(&metadata),
                metadata,
                file_io: table.file_io().clone(),
            });
            *cached = Some(loaded.clone());
            return Ok(loaded);
        }
        let path = self.current_path().await?;
        let mut cached = self.loaded.lock().await;
        if let Some(loaded) = cached.as_ref()
            && loaded.path == path
        {
            return Ok(loaded.clone());
        }
        let metadata = TableMetadata::read_from(&self.file_io, &path).await?;
        if let Some(previous) = cached.as_ref() {
            same_table(&previous.metadata, &metadata)?;
        }
        let versions = versions(&metadata);
        let loaded = Arc::new(Loaded {
            path,
            metadata: Arc::new(metadata),
            file_io: self.file_io.clone(),
            versions,
        });
        *cached = Some(loaded.clone());
        Ok(loaded)
    }

    fn model_error(&self, e: Error) -> ModelError {
        e.into_model(&self.location)
    }

    fn version_not_found(&self, loaded: &Loaded, requested: Version) -> ModelError {
        ModelError::VersionNotFound {
            requested,
            earliest: loaded.versions.entries.first().map_or(0, |v| v.version),
            latest: loaded.versions.entries.last().map_or(0, |v| v.version),
        }
    }

    fn find(&self, loaded: &Loaded, version: Version) -> Result<Option<VersionEntry>> {
        if version == 0
            && loaded
                .versions
                .entries
                .first()
                .is_none_or(|v| v.version > 0)
        {
            return Ok(None);
        }
        loaded
            .versions
            .entries
            .iter()
            .find(|v| v.version == version)
            .copied()
            .map(Some)
            .ok_or_else(|| self.version_not_found(loaded, version))
    }
}

#[async_trait]
impl TableSource for IcebergSource {
    fn format(&self) -> TableFormat {
        crate::FORMAT
    }

    async fn latest_version(&self) -> Result<Version> {
        let loaded = self.load().await.map_err(|e| self.model_error(e))?;
        if let Some(why) = &loaded.versions.latest_refused {
            return Err(ModelError::Unsupported(why.clone()));
        }
        Ok(loaded.versions.entries.last().map_or(0, |v| v.version))
    }

    async fn snapshot(&self, version: Version) -> Result<Snapshot> {
        let loaded = self.load().await.map_err(|e| self.model_error(e))?;
        let entry = self.find(&loaded, version)?;
        self.build_snapshot(&loaded, entry)
            .await
            .map_err(|e| self.model_error(e))
    }

    async fn native_metadata(&self) -> Result<Option<lakeshare_model::NativeMetadata>> {
        let loaded = self.load().await.map_err(|e| self.model_error(e))?;
        if let Some(why) = &loaded.versions.latest_refused {
            return Err(ModelError::Unsupported(why.clone()));
        }
        let document = serde_json::to_value(&*loaded.metadata).map_err(|e| {
            ModelError::Unsupported(format!("the table's metadata does not serialise: {e}"))
        })?;
        Ok(Some(lakeshare_model::NativeMetadata {
            kind: "iceberg",
            location: loaded.path.clone(),
            document,
        }))
    }

    async fn versions(&self) -> Result<Vec<Version>> {
        let loaded = self.load().await.map_err(|e| self.model_error(e))?;
        Ok(loaded
            .versions
            .readable()
            .iter()
            .map(|v| v.version)
            .collect())
    }

    async fn commits(&self) -> Result<Vec<(Version, i64)>> {
        let loaded = self.load().await.map_err(|e| self.model_error(e))?;
        Ok(loaded
            .versions
            .readable()
            .iter()
            .map(|v| (v.version, v.timestamp_ms))
            .collect())
    }

    async fn version_at(&self, timestamp: DateTime<Utc>, bound: TimestampBound) -> Result<Version> {
        let loaded = self.load().await.map_err(|e| self.model_error(e))?;
        let commits: Vec<(Version, i64)> = loaded
            .versions
            .entries
            .iter()
            .map(|v| (v.version, v.timestamp_ms))
            .collect();
        lakeshare_model::version_at(&commits, timestamp, bound)
    }

    async fn rows(&self, version: Version) -> Result<lakeshare_model::Rows> {
        let loaded = self.load().await.map_err(|e| self.model_error(e))?;
        let entry = self.find(&loaded, version)?;
        self.rows_at(&loaded, entry)
            .await
            .map_err(|e| self.model_error(e))
    }

    async fn appended(&self, after: Version, to: Version) -> Result<Option<lakeshare_model::Rows>> {
        let loaded = self.load().await.map_err(|e| self.model_error(e))?;
        // A base that is gone (expired) or before the first snapshot: nothing to tell.
        let Some(base) = self.find(&loaded, after).ok().flatten() else {
            return Ok(None);
        };
        let Some(end) = self.find(&loaded, to)? else {
            return Ok(None);
        };
        let Some(files) = self
            .appended_files(&loaded, base, end)
            .await
            .map_err(|e| self.model_error(e))?
        else {
            return Ok(None);
        };
        self.rows_of(&loaded, end, files)
            .await
            .map(Some)
            .map_err(|e| self.model_error(e))
    }

    async fn changes(&self, start: Version, end: Version) -> Result<Vec<VersionChanges>> {
        let loaded = self.load().await.map_err(|e| self.model_error(e))?;
        for version in [start, end] {
            if !loaded.versions.entries.iter().any(|v| v.version == version) {
                return Err(self.version_not_found(&loaded, version));
            }
        }
        let mut all = Vec::new();
        for entry in loaded
            .versions
            .entries
            .iter()
            .filter(|v| (start..=end).contains(&v.version))
        {
            all.push(
                self.version_changes(&loaded, *entry)
                    .await
                    .map_err(|e| self.model_error(e))?,
            );
        }
        Ok(all)
    }
}

/// Refuses metadata of another table than the one read so far (dropped and re-created under
/// the same name): its versions would start again at 1 and mean other data than before.
fn same_table(previous: &TableMetadata, current: &TableMetadata) -> Result<(), Error> {
    if previous.uuid() != current.uuid() {
        return Err(Error::Unsupported(format!(
            "the table was replaced by another one (table uuid {} instead of {}); its versions \
             would change meaning, so the gateway must be restarted to share the new table",
            current.uuid(),
            previous.uuid()
        )));
    }
    Ok(())
}

/// Refuses schemas in which a column was renamed, or a name reused for another column: Delta
/// Sharing clients read Parquet columns by name, so files written before the change would give
/// them nulls, or another column's values.
fn refuse_renames(metadata: &TableMetadata) -> Result<(), Error> {
    let mut names: HashMap<i32, &str> = HashMap::new();
    let mut ids: HashMap<&str, i32> = HashMap::new();
    for schema in metadata.schemas_iter() {
        for (id, name) in schema.field_id_to_name_map() {
            let renamed = names.insert(*id, name).is_some_and(|before| before != name);
            let reused = ids.insert(name, *id).is_some_and(|before| before != *id);
            if renamed || reused {
                return Err(Error::Unsupported(format!(
                    "column '{name}' was renamed, or its name reused for another column, in the \
                     table's schema history; Delta Sharing clients read columns by name and \
                     would get wrong values from older files"
                )));
            }
        }
    }
    Ok(())
}

/// A FileIO that reads any scheme (local, S3, …) with `props`.
fn object_store_file_io(props: HashMap<String, String>) -> FileIO {
    FileIOBuilder::new(Arc::new(OpenDalResolvingStorageFactory::new()))
        .with_props(props)
        .build()
}
