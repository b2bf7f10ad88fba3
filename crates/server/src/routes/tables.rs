//! Table version, metadata and query: the table-data endpoints.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use lakeshare_model::{TimestampBound, Version, VersionSpec};
use lakeshare_protocol::query::QueryRequest;
use lakeshare_protocol::time::parse_timestamp;
use lakeshare_protocol::{CAPABILITIES_HEADER, Capabilities};

use super::common::{
    TablePath, capabilities, check_file_ids, choose_format, echo_file_id_hash, file_id_hash,
    latest_version, load_snapshot, ndjson_response, require_history, require_servable,
    version_header,
};
use crate::app::App;
use crate::auth::Recipient;
use crate::cache::ServedSnapshot;
use crate::cursor::{self, Position};
use crate::encode::{self, MetadataExtras};
use crate::error::{ApiError, ApiResult};
use crate::pages::Params;
use crate::registry::TableHandle;
use crate::signed_lines;
use lakeshare_filter::{Error as FilterError, Predicate};
use lakeshare_protocol::lines::EndStreamLine;
use lakeshare_storage::Purpose;

/// `GET …/version`: the latest version, or with `startingTimestamp` the first version committed
/// at or after it.
pub async fn version(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, table)): TablePath,
    params: Params,
) -> ApiResult<Response> {
    let handle = app.table(&recipient, &share, &schema, &table).await?;
    let handle = &handle;
    let opened = app.open_table(handle).await?;
    let version = match params.get("startingTimestamp") {
        Some(ts) => {
            require_history(handle, "startingTimestamp")?;
            let ts = parse_timestamp(ts)
                .map_err(|e| ApiError::invalid(format!("parameter 'startingTimestamp': {e}")))?;
            opened
                .source
                .version_at(ts, TimestampBound::AtOrAfter)
                .await
                .map_err(|e| ApiError::from_model(&handle.qualified_name(), &e))?
        }
        None => latest_version(handle, opened).await?,
    };
    Ok(version_header(version).into_response())
}

/// `GET …/tables/{table}` (OpenSharing): the table and its format, which tells a client which API
/// family to read it with.
pub async fn get_table(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, table)): TablePath,
) -> ApiResult<Response> {
    let handle = app.table(&recipient, &share, &schema, &table).await?;
    let handle = &handle;
    let opened = app.open_table(handle).await?;
    let body = lakeshare_protocol::lists::TableWithFormat {
        table: crate::routes::lists::table_item(&app, handle),
        format: opened.source.format().as_str().to_string(),
    };
    Ok((
        [(header::CONTENT_TYPE, lakeshare_protocol::JSON_CONTENT_TYPE)],
        serde_json::to_vec(&body).expect("table bodies always serialise"),
    )
        .into_response())
}

/// `HEAD …/tables/{table}`: the deprecated way to ask for the latest version.
pub async fn version_head(
    state: State<App>,
    recipient: Recipient,
    path: TablePath,
) -> ApiResult<Response> {
    version(state, recipient, path, Params::default()).await
}

/// `GET …/metadata`: the protocol and metadata lines, optionally at `version` or `timestamp`.
pub async fn metadata(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, table)): TablePath,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let handle = app.table(&recipient, &share, &schema, &table).await?;
    let handle = &handle;
    let opened = app.open_table(handle).await?;
    let caps = capabilities(&headers);
    let spec = version_spec(handle, params.i64("version")?, params.get("timestamp"))?;
    let served = load_snapshot(&app, handle, opened, spec).await?;
    let format = choose_format(handle, &served, &caps)?;
    let snapshot = &served.snapshot;
    let mut body = Vec::with_capacity(1024);
    // Size and file count are not known for a version whose files cannot be served.
    let servable = snapshot.unservable.is_none();
    let extras = MetadataExtras {
        version: (spec != VersionSpec::Latest).then_some(snapshot.version),
        size: servable.then(|| snapshot.size_bytes()),
        num_files: servable.then_some(snapshot.files.len() as u64),
    };
    encode::write_head(&mut body, format, snapshot, extras);
    Ok(ndjson_response(snapshot.version, format, Body::from(body)))
}

