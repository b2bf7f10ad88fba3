//! SHA-256 digests of shared files, computed once per file content.
//!
//! A digest is keyed by the file's location, size, modification time and ETag, so any rewrite of
//! the file (which changes at least one of them) makes it be computed again, and an unchanged
//! file is never read twice. Digests are appended to a JSON-lines file so they survive restarts
//! and so `lakeshare digest` can compute them before the server first needs them; a file that
//! cannot be written leaves the cache working in memory, with a warning.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use lakeshare_storage::{Folder, FolderFile};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// What a digest is valid for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Key {
    /// The file's store URL or absolute path.
    file: String,
    size: u64,
    modified_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
}

/// One line of the digest file.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    #[serde(flatten)]
    key: Key,
    sha256: String,
}

/// How many files of one listing are hashed at once.
const CONCURRENCY: usize = 4;

/// Bound on digests held in memory (about 200 bytes each); the file keeps them all.
const MAX_ENTRIES: u64 = 1_000_000;

/// Digests by file content; cheap to clone.
#[derive(Clone)]
pub struct DigestCache {
    known: moka::future::Cache<Key, Arc<str>>,
    file: Arc<Mutex<Option<Appender>>>,
}

impl std::fmt::Debug for DigestCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestCache")
            .field("entries", &self.known.entry_count())
            .finish_non_exhaustive()
    }
}

/// The digest file, opened for appending when the first digest is computed.
struct Appender {
    path: PathBuf,
    file: Option<std::fs::File>,
    failed: bool,
}

impl Appender {
    fn append(&mut self, line: &Line) {
        if self.failed {
            return;
        }
        if self.file.is_none() {
            let opened = self
                .path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.path)
                });
            match opened {
                Ok(file) => self.file = Some(file),
                Err(e) => {
                    self.failed = true;
                    tracing::warn!(path = %self.path.display(), "cannot write the digest cache; digests are kept in memory only: {e}");
                    return;
                }
            }
        }
        let mut text = serde_json::to_string(line).expect("digest lines serialise");
        text.push('\n');
        if let Some(Err(e)) = self.file.as_mut().map(|f| f.write_all(text.as_bytes())) {
            self.failed = true;
            tracing::warn!(path = %self.path.display(), "cannot write the digest cache; digests are kept in memory only: {e}");
        }
    }
}

impl DigestCache {
    /// The cache kept in `path`, with the digests it already holds. Lines that do not parse (a
    /// write cut short) are skipped.
    pub fn open(path: &Path) -> Self {
        let cache = Self::build(Some(path.to_path_buf()));
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    match serde_json::from_str::<Line>(line) {
                        Ok(line) => cache.remember(line.key, &line.sha256),
                        Err(e) => {
                            tracing::warn!(path = %path.display(), "skipping a damaged digest line: {e}")
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read the digest cache: {e}")
            }
        }
        cache
    }

    /// A cache that forgets everything when dropped.
    pub fn in_memory() -> Self {
        Self::build(None)
    }

    fn build(path: Option<PathBuf>) -> Self {
        Self {
            known: moka::future::Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .build(),
            file: Arc::new(Mutex::new(path.map(|path| Appender {
                path,
                file: None,
                failed: false,
            }))),
        }
    }

    fn remember(&self, key: Key, sha256: &str) {
        // Loading happens before any request, so the blocking insert cannot contend.
        futures::executor::block_on(self.known.insert(key, Arc::from(sha256)));
    }

    fn key(folder: &Folder, file: &FolderFile) -> Key {
        Key {
            file: folder.file_location(&file.path),
            size: file.size,
            modified_ms: file.modified_ms,
            etag: file.etag.clone(),
        }
    }

    /// The digest of `file` if it was computed before; never reads the file.
    pub async fn known(&self, folder: &Folder, file: &FolderFile) -> Option<String> {
        self.known
            .get(&Self::key(folder, file))
            .await
            .map(|d| d.to_string())
    }

