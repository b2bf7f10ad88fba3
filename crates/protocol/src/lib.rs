//! The wire of Delta Sharing and OpenSharing: request and response bodies, the NDJSON lines of
//! table reads, the `delta-sharing-capabilities` header, error codes and profile files.
//!
//! Shapes follow what the real clients accept, which is stricter than the specification in places:
//! the Python connector reads only the first line of a list response, and crashes on any line of a
//! table read it does not expect. Every type here serialises to exactly one compact line.
//!
//! ```
//! use lakeshare_protocol::{lines::ProtocolLine, ndjson_line};
//!
//! let line = ndjson_line(&ProtocolLine::parquet());
//! assert_eq!(line, b"{\"protocol\":{\"minReaderVersion\":1}}\n");
//! ```

pub mod assets;
pub mod capabilities;
pub mod delta_lines;
pub mod error;
pub mod file_ids;
pub mod lines;
pub mod lists;
pub mod profile;
pub mod query;
pub mod time;

pub use capabilities::{Capabilities, ResponseFormat};
pub use error::{ErrorBody, ErrorCode};
pub use file_ids::{FILE_ID_HASH_HEADER, FileIdHash};

/// The header carrying the table version on version, metadata, query and changes responses.
pub const TABLE_VERSION_HEADER: &str = "delta-table-version";
/// The header carrying capabilities in both directions.
pub const CAPABILITIES_HEADER: &str = "delta-sharing-capabilities";
/// Content type of list and get responses.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// Content type of table reads.
pub const NDJSON_CONTENT_TYPE: &str = "application/x-ndjson; charset=utf-8";

/// Serialises one value as one NDJSON line: compact JSON and a trailing newline.
pub fn ndjson_line<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    write_ndjson_line(&mut buf, value);
    buf
}

/// Appends one NDJSON line to `buf`; used to batch many lines into one body chunk.
pub fn write_ndjson_line<T: serde::Serialize>(buf: &mut Vec<u8>, value: &T) {
    // Serialising plain structs of strings, numbers and maps into a Vec cannot fail.
    serde_json::to_writer(&mut *buf, value).expect("wire types always serialise");
    buf.push(b'\n');
}
