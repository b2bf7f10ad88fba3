//! What the built-in S3 endpoint serves, by key (see the module above for the layout).
//!
//! The endpoint has checked the caller's grant before any call here; what is checked here is
//! that a key names a file inside the table's root (no `..`, encoded or not; no symlink leading
//! out), and, for a table not shared whole (without its history, or with another shared
//! folder inside it), that the file is a data file of a version the catalog serves.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use lakeshare_model::Root;
use lakeshare_s3_endpoint::{ByteStream, ObjectError, ObjectInfo, Objects};
use object_store::ObjectStoreExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{FILES, GENERATED, TABLES};
use crate::app::{App, Inner};
use crate::folders::FOLDERS;
use crate::registry::{OpenedTable, TableHandle};

/// The gateway's tables, as the endpoint's objects. Holds the application weakly: the
/// application holds the endpoint.
pub(crate) struct TableObjects {
    pub(crate) app: Weak<Inner>,
}

enum Target<'a> {
    File(Arc<TableHandle>, &'a str),
    /// A file of a shared folder on the gateway's disk (an asset's), below the folder.
    FolderFile(PathBuf, &'a str),
    Generated(Arc<TableHandle>, &'a str),
}

impl TableObjects {
    fn app(&self) -> Result<App, ObjectError> {
        self.app
            .upgrade()
            .map(App::from_inner)
            .ok_or_else(|| ObjectError::Fault("the gateway is shutting down".into()))
    }

    async fn target<'k>(&self, app: &App, key: &'k str) -> Option<Target<'k>> {
        if let Some(in_folders) = key.strip_prefix(FOLDERS) {
            let (id, rel) = in_folders.split_once('/')?;
            let folder = app.local_folder(&format!("{FOLDERS}{id}/"))?;
            return Some(Target::FolderFile(PathBuf::from(folder), rel));
        }
        let key = key.strip_prefix(TABLES)?;
        let mut parts = key.splitn(4, '/');
        let (share, schema, table, rest) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let handle = app.find_table(share, schema, table).await?;
        if let Some(path) = rest.strip_prefix(FILES) {
            (file_shared(app, &handle, path).await).then_some(Target::File(handle, path))
        } else {
            rest.strip_prefix(GENERATED)
                .map(|name| Target::Generated(handle, name))
        }
    }
}

fn fault(e: impl std::fmt::Display) -> ObjectError {
    ObjectError::Fault(e.to_string())
}

/// A file below a local root, resolved without leaving it.
async fn local_file(
    root: &Path,
    rel: &str,
) -> Result<Option<(PathBuf, std::fs::Metadata)>, ObjectError> {
    let root = match tokio::fs::canonicalize(root).await {
        Ok(r) => r,
        Err(e) => return Err(fault(format!("the table's root cannot be read: {e}"))),
    };
    let path = match tokio::fs::canonicalize(root.join(rel)).await {
        Ok(p) => p,
        Err(_) => return Ok(None),
    };
    // A path leading out of the root (through a symlink) is answered as a missing one: a
    // different answer would tell whether the outside path exists.
    if !path.starts_with(&root) {
        return Ok(None);
    }
    match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() => Ok(Some((path, m))),
        _ => Ok(None),
    }
}

fn modified_ms(m: &std::fs::Metadata) -> i64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

/// The object path of a store table's root.
fn store_root(opened: &OpenedTable, root: &str) -> Result<object_store::path::Path, ObjectError> {
    let store = opened
        .store
        .as_ref()
        .ok_or_else(|| fault("a store table without a store"))?;
    store.key_of(root.trim_end_matches('/')).map_err(fault)
}

/// The object a key below a store table's root names: `rel` is a file's path below the root
/// as its URL spells it (percent-encoded), decoded once and appended part by part, never
/// resolved as a URL (where `%2e%2e` would climb out of the root).
fn store_path(
    opened: &OpenedTable,
    root: &str,
    rel: &str,
) -> Result<object_store::path::Path, ObjectError> {
    let root = store_root(opened, root)?;
    let outside = || ObjectError::Denied("the key names no file of the table".into());
    let decoded = percent_encoding::percent_decode_str(rel)
        .decode_utf8()
        .map_err(|_| outside())?;
    // `parse` refuses empty, `.` and `..` parts.
    let rel = object_store::path::Path::parse(decoded.as_ref()).map_err(|_| outside())?;
    if rel.parts().next().is_none() {
        return Err(outside());
    }
    Ok(root.parts().chain(rel.parts()).collect())
}

