//! Upstream Iceberg catalogs: one connection each, for opening tables by name and listing the
//! tables of a namespace.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use iceberg::{Catalog as _, CatalogBuilder as _, NamespaceIdent};
use iceberg_catalog_rest::{RestCatalog, RestCatalogBuilder};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use lakeshare_model::Result;

use crate::source::{IcebergSource, SqlTable};

/// A connected catalog.
#[derive(Clone)]
pub enum IcebergCatalog {
    /// A SQLite database as pyiceberg's SqlCatalog writes it, read-only.
    Sql {
        database: PathBuf,
        catalog_name: String,
    },
    Rest(Arc<RestCatalog>),
}

impl std::fmt::Debug for IcebergCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IcebergCatalog::Sql { database, .. } => {
                write!(f, "IcebergCatalog::Sql({})", database.display())
            }
            IcebergCatalog::Rest(_) => f.write_str("IcebergCatalog::Rest"),
        }
    }
}

impl IcebergCatalog {
    /// Connects to a REST catalog with `props` (`uri`, `warehouse`, `credential` or `token`, and
    /// FileIO properties): one `GET /v1/config` and, with client credentials, one token.
    pub async fn connect_rest(name: &str, props: HashMap<String, String>) -> Result<Self> {
        RestCatalogBuilder::default()
            .with_storage_factory(Arc::new(OpenDalResolvingStorageFactory::new()))
            .load("lakeshare", props)
            .await
            .map(|catalog| IcebergCatalog::Rest(Arc::new(catalog)))
            .map_err(|e| lakeshare_model::Error::storage(format!("catalog '{name}': {e}")))
    }

    /// Opens `namespace.table`; `location` names it in messages.
    pub async fn open_table(
        &self,
        location: &str,
        namespace: &str,
        table: &str,
    ) -> Result<IcebergSource> {
        match self {
            IcebergCatalog::Sql {
                database,
                catalog_name,
            } => {
                let table = SqlTable {
                    database: database.clone(),
                    catalog_name: catalog_name.clone(),
                    namespace: namespace.to_string(),
                    table: table.to_string(),
                };
                IcebergSource::open_in_sql_catalog(location, table).await
            }
            IcebergCatalog::Rest(catalog) => {
                IcebergSource::open_in_rest(location, catalog.clone(), namespace, table).await
            }
        }
    }

    /// The names of the tables in `namespace` (dotted for nested namespaces), sorted.
    pub async fn list_tables(&self, namespace: &str) -> Result<Vec<String>> {
        let mut names = match self {
            IcebergCatalog::Sql {
                database,
                catalog_name,
            } => {
                let (database, catalog_name, namespace) = (
                    database.clone(),
                    catalog_name.clone(),
                    namespace.to_string(),
                );
                tokio::task::spawn_blocking(move || {
                    sql_tables(&database, &catalog_name, &namespace)
                })
                .await
                .map_err(|e| lakeshare_model::Error::storage(e.to_string()))?
                .map_err(lakeshare_model::Error::storage)?
            }
            IcebergCatalog::Rest(catalog) => {
                let ident = NamespaceIdent::from_strs(namespace.split('.'))
                    .map_err(|e| lakeshare_model::Error::storage(e.to_string()))?;
                with_fresh_token(catalog, || catalog.list_tables(&ident))
                    .await
                    .map_err(|e| {
                        lakeshare_model::Error::storage(format!("listing {namespace}: {e}"))
                    })?
                    .into_iter()
                    .map(|t| t.name().to_string())
                    .collect()
            }
        };
        names.sort();
        Ok(names)
    }
}

fn sql_tables(
    database: &std::path::Path,
    catalog_name: &str,
    namespace: &str,
) -> std::result::Result<Vec<String>, String> {
    let connection = rusqlite::Connection::open_with_flags(
        database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("{}: {e}", database.display()))?;
    let mut statement = connection
        .prepare("SELECT table_name FROM iceberg_tables WHERE catalog_name = ?1 AND table_namespace = ?2")
        .map_err(|e| format!("{}: {e}", database.display()))?;
    let rows = statement
        .query_map([catalog_name, namespace], |row| row.get::<_, String>(0))
        .map_err(|e| format!("{}: {e}", database.display()))?;
    rows.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", database.display()))
}

/// Runs a catalog call, and once more with a new OAuth token if it fails: iceberg's REST client
/// does not renew its token when it expires (an hour, typically), which would otherwise break
/// every table of a long-running gateway.
pub(crate) async fn with_fresh_token<T, F, Fut>(
    catalog: &RestCatalog,
    call: F,
) -> iceberg::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = iceberg::Result<T>>,
{
    match call().await {
        Ok(value) => Ok(value),
        Err(first) => {
            if catalog.regenerate_token().await.is_err() {
                return Err(first);
            }
            tracing::info!("retrying an Iceberg REST call with a new token after: {first}");
            call().await
        }
    }
}
