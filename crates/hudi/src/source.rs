//! [`HudiSource`]: one Hudi table behind the `TableSource` seam.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hudi::file_group::base_file::parquet::ParquetBaseFileReader;
use hudi::file_group::file_slice::FileSlice;
use hudi::storage::Storage;
use hudi::table::builder::TableBuilder;
use hudi::table::{ReadOptions, Table};
use lakeshare_model::{
    ChangeFile, ChangeKind, DataFile, Error as ModelError, FileStats, Result, Snapshot,
    TableFormat, TableMetadata, TableProtocol, TableSource, TimestampBound, Version,
    VersionChanges,
};
use url::Url;

use crate::Error;
use crate::partition::PartitionLayout;
use crate::schema::{
    Features, ParquetLeaf, Shape, column_names, column_shapes, delta_schema, file_shapes,
    first_mismatch, primitive_columns,
};
use crate::stats::{self, FileColumnStats};
use crate::timeline::{
    CommitInfo, FileGroupId, VersionEntry, check_in_order, earliest_instant, instant_before,
    version_of, versions,
};

mod changes;
mod completeness;
mod file_types;
mod metadata;
mod reopen;

use completeness::{check_predecessors, record_counts};
use reopen::Opened;
/// The hudi config that selects the read-optimized view (base files only).
const READ_OPTIMIZED: &str = "hoodie.read.use.read_optimized.mode";

/// How many base file footers are read at once when a version's files are first checked.
const FOOTER_READS_IN_FLIGHT: usize = 8;

/// How a table is shared, from its entry in the gateway's configuration.
#[derive(Clone, Default)]
pub struct HudiOptions {
    /// Share a merge-on-read table's read-optimized view: its base files only, without the
    /// updates and deletes still in log files. It lags the table until the next compaction.
    pub read_optimized: bool,
    /// Include Hudi's `_hoodie_*` metadata columns in the schema.
    pub meta_fields: bool,
    /// object_store options (`aws_endpoint`, `aws_access_key_id`…) for tables in a store.
    pub storage_options: HashMap<String, String>,
}

impl std::fmt::Debug for HudiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Storage options carry credentials: only their keys are shown.
        let mut keys: Vec<&String> = self.storage_options.keys().collect();
        keys.sort();
        f.debug_struct("HudiOptions")
            .field("read_optimized", &self.read_optimized)
            .field("meta_fields", &self.meta_fields)
            .field("storage_options", &keys)
            .finish()
    }
}

/// A Hudi table (copy-on-write, or merge-on-read as far as it can be served as Parquet).
///
/// Every request lists the active timeline folder, so new commits are seen at once, and opens
/// the table again only when that listing changed (see [`reopen`]); commit metadata, which
/// never changes once written, is parsed once per instant and kept, and so are the column types
/// of the base files each instant wrote (read from one of their footers).
pub struct HudiSource {
    /// As configured: an absolute path or a store URL, what hudi opens and messages name.
    location: String,
    options: HudiOptions,
    commits: Mutex<HashMap<String, Arc<CommitInfo>>>,
    /// Writer instant → what the footer of one of its base files says.
    footers: Mutex<HashMap<String, Arc<Footer>>>,
    /// The table as last opened.
    opened: Mutex<Option<Arc<Opened>>>,
}

/// The columns of the base files one instant wrote, from the footer of one of them: files
/// written by one commit share its write schema. Base files never change once written (a new
/// write is a new file, named after its instant), so this is kept for the life of the source.
struct Footer {
    /// The file read, relative to the table root.
    file: String,
    schema: arrow_schema::Schema,
    columns: Vec<(String, Shape)>,
    /// Whether `columns` were refined by the file's Parquet schema (see [`ParquetLeaf`]).
    refined: bool,
}

impl std::fmt::Debug for HudiSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HudiSource")
            .field("location", &self.location)
            .field("options", &self.options)
            .finish()
    }
}

/// An opened table and its versions, kept while its timeline is unchanged.
struct Loaded {
    table: Table,
    /// hudi's storage for the table, as its file system view builds it (the same base URL,
    /// hudi configs and storage options): for the footers and timeline listings read here.
    storage: Arc<Storage>,
    entries: Vec<VersionEntry>,
    layout: PartitionLayout,
    /// The commit metadata of every entry, in the same order, gathered once per open.
    infos: tokio::sync::OnceCell<Vec<Arc<CommitInfo>>>,
    /// The metadata table's column statistics with the columns they are kept for, read once
    /// per open when first needed.
    column_stats: tokio::sync::OnceCell<ColumnBounds>,
}

