//! What the table-data handlers (`tables`, `changes`) share: snapshot loading, history and
//! servability checks, response-format negotiation, and the NDJSON response.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use lakeshare_model::{TimestampBound, Version, VersionSpec};
use lakeshare_protocol::{
    CAPABILITIES_HEADER, Capabilities, NDJSON_CONTENT_TYPE, ResponseFormat, TABLE_VERSION_HEADER,
};

use crate::app::App;
use crate::cache::ServedSnapshot;
use crate::error::{ApiError, ApiResult};
use crate::registry::{OpenedTable, TableHandle};

pub(super) type TablePath = Path<(String, String, String)>;

/// Past versions are shared only where the provider said so (`history: true`).
pub(super) fn require_history(handle: &TableHandle, parameter: &str) -> ApiResult<()> {
    if handle.entry.history {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "'{parameter}' reads the table's history, which is not shared for table '{}'",
            handle.qualified_name()
        )))
    }
}

pub(super) async fn latest_version(
    handle: &TableHandle,
    opened: &OpenedTable,
) -> ApiResult<Version> {
    opened
        .source
        .latest_version()
        .await
        .map_err(|e| ApiError::from_model(&handle.qualified_name(), &e))
}

pub(super) async fn load_snapshot(
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
    app.served_snapshot(handle, opened, version)
        .await
        .map_err(|e| ApiError::from_model(&name, &e))
}

/// Refuses to list the files of a version that has metadata but no servable files.
pub(super) fn require_servable(handle: &TableHandle, served: &ServedSnapshot) -> ApiResult<()> {
    match &served.snapshot.unservable {
        Some(reason) => Err(ApiError::from_model(
            &handle.qualified_name(),
            &lakeshare_model::Error::Unsupported(reason.clone()),
        )),
        None => Ok(()),
    }
}

pub(super) fn capabilities(headers: &HeaderMap) -> Capabilities {
    Capabilities::parse(
        headers
            .get(CAPABILITIES_HEADER)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Reader features that change what a file's rows are, so a client reading the delta format must
/// understand them. Features about the log itself (checkpoints, vacuum) do not reach the client.
const DATA_READER_FEATURES: &[&str] = &[
    "deletionVectors",
    "columnMapping",
    "timestampNtz",
    "typeWidening",
    "typeWidening-preview",
    "variantType",
    "variantType-preview",
];

/// Picks the response format as the reference server does: a single requested format is
/// honoured; given a choice, parquet for plain tables and delta for tables with advanced reader
/// features. A table the parquet format cannot represent faithfully is never sent as parquet.
pub(super) fn choose_format(
    handle: &TableHandle,
    served: &ServedSnapshot,
    caps: &Capabilities,
) -> ApiResult<ResponseFormat> {
    let snapshot = &served.snapshot;
    let prefers_delta =
        served.parquet_blocker.is_some() || snapshot.protocol.min_reader_version > 1;
    let format = if !caps.accepts(ResponseFormat::Parquet)
        || (caps.accepts(ResponseFormat::Delta) && prefers_delta)
    {
        ResponseFormat::Delta
    } else {
        ResponseFormat::Parquet
    };
    match format {
        ResponseFormat::Parquet => {
            if let Some(blocker) = &served.parquet_blocker {
                return Err(ApiError::unsupported(format!(
                    "table '{}' uses {blocker}, which the parquet response format cannot represent; read it in \
                     the delta response format (header delta-sharing-capabilities: responseformat=delta; in the \
                     Python connector, use_delta_format=True)",
                    handle.qualified_name()
                )));
            }
        }
        ResponseFormat::Delta => {
            let mapping = snapshot.metadata.column_mapping;
            let required = DATA_READER_FEATURES.iter().filter(|f| {
                snapshot.protocol.has_reader_feature(f) || (**f == "columnMapping" && mapping)
            });
            for feature in required {
                if !caps.supports_reader_feature(feature) {
                    return Err(ApiError::unsupported(format!(
                        "table '{}' needs the reader feature {feature}, which the client did not list in \
                         delta-sharing-capabilities readerfeatures; use a client that supports it",
                        handle.qualified_name()
                    )));
                }
            }
        }
    }
    Ok(format)
}

pub(super) fn version_header(version: Version) -> [(&'static str, HeaderValue); 1] {
    [(TABLE_VERSION_HEADER, HeaderValue::from(version))]
}

/// The file id scheme a read's `fileidhash` header asks for (`None` without one); 400 for a
/// scheme there is not.
pub(super) fn file_id_hash(
    headers: &axum::http::HeaderMap,
) -> ApiResult<Option<lakeshare_protocol::FileIdHash>> {
    let Some(value) = headers.get(lakeshare_protocol::FILE_ID_HASH_HEADER) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::invalid("the fileidhash header is not text"))?;
    lakeshare_protocol::FileIdHash::parse(text)
        .map(Some)
        .map_err(ApiError::invalid)
}

/// Refuses `ids` for table `table` if one of `files` has no id in that scheme.
pub(super) fn check_file_ids<'a>(
    table: &str,
    ids: lakeshare_protocol::FileIdHash,
    mut files: impl Iterator<Item = &'a lakeshare_model::DataFile>,
) -> ApiResult<()> {
    if files.any(|f| ids.id_of(f).is_none()) {
        return Err(ApiError::unsupported(format!(
            "table '{table}' cannot name its files in the fileidhash={} scheme",
            ids.as_str()
        )));
    }
    Ok(())
}

/// Echoes the `fileidhash` the client sent, lowercase, as it must.
pub(super) fn echo_file_id_hash(
    response: &mut Response,
    ids: Option<lakeshare_protocol::FileIdHash>,
) {
    if let Some(ids) = ids {
        response.headers_mut().insert(
            lakeshare_protocol::FILE_ID_HASH_HEADER,
            HeaderValue::from_static(ids.as_str()),
        );
    }
}

pub(super) fn ndjson_response(version: Version, format: ResponseFormat, body: Body) -> Response {
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
