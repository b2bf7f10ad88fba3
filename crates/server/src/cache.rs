//! Snapshots by `(table, version)`, bounded in bytes.
//!
//! A version never changes meaning (see `TableSource`), so entries need no invalidation; the
//! bound is what keeps a gateway fronting many large tables from growing without limit.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use lakeshare_filter::{FileStatistics, PartitionFilter};

use lakeshare_model::{CONFIGURATION_PREFIX, Governance, Snapshot, TableSource, Version};
use lakeshare_storage::UrlSigner;
use moka::future::Cache;

/// A snapshot with what the server worked out about it once, when it was loaded.
#[derive(Debug)]
pub struct ServedSnapshot {
    pub snapshot: Snapshot,
    /// Why the parquet response format cannot represent this snapshot faithfully, if it cannot.
    pub parquet_blocker: Option<String>,
    /// Columnar statistics for pruning, built by the first query with predicate hints.
    statistics: OnceLock<FileStatistics>,
    /// The audit fields of an answer of every file, by id scheme, built by the first.
    all_read: [OnceLock<crate::audit::FilesRead>; 2],
    /// Its weight in the cache's byte bound, worked out once: the cache weighs an entry each
    /// time it is inserted, and a walk over 100k files is not free.
    bytes: u32,
}

impl ServedSnapshot {
    pub fn statistics(&self) -> &FileStatistics {
        self.statistics.get_or_init(|| {
            let statistics = FileStatistics::new(&self.snapshot);
            crate::memory::release_after(self.snapshot.files.len());
            statistics
        })
    }

    /// What an answer of every file says about them in the audit (see
    /// [`crate::audit::FilesRead`]).
    pub fn all_read(&self, scheme: lakeshare_protocol::FileIdHash) -> &crate::audit::FilesRead {
        let slot = match scheme {
            lakeshare_protocol::FileIdHash::Parquet => 0,
            lakeshare_protocol::FileIdHash::Delta => 1,
        };
        self.all_read[slot]
            .get_or_init(|| crate::audit::FilesRead::of(scheme, self.snapshot.files.iter()))
    }
}

/// Snapshots, and the query lines signed for them ([`crate::signed_lines`]), under one byte
/// bound: a gateway's memory is what both hold together.
#[derive(Clone)]
pub struct SnapshotCache {
    inner: Cache<Key, Entry>,
    /// Snapshot loads under way, each a task of its own: a load outlives the requests that
    /// wait for it, and a request arriving meanwhile joins it rather than starting another.
    loads: Arc<std::sync::Mutex<HashMap<SnapshotKey, SharedLoad>>>,
}

type SnapshotKey = (Arc<str>, Version);
type Loaded = Result<Arc<ServedSnapshot>, Arc<lakeshare_model::Error>>;
type SharedLoad = futures::future::Shared<futures::future::BoxFuture<'static, Loaded>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Snapshot(SnapshotKey),
    Lines(Arc<crate::signed_lines::BlockKey>),
    /// The files a query's hints select in a snapshot, by the hints as given.
    Selection(SnapshotKey, Arc<str>),
}

#[derive(Clone)]
enum Entry {
    Snapshot(Arc<ServedSnapshot>),
    Lines(Arc<crate::signed_lines::Block>),
    Selection(Arc<[u32]>),
}

impl Entry {
    fn bytes(&self) -> u32 {
        match self {
            Entry::Snapshot(served) => served.bytes,
            Entry::Lines(block) => block.bytes(),
            Entry::Selection(files) => u32::try_from(64 + 4 * files.len()).unwrap_or(u32::MAX),
        }
    }
}

/// Snapshots and selections stay until the bound pushes them out (a version never changes
/// meaning); signed lines only while their URLs have more than half their lifetime left.
struct Freshness;

impl moka::Expiry<Key, Entry> for Freshness {
    fn expire_after_create(
        &self,
        _: &Key,
        entry: &Entry,
        _: std::time::Instant,
    ) -> Option<std::time::Duration> {
        match entry {
            Entry::Snapshot(_) | Entry::Selection(_) => None,
            Entry::Lines(block) => Some(block.fresh_for()),
        }
    }
}

impl std::fmt::Debug for SnapshotCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotCache")
            .field("entries", &self.inner.entry_count())
            .field("weighted_bytes", &self.inner.weighted_size())
            .finish()
    }
}

