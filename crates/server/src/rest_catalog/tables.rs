//! A shared table as an Iceberg table: the versions served, the generated metadata, and the
//! paths recipients read its files at.
//!
//! Every table, whatever its format, is served from Iceberg metadata the gateway generates
//! from its snapshots (`lakeshare_iceberg_rest`): the recipient reads it, and the table's own
//! data files, through the built-in S3 endpoint under `s3://{bucket}/tables/{share}/{schema}/{table}/`,
//! with credentials scoped to that prefix. `files/` under it are the table's own files (by
//! their path below the table's root), `iceberg/` the generated ones.

use std::sync::Arc;

use lakeshare_iceberg_rest::{Generator, Layout};
use lakeshare_model::{DataFile, Root, Version};

use super::error::{IcebergError, IcebergResult, Missing};
use crate::app::App;
use crate::builtin_s3::{FILES, GENERATED, key_prefix};
use crate::cache::ServedSnapshot;
use crate::error::ApiError;
use crate::registry::{OpenedTable, TableHandle};

/// The table as an Iceberg catalog answers for it.
pub(crate) struct LoadedTable {
    pub metadata_location: String,
    pub metadata: serde_json::Value,
    pub access: Access,
}

/// How a recipient reads a loaded table's files.
#[derive(Clone)]
pub(crate) enum Access {
    /// Through the built-in S3 endpoint, under the table's key prefix.
    BuiltIn,
    /// Straight from the table's store, with credentials its STS vends for the table's folder.
    Vended {
        store: Arc<lakeshare_storage::Store>,
        location: String,
    },
}

/// The table's own Iceberg metadata, where it can be relayed as it is: a native Iceberg table,
/// shared with its history, in a store that vends credentials for its folder (the metadata's
/// paths are then readable as they are; a table on the gateway's disk would reveal its paths),
/// whose metadata file lies inside that folder.
async fn relayable(
    app: &App,
    handle: &TableHandle,
    opened: &OpenedTable,
) -> IcebergResult<Option<(lakeshare_model::NativeMetadata, Access)>> {
    let Some(store) = app.vending_store(handle) else {
        return Ok(None);
    };
    let native = opened.source.native_metadata().await.map_err(|e| {
        IcebergError::from_api(
            ApiError::from_model(&handle.qualified_name(), &e),
            Missing::Table,
        )
    })?;
    let Some(native) = native.filter(|n| n.kind == "iceberg") else {
        return Ok(None);
    };
    if opened.signer.check(&native.location).is_err() {
        tracing::error!(table = %handle.qualified_name(), "not relaying metadata outside the table's folder");
        return Ok(None);
    }
    let access = Access::Vended {
        store: store.clone(),
        location: handle.entry.location.clone(),
    };
    Ok(Some((native, access)))
}

/// How the recipient reads `handle`'s files (what [`load`] would answer), without loading it.
pub(crate) async fn access(app: &App, handle: &TableHandle) -> IcebergResult<Access> {
    let opened = app
        .open_table(handle)
        .await
        .map_err(|e| IcebergError::from_api(e, Missing::Table))?;
    Ok(relayable(app, handle, opened)
        .await?
        .map_or(Access::BuiltIn, |(_, access)| access))
}

/// The path of a data file below the table's root, as its key under `files/`.
pub(crate) fn relative_path(root: &Root, url: &str) -> Option<String> {
    match root {
        Root::Local(root) => {
            let path = url::Url::parse(url).ok()?.to_file_path().ok()?;
            let rel = path.strip_prefix(root).ok()?;
            let parts: Option<Vec<&str>> = rel
                .components()
                .map(|c| match c {
                    std::path::Component::Normal(p) => p.to_str(),
                    _ => None,
                })
                .collect();
            Some(parts?.join("/"))
        }
        Root::Store(root) => {
            let rest = url
                .strip_prefix(root.trim_end_matches('/'))?
                .strip_prefix('/')?;
            (!rest.is_empty()).then(|| rest.to_string())
        }
    }
}

