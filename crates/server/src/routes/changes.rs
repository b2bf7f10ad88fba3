//! `GET …/changes`: the change data feed of a table between two versions.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use lakeshare_model::{
    ChangeKind, TableSource, TimestampBound, Version, VersionChanges, VersionSpec,
};
use lakeshare_protocol::ResponseFormat;
use lakeshare_protocol::lines::EndStreamLine;
use lakeshare_protocol::time::parse_timestamp;
use lakeshare_storage::{Purpose, UrlSigner};

use super::common::{
    TablePath, capabilities, check_file_ids, choose_format, echo_file_id_hash, file_id_hash,
    load_snapshot, ndjson_response, require_history, require_servable,
};
use crate::app::App;
use crate::auth::Recipient;
use crate::cache::ServedSnapshot;
use crate::cursor::{self, Position};
use crate::encode::{self, MetadataExtras};
use crate::error::{ApiError, ApiResult};
use crate::pages::Params;

/// Lines of a change read other than the head, in order; a page is a range of these.
#[derive(Debug, Clone, Copy)]
enum Item {
    Protocol { commit: usize },
    Metadata { commit: usize },
    File { commit: usize, file: usize },
}

pub async fn changes(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, table)): TablePath,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let handle = app.table(&recipient, &share, &schema, &table).await?;
    let handle = &handle;
    require_history(handle, "changes")?;
    let opened = app.open_table(handle).await?;
    let source = &*opened.source;
    let caps = capabilities(&headers);
    let name = handle.qualified_name();
    let model_error = |e: lakeshare_model::Error| ApiError::from_model(&name, &e);

    let now = lakeshare_storage::now_ms();
    // A page token pins the range its read started with, so commits made meanwhile do not move
    // the end of the range under a paging client. It is bound to the parameters as sent.
    let raw_range: Vec<Option<&str>> = [
        "startingVersion",
        "startingTimestamp",
        "endingVersion",
        "endingTimestamp",
    ]
    .iter()
    .map(|name| params.get(name))
    .collect();
    let format_hint = format!("{:?}", caps.response_formats);
    // A page continues in the id scheme its read began with.
    let ids = file_id_hash(&headers)?;
    let hash = cursor::params_hash(&(
        ids.map(|i| i.as_str()),
        &raw_range,
        params
            .get("includeHistoricalMetadata")
            .map(str::to_ascii_lowercase),
        params
            .get("includeHistoricalProtocol")
            .map(str::to_ascii_lowercase),
        &format_hint,
    ));
    let binding = cursor::Binding {
        table_id: &handle.id,
        recipient: &recipient.name,
        params: &hash,
    };
    let page = cursor::read(
        app.signer(),
        Purpose::ChangePage,
        params.get("pageToken"),
        binding,
        now,
    )?;
    let latest = match &page {
        Some(cursor) => cursor.v,
        None => source.latest_version().await.map_err(model_error)?,
    };
    let (start, end) = resolve_range(source, &params, latest)
        .await
        .map_err(|e| match e {
            RangeError::Api(e) => e,
            RangeError::Model(e) => model_error(e),
        })?;
    let include_metadata = params.bool("includeHistoricalMetadata")?.unwrap_or(false);
    let include_protocol = params.bool("includeHistoricalProtocol")?.unwrap_or(false);
    let max_files = match params.i64("maxFiles")? {
        Some(n) if n <= 0 => {
            return Err(ApiError::invalid(format!(
                "maxFiles must be positive, got {n}"
            )));
        }
        other => other.map(|n| n as usize),
    };

    // The feed must have been on throughout: at the start, and in every metadata set since.
    let at_start = load_snapshot(&app, handle, opened, VersionSpec::Version(start)).await?;
    let at_end = load_snapshot(&app, handle, opened, VersionSpec::Version(end)).await?;
    require_servable(handle, &at_end)?;
    let format = choose_format(handle, &at_end, &caps)?;
    let mut commits = source.changes(start, end).await.map_err(model_error)?;
    // Page tokens key on this order: it must not depend on the adapter or process.
    commits.iter_mut().for_each(VersionChanges::sort_files);
    if let Some(filter) = opened.partition_filter(handle) {
        filter
            .retain_changes(&at_start.snapshot.metadata, &mut commits)
            .map_err(|(version, e)| model_error(crate::cache::refused_filter(version, &e)))?;
    }
    if let Some((off, _)) = std::iter::once((start, &at_start.snapshot.metadata))
        .chain(
            commits
                .iter()
                .filter_map(|c| c.metadata.as_ref().map(|m| (c.version, m))),
        )
        .find(|(_, metadata)| !metadata.change_data_feed)
    {
        return Err(ApiError::invalid(format!(
            "table '{name}' does not record its changes at version {off}: the change data feed \
             (delta.enableChangeDataFeed) is not on there"
        )));
    }

    let items = items(&commits, format, include_metadata, include_protocol);
    if format == ResponseFormat::Parquet
        && let Some(version) = items.iter().find_map(|item| match *item {
            Item::File { commit, file }
                if commits[commit].files[file].file.deletion_vector.is_some() =>
            {
                Some(commits[commit].version)
            }
            _ => None,
        })
    {
        return Err(ApiError::unsupported(format!(
            "table '{name}' changed files with deletion vectors at version {version}, which the parquet \
             response format cannot represent; read the changes in the delta response format \
             (responseformat=delta; in the Python connector, use_delta_format=True)"
        )));
    }
    let first = match page.as_ref().map(|c| &c.p) {
        None => 0,
        Some(&Position::Change { version, index }) => {
            first_at(&items, &commits, version, index as usize)
        }
        Some(_) => return Err(ApiError::invalid("pageToken is not a change page token")),
    };
    let last = max_files.map_or(items.len(), |n| first.saturating_add(n).min(items.len()));
    let end_stream = max_files.map(|_| {
        EndStreamLine::new(
            (last < items.len()).then(|| {
                cursor::issue(
                    app.signer(),
                    Purpose::ChangePage,
                    binding,
                    latest,
                    position_of(&items, &commits, last),
                    now,
                )
            }),
            None,
            (last > first).then(|| now + app.url_ttl_ms()),
        )
    });
    let page_files = || {
        items[first..last].iter().filter_map(|item| match *item {
            Item::File { commit, file } => Some(&commits[commit].files[file].file),
            _ => None,
        })
    };
    if let Some(ids) = ids {
        check_file_ids(&name, ids, page_files())?;
    }
    // Recorded once the answer has started (its first URLs signed), with the ids it sends.
    let audited = crate::audit::table_read(
        handle,
        ids.unwrap_or_default(),
        page_files(),
        serde_json::json!({
            "start_version": start,
            "end_version": end,
            "lines": last - first,
        }),
    );
    let signer = opened
        .signer
        .for_recipient(&recipient.name, &name)
        .unwrap_or_else(|| opened.signer.clone());
    let lines = ChangeLines {
        commits: Arc::new(commits),
        items: Arc::new(items),
        format,
        ids: ids.unwrap_or_default(),
    };
    // Only where an end line is sent at all (with maxFiles) does the client look for one.
    let ending = encode::Ending {
        report_failures: caps.include_end_stream_action && end_stream.is_some(),
        line: end_stream,
    };
    let stream = stream_changes(at_end, lines, first..last, start, signer, ending)
        .await
        .map_err(|e| ApiError::from_signing(&name, &e))?;
    app.audit().record("changes", recipient.caller(), audited);
    let mut response = ndjson_response(start, format, Body::from_stream(stream));
    echo_file_id_hash(&mut response, ids);
    Ok(response)
}

