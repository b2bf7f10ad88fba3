//! Table version, metadata and query: the table-data endpoints.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use lakeshare_model::{TimestampBound, Version, VersionSpec};
use lakeshare_protocol::lines::{FileLine, MetadataLine, ProtocolLine};
use lakeshare_protocol::query::QueryRequest;
use lakeshare_protocol::time::parse_timestamp;
use lakeshare_protocol::{
    CAPABILITIES_HEADER, Capabilities, NDJSON_CONTENT_TYPE, ResponseFormat, TABLE_VERSION_HEADER,
    write_ndjson_line,
};

use crate::app::App;
use crate::auth::Recipient;
use crate::cache::ServedSnapshot;
use crate::error::{ApiError, ApiResult};
use crate::pages::Params;
use crate::registry::{OpenedTable, TableHandle};

type TablePath = Path<(String, String, String)>;

/// How many file lines go into one chunk of a streamed body.
const FILES_PER_CHUNK: usize = 256;

/// `GET …/version`: the latest version, or with `startingTimestamp` the first version committed
/// at or after it.
pub async fn version(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, table)): TablePath,
    params: Params,
) -> ApiResult<Response> {
    let handle = app.table(&recipient, &share, &schema, &table)?;
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

/// `HEAD …/tables/{table}`: the deprecated way to ask for the latest version.
pub async fn version_head(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, table)): TablePath,
) -> ApiResult<Response> {
    let handle = app.table(&recipient, &share, &schema, &table)?;
    let opened = app.open_table(handle).await?;
    Ok(version_header(latest_version(handle, opened).await?).into_response())
}

/// `GET …/metadata`: the protocol and metadata lines, optionally at `version` or `timestamp`.
pub async fn metadata(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, table)): TablePath,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let handle = app.table(&recipient, &share, &schema, &table)?;
    let opened = app.open_table(handle).await?;
    let caps = capabilities(&headers);
    let spec = version_spec(handle, params.i64("version")?, params.get("timestamp"))?;
    let served = load_snapshot(&app, handle, opened, spec).await?;
    let format = choose_format(handle, &served, &caps)?;
    let snapshot = &served.snapshot;
    let mut body = Vec::with_capacity(1024);
    write_ndjson_line(&mut body, &ProtocolLine::parquet());
    write_ndjson_line(
        &mut body,
        &MetadataLine::parquet(
            &snapshot.metadata,
            (spec != VersionSpec::Latest).then_some(snapshot.version),
            Some(snapshot.size_bytes()),
            Some(snapshot.files.len() as u64),
        ),
    );
    Ok(ndjson_response(snapshot.version, format, Body::from(body)))
}

/// `POST …/query`: the files of a snapshot, streamed as NDJSON.
pub async fn query(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, table)): TablePath,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let handle = app.table(&recipient, &share, &schema, &table)?;
    let request = parse_query(&body)?;
    let spec = validate_query(handle, &request)?;
    let opened = app.open_table(handle).await?;
    let caps = capabilities(&headers);
    let served = load_snapshot(&app, handle, opened, spec).await?;
    let format = choose_format(handle, &served, &caps)?;

    if request.json_predicate_hints.is_some() || request.predicate_hints.is_some() {
        tracing::debug!(table = %handle.qualified_name(), "predicate hints received; every file is returned (hints are best effort)");
    }
    let files = files_for_limit(&served, request.limit_hint);
    tracing::info!(
        target: "lakeshare::audit",
        recipient = %recipient.name,
        table = %handle.qualified_name(),
        version = served.snapshot.version,
        files = files,
        "query"
    );
    let version = served.snapshot.version;
    let time_travel = spec != VersionSpec::Latest;
    Ok(ndjson_response(
        version,
        format,
        Body::from_stream(stream_files(
            served,
            opened.signer.clone(),
            files,
            time_travel,
        )),
    ))
}

