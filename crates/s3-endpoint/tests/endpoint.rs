//! The endpoint behind a real HTTP server, driven by a real S3 client (object_store's
//! `AmazonS3`) and by raw requests (reqwest, signed with object_store's SigV4 authorizer where a
//! request must be signed). The objects are real files in a temporary directory.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Request, State};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use lakeshare_s3_endpoint::{
    ByteStream, Credentials, Endpoint, Grant, ObjectError, ObjectInfo, Objects,
};
use lakeshare_storage::Signer;
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsAuthorizer, AwsCredential};
use object_store::client::{HttpRequest, HttpRequestBody};
use object_store::path::Path;
use object_store::signer::Signer as _;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

const BUCKET: &str = "lakeshare";
const SECRET: &str = "the-signing-secret-0123456789";
const GRANTED: &str = "tables/orders/";

/// Files under a directory; keys are their `/`-separated relative paths.
struct Dir(PathBuf);

impl Dir {
    fn info(key: &str, meta: &std::fs::Metadata) -> ObjectInfo {
        let modified = meta.modified().unwrap().duration_since(UNIX_EPOCH).unwrap();
        ObjectInfo {
            key: key.to_owned(),
            size: meta.len(),
            last_modified_ms: i64::try_from(modified.as_millis()).unwrap(),
            etag: None,
        }
    }

    fn walk(&self, dir: &FsPath, keys: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                self.walk(&path, keys);
            } else {
                let relative = path.strip_prefix(&self.0).unwrap();
                keys.push(relative.to_str().unwrap().replace('\\', "/"));
            }
        }
    }
}

#[async_trait]
impl Objects for Dir {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectError> {
        match std::fs::metadata(self.0.join(key)) {
            Ok(meta) if meta.is_file() => Ok(Some(Self::info(key, &meta))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ObjectError::Fault(e.to_string())),
        }
    }

