//! The HTTP API end to end, in process: the real router over real tables written by the demo's
//! writers, driven through `tower::ServiceExt::oneshot`.

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use lakeshare_catalog::Config;
use lakeshare_server::App;
use serde_json::Value;
use tower::ServiceExt;

#[cfg(feature = "iceberg-catalog")]
#[path = "api/iceberg_rust_reader.rs"]
mod iceberg_rust_reader;
#[path = "api/regressions.rs"]
mod regressions;

/// The demo's trips in every format, written into a temporary folder, and the `schemas:` entries
/// of a share holding each with its history, in a schema named after its format. Only the
/// tables served as their files are (not the Hudi merge-on-read trips, which are computed).
async fn demo_trips() -> (tempfile::TempDir, Vec<lakeshare_demo::TripsTable>, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let mut tables = lakeshare_demo::ensure_trips_tables(&root).await.unwrap();
    tables.retain(|t| !t.computed);
    let schemas = tables
        .iter()
        .map(|t| {
            format!(
                "      - {{ name: {}, tables: [{{ name: trips, location: \"{}\", history: true }}] }}\n",
                t.format,
                t.path.display()
            )
        })
        .collect();
    (dir, tables, schemas)
}

const TOKEN_1: &str = "recipient-one-token-0123456789";
const TOKEN_2: &str = "recipient-two-token-0123456789";

/// Writes a Delta table with `versions` commits of two rows each.
async fn write_table(path: &std::path::Path, versions: i64) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("part", DataType::Utf8, true),
    ]));
    for v in 0..versions {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![2 * v, 2 * v + 1])),
                Arc::new(StringArray::from(vec![Some("x"), None])),
            ],
        )
        .unwrap();
        lakeshare_demo::delta::append(path, vec![batch], &["part"])
            .await
            .unwrap();
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    router: Router,
}

