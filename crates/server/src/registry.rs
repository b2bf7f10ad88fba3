//! The configured tables and how each is opened: the store or catalog it lives in, the
//! registered format that claims it ([`Formats`], handed in by the binary: the server names no
//! format), and a URL signer confined to the root the adapter reports.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lakeshare_catalog::{CatalogConfig, StoreConfig, TableEntry};
use lakeshare_model::{Catalog, Format, Formats, Opened, Place, Root, TableSource};
use lakeshare_storage::{LocalUrlSigner, Signer, Store, UrlSigner};
use tokio::sync::OnceCell;

pub(crate) use lakeshare_model::stable_uuid;

/// An opened table: its adapter and the signer for its files.
#[derive(Debug, Clone)]
pub struct OpenedTable {
    pub source: Arc<dyn TableSource>,
    pub signer: Arc<dyn UrlSigner>,
    /// Unique to this opening of the table, so unique to `signer`: what the lines it signed
    /// are cached under ([`crate::signed_lines`]).
    pub signer_id: u64,
    /// The folder every file of the table lies in.
    pub root: Root,
    /// The store the root is in; `None` for the gateway's disk.
    pub store: Option<Arc<Store>>,
    /// For a table computed by the gateway (a view, a column subset, a filter over data
    /// columns, `materialize: auto`) rather than served as its files are: the job computing it.
    pub computed: Option<Arc<lakeshare_materialize::Materialized>>,
}

impl OpenedTable {
    /// The share's filter where it is applied to the table's files: a computed table's result
    /// is filtered already.
    pub fn partition_filter<'h>(
        &self,
        handle: &'h TableHandle,
    ) -> Option<&'h lakeshare_filter::PartitionFilter> {
        handle.filter.as_ref().filter(|_| self.computed.is_none())
    }
}

/// A configured table. It is opened at start-up, and again on first use if that failed, so one
/// table whose storage is down does not keep the gateway from serving the others.
#[derive(Debug)]
pub struct TableHandle {
    pub share: String,
    pub schema: String,
    pub name: String,
    pub entry: TableEntry,
    /// Stable id of the table in listings: derived from its coordinates.
    pub id: String,
    /// The key what is generated for the table (Iceberg metadata) is kept under, in memory and
    /// in the cache: its id and a digest of where it is, so a table pointed at another folder
    /// never finds, or reveals to its new recipients, what was generated for the old one.
    pub cache_key: String,
    /// The key of the table's snapshots in the snapshot cache, which outlives configuration
    /// reloads: its id and a digest of its whole entry (location, format, governance, …), so
    /// a table changed by a reload never meets the snapshots of what it was.
    pub snapshot_key: String,
    /// The share's row filter on the table (`filter:`): every snapshot and change feed of it
    /// holds only the files it keeps.
    pub filter: Option<lakeshare_filter::PartitionFilter>,
    /// For a view, the entries of the tables it reads (see [`view_sources`]): part of the keys
    /// and of what a reload compares, so a source changed by a reload never leaves the view
    /// computing from, or serving what was cached for, the source as it was.
    sources: String,
    opened: OnceCell<OpenedTable>,
}

/// The entries a view reads, in the order its query names them, as one string; empty for
/// any other table (and for a view whose query cannot be read: opening it fails anyway).
pub fn view_sources(entry: &TableEntry, tables: &HashMap<String, TableEntry>) -> String {
    let Some(sql) = &entry.view else {
        return String::new();
    };
    let Ok(names) = lakeshare_materialize::references(sql) else {
        return String::new();
    };
    names
        .iter()
        .map(|name| {
            let qualified = name.join(".");
            format!("{qualified}: {:?}\n", tables.get(&qualified))
        })
        .collect()
}

