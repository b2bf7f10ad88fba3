//! The server's shared state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lakeshare_assets::DigestCache;
use lakeshare_catalog::{Config, IncludeConfig, TableEntry};
use lakeshare_model::Formats;
use lakeshare_storage::{FileTokens, Folder, Signer, Store};

use crate::auth::{Recipient, Recipients};
use crate::cache::SnapshotCache;
use crate::error::{ApiError, ApiResult};
use crate::registry::{Catalogs, OpenedTable, Opener, Stores, TableHandle};

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

/// The one bucket of the built-in S3 endpoint, served at `/{S3_BUCKET}` on the main listener.
pub const S3_BUCKET: &str = "lakeshare";

/// How long the table list of an included namespace is reused before the catalog is asked
/// again: new tables appear within this long.
pub const INCLUDE_LISTING_TTL: Duration = Duration::from_secs(5);

/// A catalog namespace a schema includes, with its tables as last listed.
struct Included {
    share: String,
    schema: String,
    config: IncludeConfig,
    /// `cache.materialize`, the default every table of the namespace takes.
    materialize: Option<lakeshare_catalog::MaterializeMode>,
    names: Mutex<Option<(Instant, Arc<Vec<String>>)>>,
    /// Tables opened so far, by lower-cased name: a handle keeps its opened adapter.
    handles: Mutex<HashMap<String, Arc<TableHandle>>>,
}

impl Included {
    fn handle(&self, name: &str) -> Arc<TableHandle> {
        let mut handles = self.handles.lock().expect("not poisoned");
        handles
            .entry(name.to_lowercase())
            .or_insert_with(|| {
                let mut entry = TableEntry::in_catalog(
                    name,
                    &self.config.catalog,
                    &self.config.namespace,
                    self.config.history,
                    self.config.governance.clone(),
                );
                entry.materialize = self.materialize;
                Arc::new(TableHandle::new(&self.share, &self.schema, entry))
            })
            .clone()
    }
}

pub(crate) struct Inner {
    config: Config,
    /// Iceberg files generated for tables, by content address.
    #[cfg(feature = "iceberg-catalog")]
    generated: crate::rest_catalog::generated::GeneratedFiles,
    /// The read-only S3 endpoint Iceberg clients read tables through.
    s3: lakeshare_s3_endpoint::Endpoint,
    /// Configured folders (tables and assets), as `(store, location)`, in which another
    /// configured folder lies: credentials for the folder would cover that one too.
    enclosing: std::collections::HashSet<(Option<String>, String)>,
    includes: Vec<Included>,
    tables: Vec<Arc<TableHandle>>,
    /// `(share, schema, table)` lower-cased → index into `tables`.
    index: HashMap<(String, String, String), usize>,
    recipients: Recipients,
    file_tokens: FileTokens,
    cache: SnapshotCache,
    metrics: crate::metrics::Metrics,
    audit: crate::audit::Audit,
    /// Asynchronous query ids by recipient, table, idempotency key and parameters.
    async_queries: moka::sync::Cache<String, Arc<str>>,
    digests: DigestCache,
    opener: Opener,
    readiness: Mutex<Readiness>,
    request_limits: Arc<crate::limits::RequestLimits>,
}

impl Inner {
    /// The configured table `share.schema.table` (names case-insensitive).
    fn handle(&self, share: &str, schema: &str, table: &str) -> Option<&Arc<TableHandle>> {
        let key = (
            share.to_lowercase(),
            schema.to_lowercase(),
            table.to_lowercase(),
        );
        self.index.get(&key).map(|&i| &self.tables[i])
    }
}

/// What the latest pass of [`App::check_tables`] found.
#[derive(Debug, Default)]
struct Readiness {
    /// Whether a pass has finished.
    checked: bool,
    /// Indices into `tables` of those that could not be opened.
    unavailable: Vec<usize>,
}

impl App {
    /// Builds the state and tries to open every table; tables that fail are logged and retried
    /// on first use.
    pub async fn open(config: Config, formats: Formats) -> Self {
        let app = Self::new(config, formats);
        app.check_tables().await;
        app
    }

