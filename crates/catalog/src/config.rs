use std::net::SocketAddr;
use std::path::Path;

use std::collections::BTreeMap;

use lakeshare_model::{Governance, GovernanceField};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::size::ByteSize;
use crate::stores::{CatalogConfig, StoreConfig};
use crate::{Error, Result, env, validate};

/// See [`Config::storage_fingerprint`].
fn storage_fingerprint(text: &str) -> [u8; 32] {
    use sha2::Digest;
    let value: serde_norway::Value = serde_norway::from_str(text).unwrap_or_default();
    let mut digest = sha2::Sha256::new();
    for section in ["server", "stores", "catalogs", "cache", "digest_cache"] {
        digest.update(section.as_bytes());
        let written = value
            .get(section)
            .map(|v| serde_norway::to_string(v).unwrap_or_default())
            .unwrap_or_default();
        digest.update(written.len().to_le_bytes());
        digest.update(written.as_bytes());
    }
    digest.finalize().into()
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(skip)]
    storage_fingerprint: [u8; 32],
    #[serde(default)]
    pub server: ServerConfig,
    /// Object stores tables live in; tables on the gateway's own disk need none.
    #[serde(default)]
    pub stores: Vec<StoreConfig>,
    /// Upstream catalogs tables can be named in.
    #[serde(default)]
    pub catalogs: Vec<CatalogConfig>,
    #[serde(default)]
    pub shares: Vec<Share>,
    #[serde(default)]
    pub recipients: Vec<Recipient>,
    /// The vocabulary governance metadata is written in.
    #[serde(default)]
    pub governance: GovernanceConfig,
    /// Where SHA-256 digests of shared files are kept between runs, so each file's content is
    /// hashed once (`lakeshare digest` fills it ahead of time). Relative paths are taken from the
    /// configuration's folder; default `.lakeshare/digests.jsonl` there. After loading it is
    /// always set and absolute.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub digest_cache: Option<String>,
    /// Where the gateway keeps what it generates for recipients (Iceberg metadata of shared
    /// tables), so restarts and replicas sharing it do not generate it again. Never inside a
    /// shared folder, nor holding one: the gateway writes nothing into a provider's tables, and
    /// credentials for a shared folder must not reach the generated files of other tables.
    #[serde(default)]
    pub cache: Option<CacheConfig>,
    /// Where the audit log goes: one JSON line per data access.
    #[serde(default)]
    pub audit: Option<AuditConfig>,
}

/// The audit log's sink.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    pub sink: AuditSink,
    /// For `sink: file`: the file lines are appended to, relative to the configuration's
    /// folder; absolute after loading.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditSink {
    Stdout,
    File,
}

/// A writable folder for generated files: on the gateway's disk, or a prefix in a store (whose
/// credentials must allow writing there). In an S3 store that vends credentials, the Iceberg
/// metadata generated for that store's tables is read by recipients straight from it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// A local folder (relative paths are taken from the configuration's folder) or a store
    /// URL; or leave it out and give `store` and `path`. After loading it is always set: an
    /// absolute path or the canonical store URL.
    #[serde(default, deserialize_with = "env::string")]
    pub location: String,
    /// The store, by name, with `path`, instead of `location`. After loading, the store
    /// `location` is in (None on the gateway's disk).
    #[serde(default, deserialize_with = "env::opt_string")]
    pub store: Option<String>,
    /// The prefix inside `store`.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub path: Option<String>,
    /// The `materialize:` of every table that does not give its own (`auto`: tables the file
    /// protocol cannot express are computed into this cache). After loading, each stored
    /// table's `materialize` holds it.
    #[serde(default)]
    pub materialize: Option<MaterializeMode>,
    /// The most the computed tables in this cache may take together (`50 GB`): when a refresh
    /// leaves them larger, the oldest versions of tables shared with their history are
    /// dropped (no longer readable, their files deleted once no URL signed for them lives)
    /// until they fit. A table's latest version is never dropped: tables whose latest
    /// versions alone exceed it are reported in the logs and metrics.
    #[serde(default)]
    pub budget: Option<ByteSize>,
}