impl SnapshotCache {
    pub fn new(max_bytes: u64) -> Self {
        Self {
            inner: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, entry: &Entry| entry.bytes())
                .expire_after(Freshness)
                .build(),
            loads: Arc::default(),
        }
    }

    /// The snapshot of `table_id` at `version`, loading it on a miss as [`Load`] says.
    /// Concurrent misses for the same key share one load.
    pub async fn get(
        &self,
        table_id: &str,
        version: Version,
        load: Load<'_>,
    ) -> Result<Arc<ServedSnapshot>, Arc<lakeshare_model::Error>> {
        let counters = &crate::metrics::COUNTERS;
        let loaded = std::sync::atomic::AtomicBool::new(false);
        let key: SnapshotKey = (Arc::from(table_id), version);
        let found = self
            .inner
            .try_get_with(Key::Snapshot(key.clone()), async {
                loaded.store(true, std::sync::atomic::Ordering::Relaxed);
                self.load(key, load).await.map(Entry::Snapshot)
            })
            .await;
        // A caller that waited on another's load counts as a hit when that load succeeded, and
        // as neither when it failed (nothing was read for it, nothing was found).
        if loaded.load(std::sync::atomic::Ordering::Relaxed) {
            counters.snapshot_misses.inc();
        } else if found.is_ok() {
            counters.snapshot_hits.inc();
        }
        match found {
            Ok(Entry::Snapshot(served)) => Ok(served),
            Ok(_) => unreachable!("a snapshot key holds a snapshot"),
            Err(e) => Err(Arc::clone(&e)),
        }
    }

    /// Joins the load of `key` under way, or starts one: a task that keeps the result in the
    /// cache when it succeeds, even if every request that waited for it has gone (timed out),
    /// so the next one finds it.
    async fn load(&self, key: SnapshotKey, load: Load<'_>) -> Loaded {
        let shared = {
            let mut loads = self.loads.lock().expect("not poisoned");
            match loads.get(&key) {
                Some(under_way) => under_way.clone(),
                None => {
                    let task = tokio::spawn(load_task(
                        key.clone(),
                        load.owned(),
                        self.inner.clone(),
                        self.loads.clone(),
                    ));
                    let joined = async move {
                        task.await.unwrap_or_else(|e| {
                            tracing::error!("a snapshot load failed: {e}");
                            Err(Arc::new(lakeshare_model::Error::Corrupt {
                                location: "the table".into(),
                                reason: "its snapshot could not be loaded".into(),
                            }))
                        })
                    };
                    let shared = futures::FutureExt::shared(futures::FutureExt::boxed(joined));
                    loads.insert(key, shared.clone());
                    shared
                }
            }
        };
        shared.await
    }

    /// The signed lines of block `key`, rendered by `render` unless a fresh copy is kept.
    /// Concurrent misses for the same block share one rendering.
    pub async fn lines(
        &self,
        key: crate::signed_lines::BlockKey,
        render: impl Future<Output = lakeshare_storage::Result<crate::signed_lines::Block>>,
    ) -> Result<Arc<crate::signed_lines::Block>, Arc<lakeshare_storage::Error>> {
        let found = self
            .inner
            .try_get_with(Key::Lines(Arc::new(key)), async {
                render.await.map(|block| Entry::Lines(Arc::new(block)))
            })
            .await?;
        match found {
            Entry::Lines(block) => Ok(block),
            _ => unreachable!("a lines key holds lines"),
        }
    }

    /// The files `hints` select in `table_id` at `version`, as [`Self::keep_selection`] kept
    /// them: pruning a large snapshot costs more than sending the few files it keeps.
    pub async fn selection(
        &self,
        table_id: &str,
        version: Version,
        hints: &str,
    ) -> Option<Arc<[u32]>> {
        let key = Key::Selection((Arc::from(table_id), version), Arc::from(hints));
        match self.inner.get(&key).await? {
            Entry::Selection(files) => Some(files),
            _ => unreachable!("a selection key holds a selection"),
        }
    }

    pub async fn keep_selection(
        &self,
        table_id: &str,
        version: Version,
        hints: &str,
        files: Arc<[u32]>,
    ) {
        let key = Key::Selection((Arc::from(table_id), version), Arc::from(hints));
        self.inner.insert(key, Entry::Selection(files)).await;
    }

    /// Entries and estimated bytes held now (after the cache's pending bookkeeping, which
    /// otherwise lags the inserts).
    pub async fn size(&self) -> (u64, u64) {
        self.inner.run_pending_tasks().await;
        (self.inner.entry_count(), self.inner.weighted_size())
    }
}

