//! Regression tests for the defects a review of the first wave found (issue 13), each named after
//! what it guards.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use base64::Engine;
use lakeshare_catalog::Config;
use lakeshare_server::App;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{end_stream, file_ids, get, query, request, send};

const TOKEN: &str = "replica-recipient-token-0123456789";

/// The demo's trips in every format, in a temporary folder, and a configuration sharing each
/// in a schema named after its format (detected by layout).
async fn demo_tables() -> (tempfile::TempDir, String, Vec<&'static str>) {
    let (dir, tables, schemas) = super::demo_trips().await;
    let yaml = format!(
        r#"
server: {{ public_url: "http://gateway.test", signing_secret: "one-secret-for-every-replica" }}
shares:
  - name: demo
    schemas:
{schemas}recipients:
  - {{ name: partner, token: "{TOKEN}", shares: [demo] }}
"#
    );
    (dir, yaml, tables.iter().map(|t| t.format).collect())
}

async fn replica(yaml: &str, dir: &std::path::Path) -> Router {
    App::open(
        Config::from_yaml(yaml, dir).unwrap(),
        lakeshare_formats::enabled(),
    )
    .await
    .router()
}

fn ok(reply: &super::Reply) {
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
}

/// `(action, id, version)` of every file line of a change read.
fn change_keys(lines: &[Value]) -> Vec<(String, String, u64)> {
    lines
        .iter()
        .filter_map(|line| {
            ["add", "remove", "cdf"].iter().find_map(|kind| {
                let action = line.get(*kind)?;
                Some((
                    kind.to_string(),
                    action["id"].as_str()?.to_string(),
                    action["version"].as_u64()?,
                ))
            })
        })
        .collect()
}

fn next_token(lines: &[Value]) -> Option<String> {
    end_stream(lines)
        .get("nextPageToken")
        .map(|t| t.as_str().unwrap().to_string())
}

/// Defect 1: page tokens were offsets into an order no adapter guaranteed, so page 2 from
/// another replica (or after a cache eviction) repeated some files and lost others. Two
/// gateways sharing one secret now serve alternate pages of one read, for every format, for
/// queries and change reads alike, and the pages hold exactly the unpaged files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_continue_on_another_replica_for_every_format() {
    let (dir, yaml, schemas) = demo_tables().await;
    assert_eq!(schemas.len(), 3, "every format: {schemas:?}");
    let replicas = [
        replica(&yaml, dir.path()).await,
        replica(&yaml, dir.path()).await,
    ];
    for schema in schemas {
        let table = format!("/delta-sharing/shares/demo/schemas/{schema}/tables/trips");
        let unpaged = query(&replicas[1], &table, TOKEN, "{}").await;
        ok(&unpaged);
        let all = file_ids(&unpaged.lines());
        assert!(all.len() >= 4, "{schema}: {} files", all.len());

        let mut paged = Vec::new();
        let mut token: Option<String> = None;
        for page in 0.. {
            let body = match &token {
                None => r#"{"maxFiles":2}"#.to_string(),
                Some(t) => format!(r#"{{"maxFiles":2,"pageToken":"{t}"}}"#),
            };
            let reply = query(&replicas[page % 2], &table, TOKEN, &body).await;
            ok(&reply);
            let lines = reply.lines();
            paged.extend(file_ids(&lines));
            token = next_token(&lines);
            if token.is_none() {
                break;
            }
            assert!(page <= all.len(), "{schema}: paging does not end");
        }
        let distinct: BTreeSet<&String> = paged.iter().collect();
        assert_eq!(distinct.len(), paged.len(), "{schema}: a file came twice");
        assert_eq!(
            distinct,
            all.iter().collect::<BTreeSet<_>>(),
            "{schema}: the pages hold the unpaged files"
        );

        let range = "startingTimestamp=2000-01-01T00:00:00Z";
        let unpaged = get(&replicas[1], &format!("{table}/changes?{range}"), TOKEN).await;
        ok(&unpaged);
        let all = change_keys(&unpaged.lines());
        assert!(all.len() >= 4, "{schema}: {} change lines", all.len());
        let mut paged = Vec::new();
        let mut token: Option<String> = None;
        for page in 0.. {
            let uri = match &token {
                None => format!("{table}/changes?{range}&maxFiles=3"),
                Some(t) => format!("{table}/changes?{range}&maxFiles=3&pageToken={t}"),
            };
            let reply = get(&replicas[page % 2], &uri, TOKEN).await;
            ok(&reply);
            let lines = reply.lines();
            paged.extend(change_keys(&lines));
            token = next_token(&lines);
            if token.is_none() {
                break;
            }
            assert!(page <= all.len(), "{schema}: change paging does not end");
        }
        let mut sorted_all = all.clone();
        sorted_all.sort();
        let mut sorted_paged = paged.clone();
        sorted_paged.sort();
        assert_eq!(
            sorted_paged, sorted_all,
            "{schema}: the change pages hold the unpaged change lines, each once"
        );
    }
}

