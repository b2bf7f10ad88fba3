use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deltalake::ObjectStore;
use deltalake::kernel::{Action, LogicalFileView, Snapshot as DeltaSnapshot};
use deltalake::logstore::object_store::ObjectStoreExt as _;
use deltalake::logstore::{LogStore, LogStoreRef, ObjectStoreRef, StorageConfig, default_logstore};
use deltalake::{DeltaTableBuilder, DeltaTableError};
use futures::TryStreamExt as _;
use lakeshare_model::{
    ChangeFile, ChangeKind, DataFile, DeletionVector, Error as ModelError, FileStats, FileUrl,
    Result, Snapshot, TableFormat, TableMetadata, TableProtocol, TableSource, TimestampBound,
    Version, VersionChanges,
};
use tokio::sync::Mutex;
use url::Url;

use crate::Error;
use crate::timeline::Timeline;

/// A Delta table at a location (local path or object store URL).
pub struct DeltaSource {
    location: String,
    table_url: Url,
    /// `table_url` ending in `/`, which a plain path is appended to (see [`Self::file_url`]).
    root_prefix: Option<Arc<str>>,
    log_store: LogStoreRef,
    /// The last listing of the log, refreshed when a request needs a newer version than it knows.
    timeline: Mutex<Option<Arc<Timeline>>>,
}