/// See [`TableHandle::cache_key`]. The filter, columns and view are part of it: what was
/// generated for the table shared one way must never be found for it shared another.
fn cache_key(id: &str, entry: &TableEntry, sources: &str) -> String {
    use sha2::{Digest, Sha256};
    let place = format!(
        "{}\n{}\n{:?}\n{:?}\n{:?}\n{sources}",
        entry.store.as_deref().unwrap_or_default(),
        entry.location,
        entry.filter,
        entry.columns,
        entry.view
    );
    let digest = hex::encode(Sha256::digest(place.as_bytes()));
    format!("{id}-{}", &digest[..12])
}

/// See [`TableHandle::snapshot_key`]. The entry's `Debug` form names every field, and entries
/// hold no secrets (those are in stores).
fn snapshot_key(id: &str, entry: &TableEntry, sources: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(format!("{entry:?}\n{sources}").as_bytes()));
    format!("{id}-{}", &digest[..16])
}

impl TableHandle {
    pub fn new(share: &str, schema: &str, entry: TableEntry) -> Self {
        Self::reading(share, schema, entry, String::new())
    }

    /// A table whose definition reads `sources` ([`view_sources`]).
    pub fn reading(share: &str, schema: &str, entry: TableEntry, sources: String) -> Self {
        let id = stable_uuid(&format!("{share}.{schema}.{}", entry.name).to_lowercase());
        Self {
            share: share.to_string(),
            schema: schema.to_string(),
            name: entry.name.clone(),
            cache_key: cache_key(&id, &entry, &sources),
            snapshot_key: snapshot_key(&id, &entry, &sources),
            sources,
            filter: entry
                .filter
                .as_deref()
                .map(lakeshare_filter::PartitionFilter::new),
            id,
            entry,
            opened: OnceCell::new(),
        }
    }

    /// Whether the table is configured exactly as `entry` (so a reload may keep it open).
    pub fn entry_is(&self, entry: &TableEntry, sources: &str) -> bool {
        format!("{:?}", self.entry) == format!("{entry:?}") && self.sources == sources
    }

    /// `share.schema.table`, for messages and logs.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}.{}", self.share, self.schema, self.name)
    }

    /// The opened table, opening it now if it is not yet.
    pub async fn open(&self, opener: &Opener) -> lakeshare_model::Result<&OpenedTable> {
        self.opened
            .get_or_try_init(|| open_table(&self.entry, opener))
            .await
    }
}

/// The configured object stores by name. A store whose client cannot be built (a malformed
/// key, say) is kept as its error, so its tables fail with it and the others still open.
#[derive(Debug, Clone, Default)]
pub struct Stores {
    by_name: HashMap<String, Result<Arc<Store>, String>>,
}

impl Stores {
    pub fn build(configs: &[StoreConfig]) -> Self {
        let by_name = configs
            .iter()
            .filter_map(|c| Some((c, c.store_options()?)))
            .map(|(c, options)| {
                let store = Store::build(&options)
                    .map(Arc::new)
                    .map_err(|e| e.to_string());
                if let Err(e) = &store {
                    tracing::error!(store = %c.name, "cannot set up store: {e}");
                }
                (c.name.clone(), store)
            })
            .collect();
        Self { by_name }
    }

    /// The store `name`, or why it cannot be used.
    pub fn get(&self, name: &str) -> lakeshare_model::Result<&Arc<Store>> {
        match self.by_name.get(name) {
            Some(Ok(store)) => Ok(store),
            Some(Err(e)) => Err(lakeshare_model::Error::Storage {
                fault: lakeshare_model::StorageFault::Misconfigured,
                detail: e.clone(),
            }),
            None => Err(lakeshare_model::Error::storage(format!(
                "no store named '{name}'"
            ))),
        }
    }

    /// Every store, in name order, for `lakeshare check`.
    pub fn all(&self) -> Vec<(&str, &Result<Arc<Store>, String>)> {
        let mut all: Vec<_> = self.by_name.iter().map(|(k, v)| (k.as_str(), v)).collect();
        all.sort_by_key(|(name, _)| *name);
        all
    }
}