enum RangeError {
    Api(ApiError),
    Model(lakeshare_model::Error),
}

impl From<ApiError> for RangeError {
    fn from(e: ApiError) -> Self {
        RangeError::Api(e)
    }
}

/// `startingVersion`/`startingTimestamp` and `endingVersion`/`endingTimestamp` → an inclusive
/// version range. A start timestamp takes the first version at or after it, an end timestamp the
/// last at or before it; an end past the latest version is the latest version.
async fn resolve_range(
    source: &dyn TableSource,
    params: &Params,
    latest: Version,
) -> Result<(Version, Version), RangeError> {
    let timestamp = |name: &str| -> Result<_, RangeError> {
        params
            .get(name)
            .map(|t| {
                parse_timestamp(t)
                    .map_err(|e| ApiError::invalid(format!("parameter '{name}': {e}")))
            })
            .transpose()
            .map_err(RangeError::Api)
    };
    let non_negative = |name: &str| -> Result<Option<Version>, RangeError> {
        match params.i64(name)? {
            Some(v) if v < 0 => Err(ApiError::invalid(format!(
                "parameter '{name}' must not be negative, got {v}"
            ))
            .into()),
            other => Ok(other.map(|v| v as Version)),
        }
    };
    let start = match (
        non_negative("startingVersion")?,
        timestamp("startingTimestamp")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(
                ApiError::invalid("give startingVersion or startingTimestamp, not both").into(),
            );
        }
        (None, None) => {
            return Err(
                ApiError::invalid("startingVersion or startingTimestamp is required").into(),
            );
        }
        (Some(v), None) => v,
        (None, Some(t)) => source
            .version_at(t, TimestampBound::AtOrAfter)
            .await
            .map_err(RangeError::Model)?,
    };
    let end = match (
        non_negative("endingVersion")?,
        timestamp("endingTimestamp")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(
                ApiError::invalid("give endingVersion or endingTimestamp, not both").into(),
            );
        }
        (Some(v), None) => v.min(latest),
        (None, Some(t)) => source
            .version_at(t, TimestampBound::AtOrBefore)
            .await
            .map_err(RangeError::Model)?
            .min(latest),
        (None, None) => latest,
    };
    if start > latest {
        return Err(ApiError::invalid(format!(
            "the starting version {start} is after the latest version {latest}"
        ))
        .into());
    }
    if start > end {
        return Err(ApiError::invalid(format!(
            "the starting version {start} is after the ending version {end}"
        ))
        .into());
    }
    Ok((start, end))
}

