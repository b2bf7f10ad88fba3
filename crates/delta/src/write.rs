//! Writing the tables the gateway computes (materialized shares) as Delta tables: a version
//! replaces the whole content of the one before (its files removed, the new ones added) and
//! carries the rows that changed as change data files, or only adds files (an incremental
//! refresh after appends, whose change data the added files are), so the written table's
//! change data feed is exactly the difference of its versions. The note of each commit (what
//! it was computed from) is a field of its `commitInfo`, written in the same atomic commit.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Add, AddCDCFile, MetadataExt as _, StructType};
use deltalake::logstore::object_store::ObjectStoreExt as _;
use deltalake::logstore::object_store::prefix::PrefixStore;
use deltalake::logstore::{LogStore as _, LogStoreRef, ObjectStoreRef};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::table::state::DeltaTableState;
use deltalake::{DeltaTableError, TableProperty};
use futures::TryStreamExt as _;
use lakeshare_model::{
    Commit, Content, Error as ModelError, Evicted, Kept, Place, Result, TableWriter, Version,
    VersionFootprint,
};

use crate::Error;
use crate::source::{local_log_store, store_log_store};

/// The key of the note in each commit's `commitInfo`.
const NOTE: &str = "lakeshare";
/// Where change data files go, as Delta writers put them.
const CHANGE_DATA: &str = "_change_data";

/// Writes Delta tables for [`lakeshare_model::Formats::writable`].
#[derive(Debug, Default, Clone, Copy)]
pub struct DeltaTableWriter;

#[async_trait]
impl TableWriter for DeltaTableWriter {
    async fn last_note(&self, place: Place<'_>) -> Result<Option<(Version, serde_json::Value)>> {
        let location = place.location().to_string();
        last_note(place).await.map_err(|e| e.into_model(&location))
    }

    async fn notes(
        &self,
        place: Place<'_>,
        from: Version,
    ) -> Result<Vec<(Version, serde_json::Value)>> {
        let location = place.location().to_string();
        notes(place, from)
            .await
            .map_err(|e| e.into_model(&location))
    }

    async fn evict(
        &self,
        place: Place<'_>,
        from: Version,
        keep: Version,
        before_ms: i64,
    ) -> Result<Evicted> {
        let location = place.location().to_string();
        evict(place, from, keep, before_ms)
            .await
            .map_err(|e| e.into_model(&location))
    }

    async fn footprint(&self, place: Place<'_>) -> Result<Vec<VersionFootprint>> {
        let location = place.location().to_string();
        footprint(place).await.map_err(|e| e.into_model(&location))
    }

    async fn kept(&self, place: Place<'_>) -> Result<Option<Kept>> {
        let location = place.location().to_string();
        kept(place).await.map_err(|e| e.into_model(&location))
    }

    async fn keep_from(&self, place: Place<'_>, kept: Kept) -> Result<()> {
        let location = place.location().to_string();
        keep_from(place, kept)
            .await
            .map_err(|e| e.into_model(&location))
    }

    async fn commit(&self, place: Place<'_>, commit: Commit) -> Result<Version> {
        let location = place.location().to_string();
        match write(place, commit).await {
            Ok(version) => Ok(version),
            Err(e) if lost_race(&e) => Err(ModelError::Conflict(format!(
                "another writer committed to {location} first"
            ))),
            Err(e) => Err(e.into_model(&location)),
        }
    }
}

/// The log store at `place`; a local folder is made if missing.
fn log_store(place: Place<'_>) -> Result<LogStoreRef, Error> {
    match place {
        Place::Local { location } => {
            std::fs::create_dir_all(location).map_err(|e| Error::BadLocation {
                location: location.to_string(),
                reason: e.to_string(),
            })?;
            Ok(local_log_store(location)?.1)
        }
        Place::Store { location, store } => Ok(store_log_store(location, store.client.clone())?.1),
    }
}