/// What opening a table needs besides its entry: the formats, stores and catalogs, and how to
/// sign local files.
#[derive(Debug, Clone)]
pub struct Opener {
    pub formats: Arc<Formats>,
    pub stores: Stores,
    /// Upstream catalogs tables may be named in.
    pub catalogs: Catalogs,
    pub signer: Signer,
    /// `{public_url}/files`.
    pub files_url: String,
    pub url_ttl: Duration,
    /// Every configured table by `share.schema.table`, for the views that read them.
    pub tables: Arc<HashMap<String, TableEntry>>,
    /// Where computed tables are written (`cache:`).
    pub cache: Option<lakeshare_catalog::CacheConfig>,
    /// The cache's budget (`cache.budget`), shared by the computed tables opened.
    pub budget: Option<Arc<lakeshare_materialize::Budget>>,
    /// Whether opening a computed table starts computing it (a serving gateway); `lakeshare
    /// check` only opens.
    pub precompute: bool,
}

impl Opener {
    /// The budget of the configuration's cache, if it gives one.
    pub fn budget_of(
        config: &lakeshare_catalog::Config,
    ) -> Option<Arc<lakeshare_materialize::Budget>> {
        let limit = config.cache.as_ref()?.budget?;
        Some(Arc::new(lakeshare_materialize::Budget::new(limit.bytes())))
    }

    /// The configuration's tables, keyed as [`Opener::tables`] is.
    pub fn tables_of(config: &lakeshare_catalog::Config) -> Arc<HashMap<String, TableEntry>> {
        Arc::new(
            config
                .tables()
                .map(|(share, schema, t)| {
                    (
                        format!("{}.{}.{}", share.name, schema.name, t.name),
                        t.clone(),
                    )
                })
                .collect(),
        )
    }
}

impl Opener {
    /// The tables of `namespace` in catalog `catalog`, sorted.
    pub async fn catalog_tables(
        &self,
        catalog: &str,
        namespace: &str,
    ) -> lakeshare_model::Result<Vec<String>> {
        self.catalogs
            .client(catalog, self)
            .await?
            .list_tables(namespace)
            .await
    }
}

/// Opens one configured table: finds the format that claims it (the configured one, or by its
/// layout), opens it through that adapter and makes the URL signer for its files.
pub async fn open_table(
    entry: &TableEntry,
    opener: &Opener,
) -> lakeshare_model::Result<OpenedTable> {
    if entry.view.is_some() || entry.columns.is_some() {
        return crate::computed::open(entry, opener).await;
    }
    let opened = open_stored(entry, opener).await?;
    if let Some(filter) = &entry.filter
        && !crate::computed::prunes_exactly(filter, &*opened.source).await?
    {
        return crate::computed::open(entry, opener).await;
    }
    if entry.materialize == Some(lakeshare_catalog::MaterializeMode::Auto)
        && let Some(reason) =
            crate::computed::not_expressible(&*opened.source, entry.history).await?
    {
        tracing::info!(table = %entry.name, "computed, as its files cannot be served: {reason}");
        return crate::computed::open(entry, opener).await;
    }
    Ok(opened)
}