impl Loaded {
    /// Every version with its commit time, oldest first.
    fn commits(&self) -> Vec<(Version, i64)> {
        self.entries
            .iter()
            .map(|e| (e.version, e.timestamp_ms))
            .collect()
    }
}

/// Column statistics and the top-level primitive columns `(name, Delta type)` they apply to.
#[derive(Default)]
struct ColumnBounds {
    stats: FileColumnStats,
    columns: Vec<(String, String)>,
}

impl HudiSource {
    /// Opens the table at `location` (a local folder or a store URL) and checks that it can be
    /// served: a readable `hoodie.properties`, a supported table version, Parquet base files.
    pub async fn open(location: &str, options: HudiOptions) -> Result<Self> {
        let source = Self {
            location: normalized(location),
            options,
            commits: Mutex::new(HashMap::new()),
            footers: Mutex::new(HashMap::new()),
            opened: Mutex::new(None),
        };
        // Opened twice: the first open tells where the timeline is, the listing of it taken
        // before the second lets the first request use the second as it is.
        let opened = async {
            let first = Opened::new(source.open_table().await?, None);
            let listing = first.list().await?;
            Ok::<_, Error>(Opened::new(
                source.open_table().await?,
                Some((&first, listing)),
            ))
        }
        .await
        .map_err(|e| source.fail(e))?;
        *source.opened.lock().expect("poisoned") = Some(Arc::new(opened));
        Ok(source)
    }

    /// The table folder, for tables on the local filesystem.
    pub fn table_root(&self) -> Option<PathBuf> {
        match Url::parse(&self.location) {
            Ok(url) if url.scheme() == "file" => url.to_file_path().ok(),
            Ok(url) if url.scheme().len() > 1 => None,
            _ => Some(PathBuf::from(&self.location)),
        }
    }

    fn fail(&self, error: Error) -> ModelError {
        error.into_model(&self.location)
    }

    async fn table(&self) -> Result<Table, Error> {
        let table = TableBuilder::from_base_uri(&self.location)
            .with_storage_options(self.options.storage_options.clone())
            .build()
            .await?;
        Ok(table)
    }

