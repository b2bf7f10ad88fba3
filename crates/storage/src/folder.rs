//! Folders of shared files (volumes, model versions, skills): listed, read and signed the same
//! way whether they lie on the gateway's disk or in an object store.
//!
//! A store folder goes through the store's `object_store` client and pre-signs its own URLs; a
//! local folder is walked on disk and its files get token URLs to the gateway's file route.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::{Error, LocalUrlSigner, Result, SignedUrl, Signer, Store};

/// One file of a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderFile {
    /// Relative to the folder, `/`-separated.
    pub path: String,
    pub size: u64,
    /// Epoch milliseconds.
    pub modified_ms: i64,
    /// The store's ETag, where it has one; changes whenever the content may have.
    pub etag: Option<String>,
}

enum Backend {
    Local {
        /// Canonical, so the signer's confinement check compares like with like.
        root: PathBuf,
        signer: LocalUrlSigner,
    },
    Store {
        store: Arc<Store>,
        client: Arc<dyn ObjectStore>,
        /// The folder's key prefix in the bucket.
        prefix: Path,
    },
}

/// A folder of files recipients may read.
pub struct Folder {
    /// Canonical location: an absolute path or a store URL, without a trailing slash.
    location: String,
    backend: Backend,
}

impl std::fmt::Debug for Folder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Folder")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Folder {
    /// A folder on the gateway's disk; its files are served by the gateway's file route at
    /// `files_url`, behind tokens from `signer`.
    pub fn local(dir: &str, signer: Signer, files_url: &str) -> Result<Self> {
        let root = std::path::Path::new(dir).canonicalize().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(dir.to_string())
            } else {
                io_error(dir, e)
            }
        })?;
        if !root.is_dir() {
            return Err(io_error(dir, std::io::Error::other("not a directory")));
        }
        // The TTL is given per signing call; this one is replaced there.
        let signer = LocalUrlSigner::new(signer, files_url, &root, Duration::from_secs(60))?;
        Ok(Self {
            location: dir.trim_end_matches('/').to_string(),
            backend: Backend::Local { root, signer },
        })
    }

    /// The folder at `url` in `store`.
    pub fn in_store(store: &Arc<Store>, url: &str) -> Result<Self> {
        let prefix = store.key_of(url)?;
        if prefix.as_ref().is_empty() {
            return Err(Error::Unsupported {
                url: url.to_string(),
                reason: "a shared folder cannot be a whole bucket".into(),
            });
        }
        Ok(Self {
            location: url.trim_end_matches('/').to_string(),
            backend: Backend::Store {
                store: store.clone(),
                client: store.object_store(),
                prefix,
            },
        })
    }

    /// The folder's canonical location.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// A canonical name for one file of the folder: its store URL or absolute path.
    pub fn file_location(&self, path: &str) -> String {
        format!("{}/{path}", self.location)
    }

    /// Refuses paths that are empty, absolute or step outside the folder.
    fn checked<'a>(&self, path: &'a str) -> Result<&'a str> {
        let bad = path.is_empty()
            || path.starts_with('/')
            || path.contains('\\')
            || path
                .split('/')
                .any(|p| p.is_empty() || p == ".." || p == ".");
        if bad {
            return Err(Error::OutsideRoot {
                path: path.to_string(),
                root: self.location.clone(),
            });
        }
        Ok(path)
    }

    fn store_failed(&self, e: object_store::Error) -> Error {
        match e {
            object_store::Error::NotFound { .. } => Error::NotFound(self.location.clone()),
            other => Error::Store {
                store: self.location.clone(),
                reason: other.to_string(),
            },
        }
    }

    /// Every file of the folder, sorted by path. Hidden files (a segment starting with `.`) are
    /// left out: they are tool state (`.DS_Store`, `.git`), not content.
    pub async fn list(&self) -> Result<Vec<FolderFile>> {
        let mut files = match &self.backend {
            Backend::Local { root, .. } => {
                let root = root.clone();
                tokio::task::spawn_blocking(move || walk(&root))
                    .await
                    .map_err(|e| io_error(&self.location, std::io::Error::other(e)))??
            }
            Backend::Store { client, prefix, .. } => {
                let objects: Vec<object_store::ObjectMeta> = client
                    .list(Some(prefix))
                    .try_collect()
                    .await
                    .map_err(|e| self.store_failed(e))?;
                let skip = prefix.parts().count();
                objects
                    .into_iter()
                    .filter_map(|meta| {
                        let parts: Vec<String> = meta
                            .location
                            .parts()
                            .skip(skip)
                            .map(|p| p.as_ref().to_string())
                            .collect();
                        visible(&parts).then(|| FolderFile {
                            path: parts.join("/"),
                            size: meta.size,
                            modified_ms: meta.last_modified.timestamp_millis(),
                            etag: meta.e_tag,
                        })
                    })
                    .collect()
            }
        };
        files.sort_by(|a, b| a.path.cmp(&b.path));
        drop_directory_markers(&mut files);
        Ok(files)
    }

    /// The whole content of one (small) file.
    pub async fn read(&self, path: &str) -> Result<Bytes> {
        let (_, stream) = self.stream(path).await?;
        let chunks: Vec<Bytes> = stream.try_collect().await?;
        Ok(chunks.concat().into())
    }

    /// The content of one file as a stream of chunks, for hashing large files in bounded memory,
    /// with the ETag of the version being read (to tell whether it is still the one listed).
    pub async fn stream(
        &self,
        path: &str,
    ) -> Result<(Option<String>, BoxStream<'static, Result<Bytes>>)> {
        let path = self.checked(path)?;
        match &self.backend {
            Backend::Local { root, .. } => {
                let file = root.join(path);
                let display = file.display().to_string();
                let opened = tokio::fs::File::open(&file).await.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Error::NotFound(display.clone())
                    } else {
                        io_error(&display, e)
                    }
                })?;
                let stream = tokio_util::io::ReaderStream::with_capacity(opened, 256 * 1024)
                    .map_err(move |e| io_error(&display, e));
                Ok((None, Box::pin(stream)))
            }
            Backend::Store { client, prefix, .. } => {
                let key: Path = prefix.parts().chain(Path::from(path).parts()).collect();
                let result = client.get(&key).await.map_err(|e| self.store_failed(e))?;
                let etag = result.meta.e_tag.clone();
                let location = self.file_location(path);
                let stream = result.into_stream().map_err(move |e| Error::Store {
                    store: location.clone(),
                    reason: e.to_string(),
                });
                Ok((etag, Box::pin(stream)))
            }
        }
    }

    /// URLs a recipient can GET (Range included) each of `paths` from, valid for `ttl`.
    pub async fn sign(&self, paths: &[&str], ttl: Duration) -> Result<Vec<SignedUrl>> {
        self.sign_for(paths, ttl, None).await
    }

    /// [`Folder::sign`] for `(recipient, object)`, sealed into the gateway's own file URLs so
    /// that their downloads are audited as that recipient's.
    pub async fn sign_for(
        &self,
        paths: &[&str],
        ttl: Duration,
        audience: Option<(&str, &str)>,
    ) -> Result<Vec<SignedUrl>> {
        match &self.backend {
            Backend::Local { root, signer } => {
                let signer = match audience {
                    Some((recipient, object)) => signer.for_audience(recipient, object),
                    None => signer.clone(),
                }
                .with_ttl(ttl);
                paths
                    .iter()
                    .map(|path| {
                        let file = root.join(self.checked(path)?);
                        let url =
                            url::Url::from_file_path(&file).map_err(|()| Error::Unsupported {
                                url: file.display().to_string(),
                                reason: "not an absolute path".into(),
                            })?;
                        signer.sign(url.as_str())
                    })
                    .collect()
            }
            Backend::Store { store, prefix, .. } => {
                let keys = paths
                    .iter()
                    .map(|p| {
                        let p = self.checked(p)?;
                        Ok(prefix.parts().chain(Path::from(p).parts()).collect())
                    })
                    .collect::<Result<Vec<Path>>>()?;
                store.sign_keys(&keys, ttl).await
            }
        }
    }
}

