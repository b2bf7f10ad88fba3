//! A shared table as an Iceberg table: the versions served, the generated metadata, and the
//! paths recipients read its files at.
//!
//! Every table, whatever its format, is served from Iceberg metadata the gateway generates
//! from its snapshots (`lakeshare_iceberg_rest`), unless it is relayed (below). Where the
//! recipient reads it:
//! - a table shared with its history in an S3 store that vends credentials, when the `cache:`
//!   is a prefix of that store: straight from the store, the metadata under
//!   `{cache}/{table id}/`, with credentials its STS vends for the table's folder and that one;
//! - any other: through the built-in S3 endpoint under
//!   `s3://{bucket}/tables/{share}/{schema}/{table}/`, with credentials scoped to that prefix.
//!   `files/` under it are the table's own files (by their path below the table's root),
//!   `iceberg/` the generated ones.

use std::collections::HashMap;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use lakeshare_iceberg_rest::{Error as IcebergRestError, FileFacts, Generator, Layout};
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
    /// Straight from the table's store, with credentials its STS vends for the table's folder
    /// and the folders `also` (its generated metadata).
    Vended {
        store: Arc<lakeshare_storage::Store>,
        location: String,
        also: Vec<String>,
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
        also: Vec::new(),
    };
    Ok(Some((native, access)))
}

/// How the recipient reads `handle`'s files (what [`load`] would answer), without loading it.
pub(crate) async fn access(app: &App, handle: &TableHandle) -> IcebergResult<Access> {
    let opened = app
        .open_table(handle)
        .await
        .map_err(|e| IcebergError::from_api(e, Missing::Table))?;
    if let Some((_, access)) = relayable(app, handle, opened).await? {
        return Ok(access);
    }
    Ok(Placement::of(app, handle).access(handle))
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

    let placement = Placement::of(app, handle);
    let key = &handle.cache_key;
    let snapshots: Vec<&lakeshare_model::Snapshot> = served.iter().map(|s| &s.snapshot).collect();
    let generator = Generator::new(
        &current.snapshot.metadata.id,
        &snapshots,
        placement.layout(),
    )
    .map_err(|e| generation_error(&table, latest, e))?;
    let root = opened.root.clone();
    let path_of = |file: &DataFile| placement.path_of(&root, file);
    if let Placement::BuiltIn { .. } = placement {
        remember_served_files(app, handle, &root, latest, &served);
    }
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
            let deleted = deleted_rows(app, opened, &s.snapshot).await?;
            let facts = FileFacts {
                path_of: &path_of,
                row_count_of: &|f| counts.get(&f.id).copied(),
                deleted_rows_of: &|f| deleted.get(&f.id).cloned(),
            };
            generator.version(&s.snapshot, parent, &facts).await
        };
        let made = match app
            .generated()
            .version(key, generator.fingerprint(), (version, parent), make)
            .await
        {
            Ok(made) => made,
            // A past version whose files cannot be expressed (a deletion vector vacuumed
            // since, say) is left out of the history, as versions Iceberg cannot express are;
            // a passing storage failure fails the load, as it does above.
            Err(e) if version != latest && !matches!(*e, IcebergRestError::Unavailable(_)) => {
                tracing::warn!(table = %table, version, "left out of the Iceberg history: {e}");
                continue;
            }
            Err(e) => return Err(generation_error(&table, version, Arc::unwrap_or_clone(e))),
        };
        app.generated()
            .keep_all(key, &made.files, placement.reads_cache())
            .await
            .map_err(|e| unkept(&table, version, e))?;
        files.push(made);
        parent = Some(version);
    }
    let metadata = generator
        .metadata(&current.snapshot, &files)
        .map_err(|e| generation_error(&table, latest, e))?;
    let location = format!("{}/{}", generator.layout().metadata_location, metadata.name);
    app.generated()
        .put(
            key,
            &lakeshare_iceberg_rest::GeneratedFile {
                name: metadata.name.clone(),
                bytes: metadata.bytes.clone(),
            },
            placement.reads_cache(),
        )
        .await
        .map_err(|e| unkept(&table, latest, e))?;
    Ok(LoadedTable {
        metadata_location: location,
        metadata: metadata.value,
        access: placement.access(handle),
    })
}

/// Where a generated table's files are, as the recipient addresses them.
enum Placement {
    /// Under the table's prefix of the built-in endpoint (`base`, `s3://lakeshare/tables/…/`).
    BuiltIn { base: String },
    /// In the table's store (see the module's documentation): data files where they are
    /// (`table` is the key of the table's folder), generated ones in `folder`.
    Store {
        store: Arc<lakeshare_storage::Store>,
        location: String,
        table: object_store::path::Path,
        folder: String,
    },
}

impl Placement {
    fn of(app: &App, handle: &TableHandle) -> Self {
        let in_store = || {
            let store = app.vending_store(handle)?;
            let folder = app
                .generated()
                .store_folder(handle.entry.store.as_deref()?, &handle.cache_key)?;
            let table = store.key_of(&handle.entry.location).ok()?;
            Some((store.clone(), table, folder))
        };
        if let Some((store, table, folder)) = in_store() {
            return Placement::Store {
                store,
                location: handle.entry.location.trim_end_matches('/').to_string(),
                table,
                folder,
            };
        }
        let bucket = app.s3_endpoint().bucket().to_string();
        Placement::BuiltIn {
            base: format!("s3://{bucket}/{}", key_prefix(handle)),
        }
    }