/// The log store of the written table at `place` and its latest version, if one is there.
async fn written(place: Place<'_>) -> Result<Option<(LogStoreRef, u64)>, Error> {
    if let Place::Local { location } = place
        && !std::path::Path::new(location).is_dir()
    {
        return Ok(None);
    }
    let log_store = log_store(place)?;
    if !log_store.is_delta_table_location().await? {
        return Ok(None);
    }
    let latest = log_store.get_latest_version(0).await?;
    Ok(Some((log_store, latest as u64)))
}

async fn last_note(place: Place<'_>) -> Result<Option<(Version, serde_json::Value)>, Error> {
    let Some((log_store, latest)) = written(place).await? else {
        return Ok(None);
    };
    Ok(Some((
        latest as Version,
        note_of(&*log_store, latest).await?,
    )))
}

async fn notes(
    place: Place<'_>,
    from: Version,
) -> Result<Vec<(Version, serde_json::Value)>, Error> {
    let Some((log_store, latest)) = written(place).await? else {
        return Ok(Vec::new());
    };
    let mut all = Vec::new();
    for version in from..=latest as Version {
        all.push((version, note_of(&*log_store, version as _).await?));
    }
    Ok(all)
}

/// The note in the `commitInfo` of commit `version` (`Null` if it has none).
async fn note_of(
    log_store: &dyn deltalake::logstore::LogStore,
    version: u64,
) -> Result<serde_json::Value, Error> {
    let Some(bytes) = log_store.read_commit_entry(version as _).await? else {
        return Err(Error::Delta(DeltaTableError::NotATable(format!(
            "commit {version} of a written table is missing"
        ))));
    };
    Ok(bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .find_map(|action| action.get("commitInfo")?.get(NOTE).cloned())
        .unwrap_or(serde_json::Value::Null))
}

async fn evict(
    place: Place<'_>,
    from: Version,
    keep: Version,
    before_ms: i64,
) -> Result<Evicted, Error> {
    let Some((log_store, latest)) = written(place).await? else {
        return Ok(Evicted::default());
    };
    let store = log_store.object_store(None);
    let mut evicted = Evicted {
        next: from,
        ..Evicted::default()
    };
    for version in from..=keep.min(latest as Version) {
        let actions = actions_of(&*log_store, version).await?;
        // A commit without its time is taken as committed now: kept until next time.
        if committed_ms(&actions).is_none_or(|at| at >= before_ms) {
            break;
        }
        for (path, size) in actions.iter().filter_map(|a| match a {
            Action::Remove(remove) => Some((&remove.path, remove.size.unwrap_or(0))),
            Action::Cdc(cdc) => Some((&cdc.path, cdc.size)),
            _ => None,
        }) {
            let path = deltalake::Path::parse(path).map_err(|e| {
                Error::Delta(DeltaTableError::Generic(format!(
                    "a written table names the file {path:?}: {e}"
                )))
            })?;
            match store.delete(&path).await {
                Ok(()) => {
                    evicted.files += 1;
                    evicted.bytes += u64::try_from(size).unwrap_or(0);
                }
                Err(deltalake::ObjectStoreError::NotFound { .. }) => {}
                Err(e) => return Err(Error::Delta(e.into())),
            }
        }
        evicted.next = version + 1;
    }
    Ok(evicted)
}

/// The actions of commit `version` of a written table.
async fn actions_of(
    log_store: &dyn deltalake::logstore::LogStore,
    version: Version,
) -> Result<Vec<Action>, Error> {
    let Some(bytes) = log_store.read_commit_entry(version as _).await? else {
        return Err(Error::Delta(DeltaTableError::NotATable(format!(
            "commit {version} of a written table is missing"
        ))));
    };
    Ok(deltalake::logstore::get_actions(version as _, &bytes)?)
}

fn committed_ms(actions: &[Action]) -> Option<i64> {
    actions.iter().find_map(|a| match a {
        Action::CommitInfo(info) => info.timestamp,
        _ => None,
    })
}

