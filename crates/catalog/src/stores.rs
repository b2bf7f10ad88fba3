//! Named object stores: where tables live and how the gateway reaches them.
//!
//! A store is configured once and referenced by tables, either by URL (`s3://bucket/path`
//! resolves through the S3 store of that bucket) or by name (`store: lake`, `path: sales/orders`).
//! Credentials are written as `${VAR}` or left out, in which case the store's standard provider
//! chain (environment, instance profile, web identity, …) supplies them.

use lakeshare_storage::{StoreOptions, StsOptions};
use secrecy::{ExposeSecret, SecretString};

/// A secret as the library it is handed to takes it.
fn expose(secret: &SecretString) -> String {
    secret.expose_secret().to_string()
}
use serde::Deserialize;

use crate::env;

/// One entry under `stores:`. The fields that apply depend on `kind`; validation refuses the
/// others so a misplaced key is noticed rather than ignored. Secrets are `SecretString`s, which
/// no `Debug` output shows.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub name: String,
    pub kind: StoreKind,
    /// S3 and GCS bucket.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub bucket: Option<String>,
    /// Azure storage account.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub account: Option<String>,
    /// Azure blob container.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub container: Option<String>,
    /// S3 region; default `us-east-1`.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub region: Option<String>,
    /// The address the gateway reaches the store at (S3-compatible servers, Azurite, a private
    /// link). Default: the cloud's public endpoint.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub endpoint: Option<String>,
    /// The address recipients reach the store at, used only in the URLs handed to them. Needed
    /// when the gateway talks to the store on an internal address: a pre-signed S3 URL signs
    /// its host, so it must be signed for the host the recipient will use.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub public_endpoint: Option<String>,
    /// S3 path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted
    /// (`bucket.endpoint/key`). Default: true, which every S3-compatible server understands.
    #[serde(default)]
    pub path_style: Option<bool>,
    /// Allow plain HTTP to the store. Default: true exactly when `endpoint` is an http:// URL.
    #[serde(default)]
    pub allow_http: Option<bool>,
    /// S3 static credentials, normally `${VAR}`; without them the AWS provider chain is used.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub access_key_id: Option<String>,
    #[serde(default, deserialize_with = "env::opt_secret")]
    pub secret_access_key: Option<SecretString>,
    #[serde(default, deserialize_with = "env::opt_secret")]
    pub session_token: Option<SecretString>,
    /// Azure shared account key, normally `${VAR}`. Signing SAS URLs needs it (or an Azure AD
    /// identity allowed to get user delegation keys).
    #[serde(default, deserialize_with = "env::opt_secret")]
    pub access_key: Option<SecretString>,
    /// Azure: talk to the Azurite emulator, at `AZURITE_BLOB_STORAGE_URL` (default
    /// `http://127.0.0.1:10000`) with its well-known account and key unless `account` and
    /// `access_key` are set.
    #[serde(default)]
    pub use_emulator: bool,
    /// GCS service account key file; signing URLs needs a service account key.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub service_account_path: Option<String>,
    /// GCS service account key JSON, normally `${VAR}`.
    #[serde(default, deserialize_with = "env::opt_secret")]
    pub service_account_key: Option<SecretString>,
    /// Local stores: the directory table paths are relative to.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub root: Option<String>,
    /// Bound on one operation against the store, retries included, so a store that is down
    /// turns into an error for its tables instead of hanging their requests.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Temporary credential vending through an STS `AssumeRole` endpoint (S3 only).
    #[serde(default)]
    pub sts: Option<StsConfig>,
}

fn default_timeout() -> u64 {
    30
}

/// How to mint scoped temporary credentials for recipients of a table in an S3 store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StsConfig {
    /// The STS endpoint; default: the store's `endpoint` (S3-compatible servers serve STS on
    /// their S3 port), or AWS's regional STS.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub endpoint: Option<String>,
    /// The role assumed; the session policy narrows it to the table's prefix, read-only.
    #[serde(deserialize_with = "env::string")]
    pub role_arn: String,
    /// Lifetime of vended credentials; default 3600, at least 900 (the STS minimum).
    #[serde(default = "default_sts_duration")]
    pub duration_seconds: u64,
}

