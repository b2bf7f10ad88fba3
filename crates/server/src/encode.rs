//! NDJSON bodies of table reads in either response format.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Bytes;
use futures::StreamExt;
use lakeshare_model::{ChangeFile, ChangeKind, DataFile, Snapshot, TableMetadata, TableProtocol};
use lakeshare_protocol::delta_lines::{
    DeltaAction, DeltaFileContext, DeltaFileLine, DeltaMetadataLine, DeltaProtocolLine,
};
use lakeshare_protocol::lines::EndStreamLine;
use lakeshare_protocol::lines::{ChangeLine, FileLine, MetadataLine, ProtocolLine};
use lakeshare_protocol::write_ndjson_line;
use lakeshare_protocol::{FileIdHash, ResponseFormat};
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
pub fn push_urls<'a>(file: &'a DataFile, out: &mut Vec<Cow<'a, str>>) {
    out.push(file.url.as_str());
    if let Some(dv) = deletion_vector_url(file) {
        out.push(Cow::Borrowed(dv));
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

/// One `file` line of a snapshot read, with the URLs [`push_urls`] listed, signed, and the
/// file's id in the scheme the client asked for.
pub fn write_file(
    buf: &mut Vec<u8>,
    format: ResponseFormat,
    file: &DataFile,
    ids: FileIdHash,
    signed: &mut dyn Iterator<Item = SignedUrl>,
) {
    let id = ids.id_of(file);
    let id = id.as_deref().unwrap_or(&file.id);
    let signed = SignedFile::take(file, signed);
    let expiration = signed.expires_at_ms();
    let dv_url = signed.deletion_vector.as_ref().map(|s| s.url.as_str());
    let signed = &signed.file;
    match format {
        ResponseFormat::Parquet => {
            write_ndjson_line(
                buf,
                &FileLine::parquet(file, &signed.url, signed.expires_at_ms, None).with_id(id),
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
                )
                .with_id(id),
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
    ids: FileIdHash,
    signed: &mut dyn Iterator<Item = SignedUrl>,
) {
    let file = &change.file;
    let id = ids.id_of(file);
    let id = id.as_deref().unwrap_or(&file.id);
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
            )
            .with_id(id),
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
                )
                .with_id(id),
            );
        }
    }
}

/// The lines of a streamed body after its head, one or none per item.
pub trait BodyLines: Send + Sync {
    /// The URLs item `i`'s line needs signed, pushed in the order `write` takes them.
    fn urls<'a>(&'a self, i: usize, out: &mut Vec<Cow<'a, str>>);

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
pub(crate) const ITEMS_PER_CHUNK: usize = 256;

/// How a streamed read ends.
#[derive(Debug, Default)]
pub struct Ending {
    /// The end-of-stream line the client asked for (explicitly, or by paging).
    pub line: Option<EndStreamLine>,
    /// Whether a failure after the head is reported in-band, as an end-of-stream line with
    /// `errorMessage`: only for clients that declared `includeendstreamaction`, which check
    /// for it. Others only see the connection cut, as they cannot tell a short answer from a
    /// whole one otherwise.
    pub report_failures: bool,
}

/// A streamed NDJSON body: `head`, then the lines of `items` (signing the URLs of each chunk
/// as it is produced, in one batch, so a response of 100k files is never held in memory whole),
/// then the end-of-stream line as [`framed`] writes it.
pub async fn stream_body<L: BodyLines + 'static>(
    head: Vec<u8>,
    items: std::ops::Range<usize>,
    ending: Ending,
    lines: Arc<L>,
    signer: Arc<dyn UrlSigner>,
) -> lakeshare_storage::Result<
    impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
> {
    let end = items.end;
    let chunks = futures::stream::iter(items.step_by(ITEMS_PER_CHUNK)).then(move |start| {
        let lines = lines.clone();
        let signer = signer.clone();
        async move {
            let chunk = start..(start + ITEMS_PER_CHUNK).min(end);
            let files = chunk.clone().filter(|&i| lines.is_file(i)).count();
            let rendered = render(&*lines, &*signer, chunk).await?;
            crate::metrics::COUNTERS.files_served.inc_by(files as u64);
            Ok(Chunk {
                bytes: rendered.bytes,
                earliest_expiry_ms: rendered.earliest_expiry_ms,
            })
        }
    });
    framed(head, chunks, ending).await
}