    async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<(ObjectInfo, ByteStream)>, ObjectError> {
        let Some(info) = self.head(key).await? else {
            return Ok(None);
        };
        let bytes = Bytes::from(std::fs::read(self.0.join(key)).unwrap());
        let range = range.unwrap_or(0..info.size);
        let bytes = bytes.slice(range.start as usize..range.end as usize);
        // Several frames, as a file reader would send them.
        let chunks: Vec<std::io::Result<Bytes>> = (0..bytes.len())
            .step_by(4096)
            .map(|at| Ok(bytes.slice(at..(at + 4096).min(bytes.len()))))
            .collect();
        Ok(Some((info, futures::stream::iter(chunks).boxed())))
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectInfo>, ObjectError> {
        let mut keys = Vec::new();
        self.walk(&self.0, &mut keys);
        keys.sort();
        Ok(keys
            .into_iter()
            .filter(|k| k.starts_with(prefix) && start_after.is_none_or(|a| k.as_str() > a))
            .take(limit)
            .map(|k| {
                let meta = std::fs::metadata(self.0.join(&k)).unwrap();
                Self::info(&k, &meta)
            })
            .collect())
    }
}

/// 100 KB of not-quite-random bytes: ranges of it are easy to tell apart.
fn data() -> Vec<u8> {
    (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

const MANY: usize = 25;

fn write_files(root: &FsPath) {
    let write = |key: &str, bytes: &[u8]| {
        let path = root.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    write("tables/orders/part-0.parquet", &data());
    write(
        "tables/orders/_delta_log/00000.json",
        b"{\"commitInfo\":{}}\n",
    );
    write("tables/orders/p=1/a.parquet", b"a");
    write("tables/orders/p=2/b.parquet", b"bb");
    for i in 0..MANY {
        write(&format!("tables/orders/many/{i:04}.parquet"), b"x");
    }
    write("tables/secret/x.parquet", b"secret");
    write("tables/orders2/y.parquet", b"sibling");
}

struct Harness {
    addr: SocketAddr,
    endpoint: Endpoint,
    _dir: tempfile::TempDir,
}

async fn start(signer: Signer, max_keys: Option<usize>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    let mut endpoint = Endpoint::new(BUCKET, signer, Arc::new(Dir(dir.path().to_path_buf())));
    if let Some(max_keys) = max_keys {
        endpoint = endpoint.with_max_keys(max_keys);
    }
    let app = Router::new()
        .fallback(
            |State(endpoint): State<Endpoint>, request: Request| async move {
                endpoint.handle(request).await
            },
        )
        .with_state(endpoint.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Harness {
        addr,
        endpoint,
        _dir: dir,
    }
}

async fn harness() -> Harness {
    start(Signer::from_secret(SECRET), None).await
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn grant() -> Grant {
    Grant {
        prefixes: vec![GRANTED.into()],
        expires_at_ms: now_ms() + 600_000,
    }
}

impl Harness {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn mint(&self) -> Credentials {
        self.endpoint.mint(&grant()).unwrap()
    }

    fn client(&self, credentials: &Credentials) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(self.url())
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_access_key_id(&credentials.access_key_id)
            .with_secret_access_key(&credentials.secret_access_key)
            .with_token(&credentials.session_token)
            .with_retry(RetryConfig {
                max_retries: 0,
                ..RetryConfig::default()
            })
            .build()
            .unwrap()
    }

    /// A GET of `path_and_query` signed with SigV4 the way object_store signs.
    async fn signed_get(&self, path_and_query: &str, credential: &AwsCredential) -> Answer {
        let mut request: HttpRequest =
            http::Request::get(format!("{}{path_and_query}", self.url()))
                .body(HttpRequestBody::empty())
                .unwrap();
        AwsAuthorizer::new(credential, "s3", "eu-west-3").authorize(&mut request, None);
        let response = reqwest::Client::new()
            .get(request.uri().to_string())
            .headers(request.headers().clone())
            .send()
            .await
            .unwrap();
        Answer::of(response).await
    }
}

fn aws(credentials: &Credentials) -> AwsCredential {
    AwsCredential {
        key_id: credentials.access_key_id.clone(),
        secret_key: credentials.secret_access_key.clone(),
        token: Some(credentials.session_token.clone()),
    }
}

/// A raw response, read whole.
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Self {
        Self {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    /// The text of the first `<tag>` element.
    fn element(&self, tag: &str) -> Option<&str> {
        let open = format!("<{tag}>");
        let start = self.body.find(&open)? + open.len();
        let end = start + self.body[start..].find(&format!("</{tag}>"))?;
        Some(&self.body[start..end])
    }

    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.body.contains(&format!("<Error><Code>{code}</Code>")),
            "{}",
            self.body
        );
        assert_eq!(self.headers["content-type"], "application/xml");
    }
}

fn path(key: &str) -> Path {
    Path::from(key)
}

/// The error text of a refused call, with the S3 error XML object_store includes.
fn refusal<T: std::fmt::Debug>(result: object_store::Result<T>) -> (String, object_store::Error) {
    let error = result.expect_err("the call is refused");
    (error.to_string(), error)
}

#[tokio::test]
async fn reads_whole_files_ranges_and_heads() {
    let h = harness().await;
    let store = h.client(&h.mint());
    let key = path("tables/orders/part-0.parquet");
    let data = data();

    let whole = store.get(&key).await.unwrap();
    let etag = whole.meta.e_tag.clone();
    assert_eq!(whole.bytes().await.unwrap(), data.as_slice());

    let slice = store.get_range(&key, 12_345..67_890).await.unwrap();
    assert_eq!(slice, &data[12_345..67_890]);
    let ranges = store
        .get_ranges(&key, &[0..10, 99_990..100_000])
        .await
        .unwrap();
    assert_eq!(ranges[0], &data[..10]);
    assert_eq!(ranges[1], &data[99_990..]);

    let suffix = store
        .get_opts(
            &key,
            GetOptions {
                range: Some(GetRange::Suffix(1_000)),
                ..GetOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(suffix.range, 99_000..100_000);
    assert_eq!(suffix.bytes().await.unwrap(), &data[99_000..]);

    let meta = store.head(&key).await.unwrap();
    assert_eq!(meta.size, 100_000);
    assert_eq!(meta.e_tag, etag, "HEAD and GET answer the same tag");
    assert!(meta.e_tag.is_some());

    // A missing key inside the grant is an honest 404.
    let (_, error) = refusal(store.get(&path("tables/orders/missing.parquet")).await);
    assert!(
        matches!(error, object_store::Error::NotFound { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn unsatisfiable_ranges_answer_416() {
    let h = harness().await;
    let credentials = aws(&h.mint());
    let mut request: HttpRequest =
        http::Request::get(format!("{}/{BUCKET}/tables/orders/part-0.parquet", h.url()))
            .header("range", "bytes=100000-")
            .body(HttpRequestBody::empty())
            .unwrap();
    AwsAuthorizer::new(&credentials, "s3", "us-east-1").authorize(&mut request, None);
    let response = reqwest::Client::new()
        .get(request.uri().to_string())
        .headers(request.headers().clone())
        .send()
        .await
        .unwrap();
    Answer::of(response).await.assert_error(416, "InvalidRange");
}

#[tokio::test]
async fn lists_flat_and_by_folder() {
    let h = harness().await;
    let store = h.client(&h.mint());

    let mut keys: Vec<String> = store
        .list(Some(&path("tables/orders")))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    let mut expected: Vec<String> = [
        "tables/orders/_delta_log/00000.json",
        "tables/orders/p=1/a.parquet",
        "tables/orders/p=2/b.parquet",
        "tables/orders/part-0.parquet",
    ]
    .map(String::from)
    .to_vec();
    expected.extend((0..MANY).map(|i| format!("tables/orders/many/{i:04}.parquet")));
    expected.sort();
    assert_eq!(keys, expected, "nothing from tables/orders2/");

    let folder = store
        .list_with_delimiter(Some(&path("tables/orders")))
        .await
        .unwrap();
    let prefixes: Vec<String> = folder.common_prefixes.iter().map(Path::to_string).collect();
    assert_eq!(
        prefixes,
        [
            "tables/orders/_delta_log",
            "tables/orders/many",
            "tables/orders/p=1",
            "tables/orders/p=2",
        ]
    );
    let objects: Vec<(String, u64)> = folder
        .objects
        .iter()
        .map(|m| (m.location.to_string(), m.size))
        .collect();
    assert_eq!(
        objects,
        [("tables/orders/part-0.parquet".to_owned(), 100_000)]
    );

    let log = store
        .list_with_delimiter(Some(&path("tables/orders/_delta_log")))
        .await
        .unwrap();
    assert_eq!(log.objects.len(), 1);
    assert!(log.common_prefixes.is_empty());
}

#[tokio::test]
async fn pages_long_listings_without_repeating_prefixes() {
    let h = start(Signer::from_secret(SECRET), Some(3)).await;
    let credentials = h.mint();
    let store = h.client(&credentials);

    // object_store follows the continuation tokens: 25 keys over 9 pages.
    let many: Vec<String> = store
        .list(Some(&path("tables/orders/many")))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    let expected: Vec<String> = (0..MANY)
        .map(|i| format!("tables/orders/many/{i:04}.parquet"))
        .collect();
    assert_eq!(many, expected);

    // Four common prefixes and an object over two pages: each prefix once.
    let folder = store
        .list_with_delimiter(Some(&path("tables/orders")))
        .await
        .unwrap();
    assert_eq!(
        folder.common_prefixes.len(),
        4,
        "{:?}",
        folder.common_prefixes
    );
    assert_eq!(folder.objects.len(), 1);

    // The page itself, raw.
    let credential = aws(&credentials);
    let first = h
        .signed_get(
            &format!("/{BUCKET}?list-type=2&prefix=tables%2Forders%2F&delimiter=%2F&max-keys=50"),
            &credential,
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.element("MaxKeys"),
        Some("3"),
        "capped by the endpoint"
    );
    assert_eq!(first.element("KeyCount"), Some("3"));
    assert_eq!(first.element("IsTruncated"), Some("true"));
    let token = first.element("NextContinuationToken").unwrap().to_owned();
    let second = h
        .signed_get(
            &format!(
                "/{BUCKET}?continuation-token={token}&delimiter=%2F&list-type=2&prefix=tables%2Forders%2F"
            ),
            &credential,
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.element("KeyCount"), Some("2"));
    assert_eq!(second.element("IsTruncated"), Some("false"));
    assert_eq!(second.element("NextContinuationToken"), None);

    // A token continues only its own listing.
    let elsewhere = h
        .signed_get(
            &format!(
                "/{BUCKET}?continuation-token={token}&list-type=2&prefix=tables%2Forders%2Fmany%2F"
            ),
            &credential,
        )
        .await;
    elsewhere.assert_error(400, "InvalidArgument");
}

#[tokio::test]
async fn refuses_reads_and_listings_outside_the_grant() {
    let h = harness().await;
    let credentials = h.mint();
    let store = h.client(&credentials);

    for key in ["tables/secret/x.parquet", "tables/orders2/y.parquet"] {
        let (text, error) = refusal(store.get(&path(key)).await);
        assert!(
            matches!(error, object_store::Error::PermissionDenied { .. }),
            "{key}: {text}"
        );
        let (_, error) = refusal(store.head(&path(key)).await);
        assert!(
            matches!(error, object_store::Error::PermissionDenied { .. }),
            "{key}"
        );
    }
    // A folder above the grant is no object in the grant's view.
    let (_, error) = refusal(store.head(&path("tables/orders")).await);
    assert!(
        matches!(error, object_store::Error::NotFound { .. }),
        "{error}"
    );

    for prefix in [Some("tables"), Some("tables/orders2"), None] {
        let listed: object_store::Result<Vec<_>> =
            store.list(prefix.map(path).as_ref()).try_collect().await;
        // object_store reports a refused listing as a generic error with the response.
        let (text, _) = refusal(listed);
        assert!(
            text.contains("403 Forbidden") && text.contains("<Code>AccessDenied</Code>"),
            "{prefix:?}: {text}"
        );
    }

    // Keys with empty segments are refused (dot segments are too, but URL parsers on both
    // sides normalise them away before they could be sent).
    let empty_segment = h
        .signed_get(
            &format!("/{BUCKET}/tables/orders/p=1//a.parquet"),
            &aws(&credentials),
        )
        .await;
    empty_segment.assert_error(403, "AccessDenied");

    // Another bucket.
    let other = h
        .signed_get(
            "/another-bucket/tables/orders/part-0.parquet",
            &aws(&credentials),
        )
        .await;
    other.assert_error(404, "NoSuchBucket");
}

#[tokio::test]
async fn refuses_writes() {
    let h = harness().await;
    let store = h.client(&h.mint());
    let key = path("tables/orders/new.parquet");
    let (text, error) = refusal(store.put(&key, PutPayload::from_static(b"x")).await);
    assert!(
        matches!(error, object_store::Error::PermissionDenied { .. }),
        "{text}"
    );
    assert!(text.contains("read-only"), "{text}");
    let (_, error) = refusal(store.delete(&path("tables/orders/part-0.parquet")).await);
    assert!(matches!(
        error,
        object_store::Error::PermissionDenied { .. }
    ));
    let (_, error) = refusal(store.put_multipart(&key).await);
    assert!(matches!(
        error,
        object_store::Error::PermissionDenied { .. }
    ));

    // A read operation other than the five served (GetObjectAcl).
    let acl = h
        .signed_get(
            &format!("/{BUCKET}/tables/orders/part-0.parquet?acl"),
            &aws(&h.mint()),
        )
        .await;
    acl.assert_error(403, "AccessDenied");
    // ListObjects v1.
    let v1 = h
        .signed_get(
            &format!("/{BUCKET}?prefix=tables%2Forders%2F"),
            &aws(&h.mint()),
        )
        .await;
    v1.assert_error(403, "AccessDenied");
}

#[tokio::test]
async fn refuses_expired_grants() {
    let h = harness().await;
    let expired = h
        .endpoint
        .mint(&Grant {
            prefixes: vec![GRANTED.into()],
            expires_at_ms: now_ms() - 1,
        })
        .unwrap();
    let (text, _) = refusal(
        h.client(&expired)
            .get(&path("tables/orders/part-0.parquet"))
            .await,
    );
    assert!(text.contains("ExpiredToken"), "{text}");
}

#[tokio::test]
async fn refuses_an_altered_secret() {
    let h = harness().await;
    let mut credentials = h.mint();
    let mut secret: Vec<char> = credentials.secret_access_key.chars().collect();
    secret[5] = if secret[5] == 'A' { 'B' } else { 'A' };
    credentials.secret_access_key = secret.into_iter().collect();
    let (text, error) = refusal(
        h.client(&credentials)
            .get(&path("tables/orders/part-0.parquet"))
            .await,
    );
    assert!(matches!(
        error,
        object_store::Error::PermissionDenied { .. }
    ));
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
}

#[tokio::test]
async fn refuses_tokens_of_another_signer_and_accepts_rotated_ones() {
    let h = harness().await;
    let key = path("tables/orders/part-0.parquet");

    let stranger = Endpoint::new(
        BUCKET,
        Signer::from_secret("another-secret"),
        Arc::new(Dir(PathBuf::from("/nonexistent"))),
    );
    let foreign = stranger.mint(&grant()).unwrap();
    let (text, error) = refusal(h.client(&foreign).get(&key).await);
    assert!(matches!(
        error,
        object_store::Error::PermissionDenied { .. }
    ));
    assert!(text.contains("InvalidToken"), "{text}");

    // A replica after rotation (a new secret first, the old one still listed) accepts the old
    // credentials and mints new ones the old key set refuses.
    let rotated = start(
        Signer::from_secrets(&["the-next-secret-0123456789", SECRET]),
        None,
    )
    .await;
    let old = h.mint();
    assert_eq!(rotated.client(&old).head(&key).await.unwrap().size, 100_000);
    let new = rotated.mint();
    let (text, _) = refusal(h.client(&new).head(&key).await);
    assert!(text.contains("403"), "{text}");
}

#[tokio::test]
async fn refuses_an_access_key_of_another_token() {
    let h = harness().await;
    let a = h.mint();
    let b = h.mint();
    let key = path("tables/orders/part-0.parquet");
    for mixed in [
        // A's key id with B's token and secret.
        Credentials {
            access_key_id: a.access_key_id.clone(),
            ..b.clone()
        },
        // A's key id and secret with B's token.
        Credentials {
            session_token: b.session_token.clone(),
            ..a.clone()
        },
    ] {
        let (text, error) = refusal(h.client(&mixed).get(&key).await);
        assert!(matches!(
            error,
            object_store::Error::PermissionDenied { .. }
        ));
        assert!(text.contains("InvalidAccessKeyId"), "{text}");
    }
    // Each credential on its own works.
    assert!(h.client(&b).head(&key).await.is_ok());
}

#[tokio::test]
async fn refuses_anonymous_and_sigv2_requests_with_s3_xml() {
    let h = harness().await;
    let url = format!("{}/{BUCKET}/tables/orders/part-0.parquet", h.url());
    let anonymous = Answer::of(reqwest::get(&url).await.unwrap()).await;
    anonymous.assert_error(403, "AccessDenied");
    assert!(anonymous.body.starts_with("<?xml"), "{}", anonymous.body);

    let credentials = h.mint();
    let token_only = reqwest::Client::new()
        .get(&url)
        .header("x-amz-security-token", &credentials.session_token)
        .send()
        .await
        .unwrap();
    Answer::of(token_only)
        .await
        .assert_error(403, "AccessDenied");

    let sigv2 = reqwest::Client::new()
        .get(&url)
        .header("date", "Thu, 01 Jan 2026 00:00:00 GMT")
        .header(
            "authorization",
            format!("AWS {}:c2lnbmF0dXJl", credentials.access_key_id),
        )
        .header("x-amz-security-token", &credentials.session_token)
        .send()
        .await
        .unwrap();
    Answer::of(sigv2).await.assert_error(403, "AccessDenied");

    let garbage_token = h
        .signed_get(
            &format!("/{BUCKET}/tables/orders/part-0.parquet"),
            &AwsCredential {
                token: Some("bm90IGEgdG9rZW4".into()),
                ..aws(&credentials)
            },
        )
        .await;
    garbage_token.assert_error(403, "InvalidToken");
}

#[tokio::test]
async fn presigned_urls_carry_the_token_and_die_with_the_grant() {
    let h = harness().await;
    let key = path("tables/orders/part-0.parquet");
    let store = h.client(&h.mint());
    let url = store
        .signed_url(http::Method::GET, &key, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        url.query().unwrap().contains("X-Amz-Security-Token="),
        "{url}"
    );

    let whole = reqwest::get(url.clone()).await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap(), data().as_slice());

    // The Range header is not signed in a presigned URL, so any range may be asked for.
    let ranged = reqwest::Client::new()
        .get(url.clone())
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.headers()["content-range"], "bytes 10-19/100000");
    assert_eq!(ranged.headers()["content-length"], "10");
    assert_eq!(ranged.bytes().await.unwrap(), &data()[10..20]);

    // An altered signature is refused.
    let (head, signature) = url.as_str().split_once("X-Amz-Signature=").unwrap();
    let flipped = if signature.starts_with('0') { '1' } else { '0' };
    let forged = format!("{head}X-Amz-Signature={flipped}{}", &signature[1..]);
    Answer::of(reqwest::get(forged).await.unwrap())
        .await
        .assert_error(403, "SignatureDoesNotMatch");

    // A URL presigned for an hour with a grant that has expired is refused.
    let expired = h
        .endpoint
        .mint(&Grant {
            prefixes: vec![GRANTED.into()],
            expires_at_ms: now_ms() - 1,
        })
        .unwrap();
    let url = h
        .client(&expired)
        .signed_url(http::Method::GET, &key, Duration::from_secs(3_600))
        .await
        .unwrap();
    Answer::of(reqwest::get(url).await.unwrap())
        .await
        .assert_error(400, "ExpiredToken");
}
