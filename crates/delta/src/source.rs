use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deltalake::kernel::LogicalFileView;
use deltalake::logstore::{LogStore, LogStoreRef};
use deltalake::table::state::DeltaTableState;
use deltalake::{DeltaTableBuilder, DeltaTableError};
use lakeshare_model::{
    DataFile, DeletionVector, Error as ModelError, FileStats, Result, Snapshot, TableFormat,
    TableMetadata, TableProtocol, TableSource, TimestampBound, Version,
};
use md5::{Digest, Md5};
use tokio::sync::Mutex;
use url::Url;

use crate::Error;
use crate::timeline::Timeline;

/// A Delta table at a location (local path or object store URL).
pub struct DeltaSource {
    location: String,
    table_url: Url,
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

    async fn try_open(location: &str) -> Result<Self, Error> {
        let table_url = deltalake::ensure_table_uri(location).map_err(|e| Error::BadLocation {
            location: location.to_string(),
            reason: e.to_string(),
        })?;
        let log_store = DeltaTableBuilder::from_url(table_url.clone())?.build_storage()?;
        let source = Self {
            location: location.to_string(),
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

    /// The cached timeline if it already covers `version`, else a fresh listing.
    async fn timeline_covering(&self, version: Option<Version>) -> Result<Arc<Timeline>, Error> {
        let cached = self.timeline.lock().await.clone();
        match (cached, version) {
            (Some(t), Some(v)) if t.latest().is_some_and(|latest| latest >= v) => Ok(t),
            _ => self.refresh_timeline().await,
        }
    }

    fn model_error(&self, e: Error) -> ModelError {
        e.into_model(&self.location)
    }

    /// Resolves a path from the log (URL-decoded, relative to the table or absolute) to a URL.
    fn file_url(&self, path: &str) -> String {
        if path.contains("://") {
            return path.to_string();
        }
        let mut url = self.table_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path.split('/'));
        }
        url.to_string()
    }

    fn data_file(&self, view: &LogicalFileView) -> DataFile {
        let path = view.path();
        DataFile {
            url: self.file_url(&path),
            // The reference server's default id: MD5 of the path in the log.
            id: hex::encode(Md5::digest(path.as_bytes())),
            size: view.size().max(0) as u64,
            partition_values: view.partition_values_map().into_iter().collect(),
            stats: view.stats().map(FileStats::from_json),
            modification_time_ms: view.modification_time(),
            deletion_vector: view
                .deletion_vector_descriptor()
                .map(|dv| self.deletion_vector(dv)),
        }
    }

    /// The model's deletion vector, with the location of a persisted one resolved through the
    /// kernel (storage type `u` encodes a UUID relative to the table root).
    fn deletion_vector(&self, dv: deltalake::kernel::DeletionVectorDescriptor) -> DeletionVector {
        let storage_type = dv.storage_type.to_string();
        let absolute_url = delta_kernel::actions::deletion_vector::DeletionVectorDescriptor::try_from(dv.clone())
            .and_then(|kernel_dv| kernel_dv.absolute_path(&self.table_url))
            .map_err(|e| tracing::warn!(location = %self.location, "unreadable deletion vector descriptor: {e}"))
            .ok()
            .flatten()
            .map(String::from);
        DeletionVector {
            storage_type,
            path_or_inline_dv: dv.path_or_inline_dv,
            offset: dv.offset,
            size_in_bytes: dv.size_in_bytes,
            cardinality: dv.cardinality,
            absolute_url,
        }
    }

    fn snapshot_from_state(&self, state: &DeltaTableState, timestamp_ms: i64) -> Snapshot {
        let protocol = state.protocol();
        let metadata = state.metadata();
        let files: Vec<DataFile> = state
            .log_data()
            .iter()
            .map(|view| self.data_file(&view))
            .collect();
        Snapshot {
            format: TableFormat::Delta,
            version: state.version(),
            timestamp_ms,
            protocol: TableProtocol {
                min_reader_version: protocol.min_reader_version(),
                min_writer_version: protocol.min_writer_version(),
                reader_features: feature_names(protocol.reader_features()),
                writer_features: feature_names(protocol.writer_features()),
            },
            metadata: TableMetadata {
                id: metadata.id().to_string(),
                name: metadata.name().map(str::to_string),
                description: metadata.description().map(str::to_string),
                format_provider: metadata.format_provider().to_string(),
                schema_string: metadata.schema_string().clone(),
                partition_columns: metadata.partition_columns().to_vec(),
                configuration: metadata
                    .configuration()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<BTreeMap<_, _>>(),
                created_time: metadata.created_time(),
            },
            files: files.into(),
            native_id: None,
        }
    }
}

#[async_trait]
impl TableSource for DeltaSource {
    fn format(&self) -> TableFormat {
        TableFormat::Delta
    }

    async fn latest_version(&self) -> Result<Version> {
        let timeline = self
            .refresh_timeline()
            .await
            .map_err(|e| self.model_error(e))?;
        timeline.latest().ok_or_else(|| ModelError::TableNotFound {
            location: self.location.clone(),
            reason: "the Delta log has no commits".into(),
        })
    }

    async fn snapshot(&self, version: Version) -> Result<Snapshot> {
        let timeline = self
            .timeline_covering(Some(version))
            .await
            .map_err(|e| self.model_error(e))?;
        let latest = timeline.latest().unwrap_or(0);
        let timestamp_ms = match timeline.timestamp_of(version) {
            Some(ts) if version >= timeline.earliest => ts,
            _ => {
                return Err(ModelError::VersionNotFound {
                    requested: version,
                    earliest: timeline.earliest,
                    latest,
                });
            }
        };
        let state = DeltaTableState::try_new(&*self.log_store, Some(version))
            .await
            .map_err(|e| self.model_error(e.into()))?;
        tracing::debug!(location = %self.location, version, files = state.log_data().num_files(), "loaded Delta snapshot");
        Ok(self.snapshot_from_state(&state, timestamp_ms))
    }

    async fn version_at(&self, timestamp: DateTime<Utc>, bound: TimestampBound) -> Result<Version> {
        let timeline = self
            .refresh_timeline()
            .await
            .map_err(|e| self.model_error(e))?;
        timeline.version_at(timestamp, bound)
    }
}

/// The table root as a local path, for tables on the local filesystem.
impl DeltaSource {
    pub fn local_root(&self) -> Option<std::path::PathBuf> {
        (self.table_url.scheme() == "file")
            .then(|| self.table_url.to_file_path().ok())
            .flatten()
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    #[doc(hidden)]
    pub fn log_store(&self) -> &dyn LogStore {
        &*self.log_store
    }
}

/// Table features by their protocol names (`deletionVectors`, `columnMapping`, …).
fn feature_names<F: std::fmt::Display>(features: Option<&[F]>) -> Option<Vec<String>> {
    features.map(|f| f.iter().map(ToString::to_string).collect())
}
