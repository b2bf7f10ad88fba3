//! The configured tables and how each is opened: format detection, the adapter, the URL signer.
//!
//! This is the composition root for formats: the one place outside the adapters that names them,
//! each behind its cargo feature.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

#[cfg(feature = "iceberg")]
use lakeshare_catalog::CatalogKind;
use lakeshare_catalog::{CatalogConfig, FormatName, StoreConfig, StoreKind, TableEntry};
use lakeshare_model::{TableFormat, TableSource};
use lakeshare_storage::{LocalUrlSigner, Signer, Store, UrlSigner};
use tokio::sync::OnceCell;

/// An opened table: its adapter and the signer for its files.
#[derive(Debug, Clone)]
pub struct OpenedTable {
    pub source: Arc<dyn TableSource>,
    pub signer: Arc<dyn UrlSigner>,
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
    opened: OnceCell<OpenedTable>,
}

impl TableHandle {
    pub fn new(share: &str, schema: &str, entry: TableEntry) -> Self {
        Self {
            share: share.to_string(),
            schema: schema.to_string(),
            name: entry.name.clone(),
            id: stable_uuid(&format!("{share}.{schema}.{}", entry.name).to_lowercase()),
            entry,
            opened: OnceCell::new(),
        }
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
            .filter(|c| c.kind != StoreKind::Local)
            .map(|c| {
                let store = Store::build(c).map(Arc::new).map_err(|e| e.to_string());
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

/// What opening a table needs besides its entry: the stores, and how to sign local files.
#[derive(Debug, Clone)]
pub struct Opener {
    pub stores: Stores,
    /// Upstream catalogs tables may be named in.
    pub catalogs: Catalogs,
    pub signer: Signer,
    /// `{public_url}/files`.
    pub files_url: String,
    pub url_ttl: Duration,
}

/// Opens one configured table: detects its format if the configuration does not say, opens the
/// adapter and makes the URL signer for its files.
pub async fn open_table(
    entry: &TableEntry,
    opener: &Opener,
) -> lakeshare_model::Result<OpenedTable> {
    if let Some(catalog) = &entry.catalog {
        return open_catalog_table(entry, catalog, opener).await;
    }
    match &entry.store {
        None => open_local_table(entry, opener).await,
        Some(name) => open_store_table(entry, opener.stores.get(name)?, opener.url_ttl).await,
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
    #[cfg(feature = "iceberg")]
    client: OnceCell<lakeshare_iceberg::IcebergCatalog>,
}

impl Catalogs {
    pub fn new(configs: &[CatalogConfig]) -> Self {
        let by_name = configs
            .iter()
            .map(|config| {
                let slot = CatalogSlot {
                    config: config.clone(),
                    #[cfg(feature = "iceberg")]
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

    /// The connected catalog `name`.
    #[cfg(feature = "iceberg")]
    pub async fn client(
        &self,
        name: &str,
        stores: &Stores,
    ) -> lakeshare_model::Result<&lakeshare_iceberg::IcebergCatalog> {
        let slot = self
            .by_name
            .get(name)
            .ok_or_else(|| lakeshare_model::Error::storage(format!("no catalog named '{name}'")))?;
        let config = &slot.config;
        slot.client
            .get_or_try_init(|| async {
                match config.kind {
                    CatalogKind::IcebergSql => Ok(lakeshare_iceberg::IcebergCatalog::Sql {
                        database: config.uri.clone().into(),
                        catalog_name: config
                            .catalog_name
                            .clone()
                            .unwrap_or_else(|| config.name.clone()),
                    }),
                    CatalogKind::IcebergRest => {
                        let store = stores.get(config.store.as_deref().unwrap_or_default())?;
                        let mut props = iceberg_file_io_props(store.config())?;
                        props.insert("uri".into(), config.uri.clone());
                        insert_present(
                            &mut props,
                            [
                                ("warehouse", &config.warehouse),
                                ("credential", &config.credential),
                                ("token", &config.token),
                                ("prefix", &config.prefix),
                            ],
                        );
                        lakeshare_iceberg::IcebergCatalog::connect_rest(&config.name, props).await
                    }
                }
            })
            .await
    }

    /// The tables of `namespace` in catalog `name`, sorted.
    #[cfg(feature = "iceberg")]
    pub async fn list_tables(
        &self,
        name: &str,
        namespace: &str,
        stores: &Stores,
    ) -> lakeshare_model::Result<Vec<String>> {
        self.client(name, stores)
            .await?
            .list_tables(namespace)
            .await
    }

    #[cfg(not(feature = "iceberg"))]
    pub async fn list_tables(
        &self,
        _name: &str,
        _namespace: &str,
        _stores: &Stores,
    ) -> lakeshare_model::Result<Vec<String>> {
        Err(unsupported_format(TableFormat::Iceberg))
    }
}

/// Opens a table named in an upstream catalog (validated: the catalog exists and the table is
/// `namespace.table`).
#[cfg_attr(not(feature = "iceberg"), allow(unreachable_code, unused_variables))]
async fn open_catalog_table(
    entry: &TableEntry,
    catalog: &str,
    opener: &Opener,
) -> lakeshare_model::Result<OpenedTable> {
    #[cfg(not(feature = "iceberg"))]
    return Err(unsupported_format(TableFormat::Iceberg));
    #[cfg(feature = "iceberg")]
    {
        let config = opener.catalogs.config(catalog).ok_or_else(|| {
            lakeshare_model::Error::TableNotFound {
                location: entry.location.clone(),
                reason: format!("no catalog named '{catalog}'"),
            }
        })?;
        let identifier = entry.table.as_deref().unwrap_or_default();
        let (namespace, table) = identifier.rsplit_once('.').unwrap_or(("", identifier));
        let client = opener.catalogs.client(catalog, &opener.stores).await?;
        let source = client.open_table(&entry.location, namespace, table).await?;
        let signer: Arc<dyn UrlSigner> = match config.kind {
            CatalogKind::IcebergSql => Arc::new(
                LocalUrlSigner::new(
                    opener.signer.clone(),
                    &opener.files_url,
                    local_root(&source)?,
                    opener.url_ttl,
                )
                .map_err(|e| lakeshare_model::Error::storage(e.to_string()))?,
            ),
            CatalogKind::IcebergRest => {
                let store_name = config.store.as_deref().unwrap_or_default();
                let store = opener.stores.get(store_name)?;
                Arc::new(
                    store
                        .table_signer(source.table_location(), opener.url_ttl)
                        .map_err(|e| {
                            tracing::error!(store = store_name, "refusing catalog table: {e}");
                            lakeshare_model::Error::Unsupported(format!(
                                "the table's files are not inside store '{store_name}'"
                            ))
                        })?,
                )
            }
        };
        Ok(OpenedTable {
            source: Arc::new(source),
            signer,
        })
    }
}

// A build without any adapter feature refuses every table, leaving the rest unreachable.
#[cfg_attr(
    not(any(feature = "delta", feature = "iceberg", feature = "hudi")),
    allow(unreachable_code, unused_variables)
)]
async fn open_local_table(
    entry: &TableEntry,
    opener: &Opener,
) -> lakeshare_model::Result<OpenedTable> {
    let format = match entry.format {
        Some(f) => TableFormat::from(f),
        None => detect_format(&entry.location)?,
    };
    check_format_options(entry, format)?;
    // Each adapter names the folder its files live under: signed URLs are confined to it.
    let (source, root): (Arc<dyn TableSource>, std::path::PathBuf) = match format {
        #[cfg(feature = "delta")]
        TableFormat::Delta => (
            Arc::new(lakeshare_delta::DeltaSource::open(&entry.location).await?),
            entry.location.clone().into(),
        ),
        #[cfg(feature = "iceberg")]
        TableFormat::Iceberg => {
            let source = lakeshare_iceberg::IcebergSource::open(&entry.location).await?;
            let root = local_root(&source)?;
            (Arc::new(source), root)
        }
        #[cfg(feature = "hudi")]
        TableFormat::Hudi => {
            let source =
                lakeshare_hudi::HudiSource::open(&entry.location, hudi_options(entry, None)?)
                    .await?;
            // The adapter's own spelling of the folder, which its file URLs start with.
            let root = source
                .table_root()
                .unwrap_or_else(|| entry.location.clone().into());
            (Arc::new(source), root)
        }
        // Reachable in builds without some adapter.
        #[allow(unreachable_patterns)]
        other => return Err(unsupported_format(other)),
    };
    let url_signer = LocalUrlSigner::new(
        opener.signer.clone(),
        &opener.files_url,
        &root,
        opener.url_ttl,
    )
    .map_err(|e| lakeshare_model::Error::storage(e.to_string()))?;
    Ok(OpenedTable {
        source,
        signer: Arc::new(url_signer),
    })
}

#[cfg_attr(not(feature = "delta"), allow(unreachable_code, unused_variables))]
async fn open_store_table(
    entry: &TableEntry,
    store: &Arc<Store>,
    url_ttl: Duration,
) -> lakeshare_model::Result<OpenedTable> {
    let url_signer = store.table_signer(&entry.location, url_ttl).map_err(|e| {
        lakeshare_model::Error::TableNotFound {
            location: entry.location.clone(),
            reason: e.to_string(),
        }
    })?;
    let format = match entry.format {
        Some(f) => TableFormat::from(f),
        None => detect_format_in_store(store, &entry.location).await?,
    };
    check_format_options(entry, format)?;
    let source: Arc<dyn TableSource> = match format {
        #[cfg(feature = "delta")]
        TableFormat::Delta => Arc::new(
            lakeshare_delta::DeltaSource::open_in_store(&entry.location, store.object_store())
                .await?,
        ),
        #[cfg(feature = "iceberg")]
        TableFormat::Iceberg => {
            let source = lakeshare_iceberg::IcebergSource::open_in_store(
                &entry.location,
                store.object_store(),
                iceberg_file_io_props(store.config())?,
            )
            .await?;
            // The table's location comes from its own metadata, which whoever can commit to
            // the table writes: it must lie inside the configured folder, or the gateway would
            // sign any object of the bucket a manifest names. Files are then confined to the
            // configured folder (every file is checked against it when a snapshot is loaded).
            let configured = store
                .table_signer(iceberg_table_folder(&entry.location), url_ttl)
                .map_err(|e| lakeshare_model::Error::TableNotFound {
                    location: entry.location.clone(),
                    reason: e.to_string(),
                })?;
            if !configured.encloses(source.table_location()) {
                tracing::error!(
                    configured = %entry.location,
                    declared = %source.table_location(),
                    "refusing Iceberg table: its metadata places it outside its configured folder"
                );
                return Err(lakeshare_model::Error::Unsupported(
                    "the table's metadata places it outside the folder this share allows it to be in"
                        .into(),
                ));
            }
            return Ok(OpenedTable {
                source: Arc::new(source),
                signer: Arc::new(configured),
            });
        }
        #[cfg(feature = "hudi")]
        TableFormat::Hudi => Arc::new(
            lakeshare_hudi::HudiSource::open(
                &entry.location,
                hudi_options(entry, Some(store.config()))?,
            )
            .await?,
        ),
        // Reachable in builds without some adapter.
        #[allow(unreachable_patterns)]
        other => return Err(unsupported_format(other)),
    };
    Ok(OpenedTable {
        source,
        signer: Arc::new(url_signer),
    })
}

/// The table folder of a configured Iceberg location: the location itself, or for a pinned
/// metadata file (`…/t/metadata/v3.metadata.json`) the folder above its `metadata/` folder.
#[cfg(feature = "iceberg")]
fn iceberg_table_folder(location: &str) -> &str {
    location
        .strip_suffix(".metadata.json")
        .and_then(|_| location.rsplit_once("/metadata/"))
        .map_or(location, |(folder, _)| folder)
}

/// The folder of an Iceberg table opened from the local filesystem (the adapter has checked
/// that it is there).
#[cfg(feature = "iceberg")]
fn local_root(
    source: &lakeshare_iceberg::IcebergSource,
) -> lakeshare_model::Result<std::path::PathBuf> {
    source.table_root().ok_or_else(|| {
        tracing::error!(declared = %source.table_location(), "refusing Iceberg table: its files are not on the local filesystem");
        lakeshare_model::Error::Unsupported(
            "the table's files are not on the gateway's disk; the provider must configure the store they live in".into(),
        )
    })
}

/// iceberg's FileIO properties for reading from `store`, from the same configuration the
/// gateway's own client uses.
#[cfg(feature = "iceberg")]
fn iceberg_file_io_props(
    store: &StoreConfig,
) -> lakeshare_model::Result<std::collections::HashMap<String, String>> {
    if store.kind != StoreKind::S3 {
        return Err(lakeshare_model::Error::Unsupported(format!(
            "Iceberg tables in {} stores are not supported yet (S3 and local disk are)",
            store.kind
        )));
    }
    let mut props = std::collections::HashMap::from([
        (
            "s3.region".to_string(),
            store.region.clone().unwrap_or_else(|| "us-east-1".into()),
        ),
        (
            "s3.path-style-access".to_string(),
            store.path_style.unwrap_or(true).to_string(),
        ),
    ]);
    insert_present(
        &mut props,
        [
            ("s3.endpoint", &store.endpoint),
            ("s3.access-key-id", &store.access_key_id),
            ("s3.secret-access-key", &store.secret_access_key),
            ("s3.session-token", &store.session_token),
        ],
    );
    Ok(props)
}

/// How a Hudi table is opened: its sharing options from the configuration, and for tables in
/// a store, hudi's object_store options built from the same store settings the gateway's own
/// client uses.
#[cfg(feature = "hudi")]
fn hudi_options(
    entry: &TableEntry,
    store: Option<&StoreConfig>,
) -> lakeshare_model::Result<lakeshare_hudi::HudiOptions> {
    let table = entry.hudi.clone().unwrap_or_default();
    let mut storage_options = std::collections::HashMap::new();
    if let Some(store) = store {
        if store.kind != StoreKind::S3 {
            return Err(lakeshare_model::Error::Unsupported(format!(
                "Hudi tables in {} stores are not supported yet (S3 and local disk are)",
                store.kind
            )));
        }
        let region = store.region.clone().unwrap_or_else(|| "us-east-1".into());
        storage_options.insert("aws_region".to_string(), region);
        let path_style = store.path_style.unwrap_or(true);
        storage_options.insert(
            "aws_virtual_hosted_style_request".to_string(),
            (!path_style).to_string(),
        );
        storage_options.insert(
            "aws_allow_http".to_string(),
            store.allows_http().to_string(),
        );
        // The same bound on one store request as the gateway's own client has.
        storage_options.insert("timeout".to_string(), format!("{}s", store.timeout_seconds));
        insert_present(
            &mut storage_options,
            [
                ("aws_endpoint", &store.endpoint),
                ("aws_access_key_id", &store.access_key_id),
                ("aws_secret_access_key", &store.secret_access_key),
                ("aws_session_token", &store.session_token),
            ],
        );
    }
    Ok(lakeshare_hudi::HudiOptions {
        read_optimized: table.read_optimized,
        meta_fields: table.meta_fields,
        storage_options,
    })
}

/// Adds the settings that are set, under the keys a client library knows them by.
#[cfg(any(feature = "iceberg", feature = "hudi"))]
fn insert_present<'a>(
    into: &mut HashMap<String, String>,
    settings: impl IntoIterator<Item = (&'a str, &'a Option<String>)>,
) {
    for (key, value) in settings {
        if let Some(value) = value {
            into.insert(key.to_string(), value.clone());
        }
    }
}

/// Refuses options of one format on a table that turned out to be of another.
fn check_format_options(entry: &TableEntry, format: TableFormat) -> lakeshare_model::Result<()> {
    if entry.hudi.is_some() && format != TableFormat::Hudi {
        return Err(lakeshare_model::Error::Unsupported(format!(
            "the table has hudi: options but its location holds a {format} table"
        )));
    }
    Ok(())
}

fn unsupported_format(format: TableFormat) -> lakeshare_model::Error {
    lakeshare_model::Error::Unsupported(format!(
        "tables in the {format} format are not supported by this build of lakeshare"
    ))
}

/// Tells a table's format from the folders under its location in a store: one listing (or,
/// for a metadata JSON, its name).
async fn detect_format_in_store(
    store: &Store,
    location: &str,
) -> lakeshare_model::Result<TableFormat> {
    if location.ends_with(".metadata.json") {
        return Ok(TableFormat::Iceberg);
    }
    let key = store
        .key_of(location)
        .map_err(|e| lakeshare_model::Error::storage(e.to_string()))?;
    let listing = store
        .object_store()
        .list_with_delimiter(Some(&key))
        .await
        .map_err(|e| lakeshare_model::Error::Storage {
            fault: lakeshare_storage::fault_of(&e),
            detail: format!("store '{}': {e}", store.name()),
        })?;
    let has = |name: &str| {
        listing
            .common_prefixes
            .iter()
            .any(|p| p.filename() == Some(name))
    };
    format_by_layout(location, has)
}

/// Tells a table's format from its layout on the local filesystem (or, for a metadata JSON
/// file, its name).
fn detect_format(location: &str) -> lakeshare_model::Result<TableFormat> {
    let path = Path::new(location);
    if path.is_file() && location.ends_with(".metadata.json") {
        return Ok(TableFormat::Iceberg);
    }
    if !path.is_dir() {
        return Err(lakeshare_model::Error::TableNotFound {
            location: location.to_string(),
            reason: "no such directory".into(),
        });
    }
    format_by_layout(location, |folder| path.join(folder).is_dir())
}

/// The format whose marker folder the table root has (`has(folder)`), in a fixed order.
fn format_by_layout(
    location: &str,
    has: impl Fn(&str) -> bool,
) -> lakeshare_model::Result<TableFormat> {
    let format = if has("_delta_log") {
        FormatName::Delta
    } else if has(".hoodie") {
        FormatName::Hudi
    } else if has("metadata") {
        FormatName::Iceberg
    } else {
        return Err(lakeshare_model::Error::TableNotFound {
            location: location.to_string(),
            reason:
                "no _delta_log, .hoodie or metadata folder, so no table format could be detected"
                    .into(),
        });
    };
    Ok(format.into())
}

pub(crate) use lakeshare_model::stable_uuid;

/// Every folder the configuration shares, as `(store, location)`: tables, volumes, model
/// versions (and models' own folders) and skills.
pub(crate) fn configured_locations(
    config: &lakeshare_catalog::Config,
) -> impl Iterator<Item = (Option<&str>, &str)> {
    config.schemas().flat_map(|(_, schema)| {
        let tables = schema
            .tables
            .iter()
            .map(|t| (t.store.as_deref(), t.location.as_str()));
        let volumes = schema
            .volumes
            .iter()
            .map(|v| (v.store.as_deref(), v.location.as_str()));
        let models = schema.models.iter().flat_map(|m| {
            let own = (!m.location.is_empty()).then_some((m.store.as_deref(), m.location.as_str()));
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

/// The folder at `location`: in store `store`, or on the gateway's disk.
pub fn open_folder(
    opener: &Opener,
    location: &str,
    store: Option<&str>,
) -> Result<lakeshare_storage::Folder, lakeshare_storage::Error> {
    match store {
        None => {
            lakeshare_storage::Folder::local(location, opener.signer.clone(), &opener.files_url)
        }
        Some(name) => {
            let store = opener
                .stores
                .get(name)
                .map_err(|e| lakeshare_storage::Error::Store {
                    store: name.to_string(),
                    reason: e.to_string(),
                })?;
            lakeshare_storage::Folder::in_store(store, location)
        }
    }
}

/// The folder of one volume, READY model version or skill, for `lakeshare check` and
/// `lakeshare digest`.
pub struct SharedFolder {
    /// `volume 'share.schema.name'`, …
    pub label: String,
    /// The skill's name, for skills, whose SKILL.md is checked too.
    pub skill: Option<String>,
    /// Whether every file is hashed when listed (models and skills) or only on request.
    pub always_digested: bool,
    pub location: String,
    pub store: Option<String>,
}

/// Every shared folder of the configuration, in file order.
pub fn shared_folders(config: &lakeshare_catalog::Config) -> Vec<SharedFolder> {
    let mut out = Vec::new();
    for (share, schema) in config.schemas() {
        let qualified = |name: &str| format!("{}.{}.{name}", share.name, schema.name);
        for v in &schema.volumes {
            out.push(SharedFolder {
                label: format!("volume '{}'", qualified(&v.name)),
                skill: None,
                always_digested: false,
                location: v.location.clone(),
                store: v.store.clone(),
            });
        }
        for m in &schema.models {
            for v in m
                .versions
                .iter()
                .filter(|v| v.status == lakeshare_catalog::ModelVersionStatus::Ready)
            {
                out.push(SharedFolder {
                    label: format!("version {} of model '{}'", v.version, qualified(&m.name)),
                    skill: None,
                    always_digested: true,
                    location: v.location.clone(),
                    store: v.store.clone(),
                });
            }
        }
        for s in &schema.skills {
            out.push(SharedFolder {
                label: format!("skill '{}'", qualified(&s.name)),
                skill: Some(s.name.clone()),
                always_digested: true,
                location: s.location.clone(),
                store: s.store.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_by_layout() {
        let dir = tempfile::tempdir().unwrap();
        let at = |sub: &str| {
            let p = dir.path().join(sub);
            std::fs::create_dir_all(&p).unwrap();
            p.parent().unwrap().to_string_lossy().into_owned()
        };
        assert_eq!(
            detect_format(&at("d/_delta_log")).unwrap(),
            TableFormat::Delta
        );
        assert_eq!(detect_format(&at("h/.hoodie")).unwrap(), TableFormat::Hudi);
        assert_eq!(
            detect_format(&at("i/metadata")).unwrap(),
            TableFormat::Iceberg
        );
        let empty = at("e/x");
        let err = detect_format(&empty).unwrap_err().to_string();
        assert!(err.contains("no table format could be detected"), "{err}");
    }
}