/// The lines of the read. In the parquet format a commit that wrote change data files is
/// described by those alone (its added and removed files would count its rows twice); the delta
/// format carries every action and lets the client's Delta reader apply the same rule.
fn items(
    commits: &[VersionChanges],
    format: ResponseFormat,
    metadata: bool,
    protocol: bool,
) -> Vec<Item> {
    let mut items = Vec::new();
    for (commit, changes) in commits.iter().enumerate() {
        // The head lines already describe the start of the range; history is what came after.
        let historical = commit > 0;
        if historical && protocol && format == ResponseFormat::Delta && changes.protocol.is_some() {
            items.push(Item::Protocol { commit });
        }
        if historical && metadata && changes.metadata.is_some() {
            items.push(Item::Metadata { commit });
        }
        let only_change_data = format == ResponseFormat::Parquet && changes.has_change_data();
        for (file, change) in changes.files.iter().enumerate() {
            if !only_change_data || change.kind == ChangeKind::ChangeData {
                items.push(Item::File { commit, file });
            }
        }
    }
    items
}

impl Item {
    fn commit(self) -> usize {
        match self {
            Item::Protocol { commit } | Item::Metadata { commit } | Item::File { commit, .. } => {
                commit
            }
        }
    }
}

/// Where item `i` stands as a page token keeps it: the version of its commit and its place among
/// that commit's lines. Unlike a global offset, it does not depend on how many lines earlier
/// commits had in the process that answers.
fn position_of(items: &[Item], commits: &[VersionChanges], i: usize) -> Position {
    let commit = items[i].commit();
    let first_of_commit = items[..i]
        .iter()
        .rposition(|item| item.commit() != commit)
        .map_or(0, |p| p + 1);
    Position::Change {
        version: commits[commit].version,
        index: (i - first_of_commit) as u64,
    }
}

/// The first item at or after line `index` of the commit at `version`.
fn first_at(items: &[Item], commits: &[VersionChanges], version: Version, index: usize) -> usize {
    let mut seen_in_commit = 0;
    for (i, item) in items.iter().enumerate() {
        let at = commits[item.commit()].version;
        if at > version {
            return i;
        }
        if at == version {
            if seen_in_commit == index {
                return i;
            }
            seen_in_commit += 1;
        }
    }
    items.len()
}

async fn stream_changes(
    head_snapshot: Arc<ServedSnapshot>,
    lines: ChangeLines,
    range: std::ops::Range<usize>,
    start: Version,
    signer: Arc<dyn UrlSigner>,
    ending: encode::Ending,
) -> lakeshare_storage::Result<
    impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
> {
    let mut head = Vec::with_capacity(1024);
    // The delta format's client needs a version on every metadata line, the head included.
    let extras = MetadataExtras {
        version: Some(start),
        ..MetadataExtras::default()
    };
    encode::write_head(&mut head, lines.format, &head_snapshot.snapshot, extras);
    encode::stream_body(head, range, ending, Arc::new(lines), signer).await
}

/// The lines of a change read after its head.
struct ChangeLines {
    commits: Arc<Vec<VersionChanges>>,
    items: Arc<Vec<Item>>,
    format: ResponseFormat,
    ids: lakeshare_protocol::FileIdHash,
}

impl encode::BodyLines for ChangeLines {
    fn is_file(&self, i: usize) -> bool {
        matches!(self.items[i], Item::File { .. })
    }

    fn urls<'a>(&'a self, i: usize, out: &mut Vec<std::borrow::Cow<'a, str>>) {
        if let Item::File { commit, file } = self.items[i] {
            encode::push_urls(&self.commits[commit].files[file].file, out);
        }
    }

    fn write(
        &self,
        buf: &mut Vec<u8>,
        i: usize,
        signed: &mut dyn Iterator<Item = lakeshare_storage::SignedUrl>,
    ) {
        match self.items[i] {
            Item::Protocol { commit } => {
                let c = &self.commits[commit];
                encode::write_historical_protocol(
                    buf,
                    c.protocol.as_ref().expect("listed"),
                    c.version,
                );
            }
            Item::Metadata { commit } => {
                let c = &self.commits[commit];
                encode::write_historical_metadata(
                    buf,
                    self.format,
                    c.metadata.as_ref().expect("listed"),
                    c.version,
                );
            }
            Item::File { commit, file } => {
                let c = &self.commits[commit];
                encode::write_change(
                    buf,
                    self.format,
                    &c.files[file],
                    c.version,
                    c.timestamp_ms,
                    self.ids,
                    signed,
                );
            }
        }
    }
}
