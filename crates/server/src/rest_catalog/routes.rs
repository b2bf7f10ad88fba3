//! The catalog's handlers. Same bearer tokens and grants as the sharing API; an ungranted
//! share, schema or table answers exactly like a missing one.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lakeshare_iceberg_rest::wire::{
    ConfigResponse, ENDPOINTS, GetNamespaceResponse, ListNamespacesResponse, ListTablesResponse,
    LoadCredentialsResponse, LoadTableResult, StorageCredential, TableIdentifier,
};

use super::error::{IcebergError, IcebergResult, Missing};
use super::tables::{Access, load};
use crate::app::App;
use crate::auth::Recipient;
use crate::builtin_s3::key_prefix;
use crate::pages::{Params, paginate};
use crate::registry::TableHandle;

/// Iceberg's separator of namespace levels in a path segment.
const LEVEL_SEPARATOR: char = '\u{1f}';

/// The recipient of a catalog request, refused in Iceberg's error shape.
pub struct IcebergRecipient(pub Recipient);

impl axum::extract::FromRequestParts<App> for IcebergRecipient {
    type Rejection = IcebergError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &App,
    ) -> Result<Self, Self::Rejection> {
        Recipient::from_request_parts(parts, app)
            .await
            .map(Self)
            .map_err(|e| IcebergError::from_api(e, Missing::Namespace))
    }
}

/// `GET /v1/config?warehouse={share}`.
pub async fn config(
    State(app): State<App>,
    IcebergRecipient(recipient): IcebergRecipient,
    params: Params,
) -> IcebergResult<Response> {
    let warehouse = params
        .get("warehouse")
        .filter(|w| !w.is_empty())
        .ok_or_else(|| {
            IcebergError::bad_request(
                "parameter 'warehouse' is required: it names the share to read",
            )
        })?;
    let share = app
        .share(&recipient, warehouse)
        .map_err(|e| IcebergError::from_api(e, Missing::Namespace))?;
    let body = ConfigResponse {
        defaults: BTreeMap::new(),
        overrides: BTreeMap::from([("prefix".to_string(), format!("shares/{}", share.name))]),
        endpoints: ENDPOINTS.iter().map(|e| e.to_string()).collect(),
    };
    Ok(Json(body).into_response())
}

fn namespace_name(namespace: &str) -> IcebergResult<&str> {
    if namespace.contains(LEVEL_SEPARATOR) {
        return Err(IcebergError::no_such(
            Missing::Namespace,
            format!(
                "namespace '{}' does not exist: shares have one namespace level, their schemas",
                namespace.replace(LEVEL_SEPARATOR, ".")
            ),
        ));
    }
    Ok(namespace)
}

/// `GET /v1/shares/{share}/namespaces`: the share's schemas; no namespace has children.
pub async fn list_namespaces(
    State(app): State<App>,
    IcebergRecipient(recipient): IcebergRecipient,
    Path(share): Path<String>,
    params: Params,
) -> IcebergResult<Response> {
    let found = app
        .share(&recipient, &share)
        .map_err(|e| IcebergError::from_api(e, Missing::Namespace))?;
    let names: Vec<Vec<String>> = if params.get("parent").is_some_and(|p| !p.is_empty()) {
        // One level only. Echoing the top level here sends some clients into endless recursion.
        Vec::new()
    } else {
        found.schemas.iter().map(|s| vec![s.name.clone()]).collect()
    };
    let page = page(
        &app,
        &recipient,
        names,
        params,
        &format!("iceberg-namespaces:{}", found.name),
    )?;
    Ok(Json(ListNamespacesResponse {
        namespaces: page.items,
        next_page_token: page.next_page_token,
    })
    .into_response())
}

fn page<T>(
    app: &App,
    recipient: &Recipient,
    items: Vec<T>,
    params: Params,
    listing: &str,
) -> IcebergResult<lakeshare_protocol::lists::ListResponse<T>> {
    // Iceberg's page size is at least 1 (a page of none would never advance).
    if let Some(size) = params.get("pageSize")
        && size.trim().parse::<i64>().is_ok_and(|n| n < 1)
    {
        return Err(IcebergError::bad_request(format!(
            "parameter 'pageSize' must be at least 1, got {size}"
        )));
    }
    let params = params.with_alias("pageSize", "maxResults");
    paginate(items, &params, listing, &recipient.name, app.signer())
        .map_err(|e| IcebergError::from_api(e, Missing::Namespace))
}