    /// Tries to open every configured table that is not open yet and records which cannot be,
    /// for `/ready`. The first pass makes the gateway ready: every table has been tried once
    /// (a table that failed keeps being retried, here and on first use, without holding up
    /// the others).
    pub async fn check_tables(&self) {
        let (first_pass, before) = {
            let readiness = self.inner.readiness.lock().expect("not poisoned");
            (!readiness.checked, readiness.unavailable.clone())
        };
        let results =
            futures::future::join_all(self.inner.tables.iter().map(|t| self.open_table(t))).await;
        let mut unavailable = Vec::new();
        for (i, (table, result)) in self.inner.tables.iter().zip(results).enumerate() {
            match result {
                Ok(_) if first_pass || before.contains(&i) => {
                    tracing::info!(table = %table.qualified_name(), "table ready")
                }
                Ok(_) => {}
                Err(e) => {
                    if first_pass || !before.contains(&i) {
                        tracing::error!(table = %table.qualified_name(), "cannot open table yet: {}", e.message);
                    }
                    unavailable.push(i);
                }
            }
        }
        *self.inner.readiness.lock().expect("not poisoned") = Readiness {
            checked: true,
            unavailable,
        };
    }

    /// Runs [`App::check_tables`] now and then every `every`, in the background, so `/ready`
    /// answers from what was found instead of opening tables per probe.
    pub fn spawn_table_checks(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            loop {
                app.check_tables().await;
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Whether the first pass over the tables has finished, and the tables that could not be
    /// opened in the latest one.
    pub(crate) fn readiness(&self) -> (bool, Vec<Arc<TableHandle>>) {
        let readiness = self.inner.readiness.lock().expect("not poisoned");
        let unavailable = readiness
            .unavailable
            .iter()
            .map(|&i| self.inner.tables[i].clone())
            .collect();
        (readiness.checked, unavailable)
    }

    /// Builds the state without touching any table. `formats` are the table formats and
    /// catalog kinds this build reads (the binary's choice, by cargo feature).
    pub fn new(config: Config, formats: Formats) -> Self {
        Self::build(config, Arc::new(formats), None)
    }

    /// The state for a reloaded configuration. When the sections that decide how tables are
    /// opened (`server`, `stores`, `catalogs`, `cache`) are unchanged, tables whose entries are
    /// unchanged stay open, and the snapshot cache, generated Iceberg files and digests are
    /// kept (their keys name everything that decides their content); otherwise everything
    /// starts afresh. Requests already running finish on `self`.
    pub fn reloaded(&self, config: Config) -> Self {
        Self::build(config, self.inner.opener.formats.clone(), Some(self))
    }

    /// How many of `self`'s tables are the very handles of `previous` (kept open by a reload).
    pub fn tables_kept_from(&self, previous: &App) -> usize {
        self.inner
            .tables
            .iter()
            .filter(|t| {
                previous
                    .inner
                    .handle(&t.share, &t.schema, &t.name)
                    .is_some_and(|p| Arc::ptr_eq(p, t))
            })
            .count()
    }

    fn build(config: Config, formats: Arc<Formats>, previous: Option<&App>) -> Self {
        let kept = previous
            .map(|p| &p.inner)
            .filter(|p| p.config.storage_fingerprint() == config.storage_fingerprint());
        let secrets = config.server.signing_secrets();
        let kept_signer = previous
            .filter(|p| secrets.is_empty() && p.config().server.signing_secrets().is_empty())
            .map(|p| p.inner.opener.signer.clone());
        let signer = if let Some(signer) = kept_signer {
            // The random secret of this process: a reload must not void its URLs and tokens.
            signer
        } else if secrets.is_empty() {
            tracing::warn!(
                "no server.signing_secrets: signed URLs and page tokens are valid for this process only, \
                 so replicas cannot serve each other's"
            );
            Signer::random()
        } else {
            Signer::from_secrets(&secrets)
        };
        tracing::info!(key_id = %signer.key_id(), keys = secrets.len().max(1), "token keys");
        let mut tables = Vec::new();
        let mut index = HashMap::new();
        let configured = Opener::tables_of(&config);
        for (share, schema, entry) in config.tables() {
            index.insert(
                (
                    share.name.to_lowercase(),
                    schema.name.to_lowercase(),
                    entry.name.to_lowercase(),
                ),
                tables.len(),
            );
            let sources = crate::registry::view_sources(entry, &configured);
            let unchanged = kept
                .and_then(|p| p.handle(&share.name, &schema.name, &entry.name))
                .filter(|t| {
                    t.share == share.name && t.schema == schema.name && t.entry_is(entry, &sources)
                })
                .cloned();
            tables.push(unchanged.unwrap_or_else(|| {
                Arc::new(TableHandle::reading(
                    &share.name,
                    &schema.name,
                    entry.clone(),
                    sources,
                ))
            }));
        }
        let materialize = config.cache.as_ref().and_then(|c| c.materialize);
        let includes = config
            .shares
            .iter()
            .flat_map(|share| {
                share.schemas.iter().flat_map(move |schema| {
                    schema.include.iter().map(move |include| Included {
                        share: share.name.clone(),
                        schema: schema.name.clone(),
                        config: include.clone(),
                        materialize,
                        names: Mutex::new(None),
                        handles: Mutex::new(HashMap::new()),
                    })
                })
            })
            .collect();
        let enclosing = enclosing_folders(&config);
        let stores = Stores::build(&config.stores);
        #[cfg(feature = "iceberg-catalog")]
        let generated = match kept {
            Some(p) => p.generated.clone(),
            None => crate::rest_catalog::generated::GeneratedFiles::new(
                config.server.snapshot_cache_mb * 1024 * 1024,
                config
                    .cache
                    .as_ref()
                    .and_then(|c| cache_backing(c, &stores)),
            ),
        };
        // The cache's budget counts the tables open now: a reload that keeps them keeps it.
        let budget = kept.map_or_else(|| Opener::budget_of(&config), |p| p.opener.budget.clone());
        let cache = kept.map_or_else(
            || SnapshotCache::new(config.server.snapshot_cache_mb * 1024 * 1024),
            |p| p.cache.clone(),
        );
        let digests = kept.map_or_else(
            || DigestCache::open(config.digest_cache_path()),
            |p| p.digests.clone(),
        );
        // A reload keeps the gateway ready: the tables it could not open stay listed until
        // the next check (run at once by the reloader) says otherwise.
        let readiness = match previous {
            Some(p) => {
                let before = p.inner.readiness.lock().expect("not poisoned");
                let unavailable = before
                    .unavailable
                    .iter()
                    .filter_map(|&i| {
                        let old = &p.inner.tables[i];
                        tables.iter().position(|t| Arc::ptr_eq(t, old))
                    })
                    .collect();
                Readiness {
                    checked: before.checked,
                    unavailable,
                }
            }
            None => Readiness::default(),
        };
        let (timeout, max_concurrent) = (
            Duration::from_secs(config.server.request_timeout_seconds),
            config.server.max_concurrent_requests,
        );
        let request_limits = previous
            .map(|p| p.inner.request_limits.clone())
            .filter(|limits| limits.are(timeout, max_concurrent))
            .unwrap_or_else(|| crate::limits::RequestLimits::new(timeout, max_concurrent));
        let mut recipients = Recipients::from_config(
            &config.recipients,
            signer.clone(),
            Duration::from_secs(config.server.access_token_ttl_seconds),
        );
        let async_queries = match previous {
            Some(p) => {
                recipients.carry_over(&p.inner.recipients);
                p.inner.async_queries.clone()
            }
            None => moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_millis(
                    crate::routes::ASYNC_QUERY_TTL_MS as u64,
                ))
                .build(),
        };
        let s3_signer = signer.clone();
        let make = move |weak: &std::sync::Weak<Inner>| Inner {
            #[cfg(feature = "iceberg-catalog")]
            generated,
            s3: lakeshare_s3_endpoint::Endpoint::new(
                S3_BUCKET,
                s3_signer,
                Arc::new(crate::builtin_s3::objects::TableObjects { app: weak.clone() }),
            ),
            enclosing,
            includes,
            recipients,
            file_tokens: FileTokens::new(signer.clone()),
            cache,
            metrics: crate::metrics::Metrics::default(),
            audit: crate::audit::Audit::open(config.audit.as_ref()),
            async_queries,
            digests,
            opener: Opener {
                formats,
                stores,
                catalogs: Catalogs::new(&config.catalogs),
                files_url: format!("{}/files", config.server.public_url()),
                url_ttl: Duration::from_secs(config.server.url_ttl_seconds),
                signer,
                tables: configured,
                cache: config.cache.clone(),
                budget,
                precompute: true,
            },
            tables,
            index,
            readiness: Mutex::new(readiness),
            request_limits,
            config,
        };
        Self {
            inner: Arc::new_cyclic(make),
        }
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// The snapshot of `handle` at `version`, through the cache.
    pub(crate) async fn served_snapshot(
        &self,
        handle: &TableHandle,
        opened: &OpenedTable,
        version: lakeshare_model::Version,
    ) -> Result<Arc<crate::cache::ServedSnapshot>, Arc<lakeshare_model::Error>> {
        // A computed table's version dropped to fit the cache's budget may still be cached
        // here, its files deleted: refused before the cache is asked.
        if let Some(job) = &opened.computed {
            job.refuse_dropped(version).await.map_err(Arc::new)?;
        }
        let load = crate::cache::Load {
            source: &opened.source,
            signer: &opened.signer,
            sharing: crate::cache::Sharing {
                governance: &handle.entry.governance,
                filter: opened.partition_filter(handle),
            },
            deadline: Duration::from_secs(self.config().server.snapshot_load_timeout_seconds),
        };
        self.cache().get(&handle.snapshot_key, version, load).await
    }

    #[cfg(feature = "iceberg-catalog")]
    pub(crate) fn generated(&self) -> &crate::rest_catalog::generated::GeneratedFiles {
        &self.inner.generated
    }

    pub(crate) fn s3_endpoint(&self) -> &lakeshare_s3_endpoint::Endpoint {
        &self.inner.s3
    }

    /// Where clients reach the S3 endpoint: the scheme and authority of the public URL (the
    /// endpoint is served at the root of the listener, as S3 clients address buckets).
    pub(crate) fn s3_endpoint_url(&self) -> String {
        let public = self.inner.config.server.public_url();
        match url::Url::parse(&public) {
            Ok(u) => format!(
                "{}://{}",
                u.scheme(),
                &u[url::Position::BeforeHost..url::Position::AfterPort]
            ),
            Err(_) => public,
        }
    }

    /// The table `share.schema.table` whatever the grants (for the S3 endpoint, whose
    /// credentials were only minted for granted tables).
    pub(crate) async fn find_table(
        &self,
        share: &str,
        schema: &str,
        table: &str,
    ) -> Option<Arc<TableHandle>> {
        if let Some(handle) = self.inner.handle(share, schema, table) {
            return Some(handle.clone());
        }
        for included in self.includes_of(share, schema) {
            let names = self.included_names(included).await.ok()?;
            if let Some(name) = names.iter().find(|n| n.eq_ignore_ascii_case(table)) {
                return Some(included.handle(name));
            }
        }
        None
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn router(&self) -> axum::Router {
        crate::routes::router(self.clone())
    }

    /// The connection bounds the configuration sets, for [`crate::serve`].
    pub fn connection_limits(&self) -> crate::Limits {
        let server = &self.inner.config.server;
        crate::Limits {
            header_read_timeout: Duration::from_secs(server.header_timeout_seconds),
            max_connections: server.max_connections,
            ..crate::Limits::default()
        }
    }

    pub(crate) fn request_limits(&self) -> Arc<crate::limits::RequestLimits> {
        self.inner.request_limits.clone()
    }

    pub(crate) fn recipients(&self) -> &Recipients {
        &self.inner.recipients
    }

    pub(crate) fn signer(&self) -> &Signer {
        &self.inner.opener.signer
    }

    pub(crate) fn file_tokens(&self) -> &FileTokens {
        &self.inner.file_tokens
    }

    /// Lifetime of signed URLs, in milliseconds.
    pub(crate) fn url_ttl_ms(&self) -> i64 {
        self.inner.opener.url_ttl.as_millis() as i64
    }

    pub(crate) fn cache(&self) -> &SnapshotCache {
        &self.inner.cache
    }

    pub(crate) fn async_queries(&self) -> &moka::sync::Cache<String, Arc<str>> {
        &self.inner.async_queries
    }

    pub(crate) fn audit(&self) -> &crate::audit::Audit {
        &self.inner.audit
    }

    pub(crate) fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    pub(crate) fn tables(&self) -> &[Arc<TableHandle>] {
        &self.inner.tables
    }

    /// The share named `name` if it exists and `recipient` may read it. Missing and ungranted
    /// shares get the same answer, so recipients cannot probe for other recipients' shares.
    pub(crate) fn share(
        &self,
        recipient: &Recipient,
        name: &str,
    ) -> ApiResult<&lakeshare_catalog::Share> {
        self.inner
            .config
            .shares
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name) && recipient.may_read(&s.name))
            .ok_or_else(|| ApiError::not_found(format!("share '{name}' not found")))
    }

    pub(crate) fn schema(
        &self,
        recipient: &Recipient,
        share: &str,
        schema: &str,
    ) -> ApiResult<&lakeshare_catalog::Schema> {
        self.share(recipient, share)?
            .schemas
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(schema))
            .ok_or_else(|| {
                ApiError::not_found(format!("schema '{schema}' not found in share '{share}'"))
            })
    }

