//! Keeping a materialized table up to date, and serving it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use lakeshare_model::{
    Commit, DataFile, Error, Format, Place, Result, Rows, Snapshot, StoreAccess, TableFormat,
    TableSource, TableWriter, TimestampBound, Version, VersionChanges,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OnceCell};

use crate::{Computed, Definition, compute, diff};

/// How often a read may start a check of the sources for newer versions.
const CHECK_EVERY: Duration = Duration::from_secs(1);
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

/// The note committed with each version: the sources' versions it was computed from.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Note {
    sources: BTreeMap<String, Version>,
}

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

/// One materialized table: its definition, where it is written, and its refresh state.
#[derive(Debug)]
pub struct Materialized {
    /// `share.schema.table`, for logs.
    pub name: String,
    pub definition: Definition,
    pub target: Target,
    /// Compute every version of the single source (its history), not only the latest.
    pub history: bool,
    /// One refresh at a time in this process.
    running: Mutex<()>,
    /// The sources' versions the latest committed version is known to reflect, and when that
    /// was checked.
    checked: SyncMutex<Option<(Instant, BTreeMap<String, Version>)>>,
    /// Why the last refresh failed, for readers while no version exists.
    failure: SyncMutex<Option<String>>,
    written: OnceCell<Arc<dyn TableSource>>,
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
            written: OnceCell::new(),
        }
    }

    /// Brings the written table up to the sources' latest versions: each newer version (of
    /// the single source, with history; else the latest of all of them together) is computed
    /// and committed if its result differs from the version before.
    pub async fn refresh(&self) -> Result<Refreshed> {
        let _one = self.running.lock().await;
        let result = self.refresh_now().await;
        *self.failure.lock().expect("not poisoned") = match &result {
            Err(e) => Some(e.to_string()),
            Ok(_) => None,
        };
        result
    }

    async fn refresh_now(&self) -> Result<Refreshed> {
        let mut latest = BTreeMap::new();
        for source in &self.definition.sources {
            latest.insert(source.key(), source.table.latest_version().await?);
        }
        let last = self.target.writer.last_note(self.target.place()).await?;
        let (mut after, done) = match &last {
            None => (None, BTreeMap::new()),
            Some((version, note)) => (
                Some(*version),
                serde_json::from_value::<Note>(note.clone())
                    .unwrap_or_default()
                    .sources,
            ),
        };
        if let Some(version) = after
            && (done == latest || self.checked_at(&latest))
        {
            self.mark_checked(latest);
            return Ok(Refreshed::UpToDate { version });
        }
        let steps = self.steps(&done, &latest).await?;
        let mut previous: Option<Computed> = match after {
            Some(version) => Some(self.read_written(version).await?),
            None => None,
        };
        let mut committed = 0;
        for step in steps {
            let started = Instant::now();
            let computed = compute(&self.definition, &step).await?;
            let (deleted, inserted) = match &previous {
                Some(before) if before.schema == computed.schema => {
                    let (deleted, inserted) =
                        diff(&computed.schema, &before.batches, &computed.batches)?;
                    if deleted.is_empty() && inserted.is_empty() {
                        continue;
                    }
                    (deleted, inserted)
                }
                // A first version, or a new schema: no change data, so readers of the feed
                // see the old rows removed and the new ones added, as for any rewrite.
                _ => (Vec::new(), Vec::new()),
            };
            let rows: usize = computed.batches.iter().map(|b| b.num_rows()).sum();
            let commit = Commit {
                schema: computed.schema.clone(),
                rows: computed.batches.clone(),
                deleted,
                inserted,
                note: serde_json::to_value(Note {
                    sources: step.clone(),
                })
                .expect("notes serialise"),
                after,
            };
            let version = self
                .target
                .writer
                .commit(self.target.place(), commit)
                .await?;
            tracing::info!(
                table = %self.name,
                version,
                sources = ?step,
                rows,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "materialized a version"
            );
            after = Some(version);
            previous = Some(computed);
            committed += 1;
        }
        self.mark_checked(latest);
        let version = after.expect("a version was committed or existed");
        Ok(if committed > 0 {
            Refreshed::Committed {
                versions: committed,
                latest: version,
            }
        } else {
            Refreshed::Unchanged { version }
        })
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
        self.checked
            .lock()
            .expect("not poisoned")
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= CHECK_EVERY)
    }

    /// Starts a refresh in the background if one is due and none is running.
    pub fn trigger(self: &Arc<Self>) {
        if !self.due() || self.running.try_lock().is_err() {
            return;
        }
        // Counted as checked now, so a burst of reads starts one refresh.
        if let Some((at, _)) = self.checked.lock().expect("not poisoned").as_mut() {
            *at = Instant::now();
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.refresh().await {
                tracing::warn!(table = %this.name, "materializing failed: {e}");
            }
        });
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
        match self.failure.lock().expect("not poisoned").as_deref() {
            Some(failure) => {
                tracing::warn!(table = %self.name, "cannot be computed: {failure}");
                Error::Unsupported(
                    "the table is computed from the provider's definition, which cannot be \
                     computed now; the provider must fix the share's configuration"
                        .into(),
                )
            }
            None => Error::NotReady {
                reason: "the table is being computed for the first time".into(),
                retry_after_secs: RETRY_AFTER_SECS,
            },
        }
    }

    async fn read_written(&self, version: Version) -> Result<Computed> {
        let Rows { schema, batches } = self.written().await?.rows(version).await?;
        Ok(Computed {
            schema,
            batches: batches.try_collect().await?,
        })
    }
}

/// A materialized table as a [`TableSource`]: the written table, kept up to date by reads.
#[derive(Debug, Clone)]
pub struct MaterializedSource(pub Arc<Materialized>);

impl MaterializedSource {
    async fn written(&self) -> Result<&Arc<dyn TableSource>> {
        self.0.trigger();
        self.0.written().await
    }
}

#[async_trait]
impl TableSource for MaterializedSource {
    fn format(&self) -> TableFormat {
        TableFormat::new(self.0.target.format.name())
    }

    async fn latest_version(&self) -> Result<Version> {
        self.written().await?.latest_version().await
    }

    async fn snapshot(&self, version: Version) -> Result<Snapshot> {
        self.written().await?.snapshot(version).await
    }

    async fn version_at(&self, timestamp: DateTime<Utc>, bound: TimestampBound) -> Result<Version> {
        self.written().await?.version_at(timestamp, bound).await
    }

    async fn versions(&self) -> Result<Vec<Version>> {
        self.written().await?.versions().await
    }

    async fn deleted_rows(&self, file: &DataFile) -> Result<Vec<u64>> {
        self.written().await?.deleted_rows(file).await
    }

    async fn rows(&self, version: Version) -> Result<Rows> {
        self.written().await?.rows(version).await
    }

    async fn changes(&self, start: Version, end: Version) -> Result<Vec<VersionChanges>> {
        self.written().await?.changes(start, end).await
    }
}