/// Opens the table stored at the entry's location (or in its catalog) as its files are.
pub(crate) async fn open_stored(
    entry: &TableEntry,
    opener: &Opener,
) -> lakeshare_model::Result<OpenedTable> {
    if let Some(catalog) = &entry.catalog {
        return open_catalog_table(entry, catalog, opener).await;
    }
    let store = entry
        .store
        .as_deref()
        .map(|name| opener.stores.get(name))
        .transpose()?;
    // The signer for the configured folder first: a location outside the store is refused
    // before any adapter reads it.
    if let Some(store) = store {
        store
            .table_signer(&entry.location, opener.url_ttl)
            .map_err(|e| lakeshare_model::Error::TableNotFound {
                location: entry.location.clone(),
                reason: e.to_string(),
            })?;
    }
    let access = store.map(|s| s.access());
    let place = match &access {
        None => Place::Local {
            location: &entry.location,
        },
        Some(access) => Place::Store {
            location: &entry.location,
            store: access,
        },
    };
    let format = match entry.format {
        Some(name) => opener.formats.format(name.as_str())?,
        None => match store {
            None => detect_local(&opener.formats, &entry.location)?,
            Some(store) => detect_in_store(&opener.formats, store, &entry.location).await?,
        },
    };
    let options = match entry.format_options() {
        Some((intended, _)) if !intended.eq_ignore_ascii_case(format.name()) => {
            return Err(lakeshare_model::Error::Unsupported(format!(
                "the table has {intended}: options but its location holds a {} table",
                format.name()
            )));
        }
        Some((_, options)) => options,
        None => Default::default(),
    };
    let opened = format.open(place, &options).await?;
    signed(opened, store, opener, |e| {
        lakeshare_model::Error::TableNotFound {
            location: entry.location.clone(),
            reason: e.to_string(),
        }
    })
}

/// Opens a table named in an upstream catalog (validated: the catalog exists and the table is
/// `namespace.table`).
async fn open_catalog_table(
    entry: &TableEntry,
    catalog: &str,
    opener: &Opener,
) -> lakeshare_model::Result<OpenedTable> {
    let config =
        opener
            .catalogs
            .config(catalog)
            .ok_or_else(|| lakeshare_model::Error::TableNotFound {
                location: entry.location.clone(),
                reason: format!("no catalog named '{catalog}'"),
            })?;
    let identifier = entry.table.as_deref().unwrap_or_default();
    let (namespace, table) = identifier.rsplit_once('.').unwrap_or(("", identifier));
    let client = opener.catalogs.client(catalog, opener).await?;
    let opened = client.open_table(&entry.location, namespace, table).await?;
    let store = config
        .store
        .as_deref()
        .map(|name| opener.stores.get(name))
        .transpose()?;
    let store_name = config.store.clone().unwrap_or_default();
    signed(opened, store, opener, |e| {
        tracing::error!(store = %store_name, "refusing catalog table: {e}");
        lakeshare_model::Error::Unsupported(format!(
            "the table's files are not inside store '{store_name}'"
        ))
    })
}

/// `opened` with the signer confined to its root ([`signer_for`]), as served from `store`.
pub(crate) fn signed(
    opened: Opened,
    store: Option<&Arc<Store>>,
    opener: &Opener,
    outside_store: impl FnOnce(lakeshare_storage::Error) -> lakeshare_model::Error,
) -> lakeshare_model::Result<OpenedTable> {
    let signer = signer_for(&opened, store, opener, outside_store)?;
    static OPENINGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    Ok(OpenedTable {
        source: opened.source,
        signer,
        signer_id: OPENINGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        root: opened.root,
        store: store.cloned(),
        computed: None,
    })
}

/// The signer confined to an opened table's root, in `store` for tables in a store. A table
/// whose own metadata declares a location outside its root is refused: whoever can commit its
/// metadata must not get other objects of the bucket signed.
fn signer_for(
    opened: &Opened,
    store: Option<&Arc<Store>>,
    opener: &Opener,
    outside_store: impl FnOnce(lakeshare_storage::Error) -> lakeshare_model::Error,
) -> lakeshare_model::Result<Arc<dyn UrlSigner>> {
    match &opened.root {
        Root::Local(root) => {
            let signer = LocalUrlSigner::new(
                opener.signer.clone(),
                &opener.files_url,
                root,
                opener.url_ttl,
            )
            .map_err(|e| lakeshare_model::Error::storage(e.to_string()))?;
            Ok(Arc::new(signer))
        }
        Root::Store(url) => {
            let store = store.ok_or_else(|| {
                lakeshare_model::Error::Unsupported(
                    "the table's files are in an object store, but no store is configured for it"
                        .into(),
                )
            })?;
            let signer = store
                .table_signer(url, opener.url_ttl)
                .map_err(outside_store)?;
            if let Some(declared) = &opened.declared_location
                && !signer.encloses(declared)
            {
                tracing::error!(
                    configured = %url,
                    %declared,
                    "refusing table: its metadata places it outside its configured folder"
                );
                return Err(lakeshare_model::Error::Unsupported(
                    "the table's metadata places it outside the folder this share allows it to be in"
                        .into(),
                ));
            }
            Ok(Arc::new(signer))
        }
    }
}

