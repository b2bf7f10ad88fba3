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
use md5::{Digest, Md5};
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
/// Every request reads `hoodie.properties` and the timeline afresh (a listing of the timeline
/// folder), so new commits are seen at once; commit metadata, which never changes once written,
/// is parsed once per instant and kept, and so are the column types of the base files each
/// instant wrote (read from one of their footers).
pub struct HudiSource {
    /// As configured: an absolute path or a store URL, what hudi opens and messages name.
    location: String,
    options: HudiOptions,
    commits: Mutex<HashMap<String, Arc<CommitInfo>>>,
    /// Writer instant → what the footer of one of its base files says.
    footers: Mutex<HashMap<String, Arc<Footer>>>,
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

/// A freshly opened table and its versions.
struct Loaded {
    table: Table,
    entries: Vec<VersionEntry>,
    layout: PartitionLayout,
    /// The commit metadata of every entry, in the same order, gathered once per request.
    infos: tokio::sync::OnceCell<Vec<Arc<CommitInfo>>>,
    /// The metadata table's column statistics with the columns they are kept for, read once
    /// per request when first needed.
    column_stats: tokio::sync::OnceCell<ColumnBounds>,
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
        };
        let table = source.table().await.map_err(|e| source.fail(e))?;
        source.check_servable(&table).map_err(|e| source.fail(e))?;
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

