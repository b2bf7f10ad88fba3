//! NDJSON bodies of table reads in either response format.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

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

/// The URLs a file line needs signed, in the order [`write_file`] and [`write_change`] take them
/// from their `signed` iterator: the file, then its persisted deletion vector if it has one.
pub fn push_urls<'a>(file: &'a DataFile, out: &mut Vec<&'a str>) {
    out.push(&file.url);
    if let Some(dv) = deletion_vector_url(file) {
        out.push(dv);
    }
}

fn deletion_vector_url(file: &DataFile) -> Option<&str> {
    file.deletion_vector
        .as_ref()
        .and_then(|dv| dv.absolute_url.as_deref())
}

/// The signed URLs of one file line, taken from the batch signed for its chunk.
struct SignedFile {
    file: SignedUrl,
    deletion_vector: Option<SignedUrl>,
}

impl SignedFile {
    fn take(file: &DataFile, signed: &mut dyn Iterator<Item = SignedUrl>) -> Self {
        let mut next = || signed.next().expect("one signed URL per pushed URL");
        let file_url = next();
        let deletion_vector = deletion_vector_url(file).map(|_| next());
        Self {
            file: file_url,
            deletion_vector,
        }
    }

    /// When the first of the line's URLs stops working.
    fn expires_at_ms(&self) -> i64 {
        self.deletion_vector
            .as_ref()
            .map_or(self.file.expires_at_ms, |dv| {
                dv.expires_at_ms.min(self.file.expires_at_ms)
            })
    }
}

/// One `file` line of a snapshot read, with the URLs [`push_urls`] listed, signed.
pub fn write_file(
    buf: &mut Vec<u8>,
    format: ResponseFormat,
    file: &DataFile,
    signed: &mut dyn Iterator<Item = SignedUrl>,
) {
    let signed = SignedFile::take(file, signed);
    let expiration = signed.expires_at_ms();
    let dv_url = signed.deletion_vector.as_ref().map(|s| s.url.as_str());
    let signed = &signed.file;
    match format {
        ResponseFormat::Parquet => {
            write_ndjson_line(
                buf,
                &FileLine::parquet(file, &signed.url, signed.expires_at_ms, None),
            );
        }
        ResponseFormat::Delta => {
            write_ndjson_line(
                buf,
                &DeltaFileLine::new(
                    file,
                    DeltaFileContext {
                        action: DeltaAction::Add,
                        url: &signed.url,
                        expiration_timestamp: expiration,
                        deletion_vector_url: dv_url,
                        version_and_timestamp: None,
                    },
                ),
            );
        }
    }
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
    signed: &mut dyn Iterator<Item = SignedUrl>,
) {
    let file = &change.file;
    let signed = SignedFile::take(file, signed);
    let expiration = signed.expires_at_ms();
    let dv_url = signed.deletion_vector.as_ref().map(|s| s.url.as_str());
    let signed = &signed.file;
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
                        expiration_timestamp: expiration,
                        deletion_vector_url: dv_url,
                        version_and_timestamp: Some((version, timestamp_ms)),
                    },
                ),
            );
        }
    }
}

/// The lines of a streamed body after its head, one or none per item.
pub trait BodyLines: Send + Sync + 'static {
    /// The URLs item `i`'s line needs signed, pushed in the order `write` takes them.
    fn urls<'a>(&'a self, i: usize, out: &mut Vec<&'a str>);

    /// Writes item `i`'s line with its URLs, signed, taken from `signed`.
    fn write(&self, buf: &mut Vec<u8>, i: usize, signed: &mut dyn Iterator<Item = SignedUrl>);

    /// Whether item `i` is a file's line (rather than a commit's protocol or metadata), for
    /// the files-served count.
    fn is_file(&self, i: usize) -> bool {
        let _ = i;
        true
    }
}

/// How many items go into one chunk of a streamed body.
const ITEMS_PER_CHUNK: usize = 256;

/// A streamed NDJSON body: `head`, then the lines of `items` (signing the URLs of each chunk
/// as it is produced, in one batch, so a response of 100k files is never held in memory whole),
/// then the end-of-stream line if the client asked for one, its `minUrlExpirationTimestamp` the
/// earliest expiry of the URLs actually sent (a store may reuse a URL signed earlier).
///
/// The first chunk is signed before this returns, so a store that cannot sign at all (its
/// credentials gone) becomes an error status rather than an empty 200. A failure after that is
/// a race with the store: the connection is cut so the client cannot mistake a partial answer
/// for a whole one.
pub async fn stream_body<L: BodyLines>(
    head: Vec<u8>,
    items: std::ops::Range<usize>,
    end_stream: Option<EndStreamLine>,
    lines: Arc<L>,
    signer: Arc<dyn UrlSigner>,
) -> lakeshare_storage::Result<
    impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
> {
    let end = items.end;
    let earliest = Arc::new(AtomicI64::new(i64::MAX));
    let mut starts = items.step_by(ITEMS_PER_CHUNK);
    let first = match starts.next() {
        Some(first) => Some(render_chunk(&*lines, &*signer, first, end, &earliest).await?),
        None => None,
    };
    let head = futures::stream::iter(
        std::iter::once(Bytes::from(head))
            .chain(first)
            .map(Ok::<_, std::io::Error>),
    );
    let seen = earliest.clone();
    let chunks = futures::stream::iter(starts).then(move |start| {
        let lines = lines.clone();
        let signer = signer.clone();
        let earliest = earliest.clone();
        async move {
            render_chunk(&*lines, &*signer, start, end, &earliest)
                .await
                .map_err(|e| {
                    tracing::error!("signing failed mid-stream, cutting the response: {e}");
                    std::io::Error::other(e)
                })
        }
    });
    let tail = futures::stream::iter(end_stream.map(move |line| {
        let earliest = seen.load(Ordering::Relaxed);
        let line = if earliest == i64::MAX {
            line
        } else {
            line.with_min_url_expiration(earliest)
        };
        Ok(Bytes::from(lakeshare_protocol::ndjson_line(&line)))
    }));
    Ok(head.chain(chunks).chain(tail))
}

/// The lines of items `start..start + ITEMS_PER_CHUNK` (capped at `end`), their URLs signed in
/// one batch; notes the earliest expiry among them in `earliest`.
async fn render_chunk<L: BodyLines>(
    lines: &L,
    signer: &dyn UrlSigner,
    start: usize,
    end: usize,
    earliest: &AtomicI64,
) -> lakeshare_storage::Result<Bytes> {
    let chunk = start..(start + ITEMS_PER_CHUNK).min(end);
    let signed = {
        let mut urls = Vec::with_capacity(chunk.len());
        for i in chunk.clone() {
            lines.urls(i, &mut urls);
        }
        let signed = signer.sign_all(&urls).await?;
        let files = chunk.clone().filter(|&i| lines.is_file(i)).count();
        crate::metrics::COUNTERS
            .urls_signed
            .inc_by(urls.len() as u64);
        crate::metrics::COUNTERS.files_served.inc_by(files as u64);
        signed
    };
    if let Some(min) = signed.iter().map(|s| s.expires_at_ms).min() {
        earliest.fetch_min(min, Ordering::Relaxed);
    }
    let mut signed = signed.into_iter();
    let mut buf = Vec::with_capacity(chunk.len() * 512);
    for i in chunk {
        lines.write(&mut buf, i, &mut signed);
    }
    Ok(Bytes::from(buf))
}