/// What loading a table's snapshot takes: its adapter, its signer (to vet the files), how the
/// share presents it, and how long it may take as a whole.
#[derive(Clone, Copy)]
pub struct Load<'a> {
    pub source: &'a Arc<dyn TableSource>,
    pub signer: &'a Arc<dyn UrlSigner>,
    pub sharing: Sharing<'a>,
    pub deadline: std::time::Duration,
}

impl Load<'_> {
    fn owned(self) -> OwnedLoad {
        OwnedLoad {
            source: self.source.clone(),
            signer: self.signer.clone(),
            governance: self.sharing.governance.clone(),
            filter: self.sharing.filter.cloned(),
            deadline: self.deadline,
        }
    }
}

/// [`Load`] for a task of its own.
struct OwnedLoad {
    source: Arc<dyn TableSource>,
    signer: Arc<dyn UrlSigner>,
    governance: Governance,
    filter: Option<PartitionFilter>,
    deadline: std::time::Duration,
}

/// Loads `key`'s snapshot within the deadline; keeps it in `cache` when it succeeds, and
/// then (so that no request finds neither) forgets the load.
async fn load_task(
    key: SnapshotKey,
    load: OwnedLoad,
    cache: Cache<Key, Entry>,
    loads: Arc<std::sync::Mutex<HashMap<SnapshotKey, SharedLoad>>>,
) -> Loaded {
    let version = key.1;
    let work = async {
        let mut snapshot = load.source.snapshot(version).await?;
        // Page tokens key on this order: it must not depend on the adapter or process.
        snapshot.sort_files();
        if let Some(filter) = &load.filter {
            filtered(&mut snapshot, filter)?;
        }
        with_governance(&mut snapshot, &load.governance);
        vet(snapshot, &*load.signer).map(Arc::new)
    };
    let result = match tokio::time::timeout(load.deadline, work).await {
        Ok(result) => result.map_err(Arc::new),
        Err(_) => Err(Arc::new(lakeshare_model::Error::Storage {
            fault: lakeshare_model::StorageFault::TimedOut,
            detail: format!(
                "loading version {version} took longer than snapshot_load_timeout_seconds ({} s)",
                load.deadline.as_secs()
            ),
        })),
    };
    if let Ok(served) = &result {
        // The replay's transient allocations are freed by now; the process need not keep them.
        crate::memory::release_after(served.snapshot.files.len());
        cache
            .insert(Key::Snapshot(key.clone()), Entry::Snapshot(served.clone()))
            .await;
    }
    loads.lock().expect("not poisoned").remove(&key);
    result
}

/// How the share presents a table's snapshots: the governance metadata it adds and the row
/// filter it applies. Both are part of the table's entry, so of the key snapshots are cached
/// under.
#[derive(Debug, Clone, Copy)]
pub struct Sharing<'a> {
    pub governance: &'a Governance,
    pub filter: Option<&'a PartitionFilter>,
}

/// Keeps only the files `filter` shares. A filter that cannot be applied to the version
/// refuses it, and the recipient is not told the filter (it is the provider's business).
fn filtered(snapshot: &mut Snapshot, filter: &PartitionFilter) -> lakeshare_model::Result<()> {
    // Why a version cannot be served is worked out over the whole table, and may name files
    // or partitions outside the filter: the log gets it, the recipient a reason without them.
    if let Some(reason) = snapshot.unservable.take() {
        tracing::info!(
            version = snapshot.version,
            "filtered table's version unservable: {reason}"
        );
        snapshot.unservable =
            Some("the table cannot be served at this version (the gateway's log says why)".into());
    }
    let kept = filter
        .retain(&snapshot.metadata, &snapshot.files)
        .map_err(|e| refused_filter(snapshot.version, &e))?;
    snapshot.files = kept.into();
    Ok(())
}

/// The refusal of version `version` for a filter that cannot be applied to it; the reason goes
/// to the log.
pub(crate) fn refused_filter(
    version: Version,
    error: &lakeshare_filter::FilterError,
) -> lakeshare_model::Error {
    tracing::error!(version, "refusing a filtered table's version: {error}");
    lakeshare_model::Error::Unsupported(format!(
        "the share's filter on this table cannot be applied at version {version}; the provider must fix the share's configuration"
    ))
}

/// Adds the table's governance metadata to what recipients see of its metadata: the
/// `opensharing.*` configuration entries (replacing any the table itself carries, since the
/// provider's configuration is the authority) and, where the table has none, its description.
fn with_governance(snapshot: &mut Snapshot, governance: &Governance) {
    let configuration = &mut snapshot.metadata.configuration;
    configuration.retain(|key, _| !key.starts_with(CONFIGURATION_PREFIX));
    configuration.extend(governance.configuration());
    if snapshot.metadata.description.is_none() {
        snapshot.metadata.description = governance.description.clone();
    }
}