    async fn load(&self) -> Result<Loaded, Error> {
        let table = self.table().await?;
        self.check_servable(&table)?;
        let entries = versions(&table)?;
        let layout = PartitionLayout::from_config(&table.hudi_options());
        Ok(Loaded {
            table,
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

    /// The Avro schema in force at `entries[..=at]`: the newest one a commit recorded, or
    /// the table's own (`hoodie.table.create.schema`, base files) when none did.
    async fn avro_schema(&self, loaded: &Loaded, at: Option<usize>) -> Result<String, Error> {
        if let Some(at) = at {
            let infos = self.infos(loaded).await?;
            if let Some(schema) = schema_in_force(&infos[..=at]) {
                return Ok(schema.to_string());
            }
        }
        Ok(loaded.table.get_schema_in_avro_str().await?)
    }

    async fn metadata(
        &self,
        loaded: &Loaded,
        at: Option<usize>,
    ) -> Result<(TableMetadata, TableProtocol), Error> {
        let table = &loaded.table;
        let avro = self.avro_schema(loaded, at).await?;
        let (schema_string, features) = delta_schema(&avro, self.options.meta_fields)?;
        let columns = column_names(&schema_string);
        let mut metadata = TableMetadata::new(table_id(table), schema_string);
        metadata.name = Some(table.table_name()).filter(|n| !n.is_empty());
        // Partition columns whose values are not in the data cannot be declared: clients
        // would add them from the partition values with no type to parse them by.
        metadata.partition_columns = loaded
            .layout
            .columns
            .iter()
            .filter(|c| columns.contains(c))
            .cloned()
            .collect();
        let config = table.hudi_options();
        // File-level changes can be read between any two versions.
        metadata.change_data_feed = true;
        let settings = &mut metadata.native;
        settings.insert("hudi.table.type".into(), table.table_type());
        for key in ["hoodie.table.version", "hoodie.table.recordkey.fields"] {
            if let Some(value) = config.get(key) {
                let short = key.trim_start_matches("hoodie.");
                settings.insert(format!("hudi.{short}"), value.clone());
            }
        }
        if let Some(entry) = at.map(|i| &loaded.entries[i]) {
            settings.insert("hudi.instant".into(), entry.instant.clone());
        }
        if self.options.read_optimized {
            settings.insert("hudi.read-optimized".into(), "true".into());
        }
        metadata.created_time = loaded.entries.first().map(|e| e.timestamp_ms);
        Ok((metadata, protocol(features)))
    }

    /// The metadata table's column statistics, where the table keeps them (version 8 and up,
    /// with the `column_stats` partition). They only refine pruning, so a failure to read
    /// them is logged and the files are served with row counts alone.
    async fn column_stats<'a>(&self, loaded: &'a Loaded) -> &'a ColumnBounds {
        loaded
            .column_stats
            .get_or_init(|| async {
                let table = &loaded.table;
                if !table.is_metadata_table_enabled()
                    || !table
                        .get_metadata_table_partitions()
                        .iter()
                        .any(|p| p == stats::PARTITION)
                {
                    return ColumnBounds::default();
                }
                // Boxed: hudi's metadata-table read is a deep future, too deep to nest inline.
                let read = Box::pin(async {
                    let batch = table
                        .read_metadata_table_partition_arrow(stats::PARTITION, &[])
                        .await?;
                    // Bounds are rendered by the columns' types in the newest schema.
                    let latest = loaded.entries.len().checked_sub(1);
                    let avro = self.avro_schema(loaded, latest).await?;
                    Ok::<_, Error>(ColumnBounds {
                        stats: FileColumnStats::from_records(&batch),
                        columns: primitive_columns(&delta_schema(&avro, false)?.0),
                    })
                });
                read.await.unwrap_or_else(|e| {
                    tracing::warn!(
                        table = %self.location,
                        "column statistics unreadable, serving row counts only: {e}"
                    );
                    ColumnBounds::default()
                })
            })
            .await
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
        let mut file = DataFile::new(url, hex::encode(Md5::digest(relative.as_bytes())), size);
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

    /// Refuses a past version whose files the cleaner has already removed.
    ///
    /// Hudi's cleaner deletes old base files once newer ones have been retained long enough. A
    /// read as of an older instant then silently misses those file groups, because hudi picks
    /// the newest base file at or before the instant and finds none. The commit metadata says
    /// which base file each group had at `entries[at]`: the one the latest-requested commit up
    /// to it wrote (hudi picks base files by requested time), or (for groups first rewritten
    /// later) the later commit's `prevCommit`; and groups that a later commit replaces without
    /// having written them since must still be there. Any group the listing lacks, or has at
    /// another instant, means the version is no longer whole.
    fn check_whole(
        &self,
        loaded: &Loaded,
        infos: &[Arc<CommitInfo>],
        at: usize,
        live: &[Live],
    ) -> Result<(), Error> {
        let entries = &loaded.entries;
        let version = entries[at].version;
        // What the read saw: the instants requested at or before this.
        let bound = entries[at].as_of_requested;
        let found: HashMap<&FileGroupId, &str> = live
            .iter()
            .map(|l| (&l.group, l.instant.as_str()))
            .collect();
        // Group → the base file instant it must have (None: any requested by `bound`).
        let mut expected: HashMap<&FileGroupId, Option<&str>> = HashMap::new();
        let mut seen: Vec<usize> = (0..=at).collect();
        seen.sort_by_key(|&i| entries[i].requested);
        for i in seen {
            for write in infos[i].writes.iter().filter(|w| w.is_base_file()) {
                expected.insert(&write.group, Some(&entries[i].instant));
            }
            for replaced in &infos[i].replaced {
                expected.remove(replaced);
            }
        }
        let replaced_by_then: HashSet<&FileGroupId> =
            infos[..=at].iter().flat_map(|i| &i.replaced).collect();
        let mut written_later: HashSet<&FileGroupId> = HashSet::new();
        for info in &infos[at + 1..] {
            for replaced in &info.replaced {
                if !written_later.contains(replaced)
                    && !replaced_by_then.contains(replaced)
                    && !expected.contains_key(replaced)
                {
                    expected.insert(replaced, None);
                }
            }
            for write in info.writes.iter().filter(|w| w.is_base_file()) {
                if !written_later.insert(&write.group) || expected.contains_key(&write.group) {
                    continue;
                }
                if let Some(prev) = &write.prev_commit
                    && version_of(prev).is_some_and(|p| p <= bound)
                {
                    expected.insert(&write.group, Some(prev));
                }
            }
        }
        for (group, instant) in expected {
            let whole = match (found.get(group), instant) {
                (Some(have), Some(want)) => *have == want,
                (Some(have), None) => version_of(have).is_some_and(|h| h <= bound),
                (None, _) => false,
            };
            if !whole {
                return Err(Error::Unsupported(format!(
                    "version {version} can no longer be read: the Hudi cleaner has removed the \
                     base file that file group {} (partition '{}') had then",
                    group.1, group.0
                )));
            }
        }
        Ok(())
    }

    /// Refuses the files of `entries[at]` when a live base file holds a column in another type
    /// than the schema served for the version says.
    ///
    /// Delta Sharing clients read each file by its own Parquet types (hudi's reader converts
    /// them to the table's schema, a client does not), so base files written before a column
    /// changed type would come back with the old type beside the new one: a column mixing
    /// integers and strings, say. What a file holds is read from its footer, one file per
    /// writer instant (files written by one commit share its write schema), and kept (see
    /// [`Footer`]). The writer schemas commits record are not trusted for this: with Hudi 1.x's
    /// timestamp-based key generators the partition source column can be recorded in one type
    /// and written in another, and a footer is what a client reads.
    ///
    /// Columns are compared by [`Shape`], as a reader would get them: nullability aside,
    /// widths and logical types kept, columns a file lacks (added later) and `_hoodie_*`
    /// metadata columns left out; see `schema::same_leaf` for the few equivalent types.
    async fn check_file_types(
        &self,
        loaded: &Loaded,
        at: usize,
        live: &[Live],
    ) -> Result<(), Error> {
        // Writer instant → its files, oldest instant first and files by partition and file
        // group (listings come in any order), so the message is the same each time.
        let mut writers: BTreeMap<&str, Vec<&Live>> = BTreeMap::new();
        for l in live {
            writers.entry(l.instant.as_str()).or_default().push(l);
        }
        for files in writers.values_mut() {
            files.sort_by(|a, b| a.group.cmp(&b.group));
        }
        if writers.is_empty() {
            return Ok(());
        }
        let served = self.avro_schema(loaded, Some(at)).await?;
        let expected = column_shapes(&served)?;
        let footers = self.footers(loaded, &writers).await?;
        for (instant, files) in writers {
            let mut footer = footers[instant].clone();
            let mut found = first_mismatch(&expected, &footer.columns);
            if found.as_ref().is_some_and(|m| m.found.is_ambiguous()) && !footer.refined {
                footer = self.refined_footer(loaded, instant, &footer).await?;
                found = first_mismatch(&expected, &footer.columns);
            }
            let Some(m) = found else {
                continue;
            };
            let example = files[0];
            return Err(Error::SchemaMismatch(format!(
                "the table's files disagree with its schema: column '{}' is {} in the schema \
                 served for version {}, but the base files written by Hudi instant {} hold it \
                 as {} ({} live base file(s), e.g. '{}' of file group {} in partition '{}'). \
                 Delta Sharing clients read each file by its own Parquet types, so they would \
                 get {} values in a {} column. To share this version, rewrite those files with \
                 the table's schema (an insert overwrite or a clustering of their partitions), \
                 or, if the files are right, correct the schema the table's commits record",
                m.column,
                m.expected,
                loaded.entries[at].version,
                instant,
                m.found,
                files.len(),
                file_name(&example.relative),
                example.group.1,
                example.group.0,
                m.found,
                m.expected,
            )));
        }
        Ok(())
    }

    /// The footer of each writer instant of `writers`: kept ones, and for the others the footer
    /// of one of their files, read through hudi's storage for the table (local or a store),
    /// a few at a time.
    async fn footers(
        &self,
        loaded: &Loaded,
        writers: &BTreeMap<&str, Vec<&Live>>,
    ) -> Result<HashMap<String, Arc<Footer>>, Error> {
        let mut out = HashMap::with_capacity(writers.len());
        let mut missing = Vec::new();
        {
            let kept = self.footers.lock().expect("poisoned");
            for (instant, files) in writers {
                match kept.get(*instant) {
                    Some(footer) => {
                        out.insert(instant.to_string(), footer.clone());
                    }
                    None => missing.push((instant.to_string(), files[0].relative.clone())),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let storage = self.storage(loaded)?;
        let mut pending = missing.into_iter();
        let mut reads = tokio::task::JoinSet::new();
        loop {
            while reads.len() < FOOTER_READS_IN_FLIGHT {
                let Some((instant, file)) = pending.next() else {
                    break;
                };
                let storage = storage.clone();
                reads.spawn(async move {
                    let schema = ParquetBaseFileReader::new(storage).get_schema(&file).await;
                    (instant, file, schema)
                });
            }
            let Some(read) = reads.join_next().await else {
                break;
            };
            let (instant, file, schema) =
                read.map_err(|e| Error::Corrupt(format!("reading a base file footer: {e}")))?;
            let schema = schema.map_err(|e| Error::Hudi(e.into()))?;
            let footer = Arc::new(Footer {
                columns: file_shapes(&schema, None),
                schema,
                file,
                refined: false,
            });
            self.footers
                .lock()
                .expect("poisoned")
                .insert(instant.clone(), footer.clone());
            out.insert(instant, footer);
        }
        Ok(out)
    }

    /// `footer` with its columns refined by the file's Parquet schema, for the leaves its Arrow
    /// schema leaves ambiguous (legacy `INT96` timestamps, enums); read only when a column
    /// disagrees with the schema served by such a leaf, and kept.
    async fn refined_footer(
        &self,
        loaded: &Loaded,
        instant: &str,
        footer: &Footer,
    ) -> Result<Arc<Footer>, Error> {
        let metadata = ParquetBaseFileReader::new(self.storage(loaded)?)
            .get_parquet_metadata(&footer.file)
            .await
            .map_err(|e| Error::Hudi(e.into()))?;
        // Only parquet's names for its types are at hand (the crate is hudi's, not ours): the
        // physical type, converted type and logical type as parquet spells them.
        let leaves: Vec<ParquetLeaf> = metadata
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| {
                if c.physical_type().to_string() == "INT96" {
                    ParquetLeaf::Int96
                } else if c.converted_type().to_string() == "ENUM"
                    || format!("{:?}", c.logical_type_ref()) == "Some(Enum)"
                {
                    ParquetLeaf::Enum
                } else {
                    ParquetLeaf::Other
                }
            })
            .collect();
        let refined = Arc::new(Footer {
            file: footer.file.clone(),
            columns: file_shapes(&footer.schema, Some(&leaves)),
            schema: footer.schema.clone(),
            refined: true,
        });
        self.footers
            .lock()
            .expect("poisoned")
            .insert(instant.to_string(), refined.clone());
        Ok(refined)
    }

    /// hudi's storage for the table, as its file system view builds it (the same base URL,
    /// hudi configs and storage options).
    fn storage(&self, loaded: &Loaded) -> Result<Arc<Storage>, Error> {
        let table = &loaded.table;
        Storage::new(table.storage_options.clone(), table.hudi_configs.clone())
            .map_err(|e| Error::Hudi(e.into()))
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

    async fn snapshot_at(&self, loaded: &Loaded, version: Version) -> Result<Snapshot, Error> {
        if loaded.entries.is_empty() && version == 0 {
            let (metadata, protocol) = self.metadata(loaded, None).await?;
            return Ok(Snapshot {
                format: TableFormat::Hudi,
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
            format: TableFormat::Hudi,
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

    async fn changes_between(
        &self,
        loaded: &Loaded,
        start: Version,
        end: Version,
    ) -> Result<Vec<VersionChanges>, Error> {
        let first = self.position(loaded, start)?;
        let last = self.position(loaded, end)?;
        let infos = self.infos(loaded).await?;
        let mut out = Vec::with_capacity(last - first + 1);
        // The files just before the range: as of the previous version, or as of a moment
        // before the earliest active instant (which sees what archived commits left).
        let mut before = match first.checked_sub(1) {
            Some(prev) => self.files_of_version(loaded, infos, prev).await?,
            None => {
                let earliest = earliest_instant(&loaded.entries).unwrap_or_default();
                let instant = instant_before(earliest)
                    .ok_or_else(|| Error::Corrupt(format!("unreadable instant time {earliest}")))?;
                let read = AsOf {
                    instant: &instant,
                    seen: 0,
                };
                self.files_at(loaded, infos, read).await?
            }
        };
        let mut schema_before = match first.checked_sub(1) {
            Some(prev) => Some(self.avro_schema(loaded, Some(prev)).await?),
            None => None,
        };
        // Clustering rewrites rows without changing them, except in a read-optimized view,
        // where it also folds in the log files.
        let skip_clustering = !(loaded.table.is_mor() && self.options.read_optimized);
        for at in first..=last {
            let entry = &loaded.entries[at];
            let info = &infos[at];
            check_predecessors(entry, info, &before)?;
            let live = self.files_of_version(loaded, infos, at).await?;
            let mut changes = Vec::new();
            if !(skip_clustering && info.rewrites_only()) {
                let old: HashSet<&str> = before.iter().map(|l| l.file.id.as_str()).collect();
                let new: HashSet<&str> = live.iter().map(|l| l.file.id.as_str()).collect();
                for l in before.iter().filter(|l| !new.contains(l.file.id.as_str())) {
                    changes.push(ChangeFile {
                        kind: ChangeKind::Removed,
                        file: l.file.clone(),
                    });
                }
                for l in live.iter().filter(|l| !old.contains(l.file.id.as_str())) {
                    changes.push(ChangeFile {
                        kind: ChangeKind::Added,
                        file: l.file.clone(),
                    });
                }
            }
            let schema = self.avro_schema(loaded, Some(at)).await?;
            let metadata = if schema_before.as_deref() != Some(schema.as_str()) {
                Some(self.metadata(loaded, Some(at)).await?)
            } else {
                None
            };
            schema_before = Some(schema);
            let mut version_changes = VersionChanges {
                version: entry.version,
                timestamp_ms: entry.timestamp_ms,
                protocol: metadata.as_ref().map(|(_, p)| p.clone()),
                metadata: metadata.map(|(m, _)| m),
                files: changes,
            };
            version_changes.sort_files();
            out.push(version_changes);
            before = live;
        }
        Ok(out)
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

/// Refuses a change range whose starting point is incomplete: every base file a commit
/// rewrites (its `prevCommit`) and every group it replaces must be among the files before it,
/// or the feed would show rows inserted without the deletes of the rows they replace.
fn check_predecessors(
    entry: &VersionEntry,
    info: &CommitInfo,
    before: &[Live],
) -> Result<(), Error> {
    let had: HashMap<&FileGroupId, &str> = before
        .iter()
        .map(|l| (&l.group, l.instant.as_str()))
        .collect();
    let rewrites = info
        .writes
        .iter()
        .filter(|w| w.is_base_file())
        .filter_map(|w| Some((&w.group, Some(w.prev_commit.as_deref()?))));
    let replaces = info.replaced.iter().map(|g| (g, None));
    for (group, prev) in rewrites.chain(replaces) {
        let present = match (had.get(group), prev) {
            (Some(have), Some(want)) => *have == want,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !present {
            return Err(Error::Unsupported(format!(
                "the changes of version {} cannot be listed: the base file it replaced in file \
                 group {} (partition '{}') is gone (cleaned, or written by an archived commit)",
                entry.version, group.1, group.0
            )));
        }
    }
    Ok(())
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

/// Rows per base file `((partition, file id), instant)`, from the write statistics of the
/// commits `seen` (a commit records the complete row count of each base file it writes).
fn record_counts(
    seen: &[VersionEntry],
    infos: &[Arc<CommitInfo>],
) -> HashMap<(FileGroupId, String), u64> {
    let mut counts = HashMap::new();
    for (entry, info) in seen.iter().zip(infos) {
        for write in info.writes.iter().filter(|w| w.is_base_file()) {
            if let Some(n) = write.num_writes {
                counts.insert((write.group.clone(), entry.instant.clone()), n);
            }
        }
    }
    counts
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
        TableFormat::Hudi
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

    async fn version_at(&self, timestamp: DateTime<Utc>, bound: TimestampBound) -> Result<Version> {
        let loaded = self.load().await.map_err(|e| self.fail(e))?;
        let commits: Vec<(Version, i64)> = loaded
            .entries
            .iter()
            .map(|e| (e.version, e.timestamp_ms))
            .collect();
        lakeshare_model::version_at(&commits, timestamp, bound)
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
