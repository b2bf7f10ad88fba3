//! Signed URLs for the data files recipients read.
//!
//! Recipients never read through the gateway's query path: each file in a response comes with a
//! short-lived URL. For object stores that URL is the store's own pre-signed URL; for tables on
//! the gateway's local filesystem it is a URL to the gateway's own file route carrying a sealed
//! (encrypted and authenticated) token ([`LocalUrlSigner`]), which any replica sharing one of the
//! signing secrets can open, and which tells its holder nothing about the gateway's paths.
//!
//! ```
//! use std::time::Duration;
//! use lakeshare_storage::{LocalUrlSigner, Signer, UrlSigner};
//!
//! let root = tempfile::tempdir().unwrap();
//! std::fs::write(root.path().join("part-0.parquet"), b"PAR1").unwrap();
//! let signer = LocalUrlSigner::new(
//!     Signer::from_secret("s3cr3t"),
//!     "http://127.0.0.1:8080/files",
//!     root.path(),
//!     Duration::from_secs(60),
//! ).unwrap();
//! let file = url::Url::from_file_path(root.path().join("part-0.parquet")).unwrap();
//! let signed = signer.sign(file.as_str()).unwrap();
//! let token = signed.url.rsplit('/').next().unwrap().trim_end_matches("?sp=r");
//! let path = signer.tokens().resolve(token, signed.expires_at_ms - 1).unwrap();
//! assert!(path.ends_with("part-0.parquet"));
//! ```

#[cfg(test)]
mod conformance;
mod error;
mod folder;
mod local;
mod options;
mod signing;
mod sigv4;
mod store;
mod vending;

pub use error::{Error, Result};
pub use folder::{Folder, FolderFile};
pub use local::{FileTokens, GrantedFile, LocalUrlSigner, PRESIGNED_MARKER};
pub use options::{AZURITE_ACCOUNT, StoreKind, StoreOptions, StsOptions};
pub use signing::{Purpose, Signer};
pub use store::{Store, StoreUrlSigner};
pub use vending::{TemporaryCredentials, VendRequest};

/// A URL a recipient can read a file from until `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrl {
    pub url: String,
    /// Epoch milliseconds after which the URL stops working.
    pub expires_at_ms: i64,
}

/// Turns the storage URL of a data file into a URL a recipient can read without credentials.
///
/// Implementations must refuse files outside the table they were made for, so a table whose log
/// points elsewhere (a crafted `../` path, an absolute path into another table) cannot be used to
/// hand out other data.
#[async_trait::async_trait]
pub trait UrlSigner: Send + Sync + std::fmt::Debug {
    /// Signs each of `file_urls` for reading, in order. Batched because an object store's
    /// signer may need to fetch credentials first, which is done once per batch.
    async fn sign_all(&self, file_urls: &[&str]) -> Result<Vec<SignedUrl>>;

    /// Whether [`UrlSigner::sign_all`] would accept `file_url`, without signing it. Used to vet a
    /// whole snapshot before a response starts, when an error can still become a status code.
    fn check(&self, file_url: &str) -> Result<()>;

    /// This signer for URLs handed to `recipient` for `object`, where the URLs come back to
    /// the gateway (its own file route), so their downloads are audited as that recipient's;
    /// `None` where they go straight to a store, which the gateway does not see.
    fn for_recipient(
        &self,
        _recipient: &str,
        _object: &str,
    ) -> Option<std::sync::Arc<dyn UrlSigner>> {
        None
    }
}

/// Milliseconds since the epoch, the unit of every expiry on the wire.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