async fn footprint(place: Place<'_>) -> Result<Vec<VersionFootprint>, Error> {
    let Some((log_store, latest)) = written(place).await? else {
        return Ok(Vec::new());
    };
    let versions = latest as usize + 1;
    // Data files by path: their size, and the version that removed them, if one did.
    let mut data: std::collections::HashMap<String, (u64, Option<usize>)> = Default::default();
    let mut change_data = vec![0u64; versions];
    let mut times = vec![0i64; versions];
    for version in 0..versions {
        let actions = actions_of(&*log_store, version as Version).await?;
        times[version] = committed_ms(&actions).unwrap_or(0);
        for action in &actions {
            match action {
                Action::Add(add) => {
                    let size = u64::try_from(add.size).unwrap_or(0);
                    data.insert(add.path.clone(), (size, None));
                }
                Action::Remove(remove) => {
                    let size = u64::try_from(remove.size.unwrap_or(0)).unwrap_or(0);
                    data.entry(remove.path.clone()).or_insert((size, None)).1 = Some(version);
                }
                Action::Cdc(cdc) => change_data[version] += u64::try_from(cdc.size).unwrap_or(0),
                _ => {}
            }
        }
    }
    // Dropping the versions before `f` deletes the files removed before `f` and the change
    // data committed before it.
    let mut removed_at = vec![0u64; versions];
    let mut total = 0u64;
    for (size, removed) in data.values() {
        total += size;
        if let Some(r) = removed {
            removed_at[*r] += size;
        }
    }
    total += change_data.iter().sum::<u64>();
    let mut gone = 0u64;
    Ok((0..versions)
        .map(|f| {
            let kept = VersionFootprint {
                committed_ms: times[f],
                bytes_from: total - gone,
            };
            gone += removed_at[f] + change_data[f];
            kept
        })
        .collect())
}

/// Where [`keep_from`] records the first readable version, beside the table's log: one
/// marker per first kept version, named by it and never overwritten, so that the first kept
/// version only ever grows, whichever replica drops versions and in what order.
const KEPT: &str = "_lakeshare/kept";

fn kept_marker(from: Version) -> deltalake::Path {
    deltalake::Path::from(format!("{KEPT}/{from:020}.json"))
}

async fn kept(place: Place<'_>) -> Result<Option<Kept>, Error> {
    let Some((log_store, _)) = written(place).await? else {
        return Ok(None);
    };
    let store = log_store.object_store(None);
    let markers: Vec<_> = store
        .list(Some(&deltalake::Path::from(KEPT)))
        .try_collect()
        .await
        .map_err(|e| Error::Delta(e.into()))?;
    let Some(latest) = markers.iter().map(|m| &m.location).max() else {
        return Ok(None);
    };
    let bytes = match store.get(latest).await {
        Ok(found) => found.bytes().await.map_err(|e| Error::Delta(e.into()))?,
        // Deleted as superseded meanwhile: the newer one is read next time.
        Err(deltalake::ObjectStoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(Error::Delta(e.into())),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::Delta(DeltaTableError::Generic(format!(
            "a written table's {latest} does not parse: {e}"
        )))
    })
}

async fn keep_from(place: Place<'_>, kept: Kept) -> Result<(), Error> {
    use deltalake::logstore::object_store::{PutMode, PutOptions};
    let store = log_store(place)?.object_store(None);
    let body = serde_json::to_vec(&kept).expect("a Kept serialises");
    let create = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    match store
        .put_opts(&kept_marker(kept.from), body.into(), create)
        .await
    {
        // Another writer dropped the same versions first: its time stands.
        Ok(_) | Err(deltalake::ObjectStoreError::AlreadyExists { .. }) => {}
        Err(e) => return Err(Error::Delta(e.into())),
    }
    // The markers it supersedes are left to tidy; a failure here changes nothing.
    let older: Vec<_> = store
        .list(Some(&deltalake::Path::from(KEPT)))
        .try_collect()
        .await
        .unwrap_or_default();
    for marker in older.iter().filter(|m| m.location < kept_marker(kept.from)) {
        let _ = store.delete(&marker.location).await;
    }
    Ok(())
}