/// The vocabulary of governance metadata.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceConfig {
    /// The risk labels assets may carry, each with what it means. An asset's `risk` entries must
    /// be among them, so a typo cannot pass for a label an auditor would search for.
    #[serde(default)]
    pub risk_labels: BTreeMap<String, String>,
}

/// How the gateway listens and signs. The signing secrets are `SecretString`s, which no
/// `Debug` output shows.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to bind, `host:port`.
    #[serde(default = "default_listen", deserialize_with = "env::string")]
    pub listen: String,
    /// The URL recipients reach the gateway at (behind a proxy this differs from `listen`).
    /// Signed file URLs and printed profiles are built from it. Default: `http://{listen}`.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub public_url: Option<String>,
    /// Path under which the sharing API is served.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Lifetime of signed file URLs.
    #[serde(default = "default_url_ttl")]
    pub url_ttl_seconds: u64,
    /// Secret for signed URLs and page tokens. Replicas behind one load balancer need the same
    /// one; without it each process draws a random secret and its URLs die with it. Shorthand
    /// for a `signing_secrets` list of one.
    #[serde(default, deserialize_with = "env::opt_secret")]
    pub signing_secret: Option<SecretString>,
    /// Secrets for rotation, newest first: the first seals every new token and URL, all of them
    /// open the tokens they sealed. Rotate by putting a new secret in front, and drop the old
    /// one once its tokens have expired (3 days for page tokens).
    #[serde(default, deserialize_with = "env::secrets")]
    pub signing_secrets: Vec<SecretString>,
    /// Lifetime of the access tokens the OAuth token endpoint issues to recipients with
    /// client credentials.
    #[serde(default = "default_access_token_ttl")]
    pub access_token_ttl_seconds: u64,
    /// Memory bound of the snapshot cache.
    #[serde(default = "default_cache_mb")]
    pub snapshot_cache_mb: u64,
    /// A request must produce its response head within this long (a 503 otherwise); streaming
    /// the body afterwards is not bounded.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// Loading one version of a table (its log replay, its manifests) must finish within this
    /// long, or it fails as a store that did not answer in time (503). A load outlives the
    /// request that started it, so a table whose first load takes longer than the request
    /// timeout is served once the load completes, rather than never.
    #[serde(default = "default_snapshot_load_timeout")]
    pub snapshot_load_timeout_seconds: u64,
    /// A connection must send each request's headers within this long, or it is closed.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_seconds: u64,
    /// Connections served at once; further ones wait to be accepted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Requests worked on at once; further ones wait (within the request timeout) for a slot.
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// Addresses (CIDR blocks) of the proxies in front, e.g. a load balancer: from them the
    /// client address is read from `X-Forwarded-For`, for `allow_ips` and the logs.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    #[serde(skip)]
    pub(crate) trusted_blocks: Vec<IpBlock>,
    /// Serve HTTPS with this certificate chain and key (PEM files, relative to the
    /// configuration's folder; absolute after loading). Read again on every reload.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// The listener's certificate: a PEM chain (leaf first) and its PEM private key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(deserialize_with = "env::string")]
    pub cert: String,
    #[serde(deserialize_with = "env::string")]
    pub key: String,
}

fn default_request_timeout() -> u64 {
    120
}

fn default_snapshot_load_timeout() -> u64 {
    600
}

fn default_access_token_ttl() -> u64 {
    3600
}

fn default_header_timeout() -> u64 {
    10
}

fn default_max_connections() -> usize {
    4096
}

fn default_max_concurrent_requests() -> usize {
    512
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
            prefix: default_prefix(),
            url_ttl_seconds: default_url_ttl(),
            access_token_ttl_seconds: default_access_token_ttl(),
            signing_secret: None,
            signing_secrets: Vec::new(),
            snapshot_cache_mb: default_cache_mb(),
            request_timeout_seconds: default_request_timeout(),
            snapshot_load_timeout_seconds: default_snapshot_load_timeout(),
            header_timeout_seconds: default_header_timeout(),
            max_connections: default_max_connections(),
            max_concurrent_requests: default_max_concurrent_requests(),
            trusted_proxies: Vec::new(),
            trusted_blocks: Vec::new(),
            tls: None,
        }
    }
}