/// `POST …/query`: the files of a snapshot, streamed as NDJSON; with `asyncquery=true`, an
/// asynchronous query's id (see `async_query.rs`).
pub async fn query(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, table)): TablePath,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let handle = app.table(&recipient, &share, &schema, &table).await?;
    let request = parse_query(&body)?;
    answer(
        &app,
        &recipient,
        &handle,
        request,
        &headers,
        Arrival::Direct,
    )
    .await
}

/// How a query arrived.
#[derive(Debug, Clone, Copy)]
pub(super) enum Arrival {
    /// On `…/query`: an asynchronous one is only submitted there.
    Direct,
    /// As the poll of an asynchronous query, whose version was pinned when it was submitted.
    Polled { version: Version },
}

/// The answer to `request` for `handle`.
pub(super) async fn answer(
    app: &App,
    recipient: &Recipient,
    handle: &Arc<TableHandle>,
    request: QueryRequest,
    headers: &HeaderMap,
    arrival: Arrival,
) -> ApiResult<Response> {
    let spec = validate_query(handle, &request)?;
    let opened = app.open_table(handle).await?;
    let caps = capabilities(headers);
    let ids = file_id_hash(headers)?;
    let now = lakeshare_storage::now_ms();
    // A page continues in the id scheme its read began with.
    let params = cursor::params_hash(&(
        ids.map(|i| i.as_str()),
        &request.predicate_hints,
        &request.json_predicate_hints,
        request.limit_hint,
        request.version,
        &request.timestamp,
    ));
    let binding = cursor::Binding {
        table_id: &handle.id,
        recipient: &recipient.name,
        params: &params,
    };
    // A page or refresh token pins the version its read started on.
    let page = cursor::read(
        app.signer(),
        Purpose::QueryPage,
        request.page_token.as_deref(),
        binding,
        now,
    )?;
    let refresh = cursor::read(
        app.signer(),
        Purpose::Refresh,
        request.refresh_token.as_deref(),
        binding,
        now,
    )?;
    let submitted = match arrival {
        Arrival::Polled { version } => Some(VersionSpec::Version(version)),
        Arrival::Direct => None,
    };
    let pinned = page
        .as_ref()
        .or(refresh.as_ref())
        .map(|c| VersionSpec::Version(c.v))
        .or(submitted);
    let served = load_snapshot(app, handle, opened, pinned.unwrap_or(spec)).await?;
    require_servable(handle, &served)?;
    let format = choose_format(handle, &served, &caps)?;
    let version = served.snapshot.version;
    if matches!(arrival, Arrival::Direct)
        && caps.async_query
        && let Some(mut submitted) =
            super::async_query::submit(app, recipient, handle, &request, version, format)?
    {
        echo_file_id_hash(&mut submitted, ids);
        return Ok(submitted);
    }

    let selection = selection(app, handle, &served, &request).await?;
    let selected = selection.len();
    let files = &served.snapshot.files;
    // Files are in id order, so a page continues after the last id served, whichever replica
    // served it and however its adapter listed the files.
    let start = match page.as_ref().map(|c| &c.p) {
        None => 0,
        Some(Position::AfterFile(after)) => {
            selection.partition_point(|&i| files[i as usize].id.as_str() <= after.as_str())
        }
        Some(_) => return Err(ApiError::invalid("pageToken is not a query page token")),
    };
    let end = match request.max_files {
        Some(n) => start.saturating_add(n as usize).min(selected),
        None => selected,
    };
    let wants_refresh = request.include_refresh_token == Some(true) || refresh.is_some();
    let end_stream = (request.max_files.is_some()
        || wants_refresh
        || caps.include_end_stream_action)
        .then(|| {
            EndStreamLine::new(
                (end < selected && end > start).then(|| {
                    let last = &files[selection[end - 1] as usize];
                    cursor::issue(
                        app.signer(),
                        Purpose::QueryPage,
                        binding,
                        version,
                        Position::AfterFile(last.id.clone()),
                        now,
                    )
                }),
                wants_refresh.then(|| {
                    cursor::issue(
                        app.signer(),
                        Purpose::Refresh,
                        binding,
                        version,
                        Position::Start,
                        now,
                    )
                }),
                (end > start).then(|| now + app.url_ttl_ms()),
            )
        });
    let page_files = || selection[start..end].iter().map(|&i| &files[i as usize]);
    if let Some(ids) = ids {
        check_file_ids(&handle.qualified_name(), ids, page_files())?;
    }
    // Recorded once the answer has started (its first URLs signed), with the ids it sends.
    let scheme = ids.unwrap_or_default();
    let more = serde_json::json!({
        "version": version,
        "first_file": start,
        "pruned": served.snapshot.files.len() - selected,
    });
    let audited = if end - start == files.len() && files.len() > crate::audit::MAX_LISTED_IDS {
        crate::audit::table_read_of(handle, served.all_read(scheme), more)
    } else {
        crate::audit::table_read(handle, scheme, page_files(), more)
    };
    // Downloads through the gateway's own file route are audited as this recipient's.
    let bound = opened
        .signer
        .for_recipient(&recipient.name, &handle.qualified_name());
    let source = signed_lines::Source {
        cache: app.cache().clone(),
        key: signed_lines::BlockKey {
            signer: opened.signer_id,
            table: Arc::from(handle.snapshot_key.as_str()),
            version,
            format,
            ids: scheme,
            audience: bound.as_ref().map(|_| recipient.name.clone()),
            index: 0,
        },
        signer: bound.unwrap_or_else(|| opened.signer.clone()),
        served,
    };
    let ending = encode::Ending {
        line: end_stream,
        report_failures: caps.include_end_stream_action,
    };
    let mut head = Vec::with_capacity(1024);
    let extras = MetadataExtras {
        version: (spec != VersionSpec::Latest).then_some(version),
        ..MetadataExtras::default()
    };
    encode::write_head(&mut head, format, &source.served.snapshot, extras);
    let stream = signed_lines::stream(head, source, selection, start..end, ending)
        .await
        .map_err(|e| ApiError::from_signing(&handle.qualified_name(), &e))?;
    app.audit().record("query", recipient.caller(), audited);
    let mut response = ndjson_response(version, format, Body::from_stream(stream));
    echo_file_id_hash(&mut response, ids);
    if caps.include_end_stream_action {
        response.headers_mut().insert(
            CAPABILITIES_HEADER,
            HeaderValue::from_str(&format!(
                "{};includeendstreamaction=true",
                Capabilities::response_header(format)
            ))
            .expect("ascii header"),
        );
    }
    Ok(response)
}

