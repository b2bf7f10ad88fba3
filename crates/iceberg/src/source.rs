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

/// How many manifests are read at once.
const MANIFEST_READS: usize = 8;

/// Where the table's current metadata comes from.
#[derive(Clone)]
enum MetadataPointer {
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
    fn metadata_location(&self) -> Result<String, String> {
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
            MetadataPointer::Folder(folder) => newest_metadata(folder),
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

    async fn manifests(
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
    async fn read_manifests(
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

    async fn build_snapshot(
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
                data_files.push(files::data_file(file, &schema, &positions, added_ms));
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

    fn assemble(
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
        let mut snapshot = Snapshot {
            format: TableFormat::Iceberg,
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

    async fn version_changes(
        &self,
        loaded: &Loaded,
        entry: VersionEntry,
    ) -> Result<VersionChanges, Error> {
        let metadata = &loaded.metadata;
        let snapshot = metadata.snapshot_by_id(entry.snapshot_id).ok_or_else(|| {
            Error::Unsupported(format!("snapshot {} is missing", entry.snapshot_id))
        })?;
        let schema = snapshot.schema(metadata)?;
        let list = self.manifests(loaded, snapshot).await?;
        // Only manifests this snapshot wrote can hold its additions and removals.
        let own = list
            .entries()
            .iter()
            .filter(|m| m.added_snapshot_id == entry.snapshot_id)
            .cloned()
            .collect();
        let manifests = self.read_manifests(loaded, own).await?;
        let mut changes = VersionChanges {
            version: entry.version,
            timestamp_ms: entry.timestamp_ms,
            metadata: None,
            protocol: None,
            files: Vec::new(),
        };
        // A replace (compaction, manifest rewrite) changes files, not data: nothing to report.
        if snapshot.summary().operation == Operation::Replace {
            return Ok(changes);
        }
        // A removed file whose rows earlier delete files had already masked would be reported
        // with those rows: refuse when the parent had live delete files.
        if let Some(parent) = snapshot
            .parent_snapshot_id()
            .and_then(|id| metadata.snapshot_by_id(id))
        {
            let parent_list = self.manifests(loaded, parent).await?;
            let deletes = parent_list
                .entries()
                .iter()
                .filter(|m| m.content == ManifestContentType::Deletes)
                .cloned()
                .collect();
            refuse_deletes(&self.read_manifests(loaded, deletes).await?, entry.version)?;
        }
        for (file, manifest) in &manifests {
            let ours = manifest
                .entries()
                .iter()
                .filter(|e| e.snapshot_id() == Some(entry.snapshot_id));
            if file.content == ManifestContentType::Deletes {
                if ours.clone().any(|e| e.status() == ManifestStatus::Added) {
                    return Err(delete_files_error(entry.version));
                }
                continue;
            }
            // Every identity partition of the file's own spec: a change read spans versions whose
            // partitioning may differ, and clients take the values of the columns they know.
            let positions = identity_columns(manifest.metadata().partition_spec(), &schema);
            for e in ours {
                let kind = match e.status() {
                    ManifestStatus::Added => ChangeKind::Added,
                    ManifestStatus::Deleted => ChangeKind::Removed,
                    ManifestStatus::Existing => continue,
                };
                let mut data_file =
                    files::data_file(e.data_file(), &schema, &positions, entry.timestamp_ms);
                data_file.stats = None;
                changes.files.push(ChangeFile {
                    kind,
                    file: data_file,
                });
            }
        }
        changes.sort_files();
        Ok(changes)
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
        TableFormat::Iceberg
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

/// The newest `*.metadata.json` in a table's `metadata/` folder: the highest version number
/// (`00005-<uuid>.metadata.json` or `v5.metadata.json`).
fn newest_metadata(folder: &Path) -> std::result::Result<String, String> {
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
async fn newest_metadata_in_store(
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
fn metadata_number(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".metadata.json")?;
    let digits = stem.strip_prefix('v').unwrap_or(stem);
    digits.split('-').next()?.parse().ok()
}

/// A FileIO that reads any scheme (local, S3, …) with `props`.
fn object_store_file_io(props: HashMap<String, String>) -> FileIO {
    FileIOBuilder::new(Arc::new(OpenDalResolvingStorageFactory::new()))
        .with_props(props)
        .build()
}

/// Position and equality deletes (and v3 deletion vectors) hide rows of data files. They
/// cannot be expressed in Delta Sharing's file list, so such a snapshot is refused, never served
/// as if complete.
fn refuse_deletes(manifests: &[(ManifestFile, Manifest)], version: Version) -> Result<(), Error> {
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

fn delete_files_error(version: Version) -> Error {
    Error::Unsupported(format!(
        "version {version} of the table has delete files (merge-on-read position or equality \
         deletes, or deletion vectors), whose deleted rows Delta Sharing clients cannot remove; \
         rewrite the data files (compaction) so the deletes are applied, or read it with an \
         Iceberg client"
    ))
}

/// The partition columns of a snapshot: identity-partitioned columns every partition spec in
/// use agrees on, in the order of the first.
fn common_identity_columns(specs: &[&PartitionSpec], schema: &Schema) -> Vec<String> {
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
fn positions_in(spec: &PartitionSpec, schema: &Schema, columns: &[String]) -> Vec<(String, usize)> {
    identity_columns(spec, schema)
        .into_iter()
        .filter(|(name, _)| columns.contains(name))
        .collect()
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

/// A table with delete files, written by hand (pyiceberg writes none): the snapshot before the
/// deletes is served, the one with them is refused, and so is its change feed.
#[cfg(test)]
mod delete_files {
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
