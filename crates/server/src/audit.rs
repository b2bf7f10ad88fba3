//! The audit log: one JSON line per data access (a query, a change read, each download from
//! the gateway's file route, file URLs, vended credentials, an Iceberg `loadTable`, an access
//! token issued), to the configured sink (`audit:` a file, appended to, or standard output).
//!
//! Every line has `time`, `event`, `request_id` (also the response's `x-request-id`),
//! `recipient` and `client` (the address, see `client.rs`), then the event's own fields. A line
//! never holds a token, secret or signed URL, nor a path on the gateway's disk: files are named
//! by their path below the shared folder, and file ids are listed (up to [`MAX_LISTED_IDS`]) with
//! a digest of all of them. Without a sink, the lines go to the log (target
//! `lakeshare::audit`), without the lists of ids and paths (their counts and digest stay).

use std::borrow::Cow;
use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use lakeshare_catalog::{AuditConfig, AuditSink};
use serde_json::{Map, Value};

/// File ids listed in a line; beyond this many the digest alone stands for them.
pub const MAX_LISTED_IDS: usize = 1000;

/// Where audit lines go.
pub struct Audit {
    sink: Sink,
}

enum Sink {
    Log,
    Stdout,
    File(Mutex<std::fs::File>),
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sink = match self.sink {
            Sink::Log => "log",
            Sink::Stdout => "stdout",
            Sink::File(_) => "file",
        };
        f.debug_struct("Audit").field("sink", &sink).finish()
    }
}

/// Who made a request, from where, and its id.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub recipient: Option<&'a str>,
    pub client: Option<IpAddr>,
    pub request_id: &'a str,
}

/// A request's id: the caller's `X-Request-Id` when it is a plain token of up to 64
/// characters, else one made here. Put in the request's extensions by [`assign_request_id`].
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

impl Audit {
    /// The sink `config` names. A file that cannot be opened is logged and the lines go to the
    /// log instead, so that nothing is lost (validation checked its folder exists).
    pub fn open(config: Option<&AuditConfig>) -> Self {
        let sink = match config {
            None => Sink::Log,
            Some(c) if c.sink == AuditSink::Stdout => Sink::Stdout,
            Some(c) => {
                let path = c
                    .path
                    .as_deref()
                    .expect("validated: a file sink has a path");
                match std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                {
                    Ok(file) => Sink::File(Mutex::new(file)),
                    Err(e) => {
                        tracing::error!(
                            "cannot open the audit file ({e}); audit lines go to the log"
                        );
                        Sink::Log
                    }
                }
            }
        };
        Self { sink }
    }

    /// Writes one line: `event` by `caller`, with `fields` (an object).
    pub fn record(&self, event: &str, caller: Caller<'_>, fields: Value) {
        let mut fields = match fields {
            Value::Object(fields) => fields,
            _ => Map::new(),
        };
        if matches!(self.sink, Sink::Log) {
            // In the general log, counts and digests only: a thousand ids per query would
            // bury everything else in it. An audit sink gets them all.
            fields.remove("file_ids");
            fields.remove("paths");
        }
        let line = Line {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event,
            request_id: caller.request_id,
            recipient: caller.recipient,
            client: caller.client.map(|a| a.to_string()),
            fields,
        };
        let mut text = serde_json::to_vec(&line).expect("audit lines serialise");
        text.push(b'\n');
        // One write per line: appends of a whole line do not interleave with other writers.
        let written = match &self.sink {
            Sink::Log => {
                tracing::info!(target: "lakeshare::audit", "{}", String::from_utf8_lossy(&text[..text.len() - 1]));
                Ok(())
            }
            Sink::Stdout => std::io::stdout().lock().write_all(&text),
            Sink::File(file) => file.lock().expect("not poisoned").write_all(&text),
        };
        if let Err(e) = written {
            crate::metrics::audit_write_failed();
            tracing::error!("writing an audit line failed: {e}");
        }
    }
}

/// One audit line: the common fields first, in this order, then the event's.
#[derive(serde::Serialize)]
struct Line<'a> {
    time: String,
    event: &'a str,
    request_id: &'a str,
    recipient: Option<&'a str>,
    client: Option<String>,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

/// The fields of a read (query, changes) that answered `files` of `handle`: the table's
/// coordinates, the files' ids in `scheme` (see [`file_ids`]), their bytes, then `more`.
pub fn table_read<'a>(
    handle: &crate::registry::TableHandle,
    scheme: lakeshare_protocol::FileIdHash,
    files: impl Iterator<Item = &'a lakeshare_model::DataFile> + Clone,
    more: Value,
) -> Value {
    table_read_of(handle, &FilesRead::of(scheme, files), more)
}