/// Removes the empty objects some tools write for folders (`dir/`, which object_store lists as
/// `dir`): an empty entry that other entries lie under is a folder, not a file. `files` is
/// sorted, so such entries come right before their contents.
fn drop_directory_markers(files: &mut Vec<FolderFile>) {
    let marker: Vec<bool> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            f.size == 0
                && files[i + 1..]
                    .iter()
                    .take_while(|next| next.path.starts_with(&f.path))
                    .any(|next| next.path[f.path.len()..].starts_with('/'))
        })
        .collect();
    let mut keep = marker.into_iter().map(|m| !m);
    files.retain(|_| keep.next().expect("one flag per file"));
}

fn io_error(path: &str, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_string(),
        source,
    }
}

fn visible<S: AsRef<str>>(parts: &[S]) -> bool {
    !parts.is_empty() && !parts.iter().any(|p| p.as_ref().starts_with('.'))
}

/// The regular files under `root`, hidden ones left out. Symbolic links are not followed, so a
/// link cannot pull files from outside the folder into it.
fn walk(root: &std::path::Path) -> Result<Vec<FolderFile>> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| io_error(&dir.display().to_string(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&dir.display().to_string(), e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(|e| io_error(&entry.path().display().to_string(), e))?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let meta = entry
                    .metadata()
                    .map_err(|e| io_error(&entry.path().display().to_string(), e))?;
                let relative = entry.path();
                let relative = relative.strip_prefix(root).expect("walked from the root");
                let parts: Vec<&str> = relative.iter().filter_map(|p| p.to_str()).collect();
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .unwrap_or_default();
                files.push(FolderFile {
                    path: parts.join("/"),
                    size: meta.len(),
                    modified_ms: modified.as_millis() as i64,
                    // Nanoseconds and the inode, so a rewrite within the same millisecond (or a
                    // file replaced by a rename) is still told apart.
                    etag: Some(local_etag(&meta, modified)),
                });
            }
        }
    }
    Ok(files)
}

#[cfg(unix)]
fn local_etag(meta: &std::fs::Metadata, modified: Duration) -> String {
    use std::os::unix::fs::MetadataExt;
    format!("{:x}-{:x}", modified.as_nanos(), meta.ino())
}

#[cfg(not(unix))]
fn local_etag(_meta: &std::fs::Metadata, modified: Duration) -> String {
    format!("{:x}", modified.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> FolderFile {
        FolderFile {
            path: path.into(),
            size,
            modified_ms: 0,
            etag: None,
        }
    }

    #[test]
    fn empty_folder_objects_are_not_files() {
        let mut files = vec![
            file("a", 0),
            file("a-b", 3),
            file("a/x", 1),
            file("empty", 0),
            file("s", 0),
            file("s/t", 0),
            file("s/t/u", 2),
        ];
        drop_directory_markers(&mut files);
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a-b", "a/x", "empty", "s/t/u"]);
    }
}
