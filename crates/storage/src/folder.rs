//! Folders of shared files (volumes, model versions, skills): listed, read and signed the same
//! way whether they lie on the gateway's disk or in an object store.
//!
//! Both go through `object_store` for listing and reading (its local filesystem client for
//! disk), so sizes, modification times and ETags mean the same everywhere. Only signing differs:
//! a store pre-signs its own URLs; a local file gets a token URL to the gateway's file route.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use object_store::{ObjectStore, ObjectStoreExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;

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

enum Signing {
    /// With the folder's canonical path, the root the signer confines files to.
    Local(LocalUrlSigner, std::path::PathBuf),
    Store(Arc<Store>),
}

/// A folder of files recipients may read.
pub struct Folder {
    /// Canonical location: an absolute path or a store URL, without a trailing slash.
    location: String,
    client: Arc<dyn ObjectStore>,
    /// The folder's key prefix within `client`.
    prefix: Path,
    /// What names this folder in messages: the store and key, or the path.
    display: String,
    signing: Signing,
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
        let io = |source| Error::Io {
            path: dir.to_string(),
            source,
        };
        let canonical = std::path::Path::new(dir).canonicalize().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(dir.to_string())
            } else {
                io(e)
            }
        })?;
        if !canonical.is_dir() {
            return Err(io(std::io::Error::other("not a directory")));
        }
        let client = LocalFileSystem::new_with_prefix(&canonical).map_err(|e| Error::Io {
            path: dir.to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        // The TTL is given per signing call; this one is replaced there.
        let signer = LocalUrlSigner::new(signer, files_url, &canonical, Duration::from_secs(60))?;
        Ok(Self {
            location: dir.trim_end_matches('/').to_string(),
            client: Arc::new(client),
            prefix: Path::default(),
            display: dir.to_string(),
            signing: Signing::Local(signer, canonical),
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
            client: store.object_store(),
            display: format!("{url} (store '{}')", store.name()),
            prefix,
            signing: Signing::Store(store.clone()),
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

    fn key(&self, path: &str) -> Result<Path> {
        let relative = Path::parse(path).map_err(|e| Error::Unsupported {
            url: path.to_string(),
            reason: e.to_string(),
        })?;
        if relative.as_ref().is_empty() || path.split('/').any(|p| p == ".." || p == ".") {
            return Err(Error::OutsideRoot {
                path: path.to_string(),
                root: self.location.clone(),
            });
        }
        Ok(self.prefix.parts().chain(relative.parts()).collect())
    }

    fn failed(&self, e: object_store::Error) -> Error {
        match e {
            object_store::Error::NotFound { .. } => Error::NotFound(self.display.clone()),
            other => Error::Store {
                store: self.display.clone(),
                reason: other.to_string(),
            },
        }
    }

    /// Every file of the folder, sorted by path. Hidden files (a segment starting with `.`) are
    /// left out: they are tool state (`.DS_Store`, `.git`), not content.
    pub async fn list(&self) -> Result<Vec<FolderFile>> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let objects: Vec<object_store::ObjectMeta> = self
            .client
            .list(prefix)
            .try_collect()
            .await
            .map_err(|e| self.failed(e))?;
        let skip = self.prefix.parts().count();
        let mut files: Vec<FolderFile> = objects
            .into_iter()
            .filter_map(|meta| {
                let parts: Vec<String> = meta
                    .location
                    .parts()
                    .skip(skip)
                    .map(|p| p.as_ref().to_string())
                    .collect();
                if parts.is_empty() || parts.iter().any(|p| p.starts_with('.')) {
                    return None;
                }
                Some(FolderFile {
                    path: parts.join("/"),
                    size: meta.size,
                    modified_ms: meta.last_modified.timestamp_millis(),
                    etag: meta.e_tag,
                })
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// The whole content of one (small) file.
    pub async fn read(&self, path: &str) -> Result<Bytes> {
        let key = self.key(path)?;
        let result = self.client.get(&key).await.map_err(|e| self.failed(e))?;
        result.bytes().await.map_err(|e| self.failed(e))
    }

    /// The content of one file as a stream of chunks, for hashing large files in bounded memory,
    /// with the ETag of the version being read (to tell whether it is still the one listed).
    pub async fn stream(
        &self,
        path: &str,
    ) -> Result<(Option<String>, BoxStream<'static, Result<Bytes>>)> {
        let key = self.key(path)?;
        let result = self.client.get(&key).await.map_err(|e| self.failed(e))?;
        let etag = result.meta.e_tag.clone();
        let display = self.display.clone();
        let stream = result.into_stream().map_err(move |e| Error::Store {
            store: display.clone(),
            reason: e.to_string(),
        });
        Ok((etag, Box::pin(stream)))
    }

    /// URLs a recipient can GET (Range included) each of `paths` from, valid for `ttl`.
    pub async fn sign(&self, paths: &[&str], ttl: Duration) -> Result<Vec<SignedUrl>> {
        match &self.signing {
            Signing::Local(signer, root) => {
                let signer = signer.with_ttl(ttl);
                paths
                    .iter()
                    .map(|path| {
                        self.key(path)?;
                        let file = root.join(path);
                        let url = url::Url::from_file_path(&file).map_err(|()| {
                            Error::Unsupported {
                                url: file.display().to_string(),
                                reason: "not an absolute path".into(),
                            }
                        })?;
                        signer.sign(url.as_str())
                    })
                    .collect()
            }
            Signing::Store(store) => {
                let keys = paths
                    .iter()
                    .map(|p| self.key(p))
                    .collect::<Result<Vec<_>>>()?;
                store.sign_keys(&keys, ttl).await
            }
        }
    }
}