impl std::fmt::Debug for DeltaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaSource")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl DeltaSource {
    /// Opens the table at `location`, checking that a readable Delta log is there.
    pub async fn open(location: &str) -> Result<Self> {
        Self::try_open(location)
            .await
            .map_err(|e| e.into_model(location))
    }

    /// Opens the table at `location`, a URL naming a bucket (container) of `store`, reading
    /// through that store. `store` must be rooted at the bucket: the table's prefix comes from
    /// the URL, as it does for the files the log names.
    pub async fn open_in_store(location: &str, store: Arc<dyn ObjectStore>) -> Result<Self> {
        Self::try_open_in_store(location, store)
            .await
            .map_err(|e| e.into_model(location))
    }

    async fn try_open(location: &str) -> Result<Self, Error> {
        // deltalake creates a missing local folder when it makes the table URL; a mistyped
        // location must not leave folders behind on the gateway's host.
        if !location.contains("://") && !std::path::Path::new(location).is_dir() {
            return Err(Error::BadLocation {
                location: location.to_string(),
                reason: "no such directory".into(),
            });
        }
        let (table_url, log_store) = local_log_store(location)?;
        Self::with_log_store(location, table_url, log_store).await
    }

    async fn try_open_in_store(location: &str, store: Arc<dyn ObjectStore>) -> Result<Self, Error> {
        let (table_url, log_store) = store_log_store(location, store)?;
        Self::with_log_store(location, table_url, log_store).await
    }

    async fn with_log_store(
        location: &str,
        table_url: Url,
        log_store: LogStoreRef,
    ) -> Result<Self, Error> {
        let root_prefix = (table_url.query().is_none()
            && table_url.fragment().is_none()
            && !table_url.cannot_be_a_base())
        .then(|| root_prefix(&table_url).into());
        let source = Self {
            location: location.to_string(),
            root_prefix,
            table_url,
            log_store,
            timeline: Mutex::new(None),
        };
        if source.refresh_timeline().await?.latest().is_none() {
            return Err(Error::Delta(DeltaTableError::NotATable(format!(
                "no Delta commits in {location}/_delta_log"
            ))));
        }
        Ok(source)
    }

    /// When `version` was committed, or that it is not (or no longer) a version of the table.
    async fn commit_time(&self, version: Version) -> Result<i64> {
        let timeline = self
            .timeline_covering(version)
            .await
            .map_err(|e| self.model_error(e))?;
        match timeline.timestamp_of(version) {
            Some(ts) if version >= timeline.earliest => Ok(ts),
            _ => Err(ModelError::VersionNotFound {
                requested: version,
                earliest: timeline.earliest,
                latest: timeline.latest().unwrap_or(0),
            }),
        }
    }

    async fn refresh_timeline(&self) -> Result<Arc<Timeline>, Error> {
        let timeline = Timeline::list(&*self.log_store)
            .await
            .map_err(|source| Error::Listing {
                location: self.location.clone(),
                source,
            })?;
        let timeline = Arc::new(timeline);
        *self.timeline.lock().await = Some(timeline.clone());
        Ok(timeline)
    }

    /// The timeline as of now. Listing a long log on every request would cost O(commits), so
    /// the cached timeline is kept unless commits newer than its latest exist; then the log is
    /// listed again in full (which also notices commit files cleaned up since, as cleanup only
    /// happens when new commits are written).
    async fn current_timeline(&self) -> Result<Arc<Timeline>, Error> {
        let cached = self.timeline.lock().await.clone();
        if let Some(cached) = cached
            && let Some(latest) = cached.latest()
        {
            let moved = Timeline::has_commits_after(&*self.log_store, latest)
                .await
                .map_err(|source| Error::Listing {
                    location: self.location.clone(),
                    source,
                })?;
            if !moved {
                return Ok(cached);
            }
        }
        self.refresh_timeline().await
    }

    /// A timeline that covers `version`: the cached one if it does, else the current one.
    async fn timeline_covering(&self, version: Version) -> Result<Arc<Timeline>, Error> {
        let cached = self.timeline.lock().await.clone();
        match cached {
            Some(t) if t.latest().is_some_and(|latest| latest >= version) => Ok(t),
            _ => self.current_timeline().await,
        }
    }

    fn model_error(&self, e: Error) -> ModelError {
        e.into_model(&self.location)
    }

    /// Resolves a path from the log (URL-decoded, relative to the table or absolute) to a URL.
    /// A plain path, as most writers' are, is appended to the root as it is: what the URL's
    /// own segment handling would give, without its copies (a cold load resolves every file).
    fn file_url(&self, path: &str) -> FileUrl {
        if path.contains("://") {
            return path.into();
        }
        match &self.root_prefix {
            Some(root) if lakeshare_model::is_plain_path(path) => FileUrl::under(root, path),
            _ => joined(&self.table_url, path).into(),
        }
    }

    fn data_file(&self, view: &LogicalFileView) -> DataFile {
        let path = view.path();
        // The reference server's default id: MD5 of the path in the log.
        let (id, sha256_id) = lakeshare_model::path_ids(&path);
        DataFile {
            url: self.file_url(&path),
            id,
            sha256_id: Some(sha256_id),
            size: view.size().max(0) as u64,
            partition_values: view.partition_values_map().into_iter().collect(),
            stats: view.stats().map(|json| FileStats {
                num_records: view.num_records().map(|n| n as u64),
                json: json.into_boxed_str(),
            }),
            modification_time_ms: view.modification_time(),
            deletion_vector: view
                .deletion_vector_descriptor()
                .map(|dv| self.deletion_vector(dv)),
        }
    }

    /// The model's deletion vector, with the location of a persisted one resolved through the
    /// kernel (storage type `u` encodes a UUID relative to the table root).
    fn deletion_vector(
        &self,
        dv: deltalake::kernel::DeletionVectorDescriptor,
    ) -> Box<DeletionVector> {
        let storage_type = dv.storage_type.to_string();
        let absolute_url = delta_kernel::actions::deletion_vector::DeletionVectorDescriptor::try_from(dv.clone())
            .and_then(|kernel_dv| kernel_dv.absolute_path(&self.table_url))
            .map_err(|e| tracing::warn!(location = %self.location, "unreadable deletion vector descriptor: {e}"))
            .ok()
            .flatten()
            .map(String::from);
        Box::new(DeletionVector {
            storage_type,
            path_or_inline_dv: dv.path_or_inline_dv,
            offset: dv.offset,
            size_in_bytes: dv.size_in_bytes,
            cardinality: dv.cardinality,
            absolute_url,
        })
    }

    /// The live files at `version`, replayed by the kernel's lazy snapshot with only what the
    /// model keeps: each file's statistics as the log's text plus the row count, parsed by the
    /// kernel alongside. deltalake's eager table state would also parse every column's bounds
    /// for every file, a large part of a cold load, which nothing here reads (pruning parses
    /// the text itself, once, when a query first needs it). A checkpoint that keeps only
    /// parsed statistics (`writeStatsAsJson` off) then yields row counts without bounds: such
    /// files are kept by pruning, never dropped.
    async fn load(&self, version: Version, timestamp_ms: i64) -> Result<Snapshot, Error> {
        self.log_store.refresh().await?;
        let state = DeltaSnapshot::try_new(&*self.log_store, Some(version)).await?;
        let files: Vec<DataFile> = state
            .file_views(&*self.log_store, None)
            .map_ok(|view| self.data_file(&view))
            .try_collect()
            .await?;
        tracing::debug!(location = %self.location, version, files = files.len(), "loaded Delta snapshot");
        let mut snapshot = Snapshot {
            format: crate::FORMAT,
            version: state.version(),
            timestamp_ms,
            protocol: protocol_model(state.protocol()),
            metadata: metadata_model(state.metadata()),
            files: files.into(),
            native_id: None,
            unservable: None,
        };
        // The order depends on the replay path (checkpoint or not); the contract wants one.
        snapshot.sort_files();
        Ok(snapshot)
    }

    /// A file named by a change action (path as in the log, decoded).
    fn change_file(
        &self,
        path: &str,
        size: i64,
        partition_values: HashMap<String, Option<String>>,
        modification_time_ms: i64,
    ) -> DataFile {
        let (id, sha256_id) = lakeshare_model::path_ids(path);
        DataFile {
            url: self.file_url(path),
            id,
            sha256_id: Some(sha256_id),
            size: size.max(0) as u64,
            partition_values: partition_values.into_iter().collect(),
            stats: None,
            modification_time_ms,
            deletion_vector: None,
        }
    }

    /// The size of a removed file whose remove action does not record it (older writers),
    /// from the store; the file is still there until it is vacuumed.
    async fn stored_size(&self, path: &str) -> Result<i64, Error> {
        let location = deltalake::Path::parse(path).unwrap_or_else(|_| deltalake::Path::from(path));
        let meta = self
            .log_store
            .object_store(None)
            .head(&location)
            .await
            .map_err(|e| Error::Delta(e.into()))?;
        Ok(meta.size as i64)
    }

    /// The paths of the data files commits `after+1..=to` added, if those commits did nothing
    /// else to the table's rows or shape: any removal (a delete, an update, a compaction), a
    /// change data file, new metadata or protocol, or a commit no longer in the log is `None`.
    async fn appended_files(
        &self,
        after: Version,
        to: Version,
    ) -> Result<Option<Vec<String>>, Error> {
        let mut paths = Vec::new();
        for version in after + 1..=to {
            let Some(bytes) = self.log_store.read_commit_entry(version).await? else {
                return Ok(None);
            };
            for action in deltalake::logstore::get_actions(version, &bytes)? {
                match action {
                    Action::Add(add) if add.data_change => paths.push(add.path),
                    Action::Add(_)
                    | Action::Remove(_)
                    | Action::Cdc(_)
                    | Action::Metadata(_)
                    | Action::Protocol(_) => return Ok(None),
                    _ => {}
                }
            }
        }
        Ok(Some(paths))
    }

    async fn version_changes(
        &self,
        version: Version,
        timestamp_ms: i64,
    ) -> Result<VersionChanges, Error> {
        let bytes = self
            .log_store
            .read_commit_entry(version)
            .await?
            .ok_or_else(|| Error::Delta(DeltaTableError::InvalidVersion(version)))?;
        let mut changes = VersionChanges {
            version,
            timestamp_ms,
            metadata: None,
            protocol: None,
            files: Vec::new(),
        };
        for action in deltalake::logstore::get_actions(version, &bytes)? {
            let change = match action {
                Action::Metadata(m) => {
                    changes.metadata = Some(metadata_model(&m));
                    continue;
                }
                Action::Protocol(p) => {
                    changes.protocol = Some(protocol_model(&p));
                    continue;
                }
                Action::Add(add) if add.data_change => {
                    let mut file = self.change_file(
                        &add.path,
                        add.size,
                        add.partition_values,
                        add.modification_time,
                    );
                    file.stats = add.stats.map(FileStats::from_json);
                    file.deletion_vector = add.deletion_vector.map(|dv| self.deletion_vector(dv));
                    ChangeFile {
                        kind: ChangeKind::Added,
                        file,
                    }
                }
                Action::Remove(remove) if remove.data_change => {
                    let size = match remove.size {
                        Some(size) => size,
                        None => self.stored_size(&remove.path).await?,
                    };
                    let mut file = self.change_file(
                        &remove.path,
                        size,
                        remove.partition_values.unwrap_or_default(),
                        remove.deletion_timestamp.unwrap_or(timestamp_ms),
                    );
                    file.deletion_vector =
                        remove.deletion_vector.map(|dv| self.deletion_vector(dv));
                    ChangeFile {
                        kind: ChangeKind::Removed,
                        file,
                    }
                }
                Action::Cdc(cdc) => ChangeFile {
                    kind: ChangeKind::ChangeData,
                    file: self.change_file(&cdc.path, cdc.size, cdc.partition_values, timestamp_ms),
                },
                _ => continue,
            };
            changes.files.push(change);
        }
        changes.sort_files();
        Ok(changes)
    }
}