/// Generates (or finds) the Iceberg metadata of `handle` at every version it shares.
pub(crate) async fn load(app: &App, handle: &TableHandle) -> IcebergResult<LoadedTable> {
    let table = handle.qualified_name();
    let opened = app
        .open_table(handle)
        .await
        .map_err(|e| IcebergError::from_api(e, Missing::Table))?;
    let model = |e: &lakeshare_model::Error| {
        IcebergError::from_api(ApiError::from_model(&table, e), Missing::Table)
    };
    let latest = opened
        .source
        .latest_version()
        .await
        .map_err(|e| model(&e))?;
    if let Some((native, access)) = relayable(app, handle, opened).await? {
        return Ok(LoadedTable {
            metadata_location: native.location,
            metadata: native.document,
            access,
        });
    }
    let versions: Vec<Version> = if handle.entry.history {
        let mut all = opened.source.versions().await.map_err(|e| model(&e))?;
        all.retain(|v| *v <= latest);
        all
    } else {
        vec![latest]
    };

    let current = snapshot(app, handle, opened, latest)
        .await
        .map_err(|e| model(&e))?;
    if let Some(reason) = refusal(&current) {
        return Err(IcebergError::bad_request(format!(
            "table '{table}' cannot be read as Iceberg at version {latest}: {reason}"
        )));
    }
    // Past versions Iceberg cannot express are left out of the history (a snapshot id the
    // recipient asks for is then not there, which is what it is); the current one must be.
    let mut served: Vec<Arc<ServedSnapshot>> = Vec::with_capacity(versions.len());
    for v in versions.iter().copied().filter(|v| *v != latest) {
        match snapshot(app, handle, opened, v).await {
            Ok(s) if refusal(&s).is_none() => served.push(s),
            Ok(s) => {
                tracing::debug!(table = %table, version = v, "left out of the Iceberg history: {}", refusal(&s).unwrap_or_default())
            }
            // A storage failure is passing: the history must not thin out while it lasts
            // (snapshots, schemas and field ids would come and go between loads).
            Err(e) if matches!(*e, lakeshare_model::Error::Storage { .. }) => {
                return Err(model(&e));
            }
            Err(e) => {
                tracing::debug!(table = %table, version = v, "left out of the Iceberg history: {e}")
            }
        }
    }
    served.push(current.clone());

    let endpoint = app.s3_endpoint();
    let prefix = key_prefix(handle);
    let base = format!("s3://{}/{prefix}", endpoint.bucket());
    let layout = Layout {
        location: base.trim_end_matches('/').to_string(),
        metadata_location: format!("{base}{}", GENERATED.trim_end_matches('/')),
    };
    let snapshots: Vec<&lakeshare_model::Snapshot> = served.iter().map(|s| &s.snapshot).collect();
    let generator = Generator::new(&current.snapshot.metadata.id, &snapshots, layout)
        .map_err(|e| generation_error(&table, latest, e))?;
    let root = opened.root.clone();
    let path_of = |file: &DataFile| -> lakeshare_iceberg_rest::Result<String> {
        relative_path(&root, &file.url)
            .map(|rel| format!("{base}{FILES}{rel}"))
            .ok_or_else(|| {
                lakeshare_iceberg_rest::Error::Invalid(format!(
                    "data file {} lies outside the table",
                    file.id
                ))
            })
    };
    remember_served_files(app, handle, &root, latest, &served);
    let mut files = Vec::with_capacity(served.len());
    let mut parent = None;
    for s in &served {
        let version = s.snapshot.version;
        let make = async {
            let counts = app
                .generated()
                .row_counts
                .missing(opened, &s.snapshot.files)
                .await?;
            let count_of = |f: &DataFile| counts.get(&f.id).copied();
            generator
                .version(&s.snapshot, parent, &path_of, &count_of)
                .await
        };
        let made = app
            .generated()
            .version(&handle.id, generator.fingerprint(), (version, parent), make)
            .await
            .map_err(|e| generation_error(&table, version, Arc::unwrap_or_clone(e)))?;
        files.push(made);
        parent = Some(version);
    }
    let metadata = generator
        .metadata(&current.snapshot, &files)
        .map_err(|e| generation_error(&table, latest, e))?;
    let location = format!("{}/{}", generator.layout().metadata_location, metadata.name);
    app.generated()
        .put(
            &handle.id,
            &lakeshare_iceberg_rest::GeneratedFile {
                name: metadata.name.clone(),
                bytes: metadata.bytes.clone(),
            },
        )
        .await;
    Ok(LoadedTable {
        metadata_location: location,
        metadata: metadata.value,
        access: Access::BuiltIn,
    })
}

/// For a table the built-in endpoint does not serve whole (see
/// [`App::whole_folder_shared`]), the data files of the versions served: the only files of
/// its folder the endpoint then serves.
fn remember_served_files(
    app: &App,
    handle: &TableHandle,
    root: &Root,
    latest: Version,
    served: &[Arc<ServedSnapshot>],
) {
    if app.whole_folder_shared(handle)
        || app
            .generated()
            .served_files(&handle.id)
            .is_some_and(|known| known.latest == latest)
    {
        return;
    }
    let paths = served
        .iter()
        .flat_map(|s| s.snapshot.files.iter())
        .filter_map(|f| relative_path(root, &f.url))
        .collect();
    app.generated().set_served_files(
        &handle.id,
        super::generated::ServedFiles {
            latest,
            paths: Arc::new(paths),
        },
    );
}

async fn snapshot(
    app: &App,
    handle: &TableHandle,
    opened: &OpenedTable,
    version: Version,
) -> Result<Arc<ServedSnapshot>, Arc<lakeshare_model::Error>> {
    app.served_snapshot(handle, opened, version).await
}

/// Why a version cannot be served as Iceberg, found before generating anything.
fn refusal(served: &ServedSnapshot) -> Option<String> {
    lakeshare_iceberg_rest::unrepresentable(&served.snapshot)
}

fn generation_error(
    table: &str,
    version: Version,
    e: lakeshare_iceberg_rest::Error,
) -> IcebergError {
    use lakeshare_iceberg_rest::Error;
    match e {
        Error::Unsupported(reason) | Error::Invalid(reason) => IcebergError::bad_request(format!(
            "table '{table}' cannot be read as Iceberg at version {version}: {reason}"
        )),
        Error::Unavailable(detail) => {
            tracing::warn!(table, version, "generating Iceberg metadata: {detail}");
            IcebergError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
                format!("the files of table '{table}' cannot be read just now; try again"),
            )
        }
        Error::Internal(detail) => {
            tracing::error!(
                table,
                version,
                "generating Iceberg metadata failed: {detail}"
            );
            IcebergError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "ServerErrorException",
                format!("generating the Iceberg metadata of table '{table}' failed"),
            )
        }
    }
}