/// Part of a body after its head, with the earliest expiry of the URLs in it (`i64::MAX` for
/// none).
pub struct Chunk {
    pub bytes: Bytes,
    pub earliest_expiry_ms: i64,
}

/// A body: `head`, then `chunks`, then the end-of-stream line if the client asked for one, its
/// `minUrlExpirationTimestamp` the earliest expiry of the URLs actually sent (a store may reuse
/// a URL signed earlier, and cached lines were signed by an earlier request).
///
/// The first chunk is made before this returns, so a store that cannot sign at all (its
/// credentials gone) becomes an error status rather than an empty 200. A failure after that is
/// a race with the store: it ends the body with an `errorMessage` line where the client reads
/// one ([`Ending::report_failures`]), else the connection is cut so the client cannot mistake a
/// partial answer for a whole one.
pub async fn framed<E>(
    head: Vec<u8>,
    chunks: impl futures::Stream<Item = Result<Chunk, E>> + Send + 'static,
    ending: Ending,
) -> Result<impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static, E>
where
    E: std::fmt::Display + Send + 'static,
{
    let earliest = Arc::new(AtomicI64::new(i64::MAX));
    let note = {
        let earliest = earliest.clone();
        move |chunk: Chunk| {
            earliest.fetch_min(chunk.earliest_expiry_ms, Ordering::Relaxed);
            chunk.bytes
        }
    };
    let mut chunks = Box::pin(chunks);
    let first = chunks.next().await.transpose()?.map(note.clone());
    let head = futures::stream::iter(
        std::iter::once(Bytes::from(head))
            .chain(first)
            .map(Ok::<_, std::io::Error>),
    );
    let report = ending.report_failures;
    // After a failure nothing more is sent: neither chunks nor the normal last line.
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (stop, ended) = (failed.clone(), failed.clone());
    let chunks = chunks
        .take_while(move |_| futures::future::ready(!stop.load(Ordering::Relaxed)))
        .map(move |chunk| match chunk {
            Ok(chunk) => Ok(note(chunk)),
            Err(e) => {
                failed.store(true, Ordering::Relaxed);
                tracing::error!("signing failed mid-stream: {e}");
                if report {
                    let line = EndStreamLine::failed(
                        "the storage failed while the answer was being sent; read the table again",
                        503,
                    );
                    Ok(Bytes::from(lakeshare_protocol::ndjson_line(&line)))
                } else {
                    Err(std::io::Error::other(e.to_string()))
                }
            }
        });
    // The last line is made when it is reached: by then every chunk's URLs are signed.
    let tail = futures::stream::once(async move { ending.line }).filter_map(move |line| {
        let show = line.filter(|_| !ended.load(Ordering::Relaxed));
        futures::future::ready(show.map(|line| {
            let earliest = earliest.load(Ordering::Relaxed);
            let line = if earliest == i64::MAX {
                line
            } else {
                line.with_min_url_expiration(earliest)
            };
            Ok(Bytes::from(lakeshare_protocol::ndjson_line(&line)))
        }))
    });
    Ok(head.chain(chunks).chain(tail))
}

/// The lines of some items, their URLs signed in one batch.
#[derive(Debug)]
pub struct Rendered {
    pub bytes: Bytes,
    /// Where each item's line ends in `bytes` (an item without a line ends where the one
    /// before it does).
    pub ends: Vec<u32>,
    /// The earliest expiry of the URLs signed for them; `i64::MAX` for none.
    pub earliest_expiry_ms: i64,
}

