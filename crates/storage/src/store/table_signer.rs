//! The signer for one table's files in a store, confined to the table's prefix.

use super::*;

/// Signs the files of one table in an object store, refusing files outside the table.
#[derive(Clone)]
pub struct StoreUrlSigner {
    pub(super) store: Arc<Store>,
    /// The table's key prefix in the bucket.
    pub(super) prefix: Path,
    pub(super) ttl: Duration,
}

impl std::fmt::Debug for StoreUrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreUrlSigner")
            .field("store", &self.store.name)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl StoreUrlSigner {
    /// Whether `url` names this signer's folder itself or something inside it: for checking
    /// that a location a table's own metadata declares lies within the configured one.
    pub fn encloses(&self, url: &str) -> bool {
        self.store
            .key_of(url)
            .is_ok_and(|key| key.prefix_match(&self.prefix).is_some())
    }

    fn key_inside(&self, file_url: &str) -> Result<Path> {
        let key = self.store.key_of(file_url)?;
        if key
            .prefix_match(&self.prefix)
            .is_none_or(|mut rest| rest.next().is_none())
        {
            return Err(Error::OutsideRoot {
                path: file_url.to_string(),
                root: self.prefix.to_string(),
            });
        }
        Ok(key)
    }
}

#[async_trait::async_trait]
impl UrlSigner for StoreUrlSigner {
    async fn sign_all(&self, file_urls: &[&str]) -> Result<Vec<SignedUrl>> {
        let keys = file_urls
            .iter()
            .map(|url| self.key_inside(url))
            .collect::<Result<Vec<_>>>()?;
        self.store.sign_keys(&keys, self.ttl).await
    }

    fn check(&self, file_url: &str) -> Result<()> {
        self.key_inside(file_url).map(drop)
    }
}
