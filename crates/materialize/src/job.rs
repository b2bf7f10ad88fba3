//! Keeping a materialized table up to date, and serving it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use futures::TryStreamExt as _;
use lakeshare_model::{
    Commit, Content, DataFile, Error, Format, Kept, Place, Result, Rows, Snapshot, StoreAccess,
    TableFormat, TableSource, TableWriter, TimestampBound, Version, VersionChanges,
    VersionFootprint,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OnceCell};

use crate::budget::{self, Budget, Usage};
use crate::{Computed, Definition, compute, compute_appended, diff, timeline};

/// How often a read may start a check of the sources for newer versions.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long after a failed refresh the next may start (a failure recomputes in full).
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(30);
/// What a reader of a table still being computed is told to wait.
const RETRY_AFTER_SECS: u64 = 5;

/// Where a materialized table is written, and in what.
#[derive(Debug, Clone)]
pub struct Target {
    pub format: Arc<dyn Format>,
    pub writer: Arc<dyn TableWriter>,
    /// A folder on the gateway's disk or a store URL, below the provider's cache.
    pub location: String,
    pub store: Option<StoreAccess>,
    /// How long files no version served any more are kept before they are deleted: at least
    /// as long as the URLs signed for them live.
    pub keep_replaced_for: Duration,
    /// The most the table may take on storage (`cache_budget`), in bytes.
    pub budget_bytes: Option<u64>,
    /// The cache's budget (`cache.budget`), shared with the other computed tables.
    pub shared_budget: Option<Arc<Budget>>,
}

impl Target {
    fn place(&self) -> Place<'_> {
        match &self.store {
            None => Place::Local {
                location: &self.location,
            },
            Some(store) => Place::Store {
                location: &self.location,
                store,
            },
        }
    }
}

/// The note committed with each version: the sources' versions it was computed from, and
/// when the newest of them was committed.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Note {
    sources: BTreeMap<String, Version>,
    #[serde(default)]
    time_ms: i64,
}

/// What readers see of each written version (`0..`, by position): its version number (for a
/// table following one source, that source's version; for any other, its own) and its commit
/// time (when the newest of the sources it was computed from was committed, so that a time
/// travels through a computed table as through its sources).
type Shown = Vec<(Version, i64)>;

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// The latest version already reflects the sources' latest versions.
    UpToDate { version: Version },
    /// Versions were committed, the last of them `latest`.
    Committed { versions: usize, latest: Version },
    /// The sources moved but the result did not change.
    Unchanged { version: Version },
}

impl Refreshed {
    /// The latest written version.
    pub fn version(&self) -> Version {
        match self {
            Refreshed::UpToDate { version }
            | Refreshed::Unchanged { version }
            | Refreshed::Committed {
                latest: version, ..
            } => *version,
        }
    }
}

/// One materialized table: its definition, where it is written, and its refresh state.
#[derive(Debug)]
pub struct Materialized {
    /// `share.schema.table`, for logs.
    pub name: String,
    pub definition: Definition,
    pub target: Target,
    /// Compute the table's history (at every version of its single source, or at every
    /// moment one of its sources committed), not only its latest version.
    pub history: bool,
    /// One refresh at a time in this process.
    running: Mutex<()>,
    /// The sources' versions the latest committed version is known to reflect, and when that
    /// was checked.
    checked: SyncMutex<Option<(Instant, BTreeMap<String, Version>)>>,
    /// Why the last refresh failed, and whether that may pass by itself (a store down), for
    /// readers while no version exists.
    failure: SyncMutex<Option<(String, bool)>>,
    /// Whether readers may read: once a refresh in this process has brought the table up to
    /// its sources (or failed with a table there to serve). Until then the table's latest
    /// version may be one a backfill has only reached, not the sources' latest.
    ready: std::sync::atomic::AtomicBool,
    written: OnceCell<Arc<dyn TableSource>>,
    /// What readers see of each written version, as far as read (written versions never
    /// change, so this only grows).
    shown: Mutex<Arc<Shown>>,
    /// The first version whose replaced files may still be on storage: for a table without
    /// its history, replaced by a later version; for one with it, dropped to fit a budget.
    evicted: SyncMutex<Version>,
    /// What the written table takes, version by version, as counted when its latest version
    /// was the one given.
    footprint: Mutex<Option<(Version, Vec<VersionFootprint>)>>,
    /// The first readable version as last read from beside the table, and when: read again
    /// after [`CHECK_EVERY`], so that a drop by another replica is seen within it.
    kept: SyncMutex<Option<(Instant, Option<Kept>)>>,
    /// One change of the first readable version at a time in this process.
    dropping: Mutex<()>,
    /// Whether the last refresh left the table over a budget with nothing left to drop
    /// (reported once when it goes over, not at every refresh).
    over_budget: std::sync::atomic::AtomicBool,
}

