//! NDJSON bodies of table reads in either response format.

use axum::body::Bytes;
use futures::StreamExt;
use lakeshare_model::{ChangeFile, ChangeKind, DataFile, Snapshot, TableMetadata, TableProtocol};
use lakeshare_protocol::ResponseFormat;
use lakeshare_protocol::delta_lines::{
    DeltaAction, DeltaFileContext, DeltaFileLine, DeltaMetadataLine, DeltaProtocolLine,
};
use lakeshare_protocol::lines::EndStreamLine;
use lakeshare_protocol::lines::{ChangeLine, FileLine, MetadataLine, ProtocolLine};
use lakeshare_protocol::write_ndjson_line;
use lakeshare_storage::{SignedUrl, UrlSigner};

/// What the metadata line says about the snapshot beyond the table's metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetadataExtras {
    /// Set on time-travel reads and change reads.
    pub version: Option<u64>,
    pub size: Option<u64>,
    pub num_files: Option<u64>,
}

/// The protocol and metadata lines.
pub fn write_head(
    buf: &mut Vec<u8>,
    format: ResponseFormat,
    snapshot: &Snapshot,
    extras: MetadataExtras,
) {
    let MetadataExtras {
        version,
        size,
        num_files,
    } = extras;
    match format {
        ResponseFormat::Parquet => {
            write_ndjson_line(buf, &ProtocolLine::parquet());
            write_ndjson_line(
                buf,
                &MetadataLine::parquet(&snapshot.metadata, version, size, num_files),
            );
        }
        ResponseFormat::Delta => {
            write_ndjson_line(buf, &DeltaProtocolLine::new(&snapshot.protocol, None));
            write_ndjson_line(
                buf,
                &DeltaMetadataLine::new(&snapshot.metadata, version, size, num_files),
            );
        }
    }
}

/// One `file` line of a snapshot read, its URLs signed now.
pub fn write_file(
    buf: &mut Vec<u8>,
    format: ResponseFormat,
    file: &DataFile,
    signer: &dyn UrlSigner,
) -> lakeshare_storage::Result<()> {
    let signed = signer.sign(&file.url)?;
    match format {
        ResponseFormat::Parquet => {
            write_ndjson_line(
                buf,
                &FileLine::parquet(file, &signed.url, signed.expires_at_ms, None),
            );
        }
        ResponseFormat::Delta => {
            let dv_url = sign_deletion_vector(file, signer)?;
            let expiration = dv_url.as_ref().map_or(signed.expires_at_ms, |dv| {
                dv.expires_at_ms.min(signed.expires_at_ms)
            });
            write_ndjson_line(
                buf,
                &DeltaFileLine::new(
                    file,
                    DeltaFileContext {
                        action: DeltaAction::Add,
                        url: &signed.url,
                        expiration_timestamp: expiration,
                        deletion_vector_url: dv_url.as_ref().map(|s| s.url.as_str()),
                        version_and_timestamp: None,
                    },
                ),
            );
        }
    }
    Ok(())
}

/// A metadata line of a change read: the metadata a commit set, stamped with its version.
pub fn write_historical_metadata(
    buf: &mut Vec<u8>,
    format: ResponseFormat,
    metadata: &TableMetadata,
    version: u64,
) {
    match format {
        ResponseFormat::Parquet => write_ndjson_line(
            buf,
            &MetadataLine::parquet(metadata, Some(version), None, None),
        ),
        ResponseFormat::Delta => write_ndjson_line(
            buf,
            &DeltaMetadataLine::new(metadata, Some(version), None, None),
        ),
    }
}

/// A protocol line of a change read (delta format only: parquet has no table protocol).
pub fn write_historical_protocol(buf: &mut Vec<u8>, protocol: &TableProtocol, version: u64) {
    write_ndjson_line(buf, &DeltaProtocolLine::new(protocol, Some(version)));
}

/// One file line of a change read, stamped with its commit's version and time.
pub fn write_change(
    buf: &mut Vec<u8>,
    format: ResponseFormat,
    change: &ChangeFile,
    version: u64,
    timestamp_ms: i64,
    signer: &dyn UrlSigner,
) -> lakeshare_storage::Result<()> {
    let file = &change.file;
    let signed = signer.sign(&file.url)?;
    match format {
        ResponseFormat::Parquet => write_ndjson_line(
            buf,
            &ChangeLine::parquet(
                change.kind,
                file,
                &signed.url,
                signed.expires_at_ms,
                version,
                timestamp_ms,
            ),
        ),
        ResponseFormat::Delta => {
            let dv_url = sign_deletion_vector(file, signer)?;
            let action = match change.kind {
                ChangeKind::Added => DeltaAction::Add,
                ChangeKind::Removed => DeltaAction::Remove,
                ChangeKind::ChangeData => DeltaAction::Cdc,
            };
            write_ndjson_line(
                buf,
                &DeltaFileLine::new(
                    file,
                    DeltaFileContext {
                        action,
                        url: &signed.url,
                        expiration_timestamp: signed.expires_at_ms,
                        deletion_vector_url: dv_url.as_ref().map(|s| s.url.as_str()),
                        version_and_timestamp: Some((version, timestamp_ms)),
                    },
                ),
            );
        }
    }
    Ok(())
}

/// The signed URL of a file's persisted deletion vector, if it has one.
fn sign_deletion_vector(
    file: &DataFile,
    signer: &dyn UrlSigner,
) -> lakeshare_storage::Result<Option<SignedUrl>> {
    file.deletion_vector
        .as_ref()
        .and_then(|dv| dv.absolute_url.as_deref())
        .map(|url| signer.sign(url))
        .transpose()
}

/// How many items go into one chunk of a streamed body.
const ITEMS_PER_CHUNK: usize = 256;

/// A streamed NDJSON body: `head`, then the lines `write` produces for each position in `items`
/// (signing URLs as each chunk is produced, so a response of 100k files is never held in memory
/// whole), then the end-of-stream line if the client asked for one.
///
/// URLs were vetted when the snapshot was loaded, so a signing failure here is a bug or a race
/// with the filesystem: the connection is cut so the client cannot mistake a partial answer for
/// a whole one.
pub fn stream_body<F>(
    head: Vec<u8>,
    items: std::ops::Range<usize>,
    end_stream: Option<EndStreamLine>,
    write: F,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    F: Fn(&mut Vec<u8>, usize) -> lakeshare_storage::Result<()> + Send + 'static,
{
    let end = items.end;
    let head = futures::stream::once(async move { Ok(Bytes::from(head)) });
    let chunks = futures::stream::iter(items.step_by(ITEMS_PER_CHUNK)).map(move |first| {
        let mut buf = Vec::with_capacity(ITEMS_PER_CHUNK * 512);
        for item in first..(first + ITEMS_PER_CHUNK).min(end) {
            write(&mut buf, item).map_err(|e| {
                tracing::error!("signing failed mid-stream, cutting the response: {e}");
                std::io::Error::other(e)
            })?;
        }
        Ok(Bytes::from(buf))
    });
    let tail = futures::stream::iter(
        end_stream.map(|line| Ok(Bytes::from(lakeshare_protocol::ndjson_line(&line)))),
    );
    head.chain(chunks).chain(tail)
}
