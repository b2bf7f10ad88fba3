//! Registration of the Iceberg format (folders with `metadata/`, or a `*.metadata.json` pinned)
//! and of the Iceberg catalog kinds (`iceberg-sql`, `iceberg-rest`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use lakeshare_model::{
    Catalog, CatalogKind, Error, Format, FormatOptions, Opened, Place, Result, Root, StoreAccess,
    refuse_unknown_options,
};

use crate::{IcebergCatalog, IcebergSource};

/// The Iceberg table format, for [`lakeshare_model::Formats`].
#[derive(Debug, Default, Clone, Copy)]
pub struct IcebergFormat;

#[async_trait]
impl Format for IcebergFormat {
    fn name(&self) -> &'static str {
        crate::FORMAT.as_str()
    }

    fn marker_folder(&self) -> &'static str {
        "metadata"
    }

    fn claims_file(&self, location: &str) -> bool {
        location.ends_with(".metadata.json")
    }

    async fn open(&self, place: Place<'_>, options: &FormatOptions) -> Result<Opened> {
        refuse_unknown_options(self.name(), options, &[])?;
        match place {
            Place::Local { location } => {
                let source = IcebergSource::open(location).await?;
                let root = local_root(&source)?;
                Ok(Opened {
                    source: Arc::new(source),
                    root: Root::Local(root),
                    declared_location: None,
                })
            }
            Place::Store { location, store } => {
                let source = IcebergSource::open_in_store(
                    location,
                    store.client.clone(),
                    file_io_props(store)?,
                )
                .await?;
                // The table's location comes from its own metadata, which whoever can commit to
                // the table writes: the gateway requires it inside the configured folder.
                let declared = source.table_location().to_string();
                Ok(Opened {
                    source: Arc::new(source),
                    root: Root::Store(table_folder(location).to_string()),
                    declared_location: Some(declared),
                })
            }
        }
    }
}

/// The table folder of a configured location: the location itself, or for a pinned metadata
/// file (`…/t/metadata/v3.metadata.json`) the folder above its `metadata/` folder.
fn table_folder(location: &str) -> &str {
    location
        .strip_suffix(".metadata.json")
        .and_then(|_| location.rsplit_once("/metadata/"))
        .map_or(location, |(folder, _)| folder)
}

/// The folder of a table opened from the local filesystem (the adapter has checked that it is
/// there and inside the configured folder).
fn local_root(source: &IcebergSource) -> Result<std::path::PathBuf> {
    source.table_root().ok_or_else(|| {
        tracing::error!(declared = %source.table_location(), "refusing Iceberg table: its files are not on the local filesystem");
        Error::Unsupported(
            "the table's files are not on the gateway's disk; the provider must configure the store they live in".into(),
        )
    })
}

/// iceberg's FileIO properties for reading from `store`, from the store's object_store keys.
fn file_io_props(store: &StoreAccess) -> Result<HashMap<String, String>> {
    if store.kind != "s3" {
        return Err(Error::Unsupported(format!(
            "Iceberg tables in {} stores are not supported yet (S3 and local disk are)",
            store.kind
        )));
    }
    let option = |key: &str| store.options.get(key).cloned();
    let mut props = HashMap::new();
    let path_style = option("aws_virtual_hosted_style_request").is_none_or(|v| v != "true");
    props.insert("s3.path-style-access".to_string(), path_style.to_string());
    for (ours, theirs) in [
        ("aws_region", "s3.region"),
        ("aws_endpoint", "s3.endpoint"),
        ("aws_access_key_id", "s3.access-key-id"),
        ("aws_secret_access_key", "s3.secret-access-key"),
        ("aws_session_token", "s3.session-token"),
    ] {
        if let Some(value) = option(ours) {
            props.insert(theirs.to_string(), value);
        }
    }
    Ok(props)
}

/// SQLite catalogs as pyiceberg's `SqlCatalog` and Java's `JdbcCatalog` write them, read-only.
#[derive(Debug, Default, Clone, Copy)]
pub struct IcebergSqlCatalogs;

/// Iceberg REST catalogs, whose tables live in the configured S3 store.
#[derive(Debug, Default, Clone, Copy)]
pub struct IcebergRestCatalogs;

#[async_trait]
impl CatalogKind for IcebergSqlCatalogs {
    fn name(&self) -> &'static str {
        "iceberg-sql"
    }

    async fn connect(
        &self,
        name: &str,
        settings: &BTreeMap<String, String>,
        _store: Option<&StoreAccess>,
    ) -> Result<Arc<dyn Catalog>> {
        let database = settings.get("uri").cloned().unwrap_or_default().into();
        let catalog_name = settings
            .get("catalog_name")
            .cloned()
            .unwrap_or_else(|| name.to_string());
        Ok(Arc::new(Connected(IcebergCatalog::Sql {
            database,
            catalog_name,
        })))
    }
}

#[async_trait]
impl CatalogKind for IcebergRestCatalogs {
    fn name(&self) -> &'static str {
        "iceberg-rest"
    }

    async fn connect(
        &self,
        name: &str,
        settings: &BTreeMap<String, String>,
        store: Option<&StoreAccess>,
    ) -> Result<Arc<dyn Catalog>> {
        let store = store.ok_or_else(|| {
            Error::Unsupported(format!(
                "catalog '{name}' names no store its tables live in"
            ))
        })?;
        let mut props = file_io_props(store)?;
        for key in ["uri", "warehouse", "credential", "token", "prefix"] {
            if let Some(value) = settings.get(key) {
                props.insert(key.to_string(), value.clone());
            }
        }
        let catalog = IcebergCatalog::connect_rest(name, props).await?;
        Ok(Arc::new(Connected(catalog)))
    }
}

/// A connected Iceberg catalog, as the gateway sees catalogs.
#[derive(Debug)]
struct Connected(IcebergCatalog);

#[async_trait]
impl Catalog for Connected {
    async fn list_tables(&self, namespace: &str) -> Result<Vec<String>> {
        self.0.list_tables(namespace).await
    }

    async fn open_table(&self, location: &str, namespace: &str, table: &str) -> Result<Opened> {
        let source = self.0.open_table(location, namespace, table).await?;
        let root = match &self.0 {
            IcebergCatalog::Sql { .. } => Root::Local(local_root(&source)?),
            // No folder is configured for a REST catalog's table: its files are confined to
            // the location the catalog's metadata gives it.
            IcebergCatalog::Rest(_) => Root::Store(source.table_location().to_string()),
        };
        Ok(Opened {
            source: Arc::new(source),
            root,
            declared_location: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_metadata_files_are_confined_to_their_table_folder() {
        assert_eq!(
            table_folder("s3://b/t/metadata/v3.metadata.json"),
            "s3://b/t"
        );
        assert_eq!(table_folder("s3://b/t"), "s3://b/t");
        assert_eq!(
            table_folder("s3://b/t.metadata.json"),
            "s3://b/t.metadata.json"
        );
    }
}