async fn opened<'a>(app: &App, handle: &'a TableHandle) -> Result<&'a OpenedTable, ObjectError> {
    app.open_table(handle).await.map_err(|e| fault(e.message))
}

#[async_trait]
impl Objects for TableObjects {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectError> {
        let app = self.app()?;
        match self.target(&app, key).await {
            None => Ok(None),
            Some(Target::Generated(handle, name)) => Ok(generated(&app, &handle, name)
                .await?
                .map(|bytes| info(key, bytes.len() as u64, 0))),
            Some(Target::FolderFile(root, rel)) => Ok(local_file(&root, rel)
                .await?
                .map(|(_, m)| info(key, m.len(), modified_ms(&m)))),
            Some(Target::File(handle, rel)) => {
                let opened = opened(&app, &handle).await?;
                match &opened.root {
                    Root::Local(root) => Ok(local_file(root, rel)
                        .await?
                        .map(|(_, m)| info(key, m.len(), modified_ms(&m)))),
                    Root::Store(root) => {
                        let path = store_path(opened, root, rel)?;
                        let client = opened.store.as_ref().expect("checked").object_store();
                        match client.head(&path).await {
                            Ok(meta) => Ok(Some(ObjectInfo {
                                key: key.to_string(),
                                size: meta.size,
                                last_modified_ms: meta.last_modified.timestamp_millis(),
                                etag: meta.e_tag.map(|e| e.trim_matches('"').to_string()),
                            })),
                            Err(object_store::Error::NotFound { .. }) => Ok(None),
                            Err(e) => Err(fault(e)),
                        }
                    }
                }
            }
        }
    }