impl ServerConfig {
    /// The bind address; validated when the configuration was loaded.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.parse().expect("validated at load")
    }

    /// `public_url` without a trailing slash, or the one implied by `listen`.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None if self.tls.is_some() => format!("https://{}", self.listen),
            None => format!("http://{}", self.listen),
        }
    }

    /// The signing secrets, newest (the one that signs) first; empty when none is configured.
    pub fn signing_secrets(&self) -> Vec<&str> {
        self.signing_secret
            .iter()
            .chain(&self.signing_secrets)
            .map(|s| s.expose_secret())
            .collect()
    }

    /// The endpoint recipients put in their profile.
    pub fn endpoint(&self) -> String {
        format!("{}{}", self.public_url(), self.prefix)
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[IpBlock] {
        &self.trusted_blocks
    }

    /// Where recipients with client credentials get access tokens (OAuth 2.0).
    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth/token", self.endpoint())
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_string()
}
fn default_prefix() -> String {
    "/delta-sharing".to_string()
}
fn default_url_ttl() -> u64 {
    3600
}
fn default_cache_mb() -> u64 {
    256
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Share {
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub schemas: Vec<Schema>,
    /// Governance fields every asset of the share must have (e.g. `[license, owner]`); a file
    /// with an asset lacking one is refused.
    #[serde(default)]
    pub require: Vec<GovernanceField>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub name: String,
    #[serde(default)]
    pub tables: Vec<TableEntry>,
    /// Whole catalog namespaces shared in this schema: every table in them, including tables
    /// created after start-up. A table named under `tables` wins over one of the same name.
    #[serde(default)]
    pub include: Vec<IncludeConfig>,
    /// Folders of arbitrary files.
    #[serde(default)]
    pub volumes: Vec<VolumeEntry>,
    /// Registered ML models with their versions.
    #[serde(default)]
    pub models: Vec<ModelEntry>,
    /// Agent skills: folders holding a SKILL.md.
    #[serde(default)]
    pub skills: Vec<SkillEntry>,
}

/// A folder of arbitrary files. Located like a table: `location`, or `store` and `path`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeEntry {
    pub name: String,
    #[serde(default, deserialize_with = "env::string")]
    pub location: String,
    #[serde(default)]
    pub store: Option<String>,
    #[serde(default, deserialize_with = "env::opt_string")]
    pub path: Option<String>,
    #[serde(default)]
    pub governance: Governance,
}

/// A registered model: a name, versions each in their own folder, and aliases naming versions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// The model's own folder, if it has one (informational; versions carry their own).
    #[serde(default, deserialize_with = "env::string")]
    pub location: String,
    #[serde(default)]
    pub store: Option<String>,
    #[serde(default, deserialize_with = "env::opt_string")]
    pub path: Option<String>,
    #[serde(default)]
    pub versions: Vec<ModelVersionEntry>,
    /// Alias → version number, e.g. `champion: 2`. Aliases are case-insensitive.
    #[serde(default)]
    pub aliases: BTreeMap<String, i64>,
    #[serde(default)]
    pub governance: Governance,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelVersionEntry {
    /// A positive whole number, unique within the model.
    pub version: i64,
    /// The folder holding the version's artifacts.
    #[serde(default, deserialize_with = "env::string")]
    pub location: String,
    #[serde(default)]
    pub store: Option<String>,
    #[serde(default, deserialize_with = "env::opt_string")]
    pub path: Option<String>,
    /// Only READY versions are listed and readable.
    #[serde(default)]
    pub status: ModelVersionStatus,
    /// Where the version came from (a URI), informational.
    #[serde(default)]
    pub source: Option<String>,
    /// The training run that produced it, informational.
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A model version's registration state, as the protocol spells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ModelVersionStatus {
    PendingRegistration,
    FailedRegistration,
    #[default]
    Ready,
}

impl ModelVersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingRegistration => "PENDING_REGISTRATION",
            Self::FailedRegistration => "FAILED_REGISTRATION",
            Self::Ready => "READY",
        }
    }
}