pub(super) fn parse_query(body: &[u8]) -> ApiResult<QueryRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(QueryRequest::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::malformed(format!("the request body is not valid JSON: {e}"))
        } else {
            ApiError::malformed(format!(
                "the request body does not match the query request: {e}"
            ))
        }
    })
}

/// Checks the combination of query fields and returns the snapshot it asks for.
fn validate_query(handle: &TableHandle, q: &QueryRequest) -> ApiResult<VersionSpec> {
    let chosen = [
        q.version.is_some(),
        q.timestamp.is_some(),
        q.starting_version.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if chosen > 1 {
        return Err(ApiError::invalid(
            "give at most one of version, timestamp and startingVersion",
        ));
    }
    if let Some(limit) = q.limit_hint.filter(|l| *l < 0) {
        return Err(ApiError::invalid(format!(
            "limitHint must not be negative, got {limit}"
        )));
    }
    if let Some(n) = q.max_files.filter(|n| *n <= 0) {
        return Err(ApiError::invalid(format!(
            "maxFiles must be positive, got {n}"
        )));
    }
    if q.ending_version.is_some() && q.starting_version.is_none() {
        return Err(ApiError::invalid(
            "endingVersion is only valid with startingVersion",
        ));
    }
    if let Some(v) = q.starting_version {
        if v < 0 {
            return Err(ApiError::invalid(format!(
                "startingVersion must not be negative, got {v}"
            )));
        }
        return Err(ApiError::unsupported(
            "queries with startingVersion (reading the changes since a version) are not supported by this server yet",
        ));
    }
    let refreshing = q.include_refresh_token == Some(true) || q.refresh_token.is_some();
    if refreshing && (q.version.is_some() || q.timestamp.is_some() || q.page_token.is_some()) {
        return Err(ApiError::invalid(
            "includeRefreshToken and refreshToken apply to the first page of a read of the latest version only; \
             drop version, timestamp and pageToken",
        ));
    }
    version_spec(handle, q.version, q.timestamp.as_deref())
}

fn version_spec(
    handle: &TableHandle,
    version: Option<i64>,
    timestamp: Option<&str>,
) -> ApiResult<VersionSpec> {
    match (version, timestamp) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "give at most one of version and timestamp",
        )),
        (Some(v), None) => {
            require_history(handle, "version")?;
            if v < 0 {
                return Err(ApiError::invalid(format!(
                    "version must not be negative, got {v}"
                )));
            }
            Ok(VersionSpec::Version(v as Version))
        }
        (None, Some(ts)) => {
            require_history(handle, "timestamp")?;
            let ts =
                parse_timestamp(ts).map_err(|e| ApiError::invalid(format!("timestamp: {e}")))?;
            Ok(VersionSpec::Timestamp(ts))
        }
        (None, None) => Ok(VersionSpec::Latest),
    }
}