/// `GET|HEAD /v1/shares/{share}/namespaces/{namespace}`.
pub async fn get_namespace(
    State(app): State<App>,
    IcebergRecipient(recipient): IcebergRecipient,
    Path((share, namespace)): Path<(String, String)>,
) -> IcebergResult<Response> {
    let schema = app
        .schema(&recipient, &share, namespace_name(&namespace)?)
        .map_err(|e| IcebergError::from_api(e, Missing::Namespace))?;
    Ok(Json(GetNamespaceResponse {
        namespace: vec![schema.name.clone()],
        properties: BTreeMap::new(),
    })
    .into_response())
}

pub async fn head_namespace(
    state: State<App>,
    IcebergRecipient(recipient): IcebergRecipient,
    path: Path<(String, String)>,
) -> IcebergResult<StatusCode> {
    get_namespace(state, IcebergRecipient(recipient), path)
        .await
        .map(|_| StatusCode::NO_CONTENT)
}

/// `GET /v1/shares/{share}/namespaces/{namespace}/tables`.
pub async fn list_tables(
    State(app): State<App>,
    IcebergRecipient(recipient): IcebergRecipient,
    Path((share, namespace)): Path<(String, String)>,
    params: Params,
) -> IcebergResult<Response> {
    let schema = app
        .schema(&recipient, &share, namespace_name(&namespace)?)
        .map_err(|e| IcebergError::from_api(e, Missing::Namespace))?;
    let schema_name = schema.name.clone();
    let tables = app
        .schema_tables(&share, &schema_name)
        .await
        .map_err(|e| IcebergError::from_api(e, Missing::Namespace))?;
    let identifiers: Vec<TableIdentifier> = tables
        .iter()
        .map(|t| TableIdentifier {
            namespace: vec![t.schema.clone()],
            name: t.name.clone(),
        })
        .collect();
    let page = page(
        &app,
        &recipient,
        identifiers,
        params,
        &format!("iceberg-tables:{share}.{schema_name}"),
    )?;
    Ok(Json(ListTablesResponse {
        identifiers: page.items,
        next_page_token: page.next_page_token,
    })
    .into_response())
}

type TablePath = Path<(String, String, String)>;

async fn table(
    app: &App,
    recipient: &Recipient,
    (share, namespace, table): &(String, String, String),
) -> IcebergResult<std::sync::Arc<TableHandle>> {
    app.table(recipient, share, namespace_name(namespace)?, table)
        .await
        .map_err(|e| IcebergError::from_api(e, Missing::Table))
}

/// `GET /v1/shares/{share}/namespaces/{namespace}/tables/{table}`.
pub async fn load_table(
    State(app): State<App>,
    IcebergRecipient(recipient): IcebergRecipient,
    Path(path): TablePath,
) -> IcebergResult<Response> {
    let handle = table(&app, &recipient, &path).await?;
    let loaded = load(&app, &handle).await?;
    let credentials = storage_credentials(&app, &recipient, &handle, &loaded.access).await?;
    app.audit().record(
        "iceberg_load_table",
        recipient.caller(),
        serde_json::json!({
            "share": handle.share,
            "schema": handle.schema,
            "table": handle.name,
            "credentials": credentials.len(),
        }),
    );
    // Java's FileIO refreshes its credentials here before they expire (long jobs).
    let mut config = credentials[0].config.clone();
    let (share, namespace, table) = &path;
    config.insert(
        "client.refresh-credentials-endpoint".to_string(),
        format!("v1/shares/{share}/namespaces/{namespace}/tables/{table}/credentials"),
    );
    config.insert(
        "client.refresh-credentials-enabled".to_string(),
        "true".to_string(),
    );
    Ok(Json(LoadTableResult {
        metadata_location: loaded.metadata_location,
        metadata: loaded.metadata,
        config,
        storage_credentials: credentials,
    })
    .into_response())
}