    fn check_servable(&self, table: &Table) -> Result<(), Error> {
        let config = table.hudi_options();
        let format = config
            .get("hoodie.table.base.file.format")
            .map(|f| f.to_ascii_lowercase())
            .unwrap_or_else(|| "parquet".into());
        if format != "parquet" {
            return Err(Error::Unsupported(format!(
                "the table's base files are in the {format} format; Delta Sharing clients read Parquet only"
            )));
        }
        // A bootstrapped table's base files are skeletons of the `_hoodie_*` columns; the data
        // stays in the original files, which a Delta Sharing client would never read.
        if config.contains_key("hoodie.bootstrap.base.path") {
            return Err(Error::Unsupported(
                "the table is a bootstrapped Hudi table (hoodie.bootstrap.base.path is set): its \
                 base files hold only Hudi's metadata columns, so it cannot be shared as Parquet"
                    .into(),
            ));
        }
        if self.options.read_optimized && !table.is_mor() {
            return Err(Error::Unsupported(
                "read_optimized is set, but the table is copy-on-write: it has no other view to share"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The table as it is now: the one last opened if its timeline is unchanged.
    async fn load(&self) -> Result<Arc<Loaded>, Error> {
        let last = self.opened.lock().expect("poisoned").clone();
        let opened = match last {
            Some(last) => {
                let now = last.list().await?;
                if last.is_current(&now) {
                    return Ok(last.loaded.clone());
                }
                Opened::new(self.open_table().await?, Some((&*last, now)))
            }
            None => Opened::new(self.open_table().await?, None),
        };
        let loaded = opened.loaded.clone();
        *self.opened.lock().expect("poisoned") = Some(Arc::new(opened));
        Ok(loaded)
    }

    /// Opens the table afresh and reads its versions.
    async fn open_table(&self) -> Result<Loaded, Error> {
        let table = self.table().await?;
        self.check_servable(&table)?;
        let entries = versions(&table)?;
        let layout = PartitionLayout::from_config(&table.hudi_options());
        let storage = Storage::new(table.storage_options.clone(), table.hudi_configs.clone())
            .map_err(|e| Error::Hudi(e.into()))?;
        Ok(Loaded {
            table,
            storage,
            entries,
            layout,
            infos: tokio::sync::OnceCell::new(),
            column_stats: tokio::sync::OnceCell::new(),
        })
    }

    fn position(&self, loaded: &Loaded, version: Version) -> Result<usize, Error> {
        let entries = &loaded.entries;
        entries
            .binary_search_by_key(&version, |e| e.version)
            .map_err(|_| {
                Error::Model(ModelError::VersionNotFound {
                    requested: version,
                    earliest: entries.first().map_or(0, |e| e.version),
                    latest: entries.last().map_or(0, |e| e.version),
                })
            })
    }

    /// The commit metadata of every instant of the active timeline, in version order. Each
    /// instant's metadata is read and parsed once for the life of the source (it never
    /// changes), and gathered once per request.
    async fn infos<'a>(&self, loaded: &'a Loaded) -> Result<&'a [Arc<CommitInfo>], Error> {
        let infos = loaded
            .infos
            .get_or_try_init(|| async {
                let timeline = loaded.table.get_timeline();
                let instants: HashMap<&str, &hudi::timeline::instant::Instant> = timeline
                    .completed_commits
                    .iter()
                    .map(|i| (i.timestamp.as_str(), i))
                    .collect();
                let mut out = Vec::with_capacity(loaded.entries.len());
                for entry in &loaded.entries {
                    let known = self
                        .commits
                        .lock()
                        .expect("poisoned")
                        .get(&entry.instant)
                        .cloned();
                    let info = match known {
                        Some(info) => info,
                        None => {
                            let instant = instants[entry.instant.as_str()];
                            let json = timeline.get_instant_metadata_in_json(instant).await?;
                            let info = Arc::new(CommitInfo::parse(&json).map_err(|e| {
                                Error::Corrupt(format!("commit {}: {e}", entry.instant))
                            })?);
                            self.commits
                                .lock()
                                .expect("poisoned")
                                .insert(entry.instant.clone(), info.clone());
                            info
                        }
                    };
                    out.push(info);
                }
                Ok::<_, Error>(out)
            })
            .await?;
        Ok(infos)
    }

    /// The file groups live as of `read` with their base files as data files.
    ///
    /// Refuses if any of them has log records written by the instants `read` sees (unless the
    /// table is shared read-optimized): hudi attaches every log file of a slice to it, also
    /// those written later, so which log files count is decided from the commits that wrote
    /// them, and a log file no active commit claims (its writer was archived) counts.
    async fn files_at(
        &self,
        loaded: &Loaded,
        infos: &[Arc<CommitInfo>],
        read: AsOf<'_>,
    ) -> Result<Vec<Live>, Error> {
        let mut options = ReadOptions::new().with_as_of_timestamp(read.instant);
        if self.options.read_optimized {
            options = options.with_hudi_option(READ_OPTIMIZED, "true");
        }
        let slices = loaded.table.get_file_slices(&options).await?;
        if !self.options.read_optimized {
            let writers = log_writers(infos);
            let pending: Vec<&FileSlice> = slices
                .iter()
                .filter(|s| has_logs_among(s, &writers, read.seen))
                .collect();
            if let Some(slice) = pending.first() {
                return Err(Error::LogFiles(format!(
                    "this merge-on-read table has updates or deletes in log files that are not \
                     yet compacted into Parquet ({} file group(s) {}, e.g. '{}' in partition \
                     '{}'); Delta Sharing clients read Parquet only, so serving the base files \
                     would return outdated and deleted rows. Compact the table, or have the \
                     provider share its read-optimized view (option read_optimized: true), \
                     which lags until the next compaction",
                    pending.len(),
                    read.describe(&loaded.entries),
                    slice.file_id(),
                    slice.partition_path
                )));
            }
        }
        let record_counts = record_counts(&loaded.entries[..read.seen], infos);
        let bounds = self.column_stats(loaded).await;
        let stats = Stats {
            record_counts: &record_counts,
            columns: &bounds.columns,
            column_stats: &bounds.stats,
        };
        let times: HashMap<&str, i64> = loaded
            .entries
            .iter()
            .map(|e| (e.instant.as_str(), e.timestamp_ms))
            .collect();
        let base_url = loaded.table.base_url();
        let mut live = Vec::with_capacity(slices.len());
        // A file group of log files only (merge-on-read, before its first compaction) has no
        // rows in the read-optimized view, nor, with its logs all written later, at `bound`.
        for slice in &slices {
            let Some(base) = &slice.base_file else {
                continue;
            };
            let (file, relative) = self.data_file(slice, &base_url, loaded, &stats, &times)?;
            live.push(Live {
                group: (slice.partition_path.clone(), slice.file_id().to_string()),
                instant: base.commit_timestamp.clone(),
                relative,
                file,
            });
        }
        Ok(live)
    }

    fn data_file(
        &self,
        slice: &FileSlice,
        base_url: &Url,
        loaded: &Loaded,
        stats: &Stats<'_>,
        times: &HashMap<&str, i64>,
    ) -> Result<(DataFile, String), Error> {
        let base = slice
            .base_file
            .as_ref()
            .expect("called for slices with base files");
        if !base.extension.eq_ignore_ascii_case("parquet") {
            return Err(Error::Unsupported(format!(
                "file group {} has a {} base file; Delta Sharing clients read Parquet only",
                slice.file_id(),
                base.extension
            )));
        }
        let relative = slice
            .base_file_relative_path()?
            .expect("slice has a base file");
        let size = base
            .file_metadata
            .as_ref()
            .map(|m| m.size)
            .ok_or_else(|| Error::Corrupt(format!("the size of {relative} is unknown")))?;
        let url = file_url(base_url, &relative)?;
        let group = (slice.partition_path.clone(), slice.file_id().to_string());
        let num_records = stats
            .record_counts
            .get(&(group, base.commit_timestamp.clone()))
            .copied();
        let mut file = DataFile::at_path(url, &relative, size);
        file.partition_values = loaded.layout.values(&slice.partition_path)?;
        file.stats = stats
            .column_stats
            .delta_json(&base.file_name(), num_records, stats.columns)
            .map(FileStats::from_json);
        file.modification_time_ms = times
            .get(base.commit_timestamp.as_str())
            .copied()
            .unwrap_or_default();
        Ok((file, relative))
    }

    /// The live files at `entries[at]`, checked to read as the version did and to be complete
    /// and consistent with the version's schema.
    async fn files_of_version(
        &self,
        loaded: &Loaded,
        infos: &[Arc<CommitInfo>],
        at: usize,
    ) -> Result<Vec<Live>, Error> {
        check_in_order(&loaded.entries, at)?;
        let read = AsOf {
            instant: &loaded.entries[at].as_of,
            seen: at + 1,
        };
        let live = self.files_at(loaded, infos, read).await?;
        if at + 1 < loaded.entries.len() {
            self.check_whole(loaded, infos, at, &live)?;
        }
        self.check_file_types(loaded, at, &live).await?;
        Ok(live)
    }

    async fn rows_at(
        &self,
        loaded: &Loaded,
        version: Version,
    ) -> Result<lakeshare_model::Rows, Error> {
        if loaded.entries.is_empty() && version == 0 {
            // The table before its first commit, as its snapshot is: no rows.
            let schema = loaded.table.get_schema().await?;
            return Ok(lakeshare_model::Rows {
                schema: Arc::new(schema),
                timestamp_ms: 0,
                batches: Box::pin(futures::stream::empty()),
            });
        }
        let at = self.position(loaded, version)?;
        check_in_order(&loaded.entries, at)?;
        let entry = &loaded.entries[at];
        let mut options = ReadOptions::new().with_as_of_timestamp(&entry.as_of);
        if self.options.read_optimized {
            options = options.with_hudi_option(READ_OPTIMIZED, "true");
        }
        let batches = loaded.table.read(&options).await?;
        let schema = match batches.first() {
            Some(batch) => batch.schema(),
            None => Arc::new(loaded.table.get_schema_with_meta_fields().await?),
        };
        // The shared schema leaves Hudi's metadata columns out unless the share asks for them.
        let keep: Vec<usize> = (0..schema.fields().len())
            .filter(|i| {
                self.options.meta_fields
                    || !crate::schema::META_FIELDS.contains(&schema.field(*i).name().as_str())
            })
            .collect();
        let schema = Arc::new(schema.project(&keep).map_err(|e| {
            Error::Model(ModelError::Corrupt {
                location: self.location.clone(),
                reason: e.to_string(),
            })
        })?);
        let batches: Vec<lakeshare_model::Result<arrow_array::RecordBatch>> = batches
            .into_iter()
            .map(|b| {
                b.project(&keep).map_err(|e| ModelError::Corrupt {
                    location: self.location.clone(),
                    reason: e.to_string(),
                })
            })
            .collect();
        Ok(lakeshare_model::Rows {
            schema,
            timestamp_ms: entry.timestamp_ms,
            batches: Box::pin(futures::stream::iter(batches)),
        })
    }

    async fn snapshot_at(&self, loaded: &Loaded, version: Version) -> Result<Snapshot, Error> {
        if loaded.entries.is_empty() && version == 0 {
            let (metadata, protocol) = self.metadata(loaded, None).await?;
            return Ok(Snapshot {
                format: crate::FORMAT,
                version: 0,
                timestamp_ms: 0,
                protocol,
                metadata,
                files: Vec::new().into(),
                native_id: None,
                unservable: None,
            });
        }
        let at = self.position(loaded, version)?;
        let infos = self.infos(loaded).await?;
        // A version with uncompacted log files, or with files its schema does not describe,
        // keeps its metadata; only its files are refused.
        let (live, unservable) = match self.files_of_version(loaded, infos, at).await {
            Ok(live) => (live, None),
            Err(Error::LogFiles(reason) | Error::SchemaMismatch(reason)) => {
                (Vec::new(), Some(reason))
            }
            Err(e) => return Err(e),
        };
        let (metadata, protocol) = self.metadata(loaded, Some(at)).await?;
        let entry = &loaded.entries[at];
        let mut snapshot = Snapshot {
            format: crate::FORMAT,
            version,
            timestamp_ms: entry.timestamp_ms,
            protocol,
            metadata,
            files: live.into_iter().map(|l| l.file).collect::<Vec<_>>().into(),
            native_id: Some(entry.instant.clone()),
            unservable,
        };
        // hudi lists file groups from a hash map, in a different order in every process.
        snapshot.sort_files();
        Ok(snapshot)
    }
}

/// What a file's statistics are made of.
struct Stats<'a> {
    record_counts: &'a HashMap<(FileGroupId, String), u64>,
    /// Top-level columns with a primitive Delta type: `(name, type)`.
    columns: &'a [(String, String)],
    column_stats: &'a FileColumnStats,
}

/// A live file group at some instant: its base file and the instant that wrote it.
struct Live {
    group: FileGroupId,
    instant: String,
    /// The base file's path relative to the table root.
    relative: String,
    file: DataFile,
}

/// What a file listing reads: the instant time hudi lists as of, and how many versions (the
/// first ones) that read sees.
#[derive(Clone, Copy)]
struct AsOf<'a> {
    instant: &'a str,
    seen: usize,
}