    async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<(ObjectInfo, ByteStream)>, ObjectError> {
        let app = self.app()?;
        match self.target(&app, key).await {
            None => Ok(None),
            Some(Target::Generated(handle, name)) => {
                let Some(bytes) = generated(&app, &handle, name).await? else {
                    return Ok(None);
                };
                let meta = info(key, bytes.len() as u64, 0);
                let slice = match range {
                    Some(r) => bytes.slice(r.start as usize..r.end as usize),
                    None => bytes,
                };
                Ok(Some((
                    meta,
                    futures::stream::once(async { Ok(slice) }).boxed(),
                )))
            }
            Some(Target::FolderFile(root, rel)) => local_stream(key, &root, rel, range).await,
            Some(Target::File(handle, rel)) => {
                let opened = opened(&app, &handle).await?;
                match &opened.root {
                    Root::Local(root) => local_stream(key, root, rel, range).await,
                    Root::Store(root) => {
                        let path = store_path(opened, root, rel)?;
                        let client = opened.store.as_ref().expect("checked").object_store();
                        let options = object_store::GetOptions {
                            range: range.map(object_store::GetRange::Bounded),
                            ..Default::default()
                        };
                        match client.get_opts(&path, options).await {
                            Ok(result) => {
                                let meta = ObjectInfo {
                                    key: key.to_string(),
                                    size: result.meta.size,
                                    last_modified_ms: result.meta.last_modified.timestamp_millis(),
                                    etag: result
                                        .meta
                                        .e_tag
                                        .clone()
                                        .map(|e| e.trim_matches('"').to_string()),
                                };
                                let stream =
                                    result.into_stream().map_err(std::io::Error::other).boxed();
                                Ok(Some((meta, stream)))
                            }
                            Err(object_store::Error::NotFound { .. }) => Ok(None),
                            Err(e) => Err(fault(e)),
                        }
                    }
                }
            }
        }
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectInfo>, ObjectError> {
        let app = self.app()?;
        if let Some(rest) = prefix.strip_prefix(FOLDERS) {
            let Some((id, rel_prefix)) = rest.split_once('/') else {
                return Ok(Vec::new());
            };
            let folder_prefix = format!("{FOLDERS}{id}/");
            let Some(folder) = app.local_folder(&folder_prefix) else {
                return Ok(Vec::new());
            };
            let rel_prefix = rel_prefix.to_string();
            let found =
                tokio::task::spawn_blocking(move || walk_local(Path::new(&folder), &rel_prefix))
                    .await
                    .map_err(fault)??;
            let mut out: Vec<ObjectInfo> = found
                .into_iter()
                .map(|(rel, size, modified)| info(&format!("{folder_prefix}{rel}"), size, modified))
                .filter(|o| start_after.is_none_or(|s| o.key.as_str() > s))
                .collect();
            out.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
            out.truncate(limit);
            return Ok(out);
        }
        let Some(in_tables) = prefix.strip_prefix(TABLES) else {
            return Ok(Vec::new());
        };
        let mut parts = in_tables.splitn(4, '/');
        let (Some(share), Some(schema), Some(table), Some(rest)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(Vec::new());
        };
        let Some(handle) = app.find_table(share, schema, table).await else {
            return Ok(Vec::new());
        };
        let table_prefix = &prefix[..prefix.len() - rest.len()];
        let mut out = Vec::new();
        if FILES.starts_with(rest) || rest.starts_with(FILES) {
            let rel_prefix = rest.strip_prefix(FILES).unwrap_or("");
            let shared = SharedFiles::of(&app, &handle).await;
            for (rel, size, modified) in table_files(&app, &handle, rel_prefix).await? {
                if shared.holds(&rel) {
                    out.push(info(&format!("{table_prefix}{FILES}{rel}"), size, modified));
                }
            }
        }
        if GENERATED.starts_with(rest) || rest.starts_with(GENERATED) {
            let name_prefix = rest.strip_prefix(GENERATED).unwrap_or("");
            for name in generated_names(&app, &handle) {
                if name.starts_with(name_prefix)
                    && let Some(bytes) = generated(&app, &handle, &name).await?
                {
                    out.push(info(
                        &format!("{table_prefix}{GENERATED}{name}"),
                        bytes.len() as u64,
                        0,
                    ));
                }
            }
        }
        out.retain(|o| o.key.starts_with(prefix) && start_after.is_none_or(|s| o.key.as_str() > s));
        out.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
        out.truncate(limit);
        Ok(out)
    }
}

/// A local file's bytes (or a range of them) as the endpoint streams them.
async fn local_stream(
    key: &str,
    root: &Path,
    rel: &str,
    range: Option<Range<u64>>,
) -> Result<Option<(ObjectInfo, ByteStream)>, ObjectError> {
    let Some((path, m)) = local_file(root, rel).await? else {
        return Ok(None);
    };
    let mut file = tokio::fs::File::open(&path).await.map_err(fault)?;
    let r = range.unwrap_or(0..m.len());
    file.seek(std::io::SeekFrom::Start(r.start))
        .await
        .map_err(fault)?;
    let stream =
        tokio_util::io::ReaderStream::with_capacity(file.take(r.end - r.start), 256 * 1024);
    Ok(Some((info(key, m.len(), modified_ms(&m)), stream.boxed())))
}

fn info(key: &str, size: u64, last_modified_ms: i64) -> ObjectInfo {
    ObjectInfo {
        key: key.to_string(),
        size,
        last_modified_ms,
        etag: None,
    }
}

/// A generated file; on a miss (another replica made it, or it was evicted) the table's
/// metadata is generated again, which makes the same names.
#[cfg(feature = "iceberg-catalog")]
async fn generated(
    app: &App,
    handle: &TableHandle,
    name: &str,
) -> Result<Option<bytes::Bytes>, ObjectError> {
    if let Some(bytes) = app.generated().get(&handle.cache_key, name).await {
        return Ok(Some(bytes));
    }
    // Only a name the generator could have made is worth generating the table's metadata for.
    let generatable = [".avro", ".metadata.json", "-pos.parquet"];
    if !generatable.iter().any(|end| name.ends_with(end)) || name.contains('/') {
        return Ok(None);
    }
    if crate::rest_catalog::tables::load(app, handle)
        .await
        .is_err()
    {
        return Ok(None);
    }
    Ok(app.generated().get(&handle.cache_key, name).await)
}

/// Without the Iceberg catalog nothing is generated.
#[cfg(not(feature = "iceberg-catalog"))]
async fn generated(_: &App, _: &TableHandle, _: &str) -> Result<Option<bytes::Bytes>, ObjectError> {
    Ok(None)
}

/// Which files below a table's root the endpoint serves: all of them for a table shared
/// whole ([`App::whole_folder_shared`]), otherwise only the data files of the versions the
/// Iceberg catalog serves (its latest load's, loading it when no load is known here: a
/// restart, another replica).
enum SharedFiles {
    All,
    Only(std::sync::Arc<std::collections::HashSet<String>>),
}

impl SharedFiles {
    async fn of(app: &App, handle: &TableHandle) -> Self {
        if app.whole_folder_shared(handle) {
            return SharedFiles::All;
        }
        SharedFiles::Only(served_files(app, handle).await.unwrap_or_default())
    }