    /// The digest of `file`, hex, computing it if this content was never hashed. Concurrent
    /// requests for the same content share one computation.
    pub async fn digest(&self, folder: &Folder, file: &FolderFile) -> Result<String> {
        let key = Self::key(folder, file);
        let computed = self
            .known
            .try_get_with(key.clone(), async {
                let sha256 = hash(folder, file).await?;
                if let Some(appender) = self.file.lock().expect("not poisoned").as_mut() {
                    appender.append(&Line {
                        key,
                        sha256: sha256.clone(),
                    });
                }
                Ok::<_, Error>(Arc::<str>::from(sha256))
            })
            .await;
        computed
            .map(|digest| digest.to_string())
            .map_err(|e| unshare(&e, folder))
    }

    /// The digests of `files`, in order, a few at a time.
    pub async fn digest_all(&self, folder: &Folder, files: &[FolderFile]) -> Result<Vec<String>> {
        // Collected first: a stream mapping borrowed items with a closure is not provably
        // `Send` for every lifetime, which axum handlers need.
        let pending: Vec<_> = files.iter().map(|file| self.digest(folder, file)).collect();
        futures::stream::iter(pending)
            .buffered(CONCURRENCY)
            .try_collect()
            .await
    }
}

/// An error the cache shared between waiting requests, as one of them gets it back.
fn unshare(error: &Error, folder: &Folder) -> Error {
    match error {
        Error::Changed { path } => Error::Changed { path: path.clone() },
        Error::Storage(lakeshare_storage::Error::NotFound(what)) => {
            Error::Storage(lakeshare_storage::Error::NotFound(what.clone()))
        }
        other => Error::Storage(lakeshare_storage::Error::Store {
            store: folder.location().to_string(),
            reason: other.to_string(),
        }),
    }
}

/// Reads the file through and hashes it, refusing the result if the file is no longer the one
/// listed (another ETag, or another length), since the digest would be filed under its key.
async fn hash(folder: &Folder, file: &FolderFile) -> Result<String> {
    let (etag, mut chunks) = folder.stream(&file.path).await?;
    let changed = || Error::Changed {
        path: folder.file_location(&file.path),
    };
    if file.etag.is_some() && etag.is_some() && etag != file.etag {
        return Err(changed());
    }
    let mut hasher = Sha256::new();
    let mut read = 0u64;
    while let Some(chunk) = chunks.try_next().await? {
        read += chunk.len() as u64;
        hasher.update(&chunk);
    }
    if read != file.size {
        return Err(changed());
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakeshare_storage::Signer;

    fn folder(dir: &Path) -> Folder {
        Folder::local(
            dir.to_str().unwrap(),
            Signer::from_secret("secret-for-tests"),
            "http://h/files",
        )
        .unwrap()
    }

    #[tokio::test]
    async fn digests_are_computed_once_per_content_and_kept_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("a.bin"), b"hello").unwrap();
        let cache_file = dir.path().join("cache/digests.jsonl");
        let folder = folder(&data);
        let files = folder.list().await.unwrap();
        let cache = DigestCache::open(&cache_file);
        assert_eq!(cache.known(&folder, &files[0]).await, None);
        let digest = cache.digest(&folder, &files[0]).await.unwrap();
        assert_eq!(
            digest,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        // A new process finds it without reading the file.
        let reopened = DigestCache::open(&cache_file);
        assert_eq!(reopened.known(&folder, &files[0]).await, Some(digest));
        // New content under the same name is hashed again.
        std::fs::write(data.join("a.bin"), b"hello, world").unwrap();
        let files = folder.list().await.unwrap();
        assert_eq!(reopened.known(&folder, &files[0]).await, None);
        let digest = reopened.digest(&folder, &files[0]).await.unwrap();
        assert_eq!(
            digest,
            "09ca7e4eaa6e8ae9c7d261167129184883644d07dfba7cbfbc4c8a2e08360d5b"
        );
    }

    #[tokio::test]
    async fn a_file_changed_since_listing_is_not_filed_under_the_old_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.bin"), b"hello").unwrap();
        let folder = folder(dir.path());
        let mut files = folder.list().await.unwrap();
        files[0].size = 3;
        files[0].etag = None;
        let err = DigestCache::in_memory()
            .digest(&folder, &files[0])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Changed { .. }), "{err}");
    }
}