/// `table_url` ending in one `/`.
fn root_prefix(table_url: &Url) -> String {
    format!("{}/", table_url.as_str().trim_end_matches('/'))
}

/// `path` (decoded, `/`-separated) below `table_url`, each segment percent-encoded.
fn joined(table_url: &Url, path: &str) -> String {
    let mut url = table_url.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(path.split('/'));
    }
    url.into()
}

fn protocol_model(protocol: &deltalake::kernel::Protocol) -> TableProtocol {
    TableProtocol {
        min_reader_version: protocol.min_reader_version(),
        min_writer_version: protocol.min_writer_version(),
        reader_features: feature_names(protocol.reader_features()),
        writer_features: feature_names(protocol.writer_features()),
    }
}

fn metadata_model(metadata: &deltalake::kernel::Metadata) -> TableMetadata {
    let configuration: BTreeMap<String, String> = metadata
        .configuration()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let enabled = |key: &str, on: &[&str]| {
        configuration
            .get(key)
            .is_some_and(|v| on.iter().any(|o| v.eq_ignore_ascii_case(o)))
    };
    let mut model = TableMetadata::new(metadata.id(), metadata.schema_string().clone());
    model.change_data_feed = enabled("delta.enableChangeDataFeed", &["true"]);
    model.column_mapping = enabled("delta.columnMapping.mode", &["name", "id"]);
    model.physical_names = physical_names(metadata.schema_string());
    model.name = metadata.name().map(str::to_string);
    model.description = metadata.description().map(str::to_string);
    model.format_provider = metadata.format_provider().to_string();
    model.partition_columns = metadata.partition_columns().to_vec();
    // Writers with the change data feed on may keep the change type (null for data rows)
    // in data files.
    model.file_only_columns = vec!["_change_type".to_string()];
    model.created_time = metadata.created_time();
    model.configuration = configuration;
    model
}