/// `HEAD …/tables/{table}`: whether it exists (for this recipient), without loading it.
pub async fn head_table(
    State(app): State<App>,
    IcebergRecipient(recipient): IcebergRecipient,
    Path(path): TablePath,
) -> IcebergResult<StatusCode> {
    table(&app, &recipient, &path).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET …/tables/{table}/credentials`: fresh credentials for a table loaded before.
pub async fn credentials(
    State(app): State<App>,
    IcebergRecipient(recipient): IcebergRecipient,
    Path(path): TablePath,
) -> IcebergResult<Response> {
    let handle = table(&app, &recipient, &path).await?;
    let access = super::tables::access(&app, &handle).await?;
    let storage_credentials = storage_credentials(&app, &recipient, &handle, &access).await?;
    app.audit().record(
        "credentials",
        recipient.caller(),
        serde_json::json!({
            "object": handle.qualified_name(),
            "kind": "iceberg",
            "credentials": storage_credentials.len(),
        }),
    );
    Ok(Json(LoadCredentialsResponse {
        storage_credentials,
    })
    .into_response())
}

/// `POST …/tables/{table}/metrics`: clients report scans; nothing is kept (the answer is the
/// table's `HEAD`: 204 for a table the recipient may read).
pub async fn metrics(
    state: State<App>,
    IcebergRecipient(recipient): IcebergRecipient,
    path: TablePath,
) -> IcebergResult<StatusCode> {
    head_table(state, IcebergRecipient(recipient), path).await
}

/// Read-only credentials for the table's files as Iceberg FileIO properties, expiring with the
/// recipient's own token at the latest: vended by its store (one entry per folder they read,
/// the table's first, the same credentials in each), or for the built-in S3 endpoint.
async fn storage_credentials(
    app: &App,
    recipient: &Recipient,
    handle: &TableHandle,
    access: &Access,
) -> IcebergResult<Vec<StorageCredential>> {
    if let Access::Vended {
        store,
        location,
        also,
    } = access
    {
        return vended_credentials(recipient, handle, store, (location, also)).await;
    }
    let endpoint = app.s3_endpoint();
    let prefix = key_prefix(handle);
    let credentials = crate::builtin_s3::mint(app, recipient, &prefix).map_err(|e| {
        tracing::error!(table = %handle.qualified_name(), "minting S3 credentials: {e}");
        IcebergError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServerErrorException",
            "credentials for the table could not be made",
        )
    })?;
    let config = BTreeMap::from([
        ("s3.endpoint".to_string(), app.s3_endpoint_url()),
        (
            "s3.access-key-id".to_string(),
            credentials.access_key_id.clone(),
        ),
        (
            "s3.secret-access-key".to_string(),
            credentials.secret_access_key.clone(),
        ),
        (
            "s3.session-token".to_string(),
            credentials.session_token.clone(),
        ),
        (
            "s3.session-token-expires-at-ms".to_string(),
            credentials.expires_at_ms.to_string(),
        ),
        ("s3.region".to_string(), S3_REGION.to_string()),
        ("client.region".to_string(), S3_REGION.to_string()),
        ("s3.path-style-access".to_string(), "true".to_string()),
    ]);
    Ok(vec![StorageCredential {
        prefix: format!("s3://{}/{prefix}", endpoint.bucket()),
        config,
    }])
}

async fn vended_credentials(
    recipient: &Recipient,
    handle: &TableHandle,
    store: &lakeshare_storage::Store,
    (location, also): (&str, &[String]),
) -> IcebergResult<Vec<StorageCredential>> {
    use secrecy::ExposeSecret;
    let name = handle.qualified_name();
    let vended = crate::routes::vend(
        store,
        (location, also),
        recipient,
        &format!("table '{name}'"),
        "the Delta Sharing query API",
    )
    .await
    .map_err(|e| IcebergError::from_api(e, Missing::Table))?;
    let options = store.config();
    let mut config = BTreeMap::from([
        ("s3.access-key-id".to_string(), vended.access_key_id.clone()),
        (
            "s3.secret-access-key".to_string(),
            vended.secret_access_key.expose_secret().to_string(),
        ),
        (
            "s3.session-token".to_string(),
            vended.session_token.expose_secret().to_string(),
        ),
        (
            "s3.session-token-expires-at-ms".to_string(),
            vended.expires_at_ms.to_string(),
        ),
    ]);
    let region = options
        .region
        .clone()
        .unwrap_or_else(|| S3_REGION.to_string());
    config.insert("s3.region".to_string(), region.clone());
    config.insert("client.region".to_string(), region);
    if let Some(endpoint) = options
        .public_endpoint
        .as_ref()
        .or(options.endpoint.as_ref())
    {
        config.insert("s3.endpoint".to_string(), endpoint.clone());
        config.insert(
            "s3.path-style-access".to_string(),
            options.path_style.unwrap_or(true).to_string(),
        );
    }
    Ok(std::iter::once(location)
        .chain(also.iter().map(String::as_str))
        .map(|folder| StorageCredential {
            prefix: format!("{}/", folder.trim_end_matches('/')),
            config: config.clone(),
        })
        .collect())
}

/// The region clients sign for; the endpoint accepts any, but clients insist on one.
pub(crate) const S3_REGION: &str = "us-east-1";