/// An agent skill: a folder named like the skill, holding SKILL.md (whose front matter gives the
/// description, license and the rest) and optionally `scripts/`, `references/`, `assets/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillEntry {
    /// Lowercase letters, digits and hyphens, at most 64 characters; the folder's name.
    pub name: String,
    #[serde(default, deserialize_with = "env::string")]
    pub location: String,
    #[serde(default)]
    pub store: Option<String>,
    #[serde(default, deserialize_with = "env::opt_string")]
    pub path: Option<String>,
    #[serde(default)]
    pub governance: Governance,
}

/// A catalog namespace whose tables a schema shares.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeConfig {
    pub catalog: String,
    /// Dotted for nested namespaces.
    pub namespace: String,
    /// Whether its tables are shared with their history (see [`TableEntry::history`]).
    #[serde(default)]
    pub history: bool,
    /// Governance metadata of every table of the namespace.
    #[serde(default)]
    pub governance: Governance,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    pub name: String,
    /// A local path (relative paths are taken from the configuration file's folder) or a store
    /// URL (`s3://bucket/path`, `az://container/path`, `gs://bucket/path`), which resolves
    /// through the store of that bucket. Or leave it out and give `store` and `path`. After
    /// loading it is always set: an absolute path or the canonical store URL.
    #[serde(default, deserialize_with = "env::string")]
    pub location: String,
    /// The store the table lives in, by name; with `path`, instead of `location`. After loading,
    /// the store `location` resolved through (None for tables on the local filesystem).
    #[serde(default)]
    pub store: Option<String>,
    /// The table's path inside `store`.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub path: Option<String>,
    /// The catalog the table is registered in, by name; with `table`, instead of `location`.
    #[serde(default)]
    pub catalog: Option<String>,
    /// The table's identifier in `catalog`: `namespace.table` (nested namespaces dotted).
    #[serde(default)]
    pub table: Option<String>,
    /// Omitted: detected from the layout at the location.
    #[serde(default)]
    pub format: Option<FormatName>,
    /// Whether recipients may read past versions (time travel and, later, the change feed).
    #[serde(default)]
    pub history: bool,
    /// Shorthand for `governance.description`.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub governance: Governance,
    /// How a Hudi table is shared; refused for tables of other formats.
    #[serde(default)]
    pub hudi: Option<HudiTableOptions>,
    /// The rows recipients of this share may see: a SQL condition over the table's partition
    /// columns (`region = 'EU' AND year >= 2024`), applied to every version, change feed and
    /// catalog answer by keeping only the files whose partition values satisfy it. A filtered
    /// table has no directory access (its folder holds the other files too). Checked for syntax
    /// here; that it names partition columns only is checked against each version's schema.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub filter: Option<String>,
    /// The columns recipients see, in this order, each by its name in the table or renamed
    /// (`{name: fare_amount, as: fare}`). The table is then computed (materialized) into the
    /// `cache:`, as it is for a `filter:` over data columns.
    #[serde(default)]
    pub columns: Option<Vec<ColumnPick>>,
    /// The table is the result of this query (one `SELECT`, joins and aggregates included)
    /// over other configured tables, named `share.schema.table` (identifiers as written, not
    /// folded to lower case), computed into the `cache:` and recomputed when a source gets a
    /// new version. A view has no location of its own.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub view: Option<String>,
    /// `auto`: a table whose latest version the file protocol cannot express (a Hudi
    /// merge-on-read version with log files, an Iceberg version with delete files, files
    /// whose types differ from the schema) is computed by its format's own reader (logs
    /// merged, deletes applied) into the `cache:` and served from there. Without it (or with
    /// `never`, which overrides a `cache.materialize: auto`) such a table is refused with a
    /// 400 that says why.
    #[serde(default)]
    pub materialize: Option<MaterializeMode>,
    /// The most this table takes in the `cache:` when it is computed (`2 GB`), as
    /// `cache.budget` does for all of them: its oldest versions are dropped to fit, its
    /// latest never.
    #[serde(default)]
    pub cache_budget: Option<ByteSize>,
}

/// When a table is computed rather than served as its files are (`materialize:`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MaterializeMode {
    /// When its latest version cannot be served as its files are.
    Auto,
    /// Never: a version the file protocol cannot express is refused.
    Never,
}

/// One of a table's `columns:`: a column by its name, or renamed.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ColumnPick {
    Name(String),
    Renamed {
        name: String,
        #[serde(rename = "as")]
        shown_as: String,
    },
}