impl AsOf<'_> {
    /// Where the read is, for messages.
    fn describe(&self, entries: &[VersionEntry]) -> String {
        match self.seen.checked_sub(1).map(|i| &entries[i]) {
            Some(entry) => format!("at version {}", entry.version),
            None => format!("as of instant {}", self.instant),
        }
    }
}

/// The Avro schema in force after `infos` (oldest first): the newest one a commit recorded.
fn schema_in_force(infos: &[Arc<CommitInfo>]) -> Option<&str> {
    infos.iter().rev().find_map(|i| i.schema.as_deref())
}

/// Log file name → the position of the first version that wrote to it (`infos` in version
/// order). (Names are unique: they hold the file id, an instant and a write token. Paths are
/// not compared, as writers spell the partition part of unpartitioned tables differently.)
fn log_writers(infos: &[Arc<CommitInfo>]) -> HashMap<String, usize> {
    let mut writers = HashMap::new();
    for (at, info) in infos.iter().enumerate() {
        for write in info.writes.iter().filter(|w| !w.is_base_file()) {
            writers
                .entry(file_name(&write.path).to_string())
                .or_insert(at);
        }
    }
    writers
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether `slice` has log records written by the first `seen` versions, or by a commit no
/// longer in the active timeline.
fn has_logs_among(slice: &FileSlice, writers: &HashMap<String, usize>, seen: usize) -> bool {
    slice.log_files.iter().any(|log| {
        slice
            .log_file_relative_path(log)
            .ok()
            .and_then(|path| writers.get(file_name(&path)))
            .is_none_or(|written| *written < seen)
    })
}

#[async_trait]
impl TableSource for HudiSource {
    fn format(&self) -> TableFormat {
        crate::FORMAT
    }

    async fn latest_version(&self) -> Result<Version> {
        let loaded = self.load().await.map_err(|e| self.fail(e))?;
        Ok(loaded.entries.last().map_or(0, |e| e.version))
    }

    async fn snapshot(&self, version: Version) -> Result<Snapshot> {
        let loaded = self.load().await.map_err(|e| self.fail(e))?;
        self.snapshot_at(&loaded, version)
            .await
            .map_err(|e| self.fail(e))
    }

    async fn versions(&self) -> Result<Vec<Version>> {
        let loaded = self.load().await.map_err(|e| self.fail(e))?;
        Ok(loaded.entries.iter().map(|e| e.version).collect())
    }

    async fn commits(&self) -> Result<Vec<(Version, i64)>> {
        let loaded = self.load().await.map_err(|e| self.fail(e))?;
        Ok(loaded.commits())
    }

    async fn version_at(&self, timestamp: DateTime<Utc>, bound: TimestampBound) -> Result<Version> {
        let loaded = self.load().await.map_err(|e| self.fail(e))?;
        lakeshare_model::version_at(&loaded.commits(), timestamp, bound)
    }

    /// hudi's own snapshot read as of the version's instant: a merge-on-read table's log files
    /// merged into its base files (unless shared read-optimized), as Hudi's readers do.
    async fn rows(&self, version: Version) -> Result<lakeshare_model::Rows> {
        let loaded = self.load().await.map_err(|e| self.fail(e))?;
        self.rows_at(&loaded, version)
            .await
            .map_err(|e| self.fail(e))
    }

    async fn changes(&self, start: Version, end: Version) -> Result<Vec<VersionChanges>> {
        let loaded = self.load().await.map_err(|e| self.fail(e))?;
        self.changes_between(&loaded, start, end)
            .await
            .map_err(|e| self.fail(e))
    }
}

/// A local path with its `.` and `..` segments resolved lexically (hudi refuses paths holding
/// them, and a location relative to the configuration file's folder often does); URLs as they
/// are.
fn normalized(location: &str) -> String {
    use std::path::{Component, Path};
    if Url::parse(location).is_ok_and(|u| u.scheme().len() > 1) {
        return location.to_string();
    }
    let mut out = PathBuf::new();
    for component in Path::new(location).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

/// The Delta protocol a reader of the converted table needs.
fn protocol(features: Features) -> TableProtocol {
    if features.timestamp_ntz {
        TableProtocol {
            min_reader_version: 3,
            min_writer_version: 7,
            reader_features: Some(vec!["timestampNtz".into()]),
            writer_features: Some(vec!["timestampNtz".into()]),
        }
    } else {
        TableProtocol::legacy(1, 2)
    }
}

/// A stable id for a table that has none of its own: Hudi tables are identified by name and
/// location, so the id is derived from both.
fn table_id(table: &Table) -> String {
    lakeshare_model::stable_uuid(&format!(
        "hudi\n{}\n{}",
        table.table_name(),
        table.base_url()
    ))
}

/// The absolute URL of a file at `relative` (slash-separated, unescaped) under the table root.
fn file_url(base: &Url, relative: &str) -> Result<String, Error> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|_| Error::Corrupt(format!("the table root {base} cannot hold files")))?
        .pop_if_empty()
        .extend(relative.split('/').filter(|s| !s.is_empty()));
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_escape_each_segment_under_the_root() {
        let base = Url::parse("file:///data/t").unwrap();
        assert_eq!(
            file_url(&base, "city=san francisco/a_1.parquet").unwrap(),
            "file:///data/t/city=san%20francisco/a_1.parquet"
        );
        let s3 = Url::parse("s3://bucket/tables/t/").unwrap();
        assert_eq!(
            file_url(&s3, "a_1.parquet").unwrap(),
            "s3://bucket/tables/t/a_1.parquet"
        );
    }

    #[test]
    fn local_locations_lose_dot_segments_and_urls_stay() {
        assert_eq!(normalized("/etc/lakeshare/../tables/./t"), "/etc/tables/t");
        assert_eq!(normalized("s3://bucket/a/../t"), "s3://bucket/a/../t");
    }

    #[test]
    fn options_debug_hides_credentials() {
        let options = HudiOptions {
            storage_options: HashMap::from([(
                "aws_secret_access_key".to_string(),
                "s3cr3t".to_string(),
            )]),
            ..Default::default()
        };
        let shown = format!("{options:?}");
        assert!(shown.contains("aws_secret_access_key") && !shown.contains("s3cr3t"));
    }
}
