//! Configured object stores: the client the gateway reads tables through, and the signer that
//! makes the URLs recipients read files from.
//!
//! One [`Store`] per `stores:` entry, rooted at its bucket (or container). Reading and signing
//! are kept apart on purpose: the gateway often reaches a store on an internal address, while a
//! recipient needs a URL for the address it can reach, and an S3 pre-signed URL signs its host.
//! So for S3 a second client, configured with `public_endpoint`, does the signing (it needs no
//! network for static credentials). An Azure SAS does not sign the host, so its URLs are signed
//! by the reading client and their origin is swapped for `public_endpoint`.

use std::sync::Arc;
use std::time::Duration;

use crate::options::{AZURITE_ACCOUNT, StoreKind, StoreOptions};
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::azure::{MicrosoftAzure, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorage, GoogleCloudStorageBuilder};
use object_store::path::Path;
use object_store::signer::Signer as _;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::vending::TemporaryCredentials;

mod builders;
mod check;
mod table_signer;

use crate::{Error, Result, SignedUrl, UrlSigner, now_ms};
use builders::{azure_builder, azure_endpoint, client_options, retry_config, s3_builder};
pub use table_signer::StoreUrlSigner;

/// Azurite's default address (object_store's default in emulator mode).
const AZURITE_URL: &str = "http://127.0.0.1:10000";

/// The signing half of a store.
enum Signing {
    S3(Arc<AmazonS3>),
    Azure {
        client: Arc<MicrosoftAzure>,
        /// The account URL recipients use, if not the one the gateway uses: a SAS does not sign
        /// the host, so a URL signed by the gateway's client is moved there.
        public: Option<Url>,
    },
    Gcs(Arc<GoogleCloudStorage>),
}

/// One configured object store. Its `Debug` names it and nothing more: the clients inside
/// hold keys, and the caches hold bearer URLs and credentials.
pub struct Store {
    name: String,
    kind: StoreKind,
    /// Bucket or container.
    bucket: String,
    /// Azure account, to check `abfss://container@account…` URLs against.
    account: Option<String>,
    client: Arc<dyn ObjectStore>,
    signing: Signing,
    s3_client: Option<Arc<AmazonS3>>,
    timeout: Duration,
    config: StoreOptions,
    /// URLs signed recently, by key; bounded in bytes, each dropped when it expires.
    signed: moka::sync::Cache<String, SignedUrl>,
    /// Credentials vended recently, by (table URL, recipient).
    vended: moka::sync::Cache<(String, String), TemporaryCredentials>,
    /// For the requests the gateway makes outside object_store (STS, the signing probe).
    http: std::sync::OnceLock<reqwest::Client>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// Drops each cached URL when it stops working.
struct UntilExpiry;

impl moka::Expiry<String, SignedUrl> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        url: &SignedUrl,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(Duration::from_millis(
            (url.expires_at_ms - now_ms()).max(0) as u64
        ))
    }
}

/// Memory bound of each store's cache of signed URLs.
const SIGNED_URL_CACHE_BYTES: u64 = 64 * 1024 * 1024;