/// [`select_files`], through the cache where the query has hints (a plain query selects
/// every file, which costs nothing to work out).
async fn selection(
    app: &App,
    handle: &TableHandle,
    served: &ServedSnapshot,
    request: &QueryRequest,
) -> ApiResult<Arc<[u32]>> {
    let hints = (
        &request.predicate_hints,
        &request.json_predicate_hints,
        request.limit_hint,
    );
    if hints == (&None, &None, None) {
        return Ok(select_files(handle, served, request)?.into());
    }
    let hints = serde_json::to_string(&hints).expect("strings and a number serialise");
    let (table, version) = (&handle.snapshot_key, served.snapshot.version);
    if let Some(kept) = app.cache().selection(table, version, &hints).await {
        return Ok(kept);
    }
    let files: Arc<[u32]> = select_files(handle, served, request)?.into();
    app.cache()
        .keep_selection(table, version, &hints, files.clone())
        .await;
    Ok(files)
}

/// The files a query returns, as indices into the snapshot: those the predicate hints cannot rule
/// out, or with only a limit hint the fewest leading files whose row counts (from their stats)
/// reach it, less the rows deletion vectors remove. A file without a row count counts as zero
/// rows, so it never ends the list early. As
/// in the reference server the limit is ignored alongside predicates: the files' row counts say
/// nothing about how many of their rows match.
fn select_files(
    handle: &TableHandle,
    served: &ServedSnapshot,
    request: &QueryRequest,
) -> ApiResult<Vec<u32>> {
    let files = &served.snapshot.files;
    let sql = request.predicate_hints.as_deref().unwrap_or_default();
    let predicate = match Predicate::from_hints(
        &served.snapshot.metadata.schema_string,
        request.json_predicate_hints.as_deref(),
        sql,
    ) {
        Ok(p) => p,
        Err(FilterError::TooLarge(why)) => return Err(ApiError::invalid(why)),
        Err(e) => {
            tracing::info!(table = %handle.qualified_name(), "predicate hints not used, every file is returned: {e}");
            None
        }
    };
    if let Some(predicate) = predicate {
        let pruned = predicate.prune(served.statistics());
        tracing::debug!(table = %handle.qualified_name(), %predicate, kept = pruned.kept(), of = files.len(), "pruned");
        return Ok(pruned
            .keep
            .iter()
            .enumerate()
            .filter(|(_, k)| **k)
            .map(|(i, _)| i as u32)
            .collect());
    }
    let mut count = files.len();
    if let Some(limit) = request.limit_hint {
        let mut rows = 0u64;
        for (i, file) in files.iter().enumerate() {
            if rows >= limit as u64 {
                count = i;
                break;
            }
            // Rows a deletion vector removes are not there to read.
            let deleted = file
                .deletion_vector
                .as_ref()
                .map_or(0, |dv| dv.cardinality.max(0) as u64);
            rows += file
                .stats
                .as_ref()
                .and_then(|s| s.num_records)
                .unwrap_or(0)
                .saturating_sub(deleted);
        }
    }
    Ok((0..count as u32).collect())
}
