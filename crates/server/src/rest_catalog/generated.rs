//! Generated Iceberg files, kept once made: in memory (bounded in bytes) and, where the
//! provider configured a `cache:`, in its folder on disk or its prefix in a store, so a restart
//! or another replica sharing it does not generate them again. A store prefix is more: the
//! tables of that store whose recipients get vended credentials read their generated metadata
//! from it, so a file is in memory only once it is in the store.
//!
//! Names are content addresses (see `lakeshare_iceberg_rest::generate`): a name never changes
//! meaning, so nothing here is ever invalidated, and a file found on disk is the file wanted.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lakeshare_iceberg_rest::{GeneratedFile, VersionFiles};
use lakeshare_model::Version;
use lakeshare_storage::Store;
use moka::future::Cache;
use object_store::ObjectStoreExt;

/// Where generated files are kept beyond memory.
#[derive(Clone, Debug)]
pub enum Backing {
    /// A folder on the gateway's disk: a second level of cache (a write that fails is logged,
    /// and memory serves).
    Folder(PathBuf),
    /// A prefix of a store (`location`, its canonical URL): where recipients of that store's
    /// vended tables read from, so a write that fails fails the load.
    Store { store: Arc<Store>, location: String },
}

/// A generated version's cache key: table id, generator fingerprint, version, parent version.
type VersionKey = (Arc<str>, Arc<str>, Version, Option<Version>);

/// Generated files by `(table id, name)`, and the generated versions by `(table id,
/// generator fingerprint, version, parent version)`.
#[derive(Clone)]
pub struct GeneratedFiles {
    files: Cache<(Arc<str>, Arc<str>), Bytes>,
    versions: Cache<VersionKey, Arc<VersionFiles>>,
    backing: Option<Backing>,
    /// Row counts read from footers, for files whose statistics lack them.
    pub row_counts: super::row_counts::RowCounts,
    /// Deleted rows read from deletion vectors, by file and vector (bounded in bytes).
    pub deleted_rows: moka::sync::Cache<String, Arc<[u64]>>,
    /// Per table, the data files (paths below its root) of the versions its latest load
    /// served: what the built-in endpoint serves of a table not shared whole.
    served_files: Arc<Mutex<HashMap<Arc<str>, ServedFiles>>>,
}

/// The data files a load served, and the table's latest version then.
#[derive(Clone)]
pub struct ServedFiles {
    pub latest: Version,
    pub paths: Arc<HashSet<String>>,
}

impl std::fmt::Debug for GeneratedFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedFiles")
            .field("files", &self.files.entry_count())
            .field("versions", &self.versions.entry_count())
            .finish_non_exhaustive()
    }
}

