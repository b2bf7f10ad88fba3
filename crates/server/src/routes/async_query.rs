//! Asynchronous queries (`delta-sharing-capabilities: asyncquery=true`, the Spark client's
//! opt-in): the query is answered with a query id, and the client polls
//! `POST …/tables/{table}/queries/{queryId}` (body `{maxFiles?, pageToken?}`) for the files.
//!
//! The query id is a sealed token ([`Purpose::AsyncQuery`]) holding the query, its table,
//! its recipient and the version it was pinned to when submitted: stateless, so any replica
//! answers any poll, and the answer is the snapshot of submission time however long the client
//! waits (within [`QUERY_TTL_MS`]). Every poll is answered at once with the files (the work is
//! a snapshot read, which the gateway does as fast as a poll could be), paged like a query.
//! A submission retried with the same idempotency key, table and parameters gets the same
//! query id from the replica that saw it first (kept for the query's life); from another
//! replica a new id, pinned then, which is an answer as consistent as the first.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use lakeshare_model::Version;
use lakeshare_protocol::query::{QueryRequest, QueryStatus, QueryStatusLine};
use lakeshare_protocol::{CAPABILITIES_HEADER, Capabilities, NDJSON_CONTENT_TYPE, ResponseFormat};
use lakeshare_storage::Purpose;
use serde::{Deserialize, Serialize};

use super::tables::{Arrival, answer};
use crate::app::App;
use crate::auth::Recipient;
use crate::error::{ApiError, ApiResult};
use crate::registry::TableHandle;

/// How long a query id can be polled.
pub const QUERY_TTL_MS: i64 = 3_600_000;
/// Largest sealed query: the id travels in a URL path, which proxies bound (8 KiB is common).
/// A query with larger predicates is answered synchronously, as the protocol allows.
const MAX_ID_BYTES: usize = 4096;

/// What a query id seals.
#[derive(Serialize, Deserialize)]
struct Submitted {
    /// The table's snapshot key (its id and a digest of its whole entry): a query submitted
    /// before a reload changed the table is not answered from the changed one.
    t: String,
    /// Recipient.
    r: String,
    /// The version pinned at submission.
    v: Version,
    /// Expiry, epoch milliseconds.
    e: i64,
    /// The query as submitted, its paging fields cleared (polls bring their own).
    q: QueryRequest,
}

/// The submission answer for `request` (already checked, its version resolved to `version`),
/// or `None` to answer it synchronously (its id would be too long for a URL).
pub(super) fn submit(
    app: &App,
    recipient: &Recipient,
    handle: &TableHandle,
    request: &QueryRequest,
    version: Version,
    format: ResponseFormat,
) -> ApiResult<Option<Response>> {
    let key = request
        .idempotency_key
        .as_deref()
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "an asynchronous query (asyncquery=true) needs an idempotencyKey, unique per query",
            )
        })?;
    if request.page_token.is_some() || request.refresh_token.is_some() {
        return Err(ApiError::invalid(
            "an asynchronous query is submitted without pageToken or refreshToken; pass pageToken to its polls",
        ));
    }
    let mut query = request.clone();
    query.page_token = None;
    query.max_files = None;
    let dedup = format!(
        "{}\n{}\n{key}\n{}",
        recipient.name,
        handle.snapshot_key,
        crate::cursor::params_hash(&query)
    );
    let id = match app.async_queries().get(&dedup) {
        Some(id) => id,
        None => {
            let sealed = Submitted {
                t: handle.snapshot_key.clone(),
                r: recipient.name.to_string(),
                v: version,
                e: lakeshare_storage::now_ms() + QUERY_TTL_MS,
                q: query,
            };
            let payload = serde_json::to_vec(&sealed).expect("claims serialise");
            let id: Arc<str> = app.signer().sign(Purpose::AsyncQuery, &payload).into();
            if id.len() > MAX_ID_BYTES {
                return Ok(None);
            }
            app.async_queries().insert(dedup, id.clone());
            id
        }
    };
    let line = QueryStatusLine {
        query_status: QueryStatus {
            query_id: &id,
            status: "pending",
        },
    };
    let mut response = Body::from(lakeshare_protocol::ndjson_line(&line)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(NDJSON_CONTENT_TYPE),
    );
    headers.insert(
        CAPABILITIES_HEADER,
        HeaderValue::from_str(&format!(
            "asyncquery=true;{}",
            Capabilities::response_header(format)
        ))
        .expect("ascii header"),
    );
    Ok(Some(response))
}

/// `POST …/tables/{table}/queries/{queryId}`: the files of a submitted query, paged by the
/// body's `maxFiles` and `pageToken`.
pub async fn poll(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, table, query_id)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let handle = app.table(&recipient, &share, &schema, &table).await?;
    let unknown =
        || ApiError::not_found("no such query: its id is unknown or expired; submit it again");
    let sealed = app
        .signer()
        .verify(Purpose::AsyncQuery, &query_id)
        .map_err(|_| unknown())?;
    let submitted: Submitted = serde_json::from_slice(&sealed).map_err(|_| unknown())?;
    if submitted.t != handle.snapshot_key
        || submitted.r != *recipient.name
        || lakeshare_storage::now_ms() >= submitted.e
    {
        return Err(unknown());
    }
    let paging = super::tables::parse_query(&body)?;
    let request = QueryRequest {
        max_files: paging.max_files,
        page_token: paging.page_token,
        ..submitted.q
    };
    answer(
        &app,
        &recipient,
        &handle,
        request,
        &headers,
        Arrival::Polled {
            version: submitted.v,
        },
    )
    .await
}