fn default_sts_duration() -> u64 {
    3600
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    S3,
    Azure,
    Gcs,
    Local,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::S3 => "s3",
            StoreKind::Azure => "azure",
            StoreKind::Gcs => "gcs",
            StoreKind::Local => "local",
        }
    }
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry under `catalogs:`: an upstream catalog whose tables can be shared by name; its
/// credentials are `SecretString`s.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    pub name: String,
    pub kind: CatalogKind,
    /// `iceberg-sql`: the SQLite database, as a path or `sqlite:` URI (pyiceberg's
    /// `sqlite:////abs/catalog.db` included). Relative paths are taken from the configuration
    /// file's folder. Read-only: the gateway never writes to it.
    #[serde(deserialize_with = "env::string")]
    pub uri: String,
    /// `iceberg-sql`: the `catalog_name` the tables are registered under; default: `name`.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub catalog_name: Option<String>,
    /// `iceberg-rest`: the warehouse to ask the catalog for.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub warehouse: Option<String>,
    /// `iceberg-rest`: OAuth2 client credentials `client_id:client_secret`, normally `${VAR}`.
    #[serde(default, deserialize_with = "env::opt_secret")]
    pub credential: Option<SecretString>,
    /// `iceberg-rest`: a bearer token, normally `${VAR}`.
    #[serde(default, deserialize_with = "env::opt_secret")]
    pub token: Option<SecretString>,
    /// `iceberg-rest`: the path prefix of the catalog's routes, when its `/v1/config` does not
    /// say it.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub prefix: Option<String>,
    /// `iceberg-rest`: the store the catalog's tables live in. The gateway reads their files with
    /// its settings and signs their URLs with it.
    #[serde(default)]
    pub store: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatalogKind {
    IcebergSql,
    IcebergRest,
}

impl CatalogKind {
    /// The kind as configured, which is also the name its adapter registers under.
    pub fn as_str(self) -> &'static str {
        match self {
            CatalogKind::IcebergSql => "iceberg-sql",
            CatalogKind::IcebergRest => "iceberg-rest",
        }
    }
}

impl CatalogConfig {
    /// The catalog's settings by field name, for the adapter that connects it.
    pub fn settings(&self) -> std::collections::BTreeMap<String, String> {
        let catalog_name = self
            .catalog_name
            .clone()
            .or_else(|| Some(self.name.clone()));
        [
            ("uri", Some(self.uri.clone())),
            ("catalog_name", catalog_name),
            ("warehouse", self.warehouse.clone()),
            ("credential", self.credential.as_ref().map(expose)),
            ("token", self.token.as_ref().map(expose)),
            ("prefix", self.prefix.clone()),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?)))
        .collect()
    }
}

/// The well-known Azurite account, used when `use_emulator` is set without an `account`.
pub use lakeshare_storage::AZURITE_ACCOUNT;

impl StoreConfig {
    /// Storage's options for this store; none for local stores, which the gateway's own file
    /// route serves.
    pub fn store_options(&self) -> Option<StoreOptions> {
        let config = self;
        let kind = match config.kind {
            StoreKind::S3 => lakeshare_storage::StoreKind::S3,
            StoreKind::Azure => lakeshare_storage::StoreKind::Azure,
            StoreKind::Gcs => lakeshare_storage::StoreKind::Gcs,
            StoreKind::Local => return None,
        };
        Some(StoreOptions {
            name: config.name.clone(),
            kind,
            bucket: config.bucket.clone(),
            account: config.account.clone(),
            container: config.container.clone(),
            region: config.region.clone(),
            endpoint: config.endpoint.clone(),
            public_endpoint: config.public_endpoint.clone(),
            path_style: config.path_style,
            allow_http: config.allow_http,
            access_key_id: config.access_key_id.clone(),
            secret_access_key: config.secret_access_key.clone(),
            session_token: config.session_token.clone(),
            access_key: config.access_key.clone(),
            use_emulator: config.use_emulator,
            service_account_path: config.service_account_path.clone(),
            service_account_key: config.service_account_key.clone(),
            timeout: std::time::Duration::from_secs(config.timeout_seconds),
            sts: config.sts.as_ref().map(|sts| StsOptions {
                role_arn: sts.role_arn.clone(),
                endpoint: sts.endpoint.clone(),
                duration_seconds: sts.duration_seconds,
            }),
        })
    }

    /// The bucket or container table URLs name.
    pub fn bucket_or_container(&self) -> Option<&str> {
        match self.kind {
            StoreKind::Azure => self.container.as_deref(),
            _ => self.bucket.as_deref(),
        }
    }

    /// Azure account name, the emulator's when none is given.
    pub fn azure_account(&self) -> Option<&str> {
        self.account
            .as_deref()
            .or(self.use_emulator.then_some(AZURITE_ACCOUNT))
    }

    /// The canonical URL of `path` in this store, as tables and file URLs name it:
    /// `s3://bucket/path`, `az://container/path`, `gs://bucket/path`, or for local stores the
    /// absolute path.
    pub fn url_of(&self, path: &str) -> String {
        let path = path.trim_matches('/');
        match self.kind {
            StoreKind::S3 => format!("s3://{}/{path}", self.bucket.as_deref().unwrap_or("")),
            StoreKind::Gcs => format!("gs://{}/{path}", self.bucket.as_deref().unwrap_or("")),
            StoreKind::Azure => {
                format!("az://{}/{path}", self.container.as_deref().unwrap_or(""))
            }
            StoreKind::Local => std::path::Path::new(self.root.as_deref().unwrap_or("/"))
                .join(path)
                .to_string_lossy()
                .into_owned(),
        }
    }
}