/// Column mapping's physical names of the top-level columns, from the schema's field metadata.
fn physical_names(schema_string: &str) -> BTreeMap<String, String> {
    let Ok(schema) = serde_json::from_str::<serde_json::Value>(schema_string) else {
        return BTreeMap::new();
    };
    schema["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|field| {
            let name = field["name"].as_str()?;
            let physical = field["metadata"]["delta.columnMapping.physicalName"].as_str()?;
            Some((name.to_string(), physical.to_string()))
        })
        .collect()
}

/// The kernel's descriptor of a deletion vector the model carries.
fn kernel_descriptor(
    dv: &DeletionVector,
) -> delta_kernel::DeltaResult<delta_kernel::actions::deletion_vector::DeletionVectorDescriptor> {
    delta_kernel::actions::deletion_vector::DeletionVectorDescriptor::try_new(
        dv.storage_type.parse()?,
        dv.path_or_inline_dv.clone(),
        dv.offset,
        dv.size_in_bytes,
        dv.cardinality,
    )
}

/// The log store of the table at local `location` (which must exist) and its URL.
pub(crate) fn local_log_store(location: &str) -> Result<(Url, LogStoreRef), Error> {
    let table_url = deltalake::ensure_table_uri(location).map_err(|e| Error::BadLocation {
        location: location.to_string(),
        reason: e.to_string(),
    })?;
    let log_store = DeltaTableBuilder::from_url(table_url.clone())?.build_storage()?;
    Ok((table_url, log_store))
}