impl ColumnPick {
    /// The column's name in the table.
    pub fn name(&self) -> &str {
        match self {
            ColumnPick::Name(name) | ColumnPick::Renamed { name, .. } => name,
        }
    }

    /// The column's name as recipients see it.
    pub fn shown(&self) -> &str {
        match self {
            ColumnPick::Name(name) => name,
            ColumnPick::Renamed { shown_as, .. } => shown_as,
        }
    }
}

/// Per-table options of Hudi tables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HudiTableOptions {
    /// Share a merge-on-read table's read-optimized view: base files only, without the updates
    /// and deletes still waiting in log files, so it lags the table until the next compaction.
    /// Without it, such a table is refused while any file group has log files.
    #[serde(default)]
    pub read_optimized: bool,
    /// Include Hudi's `_hoodie_*` metadata columns in the shared schema.
    #[serde(default)]
    pub meta_fields: bool,
}

/// A table format as named in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatName {
    Delta,
    Iceberg,
    Hudi,
}

impl FormatName {
    /// The name as configured, which is also the name its adapter registers under.
    pub fn as_str(self) -> &'static str {
        match self {
            FormatName::Delta => "delta",
            FormatName::Iceberg => "iceberg",
            FormatName::Hudi => "hudi",
        }
    }
}

impl TableEntry {
    /// Whether the table is computed by the gateway whatever its files (a view, a column
    /// subset). A `filter:` over data columns makes a table computed too, which only its
    /// schema tells.
    pub fn is_computed(&self) -> bool {
        self.view.is_some() || self.columns.is_some()
    }

    /// The table `namespace.name` of catalog `catalog`, as a schema's `include:` shares it.
    pub fn in_catalog(
        name: &str,
        catalog: &str,
        namespace: &str,
        history: bool,
        governance: Governance,
    ) -> Self {
        let identifier = format!("{namespace}.{name}");
        Self {
            name: name.to_string(),
            location: format!("{catalog}:{identifier}"),
            store: None,
            path: None,
            catalog: Some(catalog.to_string()),
            table: Some(identifier),
            format: None,
            history,
            description: None,
            governance,
            hudi: None,
            filter: None,
            columns: None,
            view: None,
            materialize: None,
            cache_budget: None,
        }
    }

    /// The table's format options and the format they are written for (the name of their
    /// block, `hudi:`), for its adapter; none when the table has no options block.
    pub fn format_options(&self) -> Option<(&'static str, lakeshare_model::FormatOptions)> {
        let hudi = self.hudi.as_ref()?;
        let options = [
            (
                "read_optimized".to_string(),
                hudi.read_optimized.to_string(),
            ),
            ("meta_fields".to_string(), hudi.meta_fields.to_string()),
        ];
        Some((FormatName::Hudi.as_str(), options.into_iter().collect()))
    }
}

/// A recipient; its token is a `SecretString`, which no `Debug` output shows.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub name: String,
    /// The bearer token itself, normally `${VAR}`. Exactly one of `token` and `token_sha256`.
    #[serde(default, deserialize_with = "env::opt_secret")]
    pub token: Option<SecretString>,
    /// Hex SHA-256 of the bearer token, so the file never holds the secret.
    #[serde(default, deserialize_with = "env::opt_string")]
    pub token_sha256: Option<String>,
    /// Names of the shares this recipient may read.
    #[serde(default)]
    pub shares: Vec<String>,
    /// After this instant (RFC 3339) the token is refused.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// OAuth 2.0 client credentials, instead of (or beside) a bearer token: the recipient gets
    /// short-lived access tokens from the token endpoint (`client_credentials` grant).
    #[serde(default)]
    pub oauth: Option<OAuthClientConfig>,
    /// Further bearer tokens, each with its own expiry: rotation with a grace window (the
    /// old token expires a while after the new one is handed over; `lakeshare token rotate`).
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// Federation: the recipient's own identity provider signs JWTs the gateway accepts.
    #[serde(default)]
    pub oidc: Option<OidcConfig>,
    /// Client addresses (CIDR blocks, or single addresses) the recipient may call from;
    /// anything else is refused with 403. Empty: any address.
    #[serde(default)]
    pub allow_ips: Vec<String>,
    /// Requests per second the recipient may make, per gateway process; over it, 429 with
    /// `Retry-After`.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    #[serde(skip)]
    pub(crate) resolved: Option<ResolvedRecipient>,
}