    /// The table `share.schema.table`: a configured one, or one of a catalog namespace the
    /// schema includes.
    pub(crate) async fn table(
        &self,
        recipient: &Recipient,
        share: &str,
        schema: &str,
        table: &str,
    ) -> ApiResult<Arc<TableHandle>> {
        self.schema(recipient, share, schema)?;
        if let Some(handle) = self.inner.handle(share, schema, table) {
            return Ok(handle.clone());
        }
        for included in self.includes_of(share, schema) {
            let names = self.included_names(included).await?;
            if let Some(name) = names.iter().find(|n| n.eq_ignore_ascii_case(table)) {
                return Ok(included.handle(name));
            }
        }
        Err(ApiError::not_found(format!(
            "table '{table}' not found in '{share}.{schema}'"
        )))
    }

    /// Every table of a schema: the configured ones, then those of the namespaces it includes
    /// (as the catalogs list them now, give or take [`INCLUDE_LISTING_TTL`]).
    pub(crate) async fn schema_tables(
        &self,
        share: &str,
        schema: &str,
    ) -> ApiResult<Vec<Arc<TableHandle>>> {
        let mut tables: Vec<Arc<TableHandle>> = self
            .inner
            .tables
            .iter()
            .filter(|t| {
                t.share.eq_ignore_ascii_case(share) && t.schema.eq_ignore_ascii_case(schema)
            })
            .cloned()
            .collect();
        for included in self.includes_of(share, schema) {
            for name in self.included_names(included).await?.iter() {
                if !tables.iter().any(|t| t.name.eq_ignore_ascii_case(name)) {
                    tables.push(included.handle(name));
                }
            }
        }
        Ok(tables)
    }