/// Refuses snapshots referencing files the table's signer will not sign, and notes what keeps
/// the parquet format from representing the snapshot.
fn vet(snapshot: Snapshot, signer: &dyn UrlSigner) -> lakeshare_model::Result<ServedSnapshot> {
    let urls = snapshot.files.iter().flat_map(|f| {
        let dv = f
            .deletion_vector
            .as_ref()
            .and_then(|dv| dv.absolute_url.as_deref());
        std::iter::once(f.url.as_str()).chain(dv.map(std::borrow::Cow::Borrowed))
    });
    if let Some(err) = urls.map(|url| signer.check(&url)).find_map(Result::err) {
        tracing::error!("refusing snapshot: {err}");
        return Err(lakeshare_model::Error::Unsupported(
            "the table references data files outside its location, which this server does not serve".into(),
        ));
    }
    // Pages continue after the last id served, so two files with one id would lose one.
    if let Some(pair) = snapshot.files.windows(2).find(|w| w[0].id == w[1].id) {
        tracing::error!(table_version = snapshot.version, id = %pair[0].id, "refusing snapshot: duplicate file id");
        return Err(lakeshare_model::Error::Unsupported(
            "the table lists two data files under one id, which this server cannot page through correctly".into(),
        ));
    }
    if let Some(file) = snapshot.files.iter().find(|f| {
        f.deletion_vector
            .as_ref()
            .is_some_and(|dv| dv.storage_type != "i" && dv.absolute_url.is_none())
    }) {
        return Err(lakeshare_model::Error::Corrupt {
            location: file.url.to_string(),
            reason: "its deletion vector's location cannot be resolved".into(),
        });
    }
    let parquet_blocker = parquet_blocker(&snapshot);
    Ok(ServedSnapshot {
        bytes: estimated_bytes(&snapshot),
        snapshot,
        parquet_blocker,
        statistics: OnceLock::new(),
        all_read: Default::default(),
    })
}

/// Features the parquet response format cannot carry. Reading such a table as plain parquet
/// would return deleted rows or wrongly named or typed columns, so it must be refused.
fn parquet_blocker(snapshot: &Snapshot) -> Option<String> {
    let mut features = Vec::new();
    let with_dv = snapshot.files_with_deletion_vectors();
    if with_dv > 0 {
        features.push(format!(
            "deletion vectors ({with_dv} of its {} files have deleted rows that plain parquet readers would return)",
            snapshot.files.len()
        ));
    }
    if snapshot.metadata.column_mapping || snapshot.protocol.has_reader_feature("columnMapping") {
        features.push("column mapping (its parquet files use physical column names)".into());
    }
    if snapshot.protocol.has_reader_feature("timestampNtz") {
        features.push("timestamp without time zone columns".into());
    }
    (!features.is_empty()).then(|| features.join(" and "))
}