/// A recipient's OAuth 2.0 client: its id, and the SHA-256 of its secret (so the file never
/// holds the secret; `lakeshare token` makes both halves).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientConfig {
    #[serde(deserialize_with = "env::string")]
    pub client_id: String,
    #[serde(deserialize_with = "env::string")]
    pub client_secret_sha256: String,
}

/// One more bearer token of a recipient.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The token itself, normally `${VAR}`. Exactly one of `token` and `token_sha256`.
    #[serde(default, deserialize_with = "env::opt_secret")]
    pub token: Option<SecretString>,
    #[serde(default, deserialize_with = "env::opt_string")]
    pub token_sha256: Option<String>,
    /// After this instant (RFC 3339) this token is refused; the recipient's own `expires_at`
    /// still bounds it.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// The identity provider a recipient federates with (OpenID Connect): JWTs its issuer signs
/// (RS256 or ES256, keys from the issuer's JWKS) for one of `audiences`, whose claim
/// `subject_claim` is `subject`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL, exactly as the tokens' `iss` claim gives it; its discovery document is
    /// at `{issuer}/.well-known/openid-configuration`. HTTPS (plain HTTP only on loopback).
    #[serde(deserialize_with = "env::string")]
    pub issuer: String,
    /// Accepted `aud` values: a token must name at least one.
    pub audiences: Vec<String>,
    /// The claim naming the caller.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// The claim's value that is this recipient.
    #[serde(deserialize_with = "env::string")]
    pub subject: String,
}

fn default_subject_claim() -> String {
    "sub".into()
}

/// A token bucket: `requests_per_second` on average, bursts up to `burst`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub requests_per_second: f64,
    /// Requests allowed at once after a quiet spell; default: one second's worth (at least 1).
    #[serde(default)]
    pub burst: Option<u32>,
}

/// A bearer token of a recipient, as the gateway compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BearerToken {
    pub hash: TokenHash,
    /// The earlier of the token's and the recipient's expiry, epoch milliseconds.
    pub expires_at_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct ResolvedRecipient {
    pub(crate) tokens: Vec<BearerToken>,
    pub(crate) client_secret_hash: Option<TokenHash>,
    pub(crate) expires_at_ms: Option<i64>,
    pub(crate) allow_ips: Vec<IpBlock>,
}

/// A CIDR block of client addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    network: std::net::IpAddr,
    prefix: u8,
}

impl IpBlock {
    /// Parses `10.0.0.0/8`, `2001:db8::/32` or a single address.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: std::net::IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not an IP address or CIDR block"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("'{text}': the prefix length must be 0 to {bits}"))?,
        };
        // An IPv4-mapped block (`::ffff:10.0.0.0/104`) is its IPv4 block: addresses are
        // compared in their canonical form.
        let (network, prefix) = match network {
            std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() && prefix >= 96 => (
                std::net::IpAddr::V4(v6.to_ipv4_mapped().expect("checked")),
                prefix - 96,
            ),
            _ => (network, prefix),
        };
        let block = Self { network, prefix };
        if block.masked(network) != network {
            return Err(format!(
                "'{text}' has bits set past its prefix; did you mean {}/{prefix}?",
                block.masked(network)
            ));
        }
        Ok(block)
    }

    fn masked(&self, address: std::net::IpAddr) -> std::net::IpAddr {
        use std::net::IpAddr;
        match address {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }

    /// Whether `address` is in the block (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        let address = address.to_canonical();
        address.is_ipv4() == self.network.is_ipv4() && self.masked(address) == self.network
    }
}

impl Recipient {
    /// The recipient's bearer tokens (`token` and `tokens`), each with its expiry.
    pub fn bearer_tokens(&self) -> &[BearerToken] {
        &self.resolved.as_ref().expect("validated at load").tokens
    }

    /// Whether `token` is one of the recipient's bearer tokens (expired or not).
    pub fn has_token(&self, token: &TokenHash) -> bool {
        self.bearer_tokens().iter().any(|t| t.hash == *token)
    }