    fn holds(&self, rel: &str) -> bool {
        match self {
            SharedFiles::All => true,
            SharedFiles::Only(paths) => paths.contains(rel),
        }
    }
}

async fn file_shared(app: &App, handle: &TableHandle, rel: &str) -> bool {
    SharedFiles::of(app, handle).await.holds(rel)
}

#[cfg(feature = "iceberg-catalog")]
async fn served_files(
    app: &App,
    handle: &TableHandle,
) -> Option<std::sync::Arc<std::collections::HashSet<String>>> {
    if let Some(known) = app.generated().served_files(&handle.snapshot_key) {
        return Some(known.paths);
    }
    crate::rest_catalog::tables::load(app, handle).await.ok()?;
    app.generated()
        .served_files(&handle.snapshot_key)
        .map(|known| known.paths)
}

/// Without the Iceberg catalog, only tables shared whole have files served.
#[cfg(not(feature = "iceberg-catalog"))]
async fn served_files(
    _: &App,
    _: &TableHandle,
) -> Option<std::sync::Arc<std::collections::HashSet<String>>> {
    None
}

/// Names of the files generated for a table so far (for listings).
#[cfg(feature = "iceberg-catalog")]
fn generated_names(app: &App, handle: &TableHandle) -> Vec<String> {
    app.generated().names(&handle.cache_key)
}

#[cfg(not(feature = "iceberg-catalog"))]
fn generated_names(_: &App, _: &TableHandle) -> Vec<String> {
    Vec::new()
}

/// The table's files whose path below its root starts with `rel_prefix`: `(path, size,
/// modified ms)`.
async fn table_files(
    app: &App,
    handle: &TableHandle,
    rel_prefix: &str,
) -> Result<Vec<(String, u64, i64)>, ObjectError> {
    let opened = opened(app, handle).await?;
    match &opened.root {
        Root::Local(root) => {
            let root = root.clone();
            let rel_prefix = rel_prefix.to_string();
            tokio::task::spawn_blocking(move || walk_local(&root, &rel_prefix))
                .await
                .map_err(fault)?
        }
        Root::Store(root) => {
            let dir = rel_prefix.rsplit_once('/').map_or("", |(d, _)| d);
            let root_path = store_root(opened, root)?;
            let list_at = if dir.is_empty() {
                root_path.clone()
            } else {
                store_path(opened, root, dir)?
            };
            let client = opened.store.as_ref().expect("checked").object_store();
            let metas: Vec<_> = client
                .list(Some(&list_at))
                .try_collect()
                .await
                .map_err(fault)?;
            let root_str = format!("{root_path}/");
            Ok(metas
                .into_iter()
                .filter_map(|m| {
                    let rel = m
                        .location
                        .as_ref()
                        .strip_prefix(root_str.as_str())?
                        .to_string();
                    rel.starts_with(rel_prefix)
                        .then(|| (rel, m.size, m.last_modified.timestamp_millis()))
                })
                .collect())
        }
    }
}

fn walk_local(root: &Path, rel_prefix: &str) -> Result<Vec<(String, u64, i64)>, ObjectError> {
    let dir = rel_prefix.rsplit_once('/').map_or("", |(d, _)| d);
    let mut out = Vec::new();
    // The folder the listing starts in, through whatever links its path holds, must lie inside
    // the root; below it no link is followed.
    let (Ok(root_real), Ok(start)) = (
        std::fs::canonicalize(root),
        std::fs::canonicalize(root.join(dir)),
    ) else {
        return Ok(out);
    };
    if !start.starts_with(&root_real) {
        return Ok(out);
    }
    let root = root_real.as_path();
    let mut pending = vec![start];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            // Symlinks are not followed: a link could lead out of the table.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let Ok(rel) = path.strip_prefix(root) else {
                    continue;
                };
                let Some(rel) = rel
                    .to_str()
                    .map(|r| r.replace(std::path::MAIN_SEPARATOR, "/"))
                else {
                    continue;
                };
                if rel.starts_with(rel_prefix)
                    && let Ok(m) = entry.metadata()
                {
                    out.push((rel, m.len(), modified_ms(&m)));
                }
            }
        }
    }
    Ok(out)
}