/// Approximate size of a snapshot in memory, for the cache's byte bound: each file's entry and
/// what it points to (each allocation rounded up as the allocator does), and the columnar
/// statistics the first pruned query builds (about as large as the statistics' text).
fn estimated_bytes(snapshot: &Snapshot) -> u32 {
    fn heap(len: usize) -> usize {
        if len == 0 {
            0
        } else {
            (len + 8).next_multiple_of(16)
        }
    }
    let files: usize = snapshot
        .files
        .iter()
        .map(|f| {
            let stats = f.stats.as_ref().map_or(0, |s| heap(s.json.len()));
            std::mem::size_of::<lakeshare_model::DataFile>()
                + heap(f.url.heap_bytes())
                + heap(f.id.len())
                + 2 * stats
                + f.partition_values.heap_bytes()
                + 24 * f.partition_values.len()
                + f.deletion_vector.as_ref().map_or(0, |_| 256)
        })
        .sum();
    let total = 1024 + snapshot.metadata.schema_string.len() + files;
    u32::try_from(total).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakeshare_model::{DataFile, DeletionVector, TableFormat, TableMetadata, TableProtocol};

    fn snapshot(files: Vec<DataFile>) -> Snapshot {
        Snapshot {
            format: TableFormat::new("delta"),
            version: 0,
            timestamp_ms: 0,
            protocol: TableProtocol::legacy(1, 2),
            metadata: TableMetadata::new("id", "{}"),
            files: files.into(),
            native_id: None,
            unservable: None,
        }
    }

    /// A table whose every snapshot load takes `delay`, counting the loads.
    #[derive(Debug)]
    struct Slow {
        delay: std::time::Duration,
        loads: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl TableSource for Slow {
        fn format(&self) -> TableFormat {
            TableFormat::new("delta")
        }

        async fn latest_version(&self) -> lakeshare_model::Result<Version> {
            Ok(0)
        }

        async fn snapshot(&self, _: Version) -> lakeshare_model::Result<Snapshot> {
            self.loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            Ok(snapshot(Vec::new()))
        }

        async fn version_at(
            &self,
            _: chrono::DateTime<chrono::Utc>,
            _: lakeshare_model::TimestampBound,
        ) -> lakeshare_model::Result<Version> {
            Ok(0)
        }
    }

    #[derive(Debug)]
    struct NoFiles;

    #[async_trait::async_trait]
    impl UrlSigner for NoFiles {
        async fn sign_all(
            &self,
            _: &[&str],
        ) -> lakeshare_storage::Result<Vec<lakeshare_storage::SignedUrl>> {
            unreachable!("nothing to sign")
        }

        fn check(&self, _: &str) -> lakeshare_storage::Result<()> {
            Ok(())
        }
    }

    /// A slow table, and the same as the server holds it.
    fn slow(delay_ms: u64) -> (Arc<Slow>, Arc<dyn TableSource>) {
        let slow = Arc::new(Slow {
            delay: std::time::Duration::from_millis(delay_ms),
            loads: Default::default(),
        });
        (slow.clone(), slow)
    }

    async fn get(
        cache: &SnapshotCache,
        source: &Arc<dyn TableSource>,
        deadline_ms: u64,
    ) -> Result<Arc<ServedSnapshot>, Arc<lakeshare_model::Error>> {
        let signer: Arc<dyn UrlSigner> = Arc::new(NoFiles);
        let governance = Governance::default();
        let load = Load {
            source,
            signer: &signer,
            sharing: Sharing {
                governance: &governance,
                filter: None,
            },
            deadline: std::time::Duration::from_millis(deadline_ms),
        };
        cache.get("t", 0, load).await
    }

    fn loads(slow: &Slow) -> usize {
        slow.loads.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_load_outlives_the_requests_that_gave_up_on_it() {
        let cache = SnapshotCache::new(1 << 20);
        let (slow, source) = slow(300);
        // Two requests give up (their request timeout) while the load runs...
        for _ in 0..2 {
            let gave_up = tokio::time::timeout(
                std::time::Duration::from_millis(50),
                get(&cache, &source, 10_000),
            )
            .await;
            assert!(gave_up.is_err());
        }
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        // ...and the next one finds what that one load made.
        get(&cache, &source, 10_000).await.expect("the snapshot");
        assert_eq!(loads(&slow), 1, "one load for all three requests");
    }

    #[tokio::test]
    async fn a_load_past_its_deadline_fails_as_a_slow_store_and_is_tried_again() {
        let cache = SnapshotCache::new(1 << 20);
        let (slow, source) = slow(500);
        let error = get(&cache, &source, 50).await.unwrap_err();
        assert!(
            matches!(
                &*error,
                lakeshare_model::Error::Storage {
                    fault: lakeshare_model::StorageFault::TimedOut,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("snapshot_load_timeout_seconds"));
        let _ = get(&cache, &source, 50).await;
        assert_eq!(loads(&slow), 2, "a failed load is not cached");
    }

    #[test]
    fn plain_tables_are_parquet_representable() {
        assert_eq!(
            parquet_blocker(&snapshot(vec![DataFile::new("file:///a", "a", 1)])),
            None
        );
    }

    #[test]
    fn deletion_vectors_and_column_mapping_are_named() {
        let mut f = DataFile::new("file:///a", "a", 1);
        f.deletion_vector = Some(Box::new(DeletionVector {
            storage_type: "u".into(),
            path_or_inline_dv: "x".into(),
            offset: Some(1),
            size_in_bytes: 10,
            cardinality: 2,
            absolute_url: None,
        }));
        let mut s = snapshot(vec![f, DataFile::new("file:///b", "b", 1)]);
        s.metadata.column_mapping = true;
        let why = parquet_blocker(&s).unwrap();
        assert!(why.contains("deletion vectors (1 of its 2 files"), "{why}");
        assert!(why.contains("column mapping"), "{why}");
    }
}