impl Store {
    /// Builds the clients for one `stores:` entry. No network I/O happens here; a store that is
    /// down is noticed by the first request (or by `lakeshare check`).
    pub fn build(config: &StoreOptions) -> Result<Self> {
        let timeout = config.timeout;
        let failed = |e: object_store::Error| Error::Store {
            store: config.name.clone(),
            reason: e.to_string(),
        };
        let bucket = config.bucket_or_container().unwrap_or_default().to_string();
        let (client, signing, s3_client): (Arc<dyn ObjectStore>, Signing, Option<Arc<AmazonS3>>) =
            match config.kind {
                StoreKind::S3 => {
                    let reader = Arc::new(
                        s3_builder(config, config.endpoint.as_deref())
                            .build()
                            .map_err(failed)?,
                    );
                    let signer = match &config.public_endpoint {
                        Some(public) => {
                            Arc::new(s3_builder(config, Some(public)).build().map_err(failed)?)
                        }
                        None => reader.clone(),
                    };
                    (reader.clone(), Signing::S3(signer), Some(reader))
                }
                StoreKind::Azure => {
                    let endpoint = azure_endpoint(config);
                    let client =
                        Arc::new(azure_builder(config, &endpoint).build().map_err(failed)?);
                    let public = config
                        .public_endpoint
                        .as_deref()
                        .map(Url::parse)
                        .transpose()
                        .map_err(|e| Error::Store {
                            store: config.name.clone(),
                            reason: format!("public_endpoint: {e}"),
                        })?;
                    (client.clone(), Signing::Azure { client, public }, None)
                }
                StoreKind::Gcs => {
                    let has_key = config.service_account_path.is_some()
                        || config.service_account_key.is_some();
                    let base = if has_key {
                        GoogleCloudStorageBuilder::new()
                    } else {
                        GoogleCloudStorageBuilder::from_env()
                    };
                    let mut builder = base
                        .with_bucket_name(&bucket)
                        .with_client_options(client_options(config))
                        .with_retry(retry_config(timeout));
                    if let Some(path) = &config.service_account_path {
                        builder = builder.with_service_account_path(path);
                    }
                    if let Some(key) = &config.service_account_key {
                        builder = builder.with_service_account_key(key.expose_secret());
                    }
                    if let Some(endpoint) = &config.endpoint {
                        builder = builder.with_base_url(endpoint.trim_end_matches('/'));
                    }
                    let client = Arc::new(builder.build().map_err(failed)?);
                    (client.clone(), Signing::Gcs(client), None)
                }
            };
        Ok(Self {
            name: config.name.clone(),
            kind: config.kind,
            bucket,
            account: (config.kind == StoreKind::Azure)
                .then(|| config.azure_account().map(str::to_string))
                .flatten(),
            client,
            signing,
            s3_client,
            timeout,
            config: config.clone(),
            signed: moka::sync::Cache::builder()
                .max_capacity(SIGNED_URL_CACHE_BYTES)
                .weigher(|key: &String, url: &SignedUrl| (key.len() + url.url.len() + 64) as u32)
                .expire_after(UntilExpiry)
                .build(),
            vended: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(12 * 3600))
                .build(),
            http: std::sync::OnceLock::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &StoreOptions {
        &self.config
    }

    /// The client, rooted at the bucket (container): table adapters read through it with keys
    /// taken from the path of the table's URL.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.client.clone()
    }

    /// What a table adapter may use of this store: the client, and the store's settings as
    /// object_store configuration keys (the single translation of the configuration; adapters
    /// whose libraries build their own clients map these keys to their own).
    pub fn access(&self) -> lakeshare_model::StoreAccess {
        let config = &self.config;
        let mut options = std::collections::BTreeMap::new();
        let mut set = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                options.insert(key.to_string(), value);
            }
        };
        if self.kind == StoreKind::S3 {
            set("aws_region", Some(self.region().to_string()));
            set(
                "aws_virtual_hosted_style_request",
                Some((!config.path_style.unwrap_or(true)).to_string()),
            );
            set("aws_endpoint", config.endpoint.clone());
            set("aws_access_key_id", config.access_key_id.clone());
            let exposed =
                |s: &Option<SecretString>| s.as_ref().map(|s| s.expose_secret().to_string());
            set("aws_secret_access_key", exposed(&config.secret_access_key));
            set("aws_session_token", exposed(&config.session_token));
        }
        set("allow_http", Some(config.allows_http().to_string()));
        // The same bound on one store request as the gateway's own client has.
        set("timeout", Some(format!("{}s", config.timeout.as_secs())));
        lakeshare_model::StoreAccess {
            name: self.name.clone(),
            kind: self.kind.as_str(),
            client: self.client.clone(),
            options,
        }
    }

    /// The S3 client, for credential vending.
    pub(crate) fn s3_client(&self) -> Option<&Arc<AmazonS3>> {
        self.s3_client.as_ref()
    }

    pub(crate) fn vended(&self) -> &moka::sync::Cache<(String, String), TemporaryCredentials> {
        &self.vended
    }

    /// One HTTP client per store, bounded by the store's timeout.
    pub(crate) fn http_client(&self) -> Result<&reqwest::Client> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| Error::Store {
                store: self.name.clone(),
                reason: format!("an HTTP client: {e}"),
            })?;
        Ok(self.http.get_or_init(|| client))
    }

    /// A signer for the files of the table rooted at `table_url` (a URL naming this store's
    /// bucket), valid for `ttl`.
    pub fn table_signer(
        self: &Arc<Self>,
        table_url: &str,
        ttl: Duration,
    ) -> Result<StoreUrlSigner> {
        let key = self.key_of(table_url)?;
        if key.as_ref().is_empty() {
            return Err(Error::Unsupported {
                url: table_url.to_string(),
                reason: "a table cannot be a whole bucket".into(),
            });
        }
        Ok(StoreUrlSigner {
            store: self.clone(),
            prefix: key,
            ttl,
        })
    }

    /// The object key a URL of this store names, checking scheme, bucket and account.
    pub fn key_of(&self, url: &str) -> Result<Path> {
        let unsupported = |reason: String| Error::Unsupported {
            url: url.to_string(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|e| unsupported(e.to_string()))?;
        let scheme = parsed.scheme();
        let schemes: &[&str] = match self.kind {
            StoreKind::S3 => &["s3", "s3a"],
            StoreKind::Azure => &["az", "azure", "abfs", "abfss"],
            StoreKind::Gcs => &["gs"],
        };
        if !schemes.contains(&scheme) {
            return Err(unsupported(format!(
                "store '{}' is a {} store",
                self.name, self.kind
            )));
        }
        let (bucket, account) = match (scheme, parsed.username()) {
            ("abfs" | "abfss", container) => (
                container.to_string(),
                parsed.host_str().and_then(|h| h.split('.').next()),
            ),
            _ => (parsed.host_str().unwrap_or_default().to_string(), None),
        };
        if bucket != self.bucket {
            return Err(unsupported(format!(
                "'{bucket}' is not the bucket of store '{}'",
                self.name
            )));
        }
        if let (Some(wanted), Some(have)) = (account, &self.account)
            && !wanted.eq_ignore_ascii_case(have)
        {
            return Err(unsupported(format!(
                "account '{wanted}' is not the account of store '{}'",
                self.name
            )));
        }
        Path::from_url_path(parsed.path()).map_err(|e| unsupported(e.to_string()))
    }

    /// Pre-signed GET URLs for `keys`, valid for `ttl`.
    ///
    /// A URL signed earlier is handed out again while at least half of `ttl` remains on it, with
    /// its true expiry. Signing costs microseconds per URL for S3 and Azure but about half a
    /// millisecond for GCS (RSA), and a full read of a large table signs one URL per file, so
    /// repeated reads should not pay it again.
    pub async fn sign_keys(&self, keys: &[Path], ttl: Duration) -> Result<Vec<SignedUrl>> {
        let now = now_ms();
        let ttl_ms = ttl.as_millis() as i64;
        let fresh_enough = now + ttl_ms / 2;
        let mut signed: Vec<Option<SignedUrl>> = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        for key in keys {
            match self.signed.get(key.as_ref()) {
                // Never one signed for longer than this caller wants.
                Some(url)
                    if url.expires_at_ms >= fresh_enough && url.expires_at_ms <= now + ttl_ms =>
                {
                    signed.push(Some(url))
                }
                _ => {
                    missing.push(key.clone());
                    signed.push(None);
                }
            }
        }
        if !missing.is_empty() {
            let mut fresh = self.sign_now(&missing, ttl).await?.into_iter();
            for (slot, key) in signed.iter_mut().filter(|s| s.is_none()).zip(&missing) {
                let url = fresh.next().expect("one URL per key");
                self.signed.insert(key.to_string(), url.clone());
                *slot = Some(url);
            }
        }
        Ok(signed.into_iter().map(|s| s.expect("filled")).collect())
    }

    async fn sign_now(&self, keys: &[Path], ttl: Duration) -> Result<Vec<SignedUrl>> {
        // Stamped before signing and in whole seconds, as the signatures carry their time, so
        // the advertised expiry is never later than the real one.
        let expires_at_ms = now_ms() / 1000 * 1000 + ttl.as_millis() as i64;
        let failed = |e: object_store::Error| Error::Store {
            store: self.name.clone(),
            reason: format!("cannot sign URLs: {e}"),
        };
        let method = http::Method::GET;
        let urls = match &self.signing {
            Signing::S3(s3) => s3.signed_urls(method, keys, ttl).await.map_err(failed)?,
            Signing::Gcs(gcs) => gcs.signed_urls(method, keys, ttl).await.map_err(failed)?,
            Signing::Azure { client, .. } => client
                .signed_urls(method, keys, ttl)
                .await
                .map_err(failed)?,
        };
        urls.into_iter()
            .zip(keys)
            .map(|(url, key)| {
                Ok(SignedUrl {
                    url: self.public_url(url, key)?,
                    expires_at_ms,
                })
            })
            .collect()
    }

    /// The URL a recipient gets: for Azure with a `public_endpoint`, the signed URL's container
    /// and key under that endpoint instead of the account URL the gateway uses.
    fn public_url(&self, url: Url, key: &Path) -> Result<String> {
        let Signing::Azure {
            public: Some(public),
            ..
        } = &self.signing
        else {
            return Ok(url.into());
        };
        // The signed path ends with the container and the key's parts, each already encoded.
        let tail = 1 + key.parts().count();
        let segments: Vec<&str> = url
            .path_segments()
            .map(Iterator::collect)
            .unwrap_or_default();
        if segments.len() < tail {
            return Err(Error::Store {
                store: self.name.clone(),
                reason: format!("unexpected signed URL shape: {}", url.path()),
            });
        }
        let mut moved = public.clone();
        let base = public.path().trim_end_matches('/');
        moved.set_path(&format!(
            "{base}/{}",
            segments[segments.len() - tail..].join("/")
        ));
        moved.set_query(url.query());
        Ok(moved.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::options::examples;

    fn s3() -> Arc<Store> {
        Arc::new(Store::build(&examples::s3("https://s3.example.com:9443")).unwrap())
    }

    #[tokio::test]
    async fn s3_urls_are_signed_for_the_public_endpoint() {
        let store = s3();
        let signer = store
            .table_signer("s3://lake/sales/orders", Duration::from_secs(600))
            .unwrap();
        let before = now_ms();
        let signed = signer
            .sign_all(&["s3://lake/sales/orders/p=a%20b/part-0.parquet"])
            .await
            .unwrap();
        let url = Url::parse(&signed[0].url).unwrap();
        assert_eq!(url.host_str(), Some("s3.example.com"));
        assert_eq!(url.port(), Some(9443));
        assert_eq!(url.path(), "/lake/sales/orders/p%3Da%20b/part-0.parquet");
        let query: std::collections::HashMap<_, _> = url.query_pairs().collect();
        assert_eq!(query["X-Amz-Expires"], "600");
        assert_eq!(query["X-Amz-SignedHeaders"], "host");
        assert!(query["X-Amz-Credential"].starts_with("AKIDEXAMPLE/"));
        assert!(signed[0].expires_at_ms >= before / 1000 * 1000 + 600_000);
        assert!(signed[0].expires_at_ms <= now_ms() + 600_000);
    }

    #[tokio::test]
    async fn signed_urls_are_reused_only_within_the_callers_ttl() {
        let store = s3();
        let key = [Path::from("sales/orders/part-0.parquet")];
        let hour = Duration::from_secs(3600);
        let first = store.sign_keys(&key, hour).await.unwrap();
        let again = store.sign_keys(&key, hour).await.unwrap();
        assert_eq!(first, again, "reused while more than half its life remains");
        let shorter = store
            .sign_keys(&key, Duration::from_secs(60))
            .await
            .unwrap();
        assert_ne!(
            shorter[0].url, first[0].url,
            "never longer-lived than asked for"
        );
        assert!(shorter[0].expires_at_ms <= now_ms() + 60_000);
        assert!(format!("{store:?}").contains("lake") && !format!("{store:?}").contains("wJalr"));
    }

    #[tokio::test]
    async fn files_outside_the_table_are_refused() {
        let store = s3();
        let signer = store
            .table_signer("s3://lake/sales/orders", Duration::from_secs(60))
            .unwrap();
        for url in [
            "s3://lake/sales/orders-other/x.parquet",
            "s3://lake/sales/x.parquet",
            "s3://lake/sales/orders",
            "s3://lake/sales/orders/../secrets/x.parquet",
            "s3://other/sales/orders/x.parquet",
            "gs://lake/sales/orders/x.parquet",
            "file:///sales/orders/x.parquet",
        ] {
            assert!(signer.check(url).is_err(), "{url}");
            assert!(signer.sign_all(&[url]).await.is_err(), "{url}");
        }
        assert!(signer.check("s3a://lake/sales/orders/x.parquet").is_ok());
    }

    #[tokio::test]
    async fn azure_sas_urls_move_to_the_public_endpoint() {
        let store = Arc::new(
            Store::build(&examples::azure(
                "data",
                Some("https://blobs.example.com/devstoreaccount1"),
            ))
            .unwrap(),
        );
        let signer = store
            .table_signer("az://data/t", Duration::from_secs(60))
            .unwrap();
        let signed = signer
            .sign_all(&["az://data/t/part-0.parquet"])
            .await
            .unwrap();
        let url = Url::parse(&signed[0].url).unwrap();
        assert_eq!(url.host_str(), Some("blobs.example.com"));
        assert_eq!(url.path(), "/devstoreaccount1/data/t/part-0.parquet");
        let query: std::collections::HashMap<_, _> = url.query_pairs().collect();
        assert_eq!(query["sp"], "r");
        assert!(query.contains_key("sig"));
        assert!(
            signer
                .check("abfss://data@devstoreaccount1.dfs.core.windows.net/t/x.parquet")
                .is_ok()
        );
        assert!(
            signer
                .check("abfss://data@other.dfs.core.windows.net/t/x.parquet")
                .is_err()
        );
    }

    #[tokio::test]
    async fn gcs_urls_are_v4_signed_with_the_service_account_key() {
        let store = Arc::new(Store::build(&examples::gcs()).unwrap());
        let signer = store
            .table_signer("gs://lake/t", Duration::from_secs(300))
            .unwrap();
        let signed = signer
            .sign_all(&["gs://lake/t/part-0.parquet"])
            .await
            .unwrap();
        let url = Url::parse(&signed[0].url).unwrap();
        assert_eq!(url.host_str(), Some("storage.googleapis.com"));
        assert_eq!(url.path(), "/lake/t/part-0.parquet");
        let query: std::collections::HashMap<_, _> = url.query_pairs().collect();
        assert_eq!(query["X-Goog-Algorithm"], "GOOG4-RSA-SHA256");
        assert_eq!(query["X-Goog-Expires"], "300");
        assert!(
            query["X-Goog-Credential"]
                .starts_with("signer@lakeshare-test.iam.gserviceaccount.com/")
        );
        // A hex RSA-2048 signature.
        assert_eq!(query["X-Goog-Signature"].len(), 512);
    }
}