    /// The client addresses the recipient may call from; empty: any.
    pub fn allow_ips(&self) -> &[IpBlock] {
        &self.resolved.as_ref().expect("validated at load").allow_ips
    }

    /// The recipient's OAuth client id and the SHA-256 of its secret, if it has a client.
    pub fn oauth_client(&self) -> Option<(&str, &TokenHash)> {
        let resolved = self.resolved.as_ref().expect("validated at load");
        Some((
            self.oauth.as_ref()?.client_id.as_str(),
            resolved.client_secret_hash.as_ref()?,
        ))
    }

    /// Expiry of the token, epoch milliseconds.
    pub fn expires_at_ms(&self) -> Option<i64> {
        self.resolved
            .as_ref()
            .expect("validated at load")
            .expires_at_ms
    }
}

/// SHA-256 of a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(token.as_bytes()).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, dir, &path.display().to_string())
    }

    /// Parses and validates configuration text; relative table locations are taken from `dir`.
    pub fn from_yaml(text: &str, dir: &Path) -> Result<Self> {
        Self::parse(text, dir, "<config>")
    }

    fn parse(text: &str, dir: &Path, file: &str) -> Result<Self> {
        let deserializer = serde_norway::Deserializer::from_str(text);
        let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = e.path().to_string();
            Error::Syntax {
                file: file.to_string(),
                field: if field == "." {
                    "(top level)".into()
                } else {
                    field
                },
                reason: e.into_inner().to_string(),
            }
        })?;
        validate::validate(&mut config, dir).map_err(|problems| Error::Invalid {
            file: file.to_string(),
            problems,
        })?;
        config.storage_fingerprint = storage_fingerprint(text);
        Ok(config)
    }

    /// A digest of the sections that decide how tables are opened and read (`server`, `stores`,
    /// `catalogs`, `cache`, `digest_cache`) as written, `${VAR}` references and all, so that a
    /// new secret shows as a change although no `Debug` output shows secrets. A reload with
    /// the same fingerprint may keep open tables and cached snapshots.
    pub fn storage_fingerprint(&self) -> [u8; 32] {
        self.storage_fingerprint
    }

    /// The store named `name`.
    pub fn store(&self, name: &str) -> Option<&StoreConfig> {
        self.stores.iter().find(|s| s.name == name)
    }

    /// The file digests are kept in; set at load.
    pub fn digest_cache_path(&self) -> &Path {
        Path::new(self.digest_cache.as_deref().expect("set at load"))
    }

    /// All schemas with their share, in file order.
    pub fn schemas(&self) -> impl Iterator<Item = (&Share, &Schema)> {
        self.shares
            .iter()
            .flat_map(|share| share.schemas.iter().map(move |schema| (share, schema)))
    }

    /// Every folder the configuration shares, as `(store, location)`: tables, volumes, model
    /// versions (and models' own folders) and skills.
    pub fn shared_locations(&self) -> impl Iterator<Item = (Option<&str>, &str)> {
        self.schemas().flat_map(|(_, schema)| {
            // A view has no location.
            let tables = schema
                .tables
                .iter()
                .filter(|t| t.view.is_none())
                .map(|t| (t.store.as_deref(), t.location.as_str()));
            let volumes = schema
                .volumes
                .iter()
                .map(|v| (v.store.as_deref(), v.location.as_str()));
            let models = schema.models.iter().flat_map(|m| {
                let own =
                    (!m.location.is_empty()).then_some((m.store.as_deref(), m.location.as_str()));
                own.into_iter().chain(
                    m.versions
                        .iter()
                        .map(|v| (v.store.as_deref(), v.location.as_str())),
                )
            });
            let skills = schema
                .skills
                .iter()
                .map(|s| (s.store.as_deref(), s.location.as_str()));
            tables.chain(volumes).chain(models).chain(skills)
        })
    }

    /// All tables with their share and schema, in file order.
    pub fn tables(&self) -> impl Iterator<Item = (&Share, &Schema, &TableEntry)> {
        self.shares.iter().flat_map(|share| {
            share
                .schemas
                .iter()
                .flat_map(move |schema| schema.tables.iter().map(move |t| (share, schema, t)))
        })
    }
}