fn parse_query(body: &[u8]) -> ApiResult<QueryRequest> {
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
    if q.max_files.is_some() || q.page_token.is_some() {
        return Err(ApiError::unsupported(
            "paged queries (maxFiles, pageToken) are not supported by this server yet; query without them",
        ));
    }
    if q.include_refresh_token.is_some() || q.refresh_token.is_some() {
        return Err(ApiError::unsupported(
            "refresh tokens (includeRefreshToken, refreshToken) are not supported by this server yet",
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

/// Past versions are shared only where the provider said so (`history: true`).
fn require_history(handle: &TableHandle, parameter: &str) -> ApiResult<()> {
    if handle.entry.history {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "'{parameter}' reads the table's history, which is not shared for table '{}'",
            handle.qualified_name()
        )))
    }
}

async fn latest_version(handle: &TableHandle, opened: &OpenedTable) -> ApiResult<Version> {
    opened
        .source
        .latest_version()
        .await
        .map_err(|e| ApiError::from_model(&handle.qualified_name(), &e))
}

async fn load_snapshot(
    app: &App,
    handle: &TableHandle,
    opened: &OpenedTable,
    spec: VersionSpec,
) -> ApiResult<Arc<ServedSnapshot>> {
    let name = handle.qualified_name();
    let version = match spec {
        VersionSpec::Latest => latest_version(handle, opened).await?,
        VersionSpec::Version(v) => v,
        VersionSpec::Timestamp(ts) => opened
            .source
            .version_at(ts, TimestampBound::AtOrBefore)
            .await
            .map_err(|e| ApiError::from_model(&name, &e))?,
    };
    app.cache()
        .get(&handle.id, version, &*opened.source, &*opened.signer)
        .await
        .map_err(|e| ApiError::from_model(&name, &e))
}

fn capabilities(headers: &HeaderMap) -> Capabilities {
    Capabilities::parse(
        headers
            .get(CAPABILITIES_HEADER)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Picks the response format. Only the parquet format is produced so far, so a table it cannot
/// represent faithfully is refused rather than served with wrong rows.
fn choose_format(
    handle: &TableHandle,
    served: &ServedSnapshot,
    caps: &Capabilities,
) -> ApiResult<ResponseFormat> {
    if !caps.accepts(ResponseFormat::Parquet) {
        return Err(ApiError::unsupported(
            "this server does not serve the delta response format yet; ask for responseformat=parquet",
        ));
    }
    if let Some(blocker) = &served.parquet_blocker {
        return Err(ApiError::unsupported(format!(
            "table '{}' uses {blocker}, which the parquet response format cannot represent, and this server \
             does not serve the delta response format yet; the table cannot be read until it does",
            handle.qualified_name()
        )));
    }
    Ok(ResponseFormat::Parquet)
}

/// With a limit hint, the fewest leading files whose row counts (from their stats) reach it.
/// A file without a row count counts as zero rows, so it never ends the list early.
fn files_for_limit(served: &ServedSnapshot, limit_hint: Option<i64>) -> usize {
    let files = &served.snapshot.files;
    let Some(limit) = limit_hint else {
        return files.len();
    };
    let mut rows = 0u64;
    for (i, file) in files.iter().enumerate() {
        if rows >= limit as u64 {
            return i;
        }
        rows += file.stats.as_ref().and_then(|s| s.num_records).unwrap_or(0);
    }
    files.len()
}

/// The query body: protocol and metadata lines, then one line per file, signing each URL as
/// its chunk is produced so a response of 100k files is never held in memory whole.
fn stream_files(
    served: Arc<ServedSnapshot>,
    signer: Arc<dyn lakeshare_storage::UrlSigner>,
    count: usize,
    time_travel: bool,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let mut head = Vec::with_capacity(1024);
    write_ndjson_line(&mut head, &ProtocolLine::parquet());
    let snapshot = &served.snapshot;
    write_ndjson_line(
        &mut head,
        &MetadataLine::parquet(
            &snapshot.metadata,
            time_travel.then_some(snapshot.version),
            None,
            None,
        ),
    );
    let head = futures::stream::once(async move { Ok(Bytes::from(head)) });
    let chunks = futures::stream::iter((0..count).step_by(FILES_PER_CHUNK)).map(move |start| {
        let files = &served.snapshot.files[start..(start + FILES_PER_CHUNK).min(count)];
        let mut buf = Vec::with_capacity(files.len() * 512);
        for file in files {
            let signed = signer.sign(&file.url).map_err(|e| {
                // Vetted when the snapshot was loaded; reaching this is a bug or a race with the
                // filesystem. The connection is cut so the client cannot mistake a partial answer.
                tracing::error!("signing {} failed mid-stream: {e}", file.url);
                std::io::Error::other(e)
            })?;
            write_ndjson_line(
                &mut buf,
                &FileLine::parquet(file, &signed.url, signed.expires_at_ms, None),
            );
        }
        Ok(Bytes::from(buf))
    });
    head.chain(chunks)
}

fn version_header(version: Version) -> [(&'static str, HeaderValue); 1] {
    [(TABLE_VERSION_HEADER, HeaderValue::from(version))]
}

fn ndjson_response(version: Version, format: ResponseFormat, body: Body) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(NDJSON_CONTENT_TYPE),
    );
    headers.insert(TABLE_VERSION_HEADER, HeaderValue::from(version));
    headers.insert(
        CAPABILITIES_HEADER,
        HeaderValue::from_str(&Capabilities::response_header(format)).expect("ascii header"),
    );
    response
}