impl GeneratedFiles {
    pub fn new(max_bytes: u64, backing: Option<Backing>) -> Self {
        Self {
            files: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|k: &(Arc<str>, Arc<str>), v: &Bytes| {
                    u32::try_from(v.len() + k.1.len()).unwrap_or(u32::MAX)
                })
                .build(),
            versions: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, v: &Arc<VersionFiles>| {
                    let bytes: usize = v.files.iter().map(|f| f.bytes.len()).sum();
                    u32::try_from(bytes + 256).unwrap_or(u32::MAX)
                })
                .build(),
            backing,
            row_counts: super::row_counts::RowCounts::new(1_000_000),
            deleted_rows: moka::sync::Cache::builder()
                .max_capacity(max_bytes / 4)
                .weigher(|k: &String, v: &Arc<[u64]>| {
                    u32::try_from(k.len() + v.len() * 8).unwrap_or(u32::MAX)
                })
                .build(),
            served_files: Arc::default(),
        }
    }

    /// The data files the latest load of a table served, if it was loaded since the start.
    pub fn served_files(&self, table_id: &str) -> Option<ServedFiles> {
        self.served_files
            .lock()
            .expect("not poisoned")
            .get(table_id)
            .cloned()
    }

    /// Records what a load of a table at `latest` served (replacing an older load's).
    pub fn set_served_files(&self, table_id: &str, files: ServedFiles) {
        self.served_files
            .lock()
            .expect("not poisoned")
            .insert(Arc::from(table_id), files);
    }

    /// The folder (URL) where the generated files of `table_id` are kept in `store`, if the
    /// cache is a prefix of that store.
    pub fn store_folder(&self, store: &str, table_id: &str) -> Option<String> {
        match &self.backing {
            Some(Backing::Store { store: s, location }) if s.name() == store && safe(table_id) => {
                Some(table_folder(location, table_id))
            }
            _ => None,
        }
    }

    /// The generated version (whose snapshot's parent is `parent`'s), generating it with
    /// `make` the first time.
    pub async fn version<F, E>(
        &self,
        table_id: &str,
        fingerprint: &str,
        (version, parent): (Version, Option<Version>),
        make: F,
    ) -> Result<Arc<VersionFiles>, Arc<E>>
    where
        F: Future<Output = Result<VersionFiles, E>>,
        E: Send + Sync + 'static,
    {
        let key = (Arc::from(table_id), Arc::from(fingerprint), version, parent);
        self.versions
            .try_get_with(key, async { make.await.map(Arc::new) })
            .await
    }

    /// Keeps each of `files` not kept yet: the files cache may have evicted one a version
    /// still names (it holds every `metadata.json` too), and what a load answers must be
    /// readable.
    /// `required`: see [`GeneratedFiles::put`].
    pub async fn keep_all(
        &self,
        table_id: &str,
        files: &[GeneratedFile],
        required: bool,
    ) -> Result<(), String> {
        for f in files {
            let file_key = (Arc::from(table_id), Arc::from(f.name.as_str()));
            if !self.files.contains_key(&file_key) {
                self.put(table_id, f, required).await?;
            }
        }
        Ok(())
    }

    /// Keeps one file: in a store cache first, then in memory. A store write that fails is an
    /// error when the file is `required` there (its recipient reads it from the store; nothing
    /// is kept then, so the next load writes it again), and otherwise logged.
    pub async fn put(
        &self,
        table_id: &str,
        file: &GeneratedFile,
        required: bool,
    ) -> Result<(), String> {
        if let (Some(Backing::Store { store, .. }), Some(url)) =
            (&self.backing, self.backing_url(table_id, &file.name))
        {
            let key = store.key_of(&url).map_err(|e| e.to_string())?;
            let written = store
                .object_store()
                .put(&key, file.bytes.clone().into())
                .await
                .map_err(|e| format!("keeping {} in the cache's store: {e}", file.name));
            match written {
                Err(e) if required => return Err(e),
                Err(e) => tracing::warn!("{e}"),
                Ok(_) => {}
            }
        }
        self.files
            .insert(
                (Arc::from(table_id), Arc::from(file.name.as_str())),
                file.bytes.clone(),
            )
            .await;
        if let (Some(Backing::Folder(_)), Some(path)) =
            (&self.backing, self.backing_url(table_id, &file.name))
        {
            let bytes = file.bytes.clone();
            let path = PathBuf::from(path);
            let written = tokio::task::spawn_blocking(move || write_once(&path, &bytes)).await;
            if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
                tracing::warn!("could not keep a generated Iceberg file in the cache folder: {e}");
            }
        }
        Ok(())
    }

    /// A file kept before, in memory or in the cache.
    pub async fn get(&self, table_id: &str, name: &str) -> Option<Bytes> {
        let key = (Arc::from(table_id), Arc::from(name));
        if let Some(bytes) = self.files.get(&key).await {
            return Some(bytes);
        }
        let at = self.backing_url(table_id, name)?;
        let bytes = match self.backing.as_ref()? {
            Backing::Folder(_) => Bytes::from(tokio::fs::read(at).await.ok()?),
            Backing::Store { store, .. } => {
                let key = store.key_of(&at).ok()?;
                match store.object_store().get(&key).await {
                    Ok(found) => found.bytes().await.ok()?,
                    Err(object_store::Error::NotFound { .. }) => return None,
                    Err(e) => {
                        tracing::warn!(
                            "reading a generated Iceberg file from the cache's store: {e}"
                        );
                        return None;
                    }
                }
            }
        };
        self.files.insert(key, bytes.clone()).await;
        Some(bytes)
    }

    /// Names of the files kept in memory for a table, sorted (for listings).
    pub fn names(&self, table_id: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .files
            .iter()
            .filter(|(k, _)| &*k.0 == table_id)
            .map(|(k, _)| k.1.to_string())
            .collect();
        names.sort();
        names
    }

    /// Where `name` of `table_id` is kept beyond memory: a path in the cache folder, or a URL
    /// in the cache's store.
    fn backing_url(&self, table_id: &str, name: &str) -> Option<String> {
        if !(safe(table_id) && safe(name)) {
            return None;
        }
        match self.backing.as_ref()? {
            Backing::Folder(folder) => Some(
                folder
                    .join(table_id)
                    .join(name)
                    .to_string_lossy()
                    .into_owned(),
            ),
            Backing::Store { location, .. } => {
                Some(format!("{}/{name}", table_folder(location, table_id)))
            }
        }
    }
}

/// The folder of one table's files in the cache's store at `location`.
fn table_folder(location: &str, table_id: &str) -> String {
    format!("{}/{table_id}", location.trim_end_matches('/'))
}

/// A name that is one plain path segment.
fn safe(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !s.starts_with('.')
}

/// Writes `bytes` at `path` unless a file is there already (content addressing: it is the
/// same), through a temporary file so a reader never sees half a file.
fn write_once(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let dir = path.parent().expect("a file in a folder");
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile_in(dir)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn tempfile_in(dir: &std::path::Path) -> std::io::Result<PathBuf> {
    let n: u64 = rand::random();
    Ok(dir.join(format!(".tmp-{n:016x}")))
}