/// Two shares with one table each; recipient one may read s1, recipient two s2.
async fn fixture(url_ttl_seconds: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    write_table(&dir.path().join("a"), 2).await;
    write_table(&dir.path().join("b"), 1).await;
    let yaml = format!(
        r#"
server: {{ public_url: "http://gateway.test", url_ttl_seconds: {url_ttl_seconds}, signing_secret: "a-secret-of-enough-length" }}
shares:
  - name: s1
    schemas: [{{ name: sc, tables: [{{ name: a, location: a, history: true }}] }}]
  - name: s2
    schemas: [{{ name: sc, tables: [{{ name: b, location: b }}] }}]
recipients:
  - {{ name: one, token: "{TOKEN_1}", shares: [s1] }}
  - {{ name: two, token: "{TOKEN_2}", shares: [s2] }}
"#
    );
    let config = Config::from_yaml(&yaml, dir.path()).unwrap();
    let router = App::open(config, lakeshare_formats::enabled())
        .await
        .router();
    Fixture { _dir: dir, router }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn lines(&self) -> Vec<Value> {
        let text = std::str::from_utf8(&self.body).unwrap();
        assert!(text.ends_with('\n'), "NDJSON ends with a newline");
        text.lines()
            .map(|l| {
                assert!(!l.trim().is_empty(), "no blank lines");
                serde_json::from_str(l).unwrap()
            })
            .collect()
    }

    fn error_code(&self) -> String {
        self.json()["errorCode"].as_str().unwrap().to_string()
    }

    fn message(&self) -> String {
        self.json()["message"].as_str().unwrap().to_string()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn request(method: Method, uri: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

async fn get(router: &Router, uri: &str, token: &str) -> Reply {
    send(router, request(Method::GET, uri, Some(token), "")).await
}

async fn query(router: &Router, table_path: &str, token: &str, body: &str) -> Reply {
    send(
        router,
        request(
            Method::POST,
            &format!("{table_path}/query"),
            Some(token),
            body,
        ),
    )
    .await
}

const A: &str = "/delta-sharing/shares/s1/schemas/sc/tables/a";
const B: &str = "/delta-sharing/shares/s2/schemas/sc/tables/b";

/// Every endpoint that takes a share, with `{s}` and `{t}` for the share and its table.
fn endpoints() -> Vec<(Method, &'static str, &'static str)> {
    vec![
        (Method::GET, "/delta-sharing/shares/{s}", ""),
        (Method::GET, "/delta-sharing/shares/{s}/schemas", ""),
        (
            Method::GET,
            "/delta-sharing/shares/{s}/schemas/sc/tables",
            "",
        ),
        (Method::GET, "/delta-sharing/shares/{s}/all-tables", ""),
        (
            Method::GET,
            "/delta-sharing/shares/{s}/schemas/sc/tables/{t}",
            "",
        ),
        (
            Method::GET,
            "/delta-sharing/shares/{s}/schemas/sc/tables/{t}/version",
            "",
        ),
        (
            Method::GET,
            "/delta-sharing/shares/{s}/schemas/sc/tables/{t}/metadata",
            "",
        ),
        (
            Method::POST,
            "/delta-sharing/shares/{s}/schemas/sc/tables/{t}/query",
            "{}",
        ),
        (
            Method::HEAD,
            "/delta-sharing/shares/{s}/schemas/sc/tables/{t}",
            "",
        ),
    ]
}

#[tokio::test]
async fn auth_matrix_granted_ungranted_and_bad_tokens() {
    let fx = fixture(60).await;
    let cases = [
        (TOKEN_1, ("s1", "a"), ("s2", "b")),
        (TOKEN_2, ("s2", "b"), ("s1", "a")),
    ];
    for (token, granted, ungranted) in cases {
        for (method, template, body) in endpoints() {
            let uri = |(s, t): (&str, &str)| template.replace("{s}", s).replace("{t}", t);

            let ok = send(
                &fx.router,
                request(method.clone(), &uri(granted), Some(token), body),
            )
            .await;
            assert_eq!(
                ok.status,
                StatusCode::OK,
                "{method} {} as granted",
                uri(granted)
            );

            let hidden = send(
                &fx.router,
                request(method.clone(), &uri(ungranted), Some(token), body),
            )
            .await;
            assert_eq!(
                hidden.status,
                StatusCode::NOT_FOUND,
                "{method} {} as ungranted",
                uri(ungranted)
            );
            let missing = send(
                &fx.router,
                request(method.clone(), &uri(("zz", ungranted.1)), Some(token), body),
            )
            .await;
            assert_eq!(missing.status, StatusCode::NOT_FOUND);
            if method != Method::HEAD {
                // An ungranted share is indistinguishable from one that does not exist.
                assert_eq!(hidden.error_code(), "RESOURCE_DOES_NOT_EXIST");
                assert_eq!(
                    hidden.message().replace(ungranted.0, "?"),
                    missing.message().replace("zz", "?")
                );
            }

            for bad in [Some("not-a-valid-token-at-all"), None] {
                let denied = send(
                    &fx.router,
                    request(method.clone(), &uri(granted), bad, body),
                )
                .await;
                assert_eq!(
                    denied.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {} with {bad:?}",
                    uri(granted)
                );
                assert_eq!(denied.header("www-authenticate"), Some("Bearer"));
                if method != Method::HEAD {
                    assert_eq!(denied.error_code(), "UNAUTHENTICATED");
                }
            }
        }
        let shares = get(&fx.router, "/delta-sharing/shares", token).await;
        assert_eq!(shares.status, StatusCode::OK);
        let names: Vec<_> = shares.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].clone())
            .collect();
        assert_eq!(names, vec![Value::from(granted.0)]);
    }
    let anonymous = send(
        &fx.router,
        request(Method::GET, "/delta-sharing/shares", None, ""),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // The change feed: hidden from the ungranted, refused without a valid token.
    let changes = |table: &str| format!("{table}/changes?startingVersion=0");
    assert_eq!(
        get(&fx.router, &changes(B), TOKEN_1).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&fx.router, &changes(A), TOKEN_2).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&fx.router, &changes(A), "not-a-valid-token-at-all")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn query_streams_protocol_metadata_and_file_lines() {
    let fx = fixture(60).await;
    let reply = query(&fx.router, A, TOKEN_1, "").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-type"),
        Some("application/x-ndjson; charset=utf-8")
    );
    assert_eq!(reply.header("delta-table-version"), Some("1"));
    assert_eq!(
        reply.header("delta-sharing-capabilities"),
        Some("responseformat=parquet")
    );
    let lines = reply.lines();
    assert_eq!(
        lines[0],
        serde_json::json!({"protocol": {"minReaderVersion": 1}})
    );
    let metadata = &lines[1]["metaData"];
    assert_eq!(metadata["partitionColumns"], serde_json::json!(["part"]));
    assert_eq!(metadata["format"]["provider"], "parquet");
    assert_eq!(lines.len(), 2 + 4, "two versions of two partitions each");
    for line in &lines[2..] {
        let file = &line["file"];
        assert!(
            file["url"]
                .as_str()
                .unwrap()
                .starts_with("http://gateway.test/files/")
        );
        assert_eq!(file["id"].as_str().unwrap().len(), 32);
        let part = &file["partitionValues"]["part"];
        assert!(part == "x" || part.is_null(), "{part}");
        let stats: Value = serde_json::from_str(file["stats"].as_str().unwrap()).unwrap();
        assert_eq!(stats["numRecords"], 1);
        assert!(file["expirationTimestamp"].as_i64().unwrap() > lakeshare_storage::now_ms());
    }

    // Time travel, and the same file keeps its id across versions.
    let v0 = query(&fx.router, A, TOKEN_1, r#"{"version": 0}"#).await;
    assert_eq!(v0.header("delta-table-version"), Some("0"));
    let v0 = v0.lines();
    assert_eq!(v0.len(), 2 + 2);
    assert_eq!(v0[1]["metaData"]["version"], 0);
    let ids = |lines: &[Value]| {
        lines[2..]
            .iter()
            .map(|l| l["file"]["id"].clone())
            .collect::<Vec<_>>()
    };
    assert!(ids(&v0).iter().all(|id| ids(&lines).contains(id)));

    // limitHint stops once the files returned hold enough rows by their stats.
    let limited = query(&fx.router, A, TOKEN_1, r#"{"limitHint": 1}"#)
        .await
        .lines();
    assert_eq!(limited.len(), 2 + 1);
    // Predicate hints prune: of the four files (ids 0, 1, 2, 3, one each, `part` null for odd
    // ids), only the one holding id 3 can have a null part and an id above 1.
    let hinted = query(
        &fx.router,
        A,
        TOKEN_1,
        r#"{"predicateHints":["id > 1"],"jsonPredicateHints":"{\"op\":\"isNull\",\"children\":[{\"op\":\"column\",\"name\":\"part\",\"valueType\":\"string\"}]}"}"#,
    )
    .await;
    assert_eq!(hinted.status, StatusCode::OK);
    let lines = hinted.lines();
    assert_eq!(lines.len(), 2 + 1);
    let stats: Value = serde_json::from_str(lines[2]["file"]["stats"].as_str().unwrap()).unwrap();
    assert_eq!(stats["minValues"]["id"], 3);
    // A hint that cannot be used keeps every file; an oversized one is refused.
    let unusable = query(
        &fx.router,
        A,
        TOKEN_1,
        r#"{"jsonPredicateHints":"{\"op\":\"nonsense\"}"}"#,
    )
    .await;
    assert_eq!(unusable.lines().len(), 6);
    let huge = format!(r#"{{"predicateHints":["{}"]}}"#, "x".repeat((1 << 20) + 1));
    let refused = query(&fx.router, A, TOKEN_1, &huge).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.message().contains("exceed the limit"));
}

#[tokio::test]
async fn version_and_metadata_headers() {
    let fx = fixture(60).await;
    let version = get(&fx.router, &format!("{A}/version"), TOKEN_1).await;
    assert_eq!(version.status, StatusCode::OK);
    assert_eq!(version.header("delta-table-version"), Some("1"));
    assert!(version.body.is_empty());
    let since_epoch = get(
        &fx.router,
        &format!("{A}/version?startingTimestamp=1970-01-01T00:00:00Z"),
        TOKEN_1,
    )
    .await;
    assert_eq!(since_epoch.header("delta-table-version"), Some("0"));

    // OpenSharing's get table names the format, which tells a client which API to use.
    let table = get(&fx.router, A, TOKEN_1).await;
    assert_eq!(table.status, StatusCode::OK);
    let table = table.json();
    assert_eq!(
        (
            &table["name"],
            &table["schema"],
            &table["share"],
            &table["format"]
        ),
        (
            &Value::from("a"),
            &Value::from("sc"),
            &Value::from("s1"),
            &Value::from("delta")
        )
    );
    assert_eq!(table["id"].as_str().unwrap().len(), 36);

    let metadata = get(&fx.router, &format!("{A}/metadata"), TOKEN_1).await;
    assert_eq!(metadata.header("delta-table-version"), Some("1"));
    let lines = metadata.lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["metaData"]["numFiles"], 4);
    let schema: Value =
        serde_json::from_str(lines[1]["metaData"]["schemaString"].as_str().unwrap()).unwrap();
    assert_eq!(schema["fields"][0]["name"], "id");
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let fx = fixture(60).await;
    let cases: Vec<(Reply, StatusCode, &str, &str)> = vec![
        (
            query(&fx.router, A, TOKEN_1, "{not json").await,
            StatusCode::BAD_REQUEST,
            "MALFORMED_REQUEST",
            "not valid JSON",
        ),
        (
            query(&fx.router, A, TOKEN_1, r#"{"version":"one"}"#).await,
            StatusCode::BAD_REQUEST,
            "MALFORMED_REQUEST",
            "invalid type",
        ),
        (
            query(
                &fx.router,
                A,
                TOKEN_1,
                r#"{"version":0,"timestamp":"2024-01-01T00:00:00Z"}"#,
            )
            .await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "at most one of version, timestamp",
        ),
        (
            query(&fx.router, A, TOKEN_1, r#"{"version":7}"#).await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "version 7 does not exist",
        ),
        (
            query(&fx.router, A, TOKEN_1, r#"{"version":-1}"#).await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "must not be negative",
        ),
        (
            query(
                &fx.router,
                A,
                TOKEN_1,
                r#"{"timestamp":"1970-01-01T00:00:00Z"}"#,
            )
            .await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "before the earliest available version 0",
        ),
        (
            query(&fx.router, A, TOKEN_1, r#"{"timestamp":"yesterday"}"#).await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "'yesterday'",
        ),
        (
            query(&fx.router, A, TOKEN_1, r#"{"limitHint":-5}"#).await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "limitHint",
        ),
        (
            query(&fx.router, A, TOKEN_1, r#"{"maxFiles":0}"#).await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "maxFiles",
        ),
        (
            query(&fx.router, A, TOKEN_1, r#"{"startingVersion":0}"#).await,
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED_OPERATION",
            "startingVersion",
        ),
        // Table b does not share its history.
        (
            query(&fx.router, B, TOKEN_2, r#"{"version":0}"#).await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "history",
        ),
        (
            get(
                &fx.router,
                &format!("{B}/version?startingTimestamp=2024-01-01T00:00:00Z"),
                TOKEN_2,
            )
            .await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "history",
        ),
        (
            get(&fx.router, &format!("{A}/metadata?version=x"), TOKEN_1).await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "'version' must be a whole number",
        ),
        (
            get(&fx.router, "/delta-sharing/shares?maxResults=-2", TOKEN_1).await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "maxResults",
        ),
        (
            get(
                &fx.router,
                "/delta-sharing/shares?pageToken=forged",
                TOKEN_1,
            )
            .await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "pageToken",
        ),
        (
            get(
                &fx.router,
                "/delta-sharing/shares/s1/schemas/nope/tables",
                TOKEN_1,
            )
            .await,
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            "schema 'nope'",
        ),
        (
            get(
                &fx.router,
                "/delta-sharing/shares/s1/schemas/sc/tables/nope/version",
                TOKEN_1,
            )
            .await,
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            "table 'nope'",
        ),
        (
            get(&fx.router, "/delta-sharing/nowhere", TOKEN_1).await,
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            "no endpoint",
        ),
        (
            get(&fx.router, &format!("{A}/query"), TOKEN_1).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "GET is not allowed",
        ),
    ];
    for (reply, status, code, fragment) in cases {
        let body = String::from_utf8_lossy(&reply.body).to_string();
        assert_eq!(reply.status, status, "{body}");
        assert_eq!(
            reply.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{body}"
        );
        assert_eq!(reply.error_code(), code, "{body}");
        assert!(
            reply.message().contains(fragment),
            "expected '{fragment}' in {body}"
        );
    }
}

#[tokio::test]
async fn delta_response_format_carries_real_delta_actions() {
    let fx = fixture(60).await;
    let delta = |uri: String, method: Method, body: &'static str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {TOKEN_1}"))
            .header(
                "delta-sharing-capabilities",
                "responseformat=delta;readerfeatures=deletionvectors",
            )
            .body(Body::from(body))
            .unwrap()
    };
    let metadata = send(&fx.router, delta(format!("{A}/metadata"), Method::GET, "")).await;
    assert_eq!(metadata.status, StatusCode::OK);
    assert_eq!(
        metadata.header("delta-sharing-capabilities"),
        Some("responseformat=delta")
    );
    let lines = metadata.lines();
    assert_eq!(lines[0]["protocol"]["deltaProtocol"]["minReaderVersion"], 1);
    assert!(lines[0]["protocol"]["deltaProtocol"]["minWriterVersion"].is_i64());
    assert_eq!(
        lines[1]["metaData"]["deltaMetadata"]["partitionColumns"],
        serde_json::json!(["part"])
    );

    let query = send(&fx.router, delta(format!("{A}/query"), Method::POST, "{}")).await;
    assert_eq!(
        query.header("delta-sharing-capabilities"),
        Some("responseformat=delta")
    );
    let lines = query.lines();
    assert_eq!(lines.len(), 2 + 4);
    for line in &lines[2..] {
        let add = &line["file"]["deltaSingleAction"]["add"];
        assert!(
            add["path"]
                .as_str()
                .unwrap()
                .starts_with("http://gateway.test/files/")
        );
        assert_eq!(add["dataChange"], true);
        assert!(add["modificationTime"].as_i64().unwrap() > 0);
        assert!(add["size"].as_u64().unwrap() > 0);
        assert!(add["stats"].is_string());
        assert_eq!(line["file"]["id"].as_str().unwrap().len(), 32);
    }

    // With both formats acceptable, a plain table is answered in parquet.
    let either = Request::builder()
        .uri(format!("{A}/metadata"))
        .header("authorization", format!("Bearer {TOKEN_1}"))
        .header("delta-sharing-capabilities", "responseformat=delta,parquet")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&fx.router, either)
            .await
            .header("delta-sharing-capabilities"),
        Some("responseformat=parquet")
    );
}

/// The file URLs of table a, as paths on the router.
async fn file_paths(router: &Router) -> Vec<(String, u64)> {
    query(router, A, TOKEN_1, "{}").await.lines()[2..]
        .iter()
        .map(|l| {
            let url = l["file"]["url"].as_str().unwrap();
            (
                url.strip_prefix("http://gateway.test").unwrap().to_string(),
                l["file"]["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn signed_urls_serve_whole_files_ranges_and_heads() {
    let fx = fixture(60).await;
    let (path, size) = file_paths(&fx.router).await.remove(0);

    let whole = send(&fx.router, request(Method::GET, &path, None, "")).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.body.len() as u64, size);
    assert_eq!(
        whole.header("content-length"),
        Some(size.to_string().as_str())
    );
    assert!(whole.body.starts_with(b"PAR1") && whole.body.ends_with(b"PAR1"));

    let range = Request::builder()
        .uri(&path)
        .header("range", "bytes=4-9")
        .body(Body::empty())
        .unwrap();
    let partial = send(&fx.router, range).await;
    assert_eq!(partial.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(partial.body, whole.body[4..10]);
    assert_eq!(
        partial.header("content-range"),
        Some(format!("bytes 4-9/{size}").as_str())
    );
    let tail = Request::builder()
        .uri(&path)
        .header("range", "bytes=-8")
        .body(Body::empty())
        .unwrap();
    let footer = send(&fx.router, tail).await;
    assert_eq!(footer.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(footer.body, whole.body[whole.body.len() - 8..]);

    let head = send(&fx.router, request(Method::HEAD, &path, None, "")).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(
        head.header("content-length"),
        Some(size.to_string().as_str())
    );
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn altered_and_traversing_urls_are_refused() {
    let fx = fixture(60).await;
    let (path, _) = file_paths(&fx.router).await.remove(0);
    let token = path.strip_prefix("/files/").unwrap();
    let (token, query) = token.split_once('?').unwrap();
    // Flip one character of the key id, the nonce, the sealed payload and the tag; truncate.
    let flip = |s: &str, i: usize| {
        let mut chars: Vec<char> = s.chars().collect();
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    let n = token.len();
    for altered in [
        flip(token, 3),
        flip(token, 20),
        flip(token, n / 2),
        flip(token, n - 2),
        token[..n - 4].to_string(),
    ] {
        let reply = send(
            &fx.router,
            request(Method::GET, &format!("/files/{altered}?{query}"), None, ""),
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{altered}");
        assert_eq!(reply.error_code(), "PERMISSION_DENIED");
    }

    for traversal in [
        "/files/..%2F..%2F..%2Fetc%2Fpasswd",
        "/files/../../../etc/passwd",
        "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/.%2E",
    ] {
        let reply = send(&fx.router, request(Method::GET, traversal, None, "")).await;
        assert!(
            reply.status == StatusCode::FORBIDDEN || reply.status == StatusCode::NOT_FOUND,
            "{traversal}: {}",
            reply.status
        );
        assert!(
            !String::from_utf8_lossy(&reply.body).contains("root:"),
            "{traversal}"
        );
    }
}

#[tokio::test]
async fn expired_urls_are_refused() {
    let fx = fixture(1).await;
    let (path, _) = file_paths(&fx.router).await.remove(0);
    assert_eq!(
        send(&fx.router, request(Method::GET, &path, None, ""))
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let reply = send(&fx.router, request(Method::GET, &path, None, "")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.message().contains("expired"), "{}", reply.message());
}

#[tokio::test]
async fn lists_page_with_max_results() {
    let fx = fixture(60).await;
    let first = get(
        &fx.router,
        "/delta-sharing/shares/s1/all-tables?maxResults=0",
        TOKEN_1,
    )
    .await
    .json();
    assert_eq!(first["items"], serde_json::json!([]));
    let token = first["nextPageToken"].as_str().unwrap();
    let rest = get(
        &fx.router,
        &format!("/delta-sharing/shares/s1/all-tables?pageToken={token}"),
        TOKEN_1,
    )
    .await
    .json();
    assert_eq!(rest["items"][0]["name"], "a");
    assert_eq!(rest["items"][0]["schema"], "sc");
    assert_eq!(rest["items"][0]["share"], "s1");
    assert!(rest.get("nextPageToken").is_none());
    // A token of one recipient's listing is useless to another.
    let stolen = get(
        &fx.router,
        &format!("/delta-sharing/shares/s2/all-tables?pageToken={token}"),
        TOKEN_2,
    )
    .await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);
    // Names are case-insensitive.
    let share = get(&fx.router, "/delta-sharing/shares/S1", TOKEN_1)
        .await
        .json();
    assert_eq!(share["share"]["name"], "s1");
}

fn file_ids(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.get("file"))
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn end_stream(lines: &[Value]) -> &Value {
    let last = lines.last().unwrap();
    last.get("endStreamAction")
        .unwrap_or_else(|| panic!("last line is not endStreamAction: {last}"))
}

#[tokio::test]
async fn paged_queries_return_every_file_once() {
    let fx = fixture(60).await;
    let all = file_ids(&query(&fx.router, A, TOKEN_1, "{}").await.lines());
    assert_eq!(all.len(), 4);

    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    for page in 0.. {
        let body = match &token {
            None => r#"{"maxFiles":3}"#.to_string(),
            Some(t) => format!(r#"{{"maxFiles":3,"pageToken":"{t}"}}"#),
        };
        let reply = query(&fx.router, A, TOKEN_1, &body).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let lines = reply.lines();
        paged.extend(file_ids(&lines));
        let end = end_stream(&lines);
        assert!(end["minUrlExpirationTimestamp"].as_i64().unwrap() > lakeshare_storage::now_ms());
        match end.get("nextPageToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
        assert!(page < 5, "paging does not end");
    }
    assert_eq!(paged, all, "pages hold every file once, in order");

    let first = query(&fx.router, A, TOKEN_1, r#"{"maxFiles":1}"#)
        .await
        .lines();
    let next = end_stream(&first)["nextPageToken"]
        .as_str()
        .unwrap()
        .to_string();
    let altered = {
        let mut chars: Vec<char> = next.chars().collect();
        let mid = chars.len() / 2;
        chars[mid] = if chars[mid] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    for (table, token_, body) in [
        (
            A,
            TOKEN_1,
            format!(r#"{{"maxFiles":1,"pageToken":"{altered}"}}"#),
        ),
        (
            A,
            TOKEN_1,
            format!(r#"{{"maxFiles":1,"pageToken":"{next}","limitHint":1}}"#),
        ),
        (
            B,
            TOKEN_2,
            format!(r#"{{"maxFiles":1,"pageToken":"{next}"}}"#),
        ),
    ] {
        let reply = query(&fx.router, table, token_, &body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(reply.message().contains("pageToken"), "{}", reply.message());
    }
}

#[tokio::test]
async fn refresh_tokens_return_the_same_version_with_fresh_urls() {
    let dir = tempfile::tempdir().unwrap();
    write_table(&dir.path().join("a"), 1).await;
    let yaml = format!(
        r#"
server: {{ public_url: "http://gateway.test", signing_secret: "a-secret-of-enough-length" }}
shares: [{{ name: s1, schemas: [{{ name: sc, tables: [{{ name: a, location: a }}] }}] }}]
recipients: [{{ name: one, token: "{TOKEN_1}", shares: [s1] }}]
"#
    );
    let router = App::open(
        Config::from_yaml(&yaml, dir.path()).unwrap(),
        lakeshare_formats::enabled(),
    )
    .await
    .router();
    let first = query(&router, A, TOKEN_1, r#"{"includeRefreshToken":true}"#).await;
    assert_eq!(first.header("delta-table-version"), Some("0"));
    let first = first.lines();
    let refresh = end_stream(&first)["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();

    // The table moves on; the refresh still answers for the version the read started on.
    write_table_version(&dir.path().join("a"), 100).await;
    let latest = query(&router, A, TOKEN_1, "{}").await;
    assert_eq!(latest.header("delta-table-version"), Some("1"));
    let refreshed = query(
        &router,
        A,
        TOKEN_1,
        &format!(r#"{{"refreshToken":"{refresh}"}}"#),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    assert_eq!(refreshed.header("delta-table-version"), Some("0"));
    let refreshed = refreshed.lines();
    assert_eq!(file_ids(&refreshed), file_ids(&first));
    assert!(end_stream(&refreshed)["refreshToken"].is_string());

    let mixed = query(
        &router,
        A,
        TOKEN_1,
        &format!(r#"{{"refreshToken":"{refresh}","version":0}}"#),
    )
    .await;
    assert_eq!(mixed.status, StatusCode::BAD_REQUEST);
    // Plain reads never get an end-of-stream line: the Python connector would crash on it.
    let plain = query(&router, A, TOKEN_1, "{}").await.lines();
    assert!(plain.iter().all(|l| l.get("endStreamAction").is_none()));
    // Unless the client says it understands one.
    let asked = Request::builder()
        .method(Method::POST)
        .uri(format!("{A}/query"))
        .header("authorization", format!("Bearer {TOKEN_1}"))
        .header("delta-sharing-capabilities", "includeendstreamaction=true")
        .body(Body::from("{}"))
        .unwrap();
    let asked = send(&router, asked).await;
    assert_eq!(
        asked.header("delta-sharing-capabilities"),
        Some("responseformat=parquet;includeendstreamaction=true")
    );
    assert!(end_stream(&asked.lines()).get("nextPageToken").is_none());
}

/// Appends one commit of two rows with ids from `first_id`.
async fn write_table_version(path: &std::path::Path, first_id: i64) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("part", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![first_id, first_id + 1])),
            Arc::new(StringArray::from(vec![Some("y"), Some("y")])),
        ],
    )
    .unwrap();
    lakeshare_demo::delta::append(path, vec![batch], &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn change_feed_parameters_are_checked() {
    let fx = fixture(60).await;
    let cases = [
        (
            format!("{A}/changes"),
            TOKEN_1,
            "startingVersion or startingTimestamp is required",
        ),
        (
            format!("{A}/changes?startingVersion=0&startingTimestamp=2024-01-01T00:00:00Z"),
            TOKEN_1,
            "not both",
        ),
        (
            format!(
                "{A}/changes?startingVersion=0&endingVersion=1&endingTimestamp=2024-01-01T00:00:00Z"
            ),
            TOKEN_1,
            "not both",
        ),
        (
            format!("{A}/changes?startingVersion=-1"),
            TOKEN_1,
            "must not be negative",
        ),
        (
            format!("{A}/changes?startingVersion=5"),
            TOKEN_1,
            "after the latest version 1",
        ),
        (
            format!("{A}/changes?startingVersion=1&endingVersion=0"),
            TOKEN_1,
            "after the ending version 0",
        ),
        (
            format!("{A}/changes?startingVersion=0&includeHistoricalMetadata=maybe"),
            TOKEN_1,
            "true or false",
        ),
        (
            format!("{A}/changes?startingVersion=0&maxFiles=0"),
            TOKEN_1,
            "maxFiles",
        ),
        // The fixture tables do not have the change data feed on.
        (
            format!("{A}/changes?startingVersion=0"),
            TOKEN_1,
            "enableChangeDataFeed",
        ),
        // Table b does not share its history at all.
        (format!("{B}/changes?startingVersion=0"), TOKEN_2, "history"),
    ];
    for (uri, token, fragment) in cases {
        let reply = get(&fx.router, &uri, token).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(
            reply.message().contains(fragment),
            "{uri}: {}",
            reply.message()
        );
    }
}

#[tokio::test]
async fn change_feed_lines_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    write_table(&path, 1).await;
    lakeshare_demo::delta::set_properties(&path, &[("delta.enableChangeDataFeed", "true")])
        .await
        .unwrap();
    write_table_version(&path, 10).await;
    write_table_version(&path, 20).await;
    // Version 4 changes the metadata again, after the start of the ranges read below.
    lakeshare_demo::delta::set_properties(
        &path,
        &[("delta.logRetentionDuration", "interval 30 days")],
    )
    .await
    .unwrap();
    let yaml = format!(
        r#"
server: {{ public_url: "http://gateway.test", signing_secret: "a-secret-of-enough-length" }}
shares: [{{ name: s1, schemas: [{{ name: sc, tables: [{{ name: a, location: c, history: true }}] }}] }}]
recipients: [{{ name: one, token: "{TOKEN_1}", shares: [s1] }}]
"#
    );
    let router = App::open(
        Config::from_yaml(&yaml, dir.path()).unwrap(),
        lakeshare_formats::enabled(),
    )
    .await
    .router();

    let all = get(
        &router,
        &format!("{A}/changes?startingVersion=1&includeHistoricalMetadata=true"),
        TOKEN_1,
    )
    .await;
    assert_eq!(
        all.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&all.body)
    );
    assert_eq!(all.header("delta-table-version"), Some("1"));
    let lines = all.lines();
    assert!(lines[0].get("protocol").is_some() && lines[1].get("metaData").is_some());
    // Version 1 (the start) turned the feed on: the head describes it, so no historical line
    // repeats it. Versions 2 and 3 each added one file; version 4 changed the metadata again.
    let adds: Vec<u64> = lines[2..]
        .iter()
        .filter_map(|l| l["add"]["version"].as_u64())
        .collect();
    assert_eq!(adds, vec![2, 3]);
    assert!(
        lines[2..]
            .iter()
            .filter_map(|l| l.get("add"))
            .all(|a| a["timestamp"].as_i64().unwrap() > 0)
    );
    let historical: Vec<u64> = lines[2..]
        .iter()
        .filter_map(|l| l["metaData"]["version"].as_u64())
        .collect();
    assert!(
        historical.contains(&4) && !historical.contains(&1),
        "{historical:?}"
    );

    let first = get(
        &router,
        &format!("{A}/changes?startingVersion=1&maxFiles=1"),
        TOKEN_1,
    )
    .await
    .lines();
    assert_eq!(first.len(), 2 + 1 + 1);
    let next = end_stream(&first)["nextPageToken"].as_str().unwrap();
    // A commit between pages does not move the range the pages belong to.
    write_table_version(&path, 30).await;
    let second = get(
        &router,
        &format!("{A}/changes?startingVersion=1&maxFiles=1&pageToken={next}"),
        TOKEN_1,
    )
    .await
    .lines();
    assert_eq!(second[2]["add"]["version"], 3);
    assert!(end_stream(&second).get("nextPageToken").is_none());
    let other_range = get(
        &router,
        &format!("{A}/changes?startingVersion=2&maxFiles=1&pageToken={next}"),
        TOKEN_1,
    )
    .await;
    assert_eq!(other_range.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_10k_file_table_paged_by_1000_yields_the_unpaged_file_set() {
    let dir = tempfile::tempdir().unwrap();
    let spec = lakeshare_demo::synthetic::Spec {
        files: 10_000,
        partitions: 100,
        rows_per_file: 10,
        data_files: false,
    };
    lakeshare_demo::synthetic::write(&dir.path().join("big"), spec)
        .await
        .unwrap();
    let yaml = format!(
        r#"
server: {{ public_url: "http://gateway.test", signing_secret: "a-secret-of-enough-length" }}
shares: [{{ name: s1, schemas: [{{ name: sc, tables: [{{ name: a, location: big }}] }}] }}]
recipients: [{{ name: one, token: "{TOKEN_1}", shares: [s1] }}]
"#
    );
    let router = App::open(
        Config::from_yaml(&yaml, dir.path()).unwrap(),
        lakeshare_formats::enabled(),
    )
    .await
    .router();
    let unpaged = file_ids(&query(&router, A, TOKEN_1, "{}").await.lines());
    assert_eq!(unpaged.len(), 10_000);

    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let body = match &token {
            None => r#"{"maxFiles":1000}"#.to_string(),
            Some(t) => format!(r#"{{"maxFiles":1000,"pageToken":"{t}"}}"#),
        };
        let lines = query(&router, A, TOKEN_1, &body).await.lines();
        pages += 1;
        let ids = file_ids(&lines);
        assert!(ids.len() <= 1000);
        paged.extend(ids);
        match end_stream(&lines).get("nextPageToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 10);
    let as_set = |ids: &[String]| {
        ids.iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(paged.len(), unpaged.len(), "no file twice");
    assert_eq!(as_set(&paged), as_set(&unpaged));

    // Selective hints prune by the sorted id statistics: ids 0–999 live in the first 100 files.
    let hint = r#"{"jsonPredicateHints":"{\"op\":\"lessThan\",\"children\":[{\"op\":\"column\",\"name\":\"id\",\"valueType\":\"long\"},{\"op\":\"literal\",\"value\":\"1000\",\"valueType\":\"long\"}]}"}"#;
    assert_eq!(
        file_ids(&query(&router, A, TOKEN_1, hint).await.lines()).len(),
        100
    );
}

#[tokio::test]
async fn local_tables_offer_directory_access_through_the_built_in_endpoint() {
    let fx = fixture(60).await;
    let tables = get(&fx.router, "/delta-sharing/shares/s1/all-tables", TOKEN_1)
        .await
        .json();
    let a = &tables["items"][0];
    assert_eq!(a["accessModes"], serde_json::json!(["url", "dir"]));
    let location = a["location"].as_str().unwrap();
    assert_eq!(location, "s3://lakeshare/tables/s1/sc/a/files");
    let uri = "/delta-sharing/shares/s1/schemas/sc/tables/a/temporary-table-credentials";
    let granted = send(&fx.router, request(Method::POST, uri, Some(TOKEN_1), "")).await;
    assert_eq!(granted.status, StatusCode::OK);
    let credentials = &granted.json()["credentials"];
    assert_eq!(credentials["location"], location);
    assert!(credentials["awsTempCredentials"]["endpoint"].is_string());
    assert!(credentials["awsTempCredentials"]["sessionToken"].is_string());
    let elsewhere = send(
        &fx.router,
        request(
            Method::POST,
            uri,
            Some(TOKEN_1),
            r#"{"location": "s3://other/t"}"#,
        ),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::BAD_REQUEST);
    assert!(elsewhere.message().contains("only location"));
    let malformed = send(
        &fx.router,
        request(Method::POST, uri, Some(TOKEN_1), r#"{"where": 1}"#),
    )
    .await;
    assert_eq!(malformed.error_code(), "MALFORMED_REQUEST");
    let ungranted = send(&fx.router, request(Method::POST, uri, Some(TOKEN_2), "")).await;
    assert_eq!(ungranted.status, StatusCode::NOT_FOUND);
}