async fn write(place: Place<'_>, commit: Commit) -> Result<Version, Error> {
    let log_store = log_store(place)?;
    let store = log_store.object_store(None);
    // The notes of old commits are what their versions stand for: the log is never cleaned.
    let properties = CommitProperties::default()
        .with_max_retries(0)
        .with_cleanup_expired_logs(Some(false))
        .with_metadata([(NOTE.to_string(), commit.note.clone())]);
    if commit.content != Content::Replace && commit.after.is_none() {
        return Err(Error::BadLocation {
            location: place.location().to_string(),
            reason: "a table's first version must hold its whole content".into(),
        });
    }
    if commit.content == Content::Unchanged {
        let after = commit.after.expect("checked above");
        let state = DeltaTableState::try_new(&*log_store, Some(after as _)).await?;
        // A commit of nothing but its commitInfo: the content stays as it was.
        return append(&state, &log_store, properties, Vec::new()).await;
    }
    let adds = write_files(store.clone(), commit.schema.clone(), &commit.rows).await?;
    let mut written: Vec<String> = adds.iter().map(|a| a.path.clone()).collect();
    let committed = match commit.after {
        None => create(&log_store, &commit, properties, adds).await,
        Some(after) => {
            commit_after(
                &log_store,
                store.clone(),
                &commit,
                properties,
                adds,
                after,
                &mut written,
            )
            .await
        }
    };
    // Another writer won: nothing references the files written for this commit. (Any other
    // failure may have left the commit in place, so its files stay.)
    if committed.as_ref().is_err_and(lost_race) {
        for path in written {
            let _ = store.delete(&deltalake::Path::from(path)).await;
        }
    }
    committed
}

/// Whether a commit failed because another writer committed that version first.
fn lost_race(e: &Error) -> bool {
    matches!(
        e,
        Error::Delta(
            DeltaTableError::VersionAlreadyExists(_)
                | DeltaTableError::Transaction {
                    source: TransactionError::VersionAlreadyExists(_)
                        | TransactionError::CommitConflict(_)
                        | TransactionError::MaxCommitAttempts(_),
                }
        )
    )
}

/// Creates the table with `adds` as its version 0.
async fn create(
    log_store: &LogStoreRef,
    commit: &Commit,
    properties: CommitProperties,
    adds: Vec<Add>,
) -> Result<Version, Error> {
    let columns = kernel_schema(&commit.schema)?;
    let ours: Option<String> = adds.first().map(|a| a.path.clone());
    let created = CreateBuilder::new()
        .with_log_store(log_store.clone())
        .with_save_mode(SaveMode::ErrorIfExists)
        .with_columns(columns.fields().cloned())
        .with_configuration_property(TableProperty::EnableChangeDataFeed, Some("true"))
        .with_actions(adds.into_iter().map(Action::Add))
        .with_commit_properties(properties)
        .await;
    match created {
        Ok(table) => Ok(table.version().unwrap_or(0) as Version),
        // deltalake's "already exists" error is private: a table there now lost the race,
        // unless its version 0 is this one (a failure after the commit landed), whose files
        // must then stay.
        Err(e) if log_store.is_delta_table_location().await? => {
            let landed = match (&ours, log_store.read_commit_entry(0).await?) {
                (Some(path), Some(bytes)) => deltalake::logstore::get_actions(0, &bytes)?
                    .iter()
                    .any(|a| matches!(a, Action::Add(add) if add.path == *path)),
                _ => false,
            };
            if landed {
                tracing::warn!("creating a written table reported {e}, but its commit landed");
                return Ok(0);
            }
            Err(Error::Delta(DeltaTableError::VersionAlreadyExists(0)))
        }
        Err(e) => Err(e.into()),
    }
}