/// The log store of the table at `location`, a URL naming a bucket (container) of `store`,
/// and its URL (ending in `/`). `store` must be rooted at the bucket.
pub(crate) fn store_log_store(
    location: &str,
    store: Arc<dyn ObjectStore>,
) -> Result<(Url, LogStoreRef), Error> {
    let bad = |reason: String| Error::BadLocation {
        location: location.to_string(),
        reason,
    };
    let mut table_url = Url::parse(location).map_err(|e| bad(e.to_string()))?;
    if !table_url.path().ends_with('/') {
        table_url.set_path(&format!("{}/", table_url.path()));
    }
    // Built by hand rather than through deltalake's URL registry, which only knows the
    // schemes of the cloud features it was compiled with: reading needs only the store.
    let config = StorageConfig::default();
    let prefixed: ObjectStoreRef = Arc::from(config.decorate_store(store.clone(), &table_url)?);
    let log_store = default_logstore(prefixed, store, &table_url, &config);
    Ok((table_url, log_store))
}

#[async_trait]
impl TableSource for DeltaSource {
    fn format(&self) -> TableFormat {
        crate::FORMAT
    }

    async fn latest_version(&self) -> Result<Version> {
        let timeline = self
            .current_timeline()
            .await
            .map_err(|e| self.model_error(e))?;
        timeline.latest().ok_or_else(|| ModelError::TableNotFound {
            location: self.location.clone(),
            reason: "the Delta log has no commits".into(),
        })
    }

    async fn snapshot(&self, version: Version) -> Result<Snapshot> {
        let timestamp_ms = self.commit_time(version).await?;
        self.load(version, timestamp_ms)
            .await
            .map_err(|e| self.model_error(e))
    }

    async fn version_at(&self, timestamp: DateTime<Utc>, bound: TimestampBound) -> Result<Version> {
        let timeline = self
            .current_timeline()
            .await
            .map_err(|e| self.model_error(e))?;
        timeline.version_at(timestamp, bound)
    }

    async fn commits(&self) -> Result<Vec<(Version, i64)>> {
        let timeline = self
            .current_timeline()
            .await
            .map_err(|e| self.model_error(e))?;
        Ok(timeline.commits.clone())
    }