/// [`table_read`] with the files' fields worked out already.
pub fn table_read_of(
    handle: &crate::registry::TableHandle,
    read: &FilesRead,
    more: Value,
) -> Value {
    let mut fields = read.ids.clone();
    fields.insert("share".into(), handle.share.as_str().into());
    fields.insert("schema".into(), handle.schema.as_str().into());
    fields.insert("table".into(), handle.name.as_str().into());
    fields.insert("bytes".into(), read.bytes.into());
    if let Value::Object(more) = more {
        fields.extend(more);
    }
    Value::Object(fields)
}

/// What a read's audit line says about the files it answered: their ids (see [`file_ids`])
/// and bytes. Worked out once per snapshot for a whole large table's answer (hashing 100k ids
/// costs more than the rest of a warm answer), so small: past [`MAX_LISTED_IDS`] files it
/// holds the count and digest only.
#[derive(Debug)]
pub struct FilesRead {
    ids: Map<String, Value>,
    bytes: u64,
}

impl FilesRead {
    pub fn of<'a>(
        scheme: lakeshare_protocol::FileIdHash,
        files: impl Iterator<Item = &'a lakeshare_model::DataFile> + Clone,
    ) -> Self {
        Self {
            ids: file_ids(
                files
                    .clone()
                    .map(|f| scheme.id_of(f).unwrap_or(Cow::Borrowed(&f.id))),
            ),
            bytes: files.map(|f| f.size).sum(),
        }
    }
}

/// `files`, `file_ids` (up to [`MAX_LISTED_IDS`]) and `file_ids_sha256` (of every id, each
/// followed by a newline, in the order given) for the files of an answer.
pub fn file_ids(ids: impl IntoIterator<Item = impl AsRef<str>>) -> Map<String, Value> {
    use sha2::Digest;
    let mut digest = sha2::Sha256::new();
    let mut listed = Vec::new();
    let mut count = 0usize;
    for id in ids {
        let id = id.as_ref();
        digest.update(id.as_bytes());
        digest.update(b"\n");
        if count < MAX_LISTED_IDS {
            listed.push(Value::from(id));
        }
        count += 1;
    }
    let mut fields = Map::new();
    fields.insert("files".into(), count.into());
    if count <= MAX_LISTED_IDS {
        fields.insert("file_ids".into(), listed.into());
    }
    fields.insert(
        "file_ids_sha256".into(),
        hex::encode(digest.finalize()).into(),
    );
    fields
}

/// Layer: gives every request a [`RequestId`] and answers with it in `x-request-id`.
pub async fn assign_request_id(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let given = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(Arc::<str>::from);
    let id = given.unwrap_or_else(|| hex::encode(rand::random::<[u8; 12]>()).into());
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The request id in `extensions` (empty when the layer did not run, as in unit tests).
pub fn request_id(extensions: &axum::http::Extensions) -> Arc<str> {
    extensions
        .get::<RequestId>()
        .map_or_else(|| Arc::from(""), |r| r.0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_ids_are_listed_up_to_the_bound_and_always_digested() {
        let few = file_ids(["a", "b"]);
        assert_eq!(few["files"], 2);
        assert_eq!(few["file_ids"], json!(["a", "b"]));
        let ids: Vec<String> = (0..MAX_LISTED_IDS + 1).map(|i| i.to_string()).collect();
        let many = file_ids(ids.iter().map(String::as_str));
        assert_eq!(many["files"], MAX_LISTED_IDS + 1);
        assert!(many.get("file_ids").is_none());
        assert_ne!(many["file_ids_sha256"], few["file_ids_sha256"]);
    }

    #[test]
    fn lines_go_to_the_file_one_object_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let config = AuditConfig {
            sink: AuditSink::File,
            path: Some(path.display().to_string()),
        };
        let audit = Audit::open(Some(&config));
        let caller = Caller {
            recipient: Some("acme"),
            client: Some("192.0.2.1".parse().unwrap()),
            request_id: "r-1",
        };
        audit.record("query", caller, json!({"table": "s.x.t", "version": 3}));
        audit.record("file_download", caller, json!({"file": "part-0.parquet"}));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "query");
        assert_eq!(lines[0]["recipient"], "acme");
        assert_eq!(lines[0]["client"], "192.0.2.1");
        assert_eq!(lines[0]["version"], 3);
        assert_eq!(lines[1]["file"], "part-0.parquet");
    }
}
