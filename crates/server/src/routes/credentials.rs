//! `POST …/temporary-table-credentials`: directory access, for stores that can vend scoped
//! temporary credentials.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lakeshare_protocol::ErrorCode;
use lakeshare_protocol::lists::{
    AwsTempCredentials, TableCredentials, TemporaryTableCredentialsRequest,
    TemporaryTableCredentialsResponse,
};
use secrecy::ExposeSecret;

use lakeshare_storage::{TemporaryCredentials, VendRequest};

use crate::app::App;
use crate::auth::Recipient;
use crate::error::{ApiError, ApiResult};

pub async fn temporary_table_credentials(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, table)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let handle = app.table(&recipient, &share, &schema, &table).await?;
    let handle = &handle;
    let name = handle.qualified_name();
    let request: TemporaryTableCredentialsRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TemporaryTableCredentialsRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::malformed(format!("the request body is not valid: {e}")))?
    };
    let store = app.vending_store(handle);
    let builtin = store.is_none() && app.builtin_directory_access(handle);
    // Refused before the location is compared: a table without directory access has no
    // location recipients may be told (it would name the server's folder or bucket).
    let store = match store {
        Some(store) => Some(store),
        None if builtin => None,
        None => return Err(ApiError::unsupported(why_no_directory_access(&app, handle))),
    };
    let location = if builtin {
        crate::builtin_s3::files_location(&app, handle)
    } else {
        handle.entry.location.clone()
    };
    if let Some(asked) = &request.location
        && asked.trim_end_matches('/') != location.trim_end_matches('/')
    {
        return Err(ApiError::invalid(format!(
            "table '{name}' has no location '{asked}': its only location is '{location}'"
        )));
    }
    let (aws, expires_at_ms) = if builtin {
        let prefix = format!(
            "{}{}",
            crate::builtin_s3::key_prefix(handle),
            crate::builtin_s3::FILES
        );
        let minted = crate::builtin_s3::mint(&app, &recipient, &prefix)
            .map_err(|e| ApiError::internal("minting S3 credentials", e))?;
        let aws = AwsTempCredentials {
            access_key_id: minted.access_key_id,
            secret_access_key: minted.secret_access_key,
            session_token: minted.session_token,
            endpoint: Some(app.s3_endpoint_url()),
        };
        (aws, minted.expires_at_ms)
    } else {
        let store = store.expect("a table without a vending store has built-in access here");
        let credentials = vend(
            store,
            (&location, &[]),
            &recipient,
            &format!("table '{name}'"),
            "the query API",
        )
        .await?;
        let aws = AwsTempCredentials {
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key.expose_secret().to_string(),
            session_token: credentials.session_token.expose_secret().to_string(),
            endpoint: None,
        };
        (aws, credentials.expires_at_ms)
    };
    app.audit().record(
        "credentials",
        recipient.caller(),
        serde_json::json!({
            "object": name,
            "kind": if builtin { "builtin" } else { "sts" },
            "expires_at_ms": expires_at_ms,
        }),
    );
    let body = TemporaryTableCredentialsResponse {
        credentials: TableCredentials {
            location,
            aws_temp_credentials: aws,
            expiration_time: expires_at_ms,
        },
    };
    Ok((
        [(header::CONTENT_TYPE, lakeshare_protocol::JSON_CONTENT_TYPE)],
        serde_json::to_vec(&body).expect("credential bodies always serialise"),
    )
        .into_response())
}

/// Vends read-only credentials for the folder at `location` (and the folders `also`, of the
/// same store) to `recipient`, never outliving the recipient's own access. `what` names the
/// folder's asset and `fallback` the way to read it without credentials, for the message when
/// the store's STS fails.
pub(crate) async fn vend(
    store: &lakeshare_storage::Store,
    (location, also): (&str, &[String]),
    recipient: &Recipient,
    what: &str,
    fallback: &str,
) -> ApiResult<TemporaryCredentials> {
    let max_duration = recipient.expires_at_ms.map(|expires| {
        std::time::Duration::from_millis((expires - lakeshare_storage::now_ms()).max(0) as u64)
    });
    let request = VendRequest {
        table_url: location,
        also,
        recipient: &recipient.name,
        max_duration,
    };
    let vended = store.vend(request).await;
    if vended.is_ok() {
        crate::metrics::credentials_issued("sts");
    }
    vended.map_err(|e| {
        tracing::error!(asset = %what, "vending credentials: {e}");
        let (status, reason) = match e {
            lakeshare_storage::Error::Refused { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the store's STS refused the gateway; the provider must fix its configuration"
                    .to_string(),
            ),
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the store's STS failed; try again later or use {fallback}"),
            ),
        };
        let message = format!("temporary credentials for {what} could not be obtained: {reason}");
        match status {
            StatusCode::SERVICE_UNAVAILABLE => ApiError::unavailable(message),
            _ => ApiError::new(status, ErrorCode::InternalError, message),
        }
    })
}

/// The 400 message for a table without directory access, saying which condition fails.
fn why_no_directory_access(app: &App, handle: &crate::registry::TableHandle) -> String {
    let name = handle.qualified_name();
    if handle.entry.is_computed() {
        return format!(
            "table '{name}' is computed by the gateway from the provider's definition and has no folder of its own to share; read it through the query API (access mode 'url')"
        );
    }
    if handle.filter.is_some() {
        return format!(
            "table '{name}' is shared with a filter on its rows, and its folder holds the rows outside it too, which directory access would expose; read it through the query API (access mode 'url')"
        );
    }
    let Some(store_name) = handle.entry.store.as_deref() else {
        if !handle.entry.history {
            return format!(
                "table '{name}' is shared without its history, which directory access would expose; read it through the query API (access mode 'url')"
            );
        }
        return format!(
            "another shared table or asset lies inside the folder of table '{name}', which directory access would expose; read it through the query API (access mode 'url')"
        );
    };
    match app.stores().get(store_name) {
        Ok(store) if !store.vends_credentials() => format!(
            "the store of table '{name}' cannot vend temporary credentials (only S3 stores with an STS endpoint configured do); read it through the query API (access mode 'url')"
        ),
        Ok(_) if !handle.entry.history => format!(
            "table '{name}' is shared without its history, which directory access would expose; read it through the query API (access mode 'url')"
        ),
        Ok(_) => format!(
            "another shared table or asset lies inside the folder of table '{name}', which directory access would expose; read it through the query API (access mode 'url')"
        ),
        Err(_) => format!("the store of table '{name}' is not available"),
    }
}