    fn includes_of<'a>(
        &'a self,
        share: &'a str,
        schema: &'a str,
    ) -> impl Iterator<Item = &'a Included> {
        self.inner.includes.iter().filter(move |i| {
            i.share.eq_ignore_ascii_case(share) && i.schema.eq_ignore_ascii_case(schema)
        })
    }

    /// The table names of an included namespace, listed again once the last listing is older
    /// than [`INCLUDE_LISTING_TTL`].
    async fn included_names(&self, included: &Included) -> ApiResult<Arc<Vec<String>>> {
        if let Some((at, names)) = included.names.lock().expect("not poisoned").as_ref()
            && at.elapsed() < INCLUDE_LISTING_TTL
        {
            return Ok(names.clone());
        }
        let listed = self
            .inner
            .opener
            .catalog_tables(&included.config.catalog, &included.config.namespace)
            .await;
        let names = match listed {
            Ok(names) => Arc::new(usable_names(&included.config.catalog, names)),
            Err(e) => {
                // A catalog that is down leaves the tables listed before.
                let stale = included.names.lock().expect("not poisoned").clone();
                if let Some((_, names)) = stale {
                    tracing::warn!(catalog = %included.config.catalog, "listing failed, using the last listing: {e}");
                    return Ok(names);
                }
                return Err(ApiError::from_model(
                    &format!("{}.{}", included.share, included.schema),
                    &e,
                ));
            }
        };
        *included.names.lock().expect("not poisoned") = Some((Instant::now(), names.clone()));
        Ok(names)
    }

    /// The store that can vend directory credentials for `table`, if any: an S3 store with an
    /// `sts:` entry, for a table shared with its history (directory access reads the whole log,
    /// so it cannot hide past versions).
    pub(crate) fn vending_store(&self, table: &TableHandle) -> Option<&Arc<Store>> {
        let store = self
            .inner
            .opener
            .stores
            .get(table.entry.store.as_deref()?)
            .ok()?;
        let encloses_another =
            self.encloses_another(table.entry.store.as_deref(), &table.entry.location);
        (folder_shareable(table) && store.vends_credentials() && !encloses_another).then_some(store)
    }

    /// Whether `table` gets directory access through the built-in S3 endpoint: a table on the
    /// gateway's disk, shared with its history, with no other shared folder inside it (the
    /// same conditions as for vended store credentials).
    pub(crate) fn builtin_directory_access(&self, table: &TableHandle) -> bool {
        table.entry.store.is_none()
            && table.entry.catalog.is_none()
            && folder_shareable(table)
            && !self.encloses_another(None, &table.entry.location)
    }

    /// The key prefix under which the built-in S3 endpoint serves the folder at `location` on
    /// the gateway's disk, or why it does not (another shared folder lies inside it).
    pub(crate) fn builtin_folder_access(&self, location: &str) -> Result<String, String> {
        if self.encloses_another(None, location) {
            return Err("another shared table or asset lies inside its folder, which the credentials would expose".into());
        }
        Ok(crate::folders::folder_key(location))
    }

    /// The configured folder on the gateway's disk whose key prefix is `key` (`folders/{id}/`).
    pub(crate) fn local_folder(&self, key: &str) -> Option<String> {
        self.inner
            .config
            .shared_locations()
            .filter(|(store, location)| store.is_none() && !location.contains("://"))
            .map(|(_, location)| location)
            .find(|location| crate::folders::folder_key(location) == key)
            .map(str::to_string)
    }

    /// Whether the built-in S3 endpoint may serve every file below `table`'s root (rather than
    /// only the data files of the versions it shares): the table is shared with its history, is
    /// not a catalog's, and no other shared table or asset lies inside its folder. The same
    /// conditions as for directory access.
    pub(crate) fn whole_folder_shared(&self, table: &TableHandle) -> bool {
        table.entry.catalog.is_none()
            && folder_shareable(table)
            && !self.encloses_another(table.entry.store.as_deref(), &table.entry.location)
    }

    fn encloses_another(&self, store: Option<&str>, location: &str) -> bool {
        self.inner.enclosing.contains(&(
            store.map(str::to_string),
            location.trim_end_matches('/').to_string(),
        ))
    }

    pub(crate) fn digests(&self) -> &DigestCache {
        &self.inner.digests
    }

    /// The folder at `location`: in store `store`, or on the gateway's disk.
    pub(crate) fn folder(
        &self,
        asset: &str,
        location: &str,
        store: Option<&str>,
    ) -> ApiResult<Folder> {
        let folder = crate::folders::open_folder(&self.inner.opener, location, store);
        folder.map_err(|e| ApiError::from_asset(asset, &e.into()))
    }

    /// The store that can vend credentials scoped to the folder at `location`, if any: an S3
    /// store with an `sts:` entry, where no other configured table or asset lies inside the
    /// folder (the credentials would reach it too).
    pub(crate) fn vending_store_for(
        &self,
        location: &str,
        store: Option<&str>,
    ) -> Result<&Arc<Store>, String> {
        let Some(name) = store else {
            return Err("it is on the gateway's own disk, which cannot vend credentials".into());
        };
        let store = self
            .inner
            .opener
            .stores
            .get(name)
            .map_err(|_| format!("its store '{name}' is not available"))?;
        if !store.vends_credentials() {
            return Err("its store cannot vend temporary credentials (only S3 stores with an STS endpoint configured do)".into());
        }
        if self.encloses_another(Some(name), location) {
            return Err("another shared table or asset lies inside its folder, which the credentials would expose".into());
        }
        Ok(store)
    }

    pub(crate) fn stores(&self) -> &Stores {
        &self.inner.opener.stores
    }

    pub(crate) async fn open_table<'a>(
        &self,
        table: &'a TableHandle,
    ) -> ApiResult<&'a OpenedTable> {
        table
            .open(&self.inner.opener)
            .await
            .map_err(|e| ApiError::from_model(&table.qualified_name(), &e))
    }
}