    fn layout(&self) -> Layout {
        match self {
            Placement::BuiltIn { base } => Layout {
                location: base.trim_end_matches('/').to_string(),
                metadata_location: format!("{base}{}", GENERATED.trim_end_matches('/')),
            },
            Placement::Store {
                location, folder, ..
            } => Layout {
                location: location.clone(),
                metadata_location: folder.clone(),
            },
        }
    }

    /// The path a recipient reads `file` at: below the built-in prefix by its path below the
    /// table's root, or its own key in the store (decoded, as S3 names it).
    fn path_of(&self, root: &Root, file: &DataFile) -> lakeshare_iceberg_rest::Result<String> {
        let outside = || {
            lakeshare_iceberg_rest::Error::Invalid(format!(
                "data file {} lies outside the table",
                file.id
            ))
        };
        match self {
            Placement::BuiltIn { base } => relative_path(root, &file.url.as_str())
                .map(|rel| format!("{base}{FILES}{rel}"))
                .ok_or_else(outside),
            Placement::Store { store, table, .. } => {
                let key = store.key_of(&file.url.as_str()).map_err(|_| outside())?;
                if !key.prefix_matches(table) || key == *table {
                    return Err(outside());
                }
                let bucket = store.config().bucket.clone().unwrap_or_default();
                Ok(format!("s3://{bucket}/{key}"))
            }
        }
    }

    /// Whether the recipient reads the generated files from the cache (so they must be in it
    /// before the answer), rather than through the gateway (which can serve them from memory).
    fn reads_cache(&self) -> bool {
        matches!(self, Placement::Store { .. })
    }

    fn access(&self, handle: &TableHandle) -> Access {
        match self {
            Placement::BuiltIn { .. } => Access::BuiltIn,
            Placement::Store { store, folder, .. } => Access::Vended {
                store: store.clone(),
                location: handle.entry.location.clone(),
                also: vec![folder.clone()],
            },
        }
    }
}

/// A generated file that could not be kept where the recipient will read it.
fn unkept(table: &str, version: Version, detail: String) -> IcebergError {
    generation_error(
        table,
        version,
        lakeshare_iceberg_rest::Error::Unavailable(detail),
    )
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
            .served_files(&handle.snapshot_key)
            .is_some_and(|known| known.latest == latest)
    {
        return;
    }
    let paths = served
        .iter()
        .flat_map(|s| s.snapshot.files.iter())
        .filter_map(|f| relative_path(root, &f.url.as_str()))
        .collect();
    // Keyed by the whole entry: a reload that stops sharing the history gets a new list.
    app.generated().set_served_files(
        &handle.snapshot_key,
        super::generated::ServedFiles {
            latest,
            paths: Arc::new(paths),
        },
    );
}

/// Deletion vectors read at once per generated version.
const CONCURRENT_DELETION_VECTORS: usize = 16;

/// The deleted rows of every file of `snapshot` with a deletion vector, by file id, read by
/// the table's adapter once per vector (a vector stays live over many versions).
async fn deleted_rows(
    app: &App,
    opened: &OpenedTable,
    snapshot: &lakeshare_model::Snapshot,
) -> lakeshare_iceberg_rest::Result<HashMap<String, Arc<[u64]>>> {
    let cache = &app.generated().deleted_rows;
    let with_deletes: Vec<DataFile> = snapshot
        .files
        .iter()
        .filter(|f| f.deletion_vector.is_some())
        .cloned()
        .collect();
    let reads: Vec<_> = with_deletes
        .into_iter()
        .map(|f| deleted_rows_of(opened, cache, f))
        .collect();
    futures::stream::iter(reads)
        .buffer_unordered(CONCURRENT_DELETION_VECTORS)
        .try_collect()
        .await
}

async fn deleted_rows_of(
    opened: &OpenedTable,
    cache: &moka::sync::Cache<String, Arc<[u64]>>,
    file: DataFile,
) -> lakeshare_iceberg_rest::Result<(String, Arc<[u64]>)> {
    use lakeshare_iceberg_rest::Error;
    // A deletion vector's rows never change under its descriptor; the file is in the key too,
    // as inline vectors of two files may be alike.
    let descriptor = format!("{}\0{:?}", file.url, file.deletion_vector);
    if let Some(known) = cache.get(&descriptor) {
        return Ok((file.id, known));
    }
    let rows = opened.source.deleted_rows(&file).await.map_err(|e| {
        use lakeshare_model::StorageFault;
        let detail = format!("the deletion vector of data file {}: {e}", file.id);
        match e {
            lakeshare_model::Error::Unsupported(reason) => Error::Unsupported(reason),
            // As for any read of the table: a refused or misconfigured store will not heal by
            // itself (500); anything else may pass (503).
            lakeshare_model::Error::Storage {
                fault: StorageFault::AccessDenied | StorageFault::Misconfigured,
                ..
            } => Error::Internal(detail),
            lakeshare_model::Error::Storage { .. } => Error::Unavailable(detail),
            _ => Error::Internal(detail),
        }
    })?;
    let rows: Arc<[u64]> = Arc::from(rows);
    cache.insert(descriptor, rows.clone());
    Ok((file.id, rows))
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
            IcebergError {
                retry_after: Some(crate::error::RETRY_AFTER_UNAVAILABLE),
                ..IcebergError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableException",
                    format!("the files of table '{table}' cannot be read just now; try again"),
                )
            }
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