/// The configured upstream catalogs, each connected on first use (and again after a failed
/// attempt, so a catalog that was down at start-up is picked up when it is back).
#[derive(Debug, Clone, Default)]
pub struct Catalogs {
    by_name: Arc<HashMap<String, CatalogSlot>>,
}

#[derive(Debug)]
struct CatalogSlot {
    config: CatalogConfig,
    client: OnceCell<Arc<dyn Catalog>>,
}

impl Catalogs {
    pub fn new(configs: &[CatalogConfig]) -> Self {
        let by_name = configs
            .iter()
            .map(|config| {
                let slot = CatalogSlot {
                    config: config.clone(),
                    client: OnceCell::new(),
                };
                (config.name.clone(), slot)
            })
            .collect();
        Self {
            by_name: Arc::new(by_name),
        }
    }

    pub fn config(&self, name: &str) -> Option<&CatalogConfig> {
        self.by_name.get(name).map(|slot| &slot.config)
    }

    /// The connected catalog `name`, through the registered catalog kind it is of.
    async fn client(
        &self,
        name: &str,
        opener: &Opener,
    ) -> lakeshare_model::Result<&Arc<dyn Catalog>> {
        let slot = self
            .by_name
            .get(name)
            .ok_or_else(|| lakeshare_model::Error::storage(format!("no catalog named '{name}'")))?;
        let config = &slot.config;
        slot.client
            .get_or_try_init(|| async {
                let kind = opener.formats.catalog_kind(config.kind.as_str())?;
                let store = config
                    .store
                    .as_deref()
                    .map(|store| opener.stores.get(store))
                    .transpose()?
                    .map(|store| store.access());
                kind.connect(&config.name, &config.settings(), store.as_ref())
                    .await
            })
            .await
    }
}

/// The format of the table at `location` on the local filesystem: a format's pointer file, or
/// a folder with a format's marker folder in it.
fn detect_local<'f>(
    formats: &'f Formats,
    location: &str,
) -> lakeshare_model::Result<&'f Arc<dyn Format>> {
    let path = Path::new(location);
    if path.is_file()
        && let Some(format) = formats.claiming_file(location)
    {
        return Ok(format);
    }
    if !path.is_dir() {
        return Err(lakeshare_model::Error::TableNotFound {
            location: location.to_string(),
            reason: "no such directory".into(),
        });
    }
    formats.detect(location, |folder| path.join(folder).is_dir())
}

/// The format of the table at `location` in a store: one listing (or, for a pointer file, its
/// name).
async fn detect_in_store<'f>(
    formats: &'f Formats,
    store: &Store,
    location: &str,
) -> lakeshare_model::Result<&'f Arc<dyn Format>> {
    if let Some(format) = formats.claiming_file(location) {
        return Ok(format);
    }
    let key = store
        .key_of(location)
        .map_err(|e| lakeshare_model::Error::storage(e.to_string()))?;
    let listing = store
        .object_store()
        .list_with_delimiter(Some(&key))
        .await
        .map_err(|e| lakeshare_model::Error::Storage {
            fault: lakeshare_model::fault_of(&e),
            detail: format!("store '{}': {e}", store.name()),
        })?;
    formats.detect(location, |folder| {
        listing
            .common_prefixes
            .iter()
            .any(|p| p.filename() == Some(folder))
    })
}