/// Whether what a table's folder holds may be shared whole, as directory access and the
/// built-in endpoint's folder listing do: only for a table shared with its history (the folder
/// holds every version), without a filter (it holds the filtered-out files too), and not
/// computed (a computed table's folder is the gateway's cache).
pub(crate) fn folder_shareable(table: &TableHandle) -> bool {
    table.entry.history && table.filter.is_none() && !table.entry.is_computed()
}

/// The configured folders another configured folder of the same store lies inside of.
/// The tables of a catalog listing that can be shared: a name with a `/` would read as a key
/// prefix of the built-in S3 endpoint reaching into another table's folder, and control
/// characters break every client.
fn usable_names(catalog: &str, names: Vec<String>) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| {
            let usable = !n.is_empty() && !n.contains('/') && !n.chars().any(char::is_control);
            if !usable {
                tracing::warn!(
                    catalog,
                    "a table whose name holds '/' or control characters is not shared"
                );
            }
            usable
        })
        .collect()
}

/// Where generated files are kept beyond memory, as configured: a folder on this disk, or a
/// prefix of a store (none, logged, if that store cannot be built).
#[cfg(feature = "iceberg-catalog")]
fn cache_backing(
    cache: &lakeshare_catalog::CacheConfig,
    stores: &Stores,
) -> Option<crate::rest_catalog::generated::Backing> {
    use crate::rest_catalog::generated::Backing;
    let Some(name) = cache.store.as_deref() else {
        return Some(Backing::Folder(std::path::PathBuf::from(&cache.location)));
    };
    match stores.get(name) {
        Ok(store) => Some(Backing::Store {
            store: store.clone(),
            location: cache.location.clone(),
        }),
        Err(e) => {
            tracing::error!(
                "the cache's store '{name}' is not available, generated files are kept in memory only: {e}"
            );
            None
        }
    }
}