/// A table location as a store URL: scheme, bucket (or container) and the path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    pub kind: StoreKind,
    pub bucket: String,
    /// Azure account, when the URL names it (`abfss://container@account.dfs.core.windows.net`).
    pub account: Option<String>,
    /// The path inside the bucket, without leading or trailing `/`.
    pub path: String,
}

impl StoreUrl {
    /// Parses the object-store URL forms tables may be given as. `None` for local paths and
    /// `file://` URLs; an error for URL schemes no store kind handles.
    pub fn parse(location: &str) -> Result<Option<Self>, String> {
        let Some((scheme, rest)) = location.split_once("://") else {
            return Ok(None);
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = path.trim_matches('/').to_string();
        let simple = |kind| {
            if authority.is_empty() {
                return Err(format!("'{location}' names no bucket"));
            }
            Ok(Some(StoreUrl {
                kind,
                bucket: authority.to_string(),
                account: None,
                path: path.clone(),
            }))
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => Ok(None),
            "s3" | "s3a" => simple(StoreKind::S3),
            "gs" => simple(StoreKind::Gcs),
            "az" | "azure" => simple(StoreKind::Azure),
            "abfs" | "abfss" => {
                let (container, host) = authority.split_once('@').ok_or_else(|| {
                    format!("'{location}' is not container@account.dfs.core.windows.net")
                })?;
                let account = host.split('.').next().unwrap_or_default();
                if container.is_empty() || account.is_empty() {
                    return Err(format!(
                        "'{location}' is not container@account.dfs.core.windows.net"
                    ));
                }
                Ok(Some(StoreUrl {
                    kind: StoreKind::Azure,
                    bucket: container.to_string(),
                    account: Some(account.to_string()),
                    path,
                }))
            }
            other => Err(format!(
                "'{location}': no store kind handles '{other}://' URLs (s3, s3a, gs, az, azure, abfs, abfss)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_secrets() {
        let text = "stores:\n  - { name: a, kind: s3, bucket: b, access_key_id: AKID, secret_access_key: topsecret }\n";
        let config = crate::Config::from_yaml(text, std::path::Path::new("/")).unwrap();
        let shown = format!("{:?}", config.stores[0]);
        assert!(
            shown.contains("AKID") && !shown.contains("topsecret"),
            "{shown}"
        );

        // Every secret of a configuration, shown nowhere in its Debug output.
        let text = r#"
server: { signing_secrets: ["signing-secret-number-one", "signing-secret-number-two"] }
stores:
  - { name: a, kind: s3, bucket: b, access_key_id: AKID, secret_access_key: s3-secret-key, session_token: s3-session }
  - { name: z, kind: azure, account: acct, container: c, access_key: azure-account-key }
catalogs:
  - { name: r, kind: iceberg-rest, uri: "http://127.0.0.1:1", credential: "id:catalog-credential", store: a }
recipients:
  - { name: one, token: recipient-token-0123456789, shares: [] }
"#;
        let config = crate::Config::from_yaml(text, std::path::Path::new("/")).unwrap();
        let shown = format!("{config:?}");
        for secret in [
            "signing-secret-number",
            "s3-secret-key",
            "s3-session",
            "azure-account-key",
            "catalog-credential",
            "recipient-token",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(
            config.server.signing_secrets(),
            vec!["signing-secret-number-one", "signing-secret-number-two"]
        );
    }

    #[test]
    fn parses_store_urls() {
        let s3 = StoreUrl::parse("s3a://lake/sales/orders/")
            .unwrap()
            .unwrap();
        assert_eq!(
            (s3.kind, s3.bucket.as_str(), s3.path.as_str()),
            (StoreKind::S3, "lake", "sales/orders")
        );
        let abfs = StoreUrl::parse("abfss://data@acct.dfs.core.windows.net/t")
            .unwrap()
            .unwrap();
        assert_eq!(abfs.kind, StoreKind::Azure);
        assert_eq!(abfs.bucket, "data");
        assert_eq!(abfs.account.as_deref(), Some("acct"));
        assert_eq!(StoreUrl::parse("/data/t").unwrap(), None);
        assert_eq!(StoreUrl::parse("file:///data/t").unwrap(), None);
        assert!(
            StoreUrl::parse("hdfs://nn/t")
                .unwrap_err()
                .contains("no store kind")
        );
        assert!(
            StoreUrl::parse("s3:///t")
                .unwrap_err()
                .contains("no bucket")
        );
    }
}