/// The lines of `items`, their URLs signed in one batch.
pub async fn render<L: BodyLines + ?Sized>(
    lines: &L,
    signer: &dyn UrlSigner,
    items: std::ops::Range<usize>,
) -> lakeshare_storage::Result<Rendered> {
    let mut urls = Vec::with_capacity(items.len());
    for i in items.clone() {
        lines.urls(i, &mut urls);
    }
    let urls: Vec<&str> = urls.iter().map(|url| &**url).collect();
    let signed = signer.sign_all(&urls).await?;
    crate::metrics::COUNTERS
        .urls_signed
        .inc_by(urls.len() as u64);
    let earliest_expiry_ms = signed
        .iter()
        .map(|s| s.expires_at_ms)
        .min()
        .unwrap_or(i64::MAX);
    let mut signed = signed.into_iter();
    let mut buf = Vec::with_capacity(items.len() * 768);
    let mut ends = Vec::with_capacity(items.len());
    for i in items {
        lines.write(&mut buf, i, &mut signed);
        ends.push(u32::try_from(buf.len()).expect("a chunk of lines is far below 4 GiB"));
    }
    // Kept (by the signed-lines cache): without the room the buffer grew into.
    buf.shrink_to_fit();
    Ok(Rendered {
        bytes: Bytes::from(buf),
        ends,
        earliest_expiry_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::atomic::AtomicUsize;

    /// Items whose lines are their index; URLs `u{i}`.
    struct Numbers(Vec<String>);

    impl BodyLines for Numbers {
        fn urls<'a>(&'a self, i: usize, out: &mut Vec<Cow<'a, str>>) {
            out.push(Cow::Borrowed(&self.0[i]));
        }

        fn write(&self, buf: &mut Vec<u8>, i: usize, signed: &mut dyn Iterator<Item = SignedUrl>) {
            let url = signed.next().unwrap().url;
            buf.extend_from_slice(format!("{{\"n\":{i},\"u\":\"{url}\"}}\n").as_bytes());
        }
    }

    /// Signs its first batch and fails every later one, like a store whose credentials were
    /// revoked during an answer.
    #[derive(Debug, Default)]
    struct FailsAfterOneBatch(AtomicUsize);

    #[async_trait::async_trait]
    impl UrlSigner for FailsAfterOneBatch {
        async fn sign_all(&self, urls: &[&str]) -> lakeshare_storage::Result<Vec<SignedUrl>> {
            if self.0.fetch_add(1, Ordering::Relaxed) > 0 {
                return Err(lakeshare_storage::Error::InvalidToken);
            }
            Ok(urls
                .iter()
                .map(|u| SignedUrl {
                    url: u.to_string(),
                    expires_at_ms: 1,
                })
                .collect())
        }

        fn check(&self, _: &str) -> lakeshare_storage::Result<()> {
            Ok(())
        }
    }

    async fn body(report_failures: bool) -> Vec<Result<Bytes, std::io::Error>> {
        let n = ITEMS_PER_CHUNK * 2 + 10;
        let lines = Arc::new(Numbers((0..n).map(|i| format!("u{i}")).collect()));
        let ending = Ending {
            line: Some(EndStreamLine::new(Some("next".into()), None, None)),
            report_failures,
        };
        let signer: Arc<dyn UrlSigner> = Arc::new(FailsAfterOneBatch::default());
        let stream = stream_body(b"head\n".to_vec(), 0..n, ending, lines, signer)
            .await
            .unwrap();
        stream.collect().await
    }

    #[tokio::test]
    async fn a_failure_mid_stream_ends_with_an_error_line_for_clients_that_read_one() {
        let parts = body(true).await;
        assert!(parts.iter().all(Result::is_ok));
        let text: String = parts
            .into_iter()
            .map(|p| String::from_utf8(p.unwrap().to_vec()).unwrap())
            .collect();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            1 + ITEMS_PER_CHUNK + 1,
            "head, the first chunk, the error"
        );
        let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        let action = &last["endStreamAction"];
        assert!(
            action["errorMessage"]
                .as_str()
                .unwrap()
                .contains("read the table again")
        );
        assert_eq!(action["httpStatusErrorCode"], 503);
        assert!(
            action.get("nextPageToken").is_none(),
            "no token after a failure"
        );
    }

    #[tokio::test]
    async fn a_failure_mid_stream_cuts_the_body_for_other_clients() {
        let parts = body(false).await;
        assert!(parts.last().unwrap().is_err());
        let sent: usize = parts
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .map(Bytes::len)
            .sum();
        let text_ok: Vec<String> = parts
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect();
        assert!(sent > 0 && !text_ok.concat().contains("endStreamAction"));
    }
}