/// Commits `adds` (and, replacing, the removal of every file of version `after` and the
/// change data, whose files are added to `written`) as the version after `after`.
async fn commit_after(
    log_store: &LogStoreRef,
    store: ObjectStoreRef,
    commit: &Commit,
    properties: CommitProperties,
    adds: Vec<Add>,
    after: Version,
    written: &mut Vec<String>,
) -> Result<Version, Error> {
    let state = DeltaTableState::try_new(&**log_store, Some(after as _)).await?;
    if commit.content == Content::Append {
        // The added files alone: with no change data file, Delta's change feed reads them
        // as inserts, which they are.
        let adds = adds.into_iter().map(Action::Add).collect();
        return append(&state, log_store, properties, adds).await;
    }
    let mut actions: Vec<Action> = Vec::new();
    let schema = kernel_schema(&commit.schema)?;
    if *state.schema() != schema {
        actions.push(Action::Metadata(
            state
                .metadata()
                .clone()
                .with_schema(&schema)
                .map_err(DeltaTableError::from)?,
        ));
    }
    actions.extend(
        state
            .snapshot()
            .file_views(&**log_store, None)
            .map_ok(|file| Action::Remove(file.remove_action(true)))
            .try_collect::<Vec<_>>()
            .await?,
    );
    actions.extend(adds.into_iter().map(Action::Add));
    let changes = change_rows(commit)?;
    if !changes.is_empty() {
        let change_store: ObjectStoreRef = Arc::new(PrefixStore::new(store, CHANGE_DATA));
        let schema = changes[0].schema();
        for add in write_files(change_store, schema, &changes).await? {
            let path = format!("{CHANGE_DATA}/{}", add.path);
            written.push(path.clone());
            actions.push(Action::Cdc(AddCDCFile {
                path,
                size: add.size,
                partition_values: Default::default(),
                data_change: false,
                tags: None,
            }));
        }
    }
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: None,
        predicate: None,
    };
    let done = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(&state), log_store.clone(), operation)
        .await?;
    Ok(done.version() as Version)
}

/// Commits `actions` after `state` as an append (nothing removed).
async fn append(
    state: &DeltaTableState,
    log_store: &LogStoreRef,
    properties: CommitProperties,
    actions: Vec<Action>,
) -> Result<Version, Error> {
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: None,
        predicate: None,
    };
    let done = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(state), log_store.clone(), operation)
        .await?;
    Ok(done.version() as Version)
}

fn kernel_schema(schema: &SchemaRef) -> Result<StructType, Error> {
    schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| Error::Delta(DeltaTableError::from(e)))
}

/// Writes `batches` as Parquet files below `store`, returning their add actions (with
/// statistics).
async fn write_files(
    store: ObjectStoreRef,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<Add>, Error> {
    let config = WriterConfig::new(
        schema,
        Vec::new(),
        None,
        None,
        None,
        delta_kernel::table_properties::DataSkippingNumIndexedCols::AllColumns,
        None,
    );
    let mut writer = DeltaWriter::new(store, config);
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        writer.write(batch).await?;
    }
    Ok(writer.close().await?)
}

/// The deleted and inserted rows of `commit`, each with Delta's `_change_type` column.
fn change_rows(commit: &Commit) -> Result<Vec<RecordBatch>, Error> {
    let mut fields: Vec<Field> = commit
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("_change_type", DataType::Utf8, false));
    let schema = Arc::new(Schema::new(fields));
    let tagged = |batches: &[RecordBatch], kind: &str| {
        batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| {
                let mut columns: Vec<ArrayRef> = b.columns().to_vec();
                columns.push(Arc::new(StringArray::from(vec![kind; b.num_rows()])));
                RecordBatch::try_new(schema.clone(), columns)
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let mut all = tagged(&commit.deleted, "delete").map_err(arrow_error)?;
    all.extend(tagged(&commit.inserted, "insert").map_err(arrow_error)?);
    Ok(all)
}

fn arrow_error(e: arrow_schema::ArrowError) -> Error {
    Error::Delta(DeltaTableError::from(e))
}