fn enclosing_folders(config: &Config) -> std::collections::HashSet<(Option<String>, String)> {
    let folders: Vec<(Option<&str>, &str)> = config
        .shared_locations()
        .map(|(store, location)| (store, location.trim_end_matches('/')))
        .collect();
    folders
        .iter()
        .filter(|(store, root)| {
            folders.iter().any(|(other_store, other)| {
                // Store folders compare by canonical URL, whichever store entry names them:
                // two entries may reach one bucket, and credentials for the outer folder would
                // reach the inner one through either.
                other_store.is_some() == store.is_some()
                    && other
                        .strip_prefix(root)
                        .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
            })
        })
        .map(|(store, root)| (store.map(str::to_string), root.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_enclosing_others_are_found_across_store_entries_of_one_bucket() {
        let config = Config::from_yaml(
            r#"
stores:
  - { name: reader, kind: s3, bucket: lake, endpoint: "http://127.0.0.1:1" }
  - { name: other, kind: s3, bucket: lake, endpoint: "http://127.0.0.1:1" }
shares:
  - name: s
    schemas:
      - name: x
        tables:
          - { name: outer, store: reader, path: sales }
          - { name: inner, store: other, path: sales/orders }
          - { name: sibling, store: reader, path: sales2 }
"#,
            std::path::Path::new("/cfg"),
        )
        .unwrap();
        let enclosing = enclosing_folders(&config);
        assert!(enclosing.contains(&(Some("reader".into()), "s3://lake/sales".into())));
        assert_eq!(enclosing.len(), 1, "{enclosing:?}");
    }
}