    /// Read with the kernel, which checks the vector's framing and checksum; its reader is
    /// blocking (it waits on the engine's executor), so it runs off the async threads.
    async fn deleted_rows(&self, file: &DataFile) -> Result<Vec<u64>> {
        let Some(dv) = &file.deletion_vector else {
            return Ok(Vec::new());
        };
        let corrupt = |reason: String| ModelError::Corrupt {
            location: file.url.to_string(),
            reason,
        };
        let descriptor = kernel_descriptor(dv)
            .map_err(|e| corrupt(format!("its deletion vector descriptor is not valid: {e}")))?;
        let storage = self.log_store.engine(None).storage_handler();
        let parent = self.table_url.clone();
        let rows = tokio::task::spawn_blocking(move || descriptor.row_indexes(storage, &parent))
            .await
            .map_err(|e| ModelError::storage(format!("reading a deletion vector: {e}")))?
            .map_err(|e| match e {
                delta_kernel::Error::FileNotFound(_) => {
                    corrupt(format!("its deletion vector is missing: {e}"))
                }
                e => match lakeshare_model::store_fault(&e) {
                    Some(fault) => ModelError::Storage {
                        fault,
                        detail: format!(
                            "{}: the deletion vector of {}: {e}",
                            self.location, file.url
                        ),
                    },
                    None => corrupt(format!("its deletion vector cannot be read: {e}")),
                },
            })?;
        if rows.len() as i64 != dv.cardinality {
            return Err(corrupt(format!(
                "its deletion vector holds {} rows where the log says {}",
                rows.len(),
                dv.cardinality
            )));
        }
        Ok(rows)
    }

    async fn rows(&self, version: Version) -> Result<lakeshare_model::Rows> {
        let timestamp_ms = self.commit_time(version).await?;
        crate::rows::read(self.log_store.clone(), version, timestamp_ms, None)
            .await
            .map_err(|e| self.model_error(e))
    }

    async fn appended(&self, after: Version, to: Version) -> Result<Option<lakeshare_model::Rows>> {
        let Some(paths) = self
            .appended_files(after, to)
            .await
            .map_err(|e| self.model_error(e))?
        else {
            return Ok(None);
        };
        let timestamp_ms = self.commit_time(to).await?;
        crate::rows::read(self.log_store.clone(), to, timestamp_ms, Some(paths))
            .await
            .map(Some)
            .map_err(|e| self.model_error(e))
    }

    async fn changes(&self, start: Version, end: Version) -> Result<Vec<VersionChanges>> {
        let timeline = self
            .timeline_covering(end)
            .await
            .map_err(|e| self.model_error(e))?;
        let latest = timeline.latest().unwrap_or(0);
        let mut all = Vec::new();
        for version in start..=end {
            // Every commit file must still exist: a change feed cannot skip a version.
            let Some(timestamp_ms) = timeline.timestamp_of(version) else {
                return Err(ModelError::VersionNotFound {
                    requested: version,
                    earliest: timeline.commits.first().map_or(0, |(v, _)| *v),
                    latest,
                });
            };
            all.push(
                self.version_changes(version, timestamp_ms)
                    .await
                    .map_err(|e| self.model_error(e))?,
            );
        }
        Ok(all)
    }
}

/// Table features by their protocol names (`deletionVectors`, `columnMapping`, …).
fn feature_names<F: std::fmt::Display>(features: Option<&[F]>) -> Option<Vec<String>> {
    features.map(|f| f.iter().map(ToString::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_path_joins_as_the_url_would_join_it() {
        for root in [
            "file:///data/t/",
            "file:///data/t",
            "file:///data/a%20b/",
            "s3://bucket/",
            "s3://bucket/prefix/t",
        ] {
            let url = Url::parse(root).unwrap();
            for path in ["a.parquet", "p=1/part-0001_x.snappy.parquet", "a+b@c,d~e"] {
                assert!(lakeshare_model::is_plain_path(path));
                assert_eq!(
                    format!("{}{path}", root_prefix(&url)),
                    joined(&url, path),
                    "{root} + {path}"
                );
            }
        }
        let url = Url::parse("file:///data/t/").unwrap();
        assert_eq!(joined(&url, "a b/c%d"), "file:///data/t/a%20b/c%25d");
    }
}