impl Materialized {
    pub fn new(name: String, definition: Definition, target: Target, history: bool) -> Self {
        Self {
            name,
            definition,
            target,
            history,
            running: Mutex::new(()),
            checked: SyncMutex::new(None),
            failure: SyncMutex::new(None),
            ready: std::sync::atomic::AtomicBool::new(false),
            written: OnceCell::new(),
            shown: Mutex::new(Arc::new(Vec::new())),
            evicted: SyncMutex::new(0),
            footprint: Mutex::new(None),
            kept: SyncMutex::new(None),
            dropping: Mutex::new(()),
            over_budget: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the table's versions are its single source's: every source version gets a
    /// version (an unchanged result commits only its note), and readers see the source's
    /// version numbers and commit times.
    pub fn follows(&self) -> bool {
        self.definition.sources.len() == 1
    }

    /// Brings the written table up to the sources' latest versions: each newer version (of
    /// the single source, with history; else the latest of all of them together) is computed
    /// and committed if its result differs from the version before.
    pub async fn refresh(&self) -> Result<Refreshed> {
        let _one = self.running.lock().await;
        // Another writer committing first (a replica, `lakeshare materialize`) is no failure:
        // its versions are read back and the refresh goes on from them.
        let mut result = self.refresh_now().await;
        for _ in 0..3 {
            if !matches!(result, Err(Error::Conflict(_))) {
                break;
            }
            result = self.refresh_now().await;
        }
        crate::metrics::refreshed(match &result {
            Ok(Refreshed::Committed { .. }) => "committed",
            Ok(Refreshed::Unchanged { .. }) => "unchanged",
            Ok(Refreshed::UpToDate { .. }) => "up_to_date",
            Err(_) => "failed",
        });
        *self.failure.lock().expect("not poisoned") = match &result {
            Err(e) => Some((
                e.to_string(),
                matches!(
                    e,
                    Error::Storage { .. } | Error::Conflict(_) | Error::NotReady { .. }
                ),
            )),
            Ok(_) => None,
        };
        let servable = match &result {
            Ok(_) => true,
            // Writers racing still: what is there may be a backfill half done.
            Err(Error::Conflict(_)) => false,
            // A failure (a store down, say) leaves what was computed before to be served.
            Err(_) => matches!(
                self.target.writer.last_note(self.target.place()).await,
                Ok(Some(_))
            ),
        };
        if servable {
            self.ready.store(true, std::sync::atomic::Ordering::Release);
        }
        if let Ok(refreshed) = &result {
            let latest = refreshed.version();
            if let Err(e) = self.keep_within_budgets(latest).await {
                tracing::warn!(table = %self.name, "keeping within the cache's budget failed: {e}");
            }
            if self.history {
                self.evict_dropped().await;
            } else {
                // The versions before the latest are never served again: their files go once
                // the URLs signed for them have expired.
                self.evict_up_to(latest, self.grace_start_ms()).await;
            }
        }
        result
    }

    /// When a version must have been committed (or dropped) for its files to be deleted: the
    /// URLs signed for it before then have expired.
    fn grace_start_ms(&self) -> i64 {
        let grace = chrono::Duration::from_std(self.target.keep_replaced_for)
            .unwrap_or(chrono::Duration::MAX);
        (Utc::now() - grace).timestamp_millis()
    }

    /// Deletes the files versions up to `keep` replaced, as far as those versions were
    /// committed before `before_ms`. A failure is logged and tried again after the next
    /// refresh.
    async fn evict_up_to(&self, keep: Version, before_ms: i64) {
        let from = *self.evicted.lock().expect("not poisoned");
        if from > keep {
            return;
        }
        match self
            .target
            .writer
            .evict(self.target.place(), from, keep, before_ms)
            .await
        {
            Ok(evicted) => {
                *self.evicted.lock().expect("not poisoned") = evicted.next;
                if evicted.files > 0 {
                    crate::metrics::evicted(evicted.files, evicted.bytes);
                    tracing::info!(
                        table = %self.name,
                        files = evicted.files,
                        bytes = evicted.bytes,
                        "deleted the files of versions no longer served"
                    );
                }
            }
            Err(e) => tracing::warn!(table = %self.name, "deleting replaced files failed: {e}"),
        }
    }

    /// Deletes the files only the versions dropped to fit a budget read, once the URLs
    /// signed before they were dropped have expired.
    async fn evict_dropped(&self) {
        match self.kept_now().await {
            Ok(Some(kept)) if kept.from > 0 && kept.since_ms < self.grace_start_ms() => {
                self.evict_up_to(kept.from - 1, i64::MAX).await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(table = %self.name, "reading the first kept version failed: {e}")
            }
        }
    }

    /// Drops the oldest versions of a table shared with its history until it fits its own
    /// budget and the cache's (which may drop other tables' versions too); a table without
    /// its history only counts towards the cache's budget.
    async fn keep_within_budgets(&self, latest: Version) -> Result<()> {
        if self.target.budget_bytes.is_none() && self.target.shared_budget.is_none() {
            return Ok(());
        }
        let versions = self.footprint(latest).await?;
        let Some(last) = versions.len().checked_sub(1) else {
            return Ok(());
        };
        // `drop_before` reads the marker again before it writes one.
        let from = if self.history {
            self.first_kept().await? as usize
        } else {
            *self.evicted.lock().expect("not poisoned") as usize
        };
        let mut usage = Usage {
            versions,
            from: from.min(last),
            droppable: self.history,
        };
        let mut fits = true;
        if let Some(limit) = self.target.budget_bytes {
            fits = budget::fit(limit, &mut [&mut usage]);
            if usage.from > from {
                self.drop_before(usage.from as Version).await?;
            }
        }
        if let Some(shared) = &self.target.shared_budget {
            let (moved, all_fit) = shared.fit(&self.target.location, usage.clone());
            fits &= all_fit;
            for (table, from) in moved {
                if let Err(e) = table.drop_before(from as Version).await {
                    tracing::warn!(table = %table.name, "dropping versions to fit the cache's budget failed: {e}");
                }
            }
        }
        let was_over = self
            .over_budget
            .swap(!fits, std::sync::atomic::Ordering::Relaxed);
        if !fits && !was_over {
            crate::metrics::over_budget();
            tracing::warn!(
                table = %self.name,
                bytes = usage.bytes(),
                "over the cache's budget with no version left to drop: a table's latest version \
                 is always kept (raise the budget, or share fewer tables or rows)"
            );
        }
        Ok(())
    }

    /// What the written table takes, version by version; counted again only when it has a
    /// new latest version.
    async fn footprint(&self, latest: Version) -> Result<Vec<VersionFootprint>> {
        let mut known = self.footprint.lock().await;
        if let Some((at, versions)) = known.as_ref()
            && *at == latest
        {
            return Ok(versions.clone());
        }
        let versions = self.target.writer.footprint(self.target.place()).await?;
        *known = Some((latest, versions.clone()));
        Ok(versions)
    }

    /// Makes versions before `from` unreadable (recorded beside the table, for every replica),
    /// if they are not already; their files are deleted once the URLs signed for them expire.
    pub(crate) async fn drop_before(&self, from: Version) -> Result<()> {
        let _one = self.dropping.lock().await;
        let was = self.kept_fresh().await?.map_or(0, |k| k.from);
        if from <= was {
            return Ok(());
        }
        let kept = Kept {
            from,
            since_ms: Utc::now().timestamp_millis(),
        };
        self.target
            .writer
            .keep_from(self.target.place(), kept)
            .await?;
        *self.kept.lock().expect("not poisoned") = Some((Instant::now(), Some(kept)));
        crate::metrics::dropped(from - was);
        tracing::info!(
            table = %self.name,
            versions = from - was,
            first_kept = from,
            "dropped the oldest versions to keep within the cache's budget"
        );
        Ok(())
    }

    /// The first readable version, read again from beside the table.
    async fn kept_fresh(&self) -> Result<Option<Kept>> {
        let kept = self.target.writer.kept(self.target.place()).await?;
        *self.kept.lock().expect("not poisoned") = Some((Instant::now(), kept));
        Ok(kept)
    }

    /// The first readable version, as read at most [`CHECK_EVERY`] ago. Only a table shared
    /// with its history drops versions.
    async fn kept_now(&self) -> Result<Option<Kept>> {
        if !self.history {
            return Ok(None);
        }
        if let Some((at, kept)) = *self.kept.lock().expect("not poisoned")
            && at.elapsed() < CHECK_EVERY
        {
            return Ok(kept);
        }
        self.kept_fresh().await
    }

    /// The first readable written version.
    async fn first_kept(&self) -> Result<Version> {
        Ok(self.kept_now().await?.map_or(0, |k| k.from))
    }

    /// Refuses `version` (a source version for a table following one source, else a written
    /// one) if it was dropped to fit a budget, naming the earliest that stays.
    pub async fn refuse_dropped(&self, version: Version) -> Result<()> {
        let first = self.first_kept().await?;
        if first == 0 {
            return Ok(());
        }
        // What the first kept version stands for is known once read: a read that passes
        // costs no I/O beyond the kept marker's (itself read at most every CHECK_EVERY).
        if version >= stands_for(&*self.shown(first).await?, first)?.0 {
            return Ok(());
        }
        let latest = self.written().await?.latest_version().await?;
        Err(missing(version, first, latest, &*self.shown(latest).await?))
    }

    async fn refresh_now(&self) -> Result<Refreshed> {
        let mut latest = BTreeMap::new();
        for source in &self.definition.sources {
            latest.insert(source.key(), source.table.latest_version().await?);
        }
        let last = self.target.writer.last_note(self.target.place()).await?;
        let (mut after, done) = match &last {
            None => (None, BTreeMap::new()),
            Some((version, note)) => (Some(*version), parse_note(*version, note)?.sources),
        };
        // Nothing newer; or a source seen behind what the latest version was computed from
        // (a replica or catalog lagging): never commit an older result over a newer one.
        let behind = done
            .iter()
            .any(|(key, v)| latest.get(key).is_some_and(|now| now < v));
        if let Some(version) = after
            && (done == latest || behind || self.checked_at(&latest))
        {
            self.mark_checked(latest);
            return Ok(Refreshed::UpToDate { version });
        }
        let steps = self.steps(&done, &latest).await?;
        // What the latest written version was computed from, its columns and its rows, each
        // read only when needed: a version appended to it needs neither its rows nor (after
        // the first) its columns read again.
        let mut base: Option<BTreeMap<String, Version>> = after.map(|_| done.clone());
        let mut columns: Option<SchemaRef> = None;
        let mut previous: Option<Computed> = None;
        let mut committed = 0;
        let total = steps.len();
        let mut progress = crate::metrics::Running::start(total);
        for (i, step) in steps.into_iter().enumerate() {
            progress.next();
            let started = Instant::now();
            let gain = match self.appended(base.as_ref(), &step).await? {
                Some(gain) => {
                    let written = match &columns {
                        Some(columns) => columns.clone(),
                        None => self.columns_of(after.expect("a base was written")).await?,
                    };
                    same_columns(&written, &gain.schema).then_some(gain)
                }
                None => None,
            };
            let (commit, rows, replaced) = match gain {
                Some(gain) => {
                    let rows = count(&gain.batches);
                    let content = if rows == 0 {
                        Content::Unchanged
                    } else {
                        Content::Append
                    };
                    columns = Some(gain.schema.clone());
                    let commit = Commit {
                        schema: gain.schema,
                        content,
                        rows: gain.batches,
                        deleted: Vec::new(),
                        inserted: Vec::new(),
                        note: note(&step, gain.timestamp_ms),
                        after,
                    };
                    (commit, rows, None)
                }
                None => {
                    let computed = match compute(&self.definition, &step).await {
                        Ok(computed) => computed,
                        // A past version its reader refuses (a Hudi instant completed out of
                        // order, say) is left out of the history, as it is from a stored
                        // table's; the latest must compute.
                        Err(e @ (Error::Unsupported(_) | Error::VersionNotFound { .. }))
                            if i + 1 < total =>
                        {
                            tracing::warn!(table = %self.name, sources = ?step, "left out of the computed history: {e}");
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    if previous.is_none()
                        && let Some(version) = after
                    {
                        previous = Some(self.read_written(version).await?);
                    }
                    let mut content = Content::Replace;
                    let (deleted, inserted) = match &previous {
                        Some(before) if same_columns(&before.schema, &computed.schema) => {
                            let (deleted, inserted) =
                                diff(&computed.schema, &before.batches, &computed.batches)?;
                            if deleted.is_empty() && inserted.is_empty() {
                                if !self.follows() {
                                    continue;
                                }
                                content = Content::Unchanged;
                            }
                            (deleted, inserted)
                        }
                        // A first version, or a new schema: no change data, so readers of the
                        // feed see the old rows removed and the new ones added, as for any
                        // rewrite.
                        _ => (Vec::new(), Vec::new()),
                    };
                    let rows = count(&computed.batches);
                    columns = Some(computed.schema.clone());
                    let commit = Commit {
                        schema: computed.schema.clone(),
                        content,
                        rows: if content == Content::Unchanged {
                            Vec::new()
                        } else {
                            computed.batches.clone()
                        },
                        deleted,
                        inserted,
                        note: note(&step, computed.timestamp_ms),
                        after,
                    };
                    (
                        commit,
                        rows,
                        (content == Content::Replace).then_some(computed),
                    )
                }
            };
            let content = commit.content;
            let version = self
                .target
                .writer
                .commit(self.target.place(), commit)
                .await?;
            let elapsed = started.elapsed();
            crate::metrics::committed(content, rows, elapsed);
            tracing::info!(
                table = %self.name,
                version,
                sources = ?step,
                rows,
                how = ?content,
                done = i + 1,
                of = total,
                elapsed_ms = elapsed.as_millis() as u64,
                "materialized a version"
            );
            after = Some(version);
            base = Some(step);
            match (content, replaced) {
                (Content::Replace, Some(computed)) => previous = Some(computed),
                // Appended rows: the content read before is not the latest any more.
                (Content::Append, _) => previous = None,
                _ => {}
            }
            committed += 1;
        }
        self.mark_checked(latest);
        let Some(version) = after else {
            return Err(Error::Unsupported(
                "the sources have no version to compute the table from".into(),
            ));
        };
        Ok(if committed > 0 {
            Refreshed::Committed {
                versions: committed,
                latest: version,
            }
        } else {
            Refreshed::Unchanged { version }
        })
    }

    /// What the result gains going from the sources at `base` to `step`, computed from the
    /// appended rows alone: for a table following one source that only appended rows in
    /// between, with a definition that works row by row ([`compute_appended`]). `None`
    /// otherwise, and the step is computed in full.
    async fn appended(
        &self,
        base: Option<&BTreeMap<String, Version>>,
        step: &BTreeMap<String, Version>,
    ) -> Result<Option<Computed>> {
        let (Some(base), [source]) = (base, self.definition.sources.as_slice()) else {
            return Ok(None);
        };
        let key = source.key();
        let (Some(&after), Some(&to)) = (base.get(&key), step.get(&key)) else {
            return Ok(None);
        };
        if to <= after {
            return Ok(None);
        }
        match compute_appended(&self.definition, after, to).await {
            Ok(gain) => Ok(gain),
            // What the appended rows cannot be read for, the full computation reports (or
            // leaves out of the history).
            Err(Error::Unsupported(_) | Error::VersionNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The columns of written version `version`.
    async fn columns_of(&self, version: Version) -> Result<SchemaRef> {
        Ok(self.written().await?.rows(version).await?.schema)
    }

    /// The sources' versions to compute, oldest first.
    async fn steps(
        &self,
        done: &BTreeMap<String, Version>,
        latest: &BTreeMap<String, Version>,
    ) -> Result<Vec<BTreeMap<String, Version>>> {
        match self.definition.sources.as_slice() {
            [source] if self.history => {
                let key = source.key();
                let from = done.get(&key).copied();
                Ok(source
                    .table
                    .versions()
                    .await?
                    .into_iter()
                    .filter(|v| from.is_none_or(|from| *v > from) && *v <= latest[&key])
                    .map(|v| BTreeMap::from([(key.clone(), v)]))
                    .collect())
            }
            sources if self.history => {
                let mut commits = BTreeMap::new();
                for source in sources {
                    commits.insert(source.key(), source.table.commits().await?);
                }
                Ok(timeline::after(timeline::joint(&commits), done, latest))
            }
            _ => Ok(vec![latest.clone()]),
        }
    }

    fn checked_at(&self, latest: &BTreeMap<String, Version>) -> bool {
        self.checked
            .lock()
            .expect("not poisoned")
            .as_ref()
            .is_some_and(|(_, known)| known == latest)
    }

    fn mark_checked(&self, latest: BTreeMap<String, Version>) {
        *self.checked.lock().expect("not poisoned") = Some((Instant::now(), latest));
    }

    /// Whether a read should start a refresh: none checked the sources for a while.
    fn due(&self) -> bool {
        let wait = if self.failure.lock().expect("not poisoned").is_some() {
            RETRY_FAILED_AFTER
        } else {
            CHECK_EVERY
        };
        self.checked
            .lock()
            .expect("not poisoned")
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= wait)
    }

    /// Starts a refresh in the background if one is due and none is running.
    pub fn trigger(self: &Arc<Self>) {
        if !self.due() || self.running.try_lock().is_err() {
            return;
        }
        // Counted as checked now, so a burst of reads starts one refresh (an empty map is
        // never the sources' versions, so the refresh still runs).
        let now = Instant::now();
        self.checked
            .lock()
            .expect("not poisoned")
            .get_or_insert_with(|| (now, BTreeMap::new()))
            .0 = now;
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.refresh().await {
                tracing::warn!(table = %this.name, "materializing failed: {e}");
            }
        });
    }

    /// The written table, opened once it exists, for readers: only once the table is ready.
    async fn readable(&self) -> Result<&Arc<dyn TableSource>> {
        if !self.ready.load(std::sync::atomic::Ordering::Acquire) {
            return Err(self.not_ready());
        }
        self.written().await
    }

    /// The written table, opened once it exists.
    async fn written(&self) -> Result<&Arc<dyn TableSource>> {
        self.written
            .get_or_try_init(|| async {
                if self
                    .target
                    .writer
                    .last_note(self.target.place())
                    .await?
                    .is_none()
                {
                    return Err(self.not_ready());
                }
                let opened = self
                    .target
                    .format
                    .open(self.target.place(), &Default::default())
                    .await?;
                Ok(opened.source)
            })
            .await
    }

    /// Why there is nothing to read yet.
    fn not_ready(&self) -> Error {
        match self.failure.lock().expect("not poisoned").as_ref() {
            Some((failure, true)) => {
                tracing::warn!(table = %self.name, "cannot be computed yet: {failure}");
                Error::NotReady {
                    reason: "the table is being computed, and its storage failed".into(),
                    retry_after_secs: RETRY_FAILED_AFTER.as_secs(),
                }
            }
            Some((failure, false)) => {
                tracing::warn!(table = %self.name, "cannot be computed: {failure}");
                Error::Unsupported(
                    "the table is computed from the provider's definition, which cannot be \
                     computed now; the provider must fix the share's configuration"
                        .into(),
                )
            }
            None => Error::NotReady {
                reason: "the table is being computed".into(),
                retry_after_secs: RETRY_AFTER_SECS,
            },
        }
    }

    async fn read_written(&self, version: Version) -> Result<Computed> {
        let Rows {
            schema,
            timestamp_ms,
            batches,
        } = self.written().await?.rows(version).await?;
        Ok(Computed {
            schema,
            batches: batches.try_collect().await?,
            timestamp_ms,
        })
    }

    /// What readers see of each written version up to `latest`, read from the notes.
    async fn shown(&self, latest: Version) -> Result<Arc<Shown>> {
        let mut known = self.shown.lock().await;
        let from = known.len() as Version;
        if from <= latest {
            let mut grown: Shown = known.as_ref().clone();
            for (version, note) in self.target.writer.notes(self.target.place(), from).await? {
                let note = parse_note(version, &note)?;
                if version as usize != grown.len() {
                    return Err(self.corrupt(format!("its versions skip to {version}")));
                }
                let shown = if self.follows() {
                    note.sources.values().next().copied().ok_or_else(|| {
                        self.corrupt(format!("version {version} records no source version"))
                    })?
                } else {
                    version
                };
                // The sources' clocks may disagree: times are kept strictly increasing, as
                // time travel needs (a single source's already are).
                let time_ms = match grown.last() {
                    Some(&(_, before)) => note.time_ms.max(before + 1),
                    None => note.time_ms,
                };
                grown.push((shown, time_ms));
            }
            *known = Arc::new(grown);
        }
        Ok(known.clone())
    }

    fn corrupt(&self, reason: String) -> Error {
        Error::Corrupt {
            location: self.target.location.clone(),
            reason: format!("the computed table {}: {reason}", self.name),
        }
    }
}

/// The note of a version computed from the sources at `sources`, the newest committed at
/// `time_ms`.
fn note(sources: &BTreeMap<String, Version>, time_ms: i64) -> serde_json::Value {
    serde_json::to_value(Note {
        sources: sources.clone(),
        time_ms,
    })
    .expect("notes serialise")
}

fn count(batches: &[datafusion::arrow::array::RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// A version's note; one that does not parse means the folder holds something else.
fn parse_note(version: Version, note: &serde_json::Value) -> Result<Note> {
    serde_json::from_value(note.clone()).map_err(|e| Error::Corrupt {
        location: String::new(),
        reason: format!("version {version} of a computed table has no readable note: {e}"),
    })
}

/// Whether two results have the same columns (names, types, nullability), whatever metadata
/// the writer and reader attach to them.
fn same_columns(a: &SchemaRef, b: &SchemaRef) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields().iter().zip(b.fields()).all(|(x, y)| {
            x.name() == y.name()
                && x.data_type() == y.data_type()
                && x.is_nullable() == y.is_nullable()
        })
}

/// A materialized table as a [`TableSource`]: the written table, kept up to date by reads.
/// Its versions and commit times are what [`Shown`] says: a table following one source
/// ([`Materialized::follows`]) has that source's version numbers, any other its own.
#[derive(Debug, Clone)]
pub struct MaterializedSource(pub Arc<Materialized>);

impl MaterializedSource {
    async fn written(&self) -> Result<&Arc<dyn TableSource>> {
        self.0.trigger();
        self.0.readable().await
    }

    /// The written table, its latest version and what its versions are shown as (at least
    /// up to that latest: one read of it, so a commit landing meanwhile cannot leave a
    /// version without its note).
    async fn mapped(&self) -> Result<(&Arc<dyn TableSource>, Version, Arc<Shown>)> {
        let written = self.written().await?;
        let latest = written.latest_version().await?;
        Ok((written, latest, self.0.shown(latest).await?))
    }

    /// The written versions shown as `versions` (the written table and what it shows read
    /// once for all of them); a version dropped to fit a budget is refused.
    async fn written_versions<const N: usize>(
        &self,
        versions: [Version; N],
    ) -> Result<(&Arc<dyn TableSource>, [Version; N], Arc<Shown>)> {
        let (written, latest, map) = self.mapped().await?;
        let first = self.0.first_kept().await?;
        let mut at = [0; N];
        for (slot, version) in at.iter_mut().zip(versions) {
            *slot = match position(&map, version) {
                Some(at) if at >= first && at <= latest => at,
                _ => return Err(missing(version, first, latest, &map)),
            };
        }
        Ok((written, at, map))
    }

    /// The readable written versions as they are shown, with their commit times, oldest first.
    async fn listed(&self) -> Result<Vec<(Version, i64)>> {
        let (written, latest, map) = self.mapped().await?;
        let first = self.0.first_kept().await?;
        let mut versions = written.versions().await?;
        // Versions committed since the latest was read are listed next time.
        versions.retain(|v| *v >= first && *v <= latest);
        versions.into_iter().map(|v| stands_for(&map, v)).collect()
    }
}

/// `requested` is not a readable version: the readable ones are the written versions
/// `first..=latest`, named as `map` shows them.
fn missing(requested: Version, first: Version, latest: Version, map: &Shown) -> Error {
    let shown = |at: Version| map.get(at as usize).or(map.last()).map_or(0, |e| e.0);
    Error::VersionNotFound {
        requested,
        earliest: shown(first),
        latest: shown(latest),
    }
}

/// The written version shown as `version`, if one is.
fn position(map: &Shown, version: Version) -> Option<Version> {
    map.iter()
        .position(|(shown, _)| *shown == version)
        .map(|at| at as Version)
}

/// What written version `version` is shown as, and its commit time.
fn stands_for(map: &Shown, version: Version) -> Result<(Version, i64)> {
    map.get(version as usize)
        .copied()
        .ok_or_else(|| Error::Corrupt {
            location: String::new(),
            reason: format!("version {version} of a computed table has no note"),
        })
}

#[async_trait]
impl TableSource for MaterializedSource {
    fn format(&self) -> TableFormat {
        TableFormat::new(self.0.target.format.name())
    }

    async fn latest_version(&self) -> Result<Version> {
        let (_, latest, map) = self.mapped().await?;
        Ok(stands_for(&map, latest)?.0)
    }

    async fn snapshot(&self, version: Version) -> Result<Snapshot> {
        let (written, [at], map) = self.written_versions([version]).await?;
        let mut snapshot = written.snapshot(at).await?;
        (snapshot.version, snapshot.timestamp_ms) = stands_for(&map, at)?;
        Ok(snapshot)
    }

    async fn version_at(&self, timestamp: DateTime<Utc>, bound: TimestampBound) -> Result<Version> {
        lakeshare_model::version_at(&self.listed().await?, timestamp, bound)
    }

    async fn versions(&self) -> Result<Vec<Version>> {
        Ok(self.listed().await?.into_iter().map(|(v, _)| v).collect())
    }

    async fn commits(&self) -> Result<Vec<(Version, i64)>> {
        self.listed().await
    }

    async fn deleted_rows(&self, file: &DataFile) -> Result<Vec<u64>> {
        self.written().await?.deleted_rows(file).await
    }

    async fn rows(&self, version: Version) -> Result<Rows> {
        let (written, [at], map) = self.written_versions([version]).await?;
        let mut rows = written.rows(at).await?;
        rows.timestamp_ms = stands_for(&map, at)?.1;
        Ok(rows)
    }

    async fn changes(&self, start: Version, end: Version) -> Result<Vec<VersionChanges>> {
        let (written, [from, to], map) = self.written_versions([start, end]).await?;
        let mut changes = written.changes(from, to).await?;
        for change in &mut changes {
            (change.version, change.timestamp_ms) = stands_for(&map, change.version)?;
        }
        Ok(changes)
    }
}