/// A Delta table of two commits, and a configuration sharing it under the given secrets.
async fn small_table(secrets: &str) -> (tempfile::TempDir, Router) {
    let dir = tempfile::tempdir().unwrap();
    super::write_table(&dir.path().join("a"), 2).await;
    let router = router_with(dir.path(), secrets).await;
    (dir, router)
}

async fn router_with(dir: &std::path::Path, secrets: &str) -> Router {
    let yaml = format!(
        r#"
server: {{ public_url: "http://gateway.test", {secrets} }}
shares:
  - name: s1
    schemas: [{{ name: sc, tables: [{{ name: a, location: a, history: true }}] }}]
recipients:
  - {{ name: one, token: "{TOKEN}", shares: [s1] }}
"#
    );
    App::open(
        Config::from_yaml(&yaml, dir).unwrap(),
        lakeshare_formats::enabled(),
    )
    .await
    .router()
}

const A: &str = "/delta-sharing/shares/s1/schemas/sc/tables/a";

/// Defect 6: tokens carry a key id and `signing_secrets` takes a list, newest first, so a
/// secret can be rotated without breaking the URLs and page tokens already handed out; once
/// the old secret is dropped they stop working.
#[tokio::test]
async fn rotating_the_signing_secret_keeps_outstanding_tokens_valid() {
    let (dir, old) = small_table(r#"signing_secret: "the-old-secret-0123456""#).await;
    let first = query(&old, A, TOKEN, r#"{"maxFiles":1}"#).await;
    ok(&first);
    let lines = first.lines();
    let page = next_token(&lines).expect("a second page");
    let url = lines.iter().find_map(|l| l.get("file")).unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let path = url.strip_prefix("http://gateway.test").unwrap();

    let rotated = router_with(
        dir.path(),
        r#"signing_secrets: ["the-new-secret-0123456", "the-old-secret-0123456"]"#,
    )
    .await;
    let download = send(&rotated, request(Method::GET, path, None, "")).await;
    assert_eq!(download.status, StatusCode::OK);
    let next = query(
        &rotated,
        A,
        TOKEN,
        &format!(r#"{{"maxFiles":1,"pageToken":"{page}"}}"#),
    )
    .await;
    ok(&next);
    assert_eq!(file_ids(&next.lines()).len(), 1);

    let dropped = router_with(dir.path(), r#"signing_secret: "the-new-secret-0123456""#).await;
    let download = send(&dropped, request(Method::GET, path, None, "")).await;
    assert_eq!(download.status, StatusCode::FORBIDDEN);
    let next = query(
        &dropped,
        A,
        TOKEN,
        &format!(r#"{{"maxFiles":1,"pageToken":"{page}"}}"#),
    )
    .await;
    assert_eq!(next.status, StatusCode::BAD_REQUEST);
    assert!(next.message().contains("pageToken"), "{}", next.message());
}

/// Defect 6: each kind of token has its own purpose, so a query page token is no change page
/// token (nor the other way round), even for the same table and recipient.
#[tokio::test]
async fn page_tokens_do_not_cross_endpoints() {
    let (_dir, router) = small_table(r#"signing_secret: "a-secret-of-enough-length""#).await;
    let page = next_token(&query(&router, A, TOKEN, r#"{"maxFiles":1}"#).await.lines()).unwrap();
    let changes = get(
        &router,
        &format!("{A}/changes?startingVersion=0&pageToken={page}&maxFiles=1"),
        TOKEN,
    )
    .await;
    assert_eq!(changes.status, StatusCode::BAD_REQUEST);
    assert!(
        changes.message().contains("pageToken"),
        "{}",
        changes.message()
    );
    let listing = get(
        &router,
        &format!("/delta-sharing/shares?pageToken={page}"),
        TOKEN,
    )
    .await;
    assert_eq!(listing.status, StatusCode::BAD_REQUEST);
}

/// Defect 5: local file URLs carried the table's absolute path in readable base64. The token is
/// now sealed: neither the URL nor its decoded bytes name the gateway's folders.
#[tokio::test]
async fn local_file_urls_reveal_no_server_path() {
    let (dir, router) = small_table(r#"signing_secret: "a-secret-of-enough-length""#).await;
    let lines = query(&router, A, TOKEN, "{}").await.lines();
    let root = dir.path().canonicalize().unwrap();
    let folder = root.file_name().unwrap().to_str().unwrap().to_string();
    let mut urls = 0;
    for file in lines.iter().filter_map(|l| l.get("file")) {
        let url = file["url"].as_str().unwrap();
        let token = url
            .strip_prefix("http://gateway.test/files/")
            .and_then(|t| t.split('?').next())
            .unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .unwrap();
        for needle in [folder.as_bytes(), b"parquet", b"part="] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "the token reveals {:?}",
                String::from_utf8_lossy(needle)
            );
        }
        assert!(!url.contains(&folder), "{url}");
        urls += 1;
    }
    assert_eq!(urls, 4, "two commits of two partitions");
}

/// Defect 7: a body over the limit got a plain-text 413; it now gets the protocol's error shape,
/// as do unknown methods, with their own code.
#[tokio::test]
async fn oversized_bodies_and_wrong_methods_get_the_error_shape() {
    let (_dir, router) = small_table(r#"signing_secret: "a-secret-of-enough-length""#).await;
    let huge = format!(
        r#"{{"predicateHints":["{}"]}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let reply = query(&router, A, TOKEN, &huge).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "REQUEST_TOO_LARGE");
    assert!(reply.message().contains("MiB"), "{}", reply.message());
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    let reply = send(
        &router,
        request(Method::DELETE, "/delta-sharing/shares", Some(TOKEN), ""),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.error_code(), "METHOD_NOT_ALLOWED");
}

/// Defect 7: connections that never finish their headers were held open forever (200 of 200
/// after 45 s). They are now closed after the header timeout, and the listener keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_after_the_header_timeout() {
    let (_dir, router) = small_table(r#"signing_secret: "a-secret-of-enough-length""#).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = lakeshare_server::Limits {
        header_read_timeout: Duration::from_secs(1),
        max_connections: 64,
        shutdown_grace: Duration::from_secs(1),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(lakeshare_server::serve(listener, router, limits, async {
        let _ = stopped.await;
    }));

    let mut idle = Vec::new();
    for i in 0..50 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i % 2 == 0 {
            // Half the headers, never the blank line that ends them.
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: gateway\r\n")
                .await
                .unwrap();
        }
        idle.push(stream);
    }
    let started = tokio::time::Instant::now();
    for mut stream in idle {
        let mut buf = Vec::new();
        // Closed (or reset) by the server: the read ends instead of waiting.
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
            .await
            .expect("the server closes a connection whose headers never come");
        assert!(
            !String::from_utf8_lossy(&buf).contains(" 200 "),
            "an unfinished request was answered"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));

    // A well-behaved client is still served.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = stop.send(());
    server.await.unwrap();
}

/// Defect 8: `/ready` said "ready" always, opened every table per probe and named every table to
/// anyone. It is now 503 until every table has been tried, answers from the background checks'
/// state, and names unavailable tables only to a recipient, only those of its shares.
#[tokio::test]
async fn ready_reports_real_readiness_and_names_tables_only_to_their_recipients() {
    let dir = tempfile::tempdir().unwrap();
    super::write_table(&dir.path().join("a"), 1).await;
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    let yaml = format!(
        r#"
server: {{ public_url: "http://gateway.test", signing_secret: "a-secret-of-enough-length" }}
shares:
  - name: s1
    schemas: [{{ name: sc, tables: [{{ name: a, location: a }}, {{ name: broken, location: empty, format: delta }}] }}]
  - name: s2
    schemas: [{{ name: sc, tables: [{{ name: b, location: a }}] }}]
recipients:
  - {{ name: one, token: "{TOKEN}", shares: [s1] }}
  - {{ name: two, token: "other-recipient-token-0123456789", shares: [s2] }}
"#
    );
    let app = App::new(
        Config::from_yaml(&yaml, dir.path()).unwrap(),
        lakeshare_formats::enabled(),
    );
    let router = app.router();
    let probe = |token: Option<&'static str>| {
        let router = router.clone();
        async move { send(&router, request(Method::GET, "/ready", token, "")).await }
    };
    let starting = probe(None).await;
    assert_eq!(starting.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(starting.json()["status"], "starting");

    app.check_tables().await;
    let anonymous = probe(None).await;
    assert_eq!(anonymous.status, StatusCode::OK);
    let body = anonymous.json();
    assert_eq!(
        (body["status"].as_str(), body["unavailable"].as_u64()),
        (Some("ready"), Some(1))
    );
    assert!(body.get("unavailableTables").is_none(), "{body}");
    assert!(!String::from_utf8_lossy(&anonymous.body).contains("broken"));

    let one = probe(Some(TOKEN)).await.json();
    assert_eq!(
        one["unavailableTables"],
        serde_json::json!(["s1.sc.broken"])
    );
    let two = probe(Some("other-recipient-token-0123456789")).await.json();
    assert_eq!(two["unavailableTables"], serde_json::json!([]));
}
