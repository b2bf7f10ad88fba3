//! The seam to the gateway: what the endpoint serves, named by key.

use std::ops::Range;

use async_trait::async_trait;
use futures::stream::BoxStream;

/// The bytes of an object (or of a range of it), in order.
pub type ByteStream = BoxStream<'static, std::io::Result<bytes::Bytes>>;

/// What the endpoint knows of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The full key, without the bucket (`tables/orders/part-0.parquet`).
    pub key: String,
    /// Length in bytes.
    pub size: u64,
    /// Last modification, milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// The entity tag without quotes. `None` lets the endpoint derive one from key, size and
    /// modification time, so every replica answers the same tag for the same file.
    pub etag: Option<String>,
}

/// Why an [`Objects`] call failed. Not-found is not an error: it is `None`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The object exists but the gateway will not serve it to this credential. The message is
    /// shown to the client, so it must name nothing the client may not know.
    #[error("access denied: {0}")]
    Denied(String),
    /// Anything else (I/O, a store's error). The message goes to the log only; the client gets
    /// a bare 500 `InternalError`.
    #[error("{0}")]
    Fault(String),
}

/// The objects the endpoint serves: the gateway maps keys to table files (on local disk or in
/// object stores) and to metadata it generates.
///
/// The endpoint authorizes every request before calling this trait: it only ever passes keys and
/// prefixes that lie inside the caller's grant, are free of empty, `.` and `..` segments, and do
/// not start with `/`. Implementations need not check grants again, but must not resolve a key to
/// anything outside the tree it names (no symlink escapes).
#[async_trait]
pub trait Objects: Send + Sync + 'static {
    /// The object at `key`, or `None` if there is none. Directories are not objects.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectError>;

    /// The object at `key` with its bytes, or `None` if there is none. With `range`, the stream
    /// yields exactly the bytes `range.start..range.end`; the endpoint only asks for ranges that
    /// lie inside the size [`Objects::head`] reported (it resolves open and suffix ranges and
    /// answers 416 itself), and answers `Content-Length`/`Content-Range` from that size. Without
    /// `range`, the stream yields exactly `size` bytes. The [`ObjectInfo`] describes the whole
    /// object either way.
    async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<(ObjectInfo, ByteStream)>, ObjectError>;

    /// At most `limit` objects whose keys start with `prefix` (a plain string prefix, not a
    /// folder), sorted ascending by the keys' bytes, every key strictly greater than
    /// `start_after` when given. Fewer than `limit` means the listing is complete. The endpoint
    /// refuses (500) a listing that breaks this contract rather than loop on it.
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectInfo>, ObjectError>;
}
