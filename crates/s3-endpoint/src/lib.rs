//! A read-only S3-compatible endpoint the gateway embeds, so that table readers that speak S3
//! (pyarrow, pyiceberg, deltalake, DuckDB, object_store) read shared table files with credentials
//! the gateway mints. The gateway decides what a key names through [`Objects`]; this crate does
//! the S3 protocol (through [s3s](https://docs.rs/s3s)), the credentials and the authorization.
//!
//! # Credentials
//!
//! [`Endpoint::mint`] turns a [`Grant`] (key prefixes, an expiry) into [`Credentials`] without
//! storing anything:
//!
//! - the **session token** is a [`lakeshare_storage::Signer`] token (purpose
//!   [`Purpose::S3Credential`](lakeshare_storage::Purpose::S3Credential)) sealing the bucket, the
//!   grant and a fresh random 32-byte **secret access key**. SigV4 proves possession of the
//!   secret, so the server must know it to check a signature; sealing it in the token, which
//!   the client sends with every request, lets any replica holding the signing secrets recover
//!   it without shared state. The token is encrypted, so the secret (which the client never
//!   sends) cannot be read off a captured token.
//! - the **access key id** is `LSIA` followed by 16 hex digits of SHA-256 over the token. It is
//!   checked on every request, and it is part of the signed credential scope, so a signature
//!   made with one credential cannot be paired with another credential's token.
//! - **expiry** is checked on every request (s3s only checks the signature's own time and a
//!   presigned URL's `X-Amz-Expires`): an expired grant answers 400 `ExpiredToken`, as AWS does
//!   for expired session credentials, and a presigned URL dies with its grant.
//! - **rotation** follows the signer's key list: the first secret seals, all open. Dropping a
//!   secret revokes every credential it sealed; there is no other revocation, so mint short
//!   grants.
//!
//! # Surface
//!
//! Path-style addressing only (`http://host/bucket/key`), one bucket ([`Endpoint::bucket`]), any
//! signing region, SigV4 only (header or presigned URL, the token in `x-amz-security-token` or
//! `X-Amz-Security-Token`). Served: GetObject (with `Range`), HeadObject, ListObjectsV2,
//! HeadBucket, GetBucketLocation. Everything else, including ListObjects (v1), writes and
//! multipart uploads, is 403 `AccessDenied`. `If-*` conditions are not evaluated.
//!
//! | request | answer |
//! |---|---|
//! | anonymous, SigV2, no session token | 403 `AccessDenied` |
//! | token not ours, altered, or for another bucket | 403 `InvalidToken` |
//! | grant expired | 400 `ExpiredToken` |
//! | access key id not the token's | 403 `InvalidAccessKeyId` |
//! | bad signature (e.g. wrong secret) | 403 `SignatureDoesNotMatch` |
//! | another bucket | 404 `NoSuchBucket` |
//! | key outside the grant, or with empty, `.` or `..` segments | 403 `AccessDenied` |
//! | a folder above a grant prefix (`tables` for `tables/orders/`), a folder key (`…/`) inside it | 404 `NoSuchKey` |
//! | listing prefix not starting with a grant prefix | 403 `AccessDenied` |
//!
//! A listing's prefix must start with a grant prefix; the one exception is a grant prefix
//! without its trailing `/` (`tables/orders` for `tables/orders/`), which lists exactly the
//! grant prefix. No prefix at all is refused, even for a grant of one prefix. Continuation
//! tokens are sealed (purpose `ListPage`) and continue only the listing (prefix, delimiter) they
//! came from.
//!
//! # Logging
//!
//! s3s logs requests, including the `Authorization` header and session token, at `DEBUG` under
//! the `s3s` target, and every refused request at `ERROR`. Keep that target at `warn` at most
//! (`s3s=warn`, or `s3s=off` to drop the per-request error lines); this crate logs store faults
//! at `WARN` and nothing secret.
//!
//! # Example
//!
//! ```
//! use std::ops::Range;
//! use std::sync::Arc;
//!
//! use axum::Router;
//! use axum::body::Body;
//! use axum::extract::{Request, State};
//! use lakeshare_s3_endpoint::{ByteStream, Endpoint, Grant, ObjectError, ObjectInfo, Objects};
//! use lakeshare_storage::Signer;
//! use tower::ServiceExt;
//!
//! /// The gateway maps keys to table files; this one has none.
//! struct NoFiles;
//!
//! #[async_trait::async_trait]
//! impl Objects for NoFiles {
//!     async fn head(&self, _: &str) -> Result<Option<ObjectInfo>, ObjectError> {
//!         Ok(None)
//!     }
//!     async fn get(
//!         &self,
//!         _: &str,
//!         _: Option<Range<u64>>,
//!     ) -> Result<Option<(ObjectInfo, ByteStream)>, ObjectError> {
//!         Ok(None)
//!     }
//!     async fn list(&self, _: &str, _: Option<&str>, _: usize) -> Result<Vec<ObjectInfo>, ObjectError> {
//!         Ok(Vec::new())
//!     }
//! }
//!
//! let endpoint = Endpoint::new("lakeshare", Signer::from_secret("a-long-secret"), Arc::new(NoFiles));
//! let credentials = endpoint
//!     .mint(&Grant { prefixes: vec!["shares/sales/orders/".into()], expires_at_ms: i64::MAX })
//!     .unwrap();
//! assert!(credentials.access_key_id.starts_with("LSIA"));
//!
//! // Every request the router does not match goes to the endpoint.
//! let app: Router = Router::new()
//!     .fallback(|State(endpoint): State<Endpoint>, request: Request| async move {
//!         endpoint.handle(request).await
//!     })
//!     .with_state(endpoint);
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let anonymous = Request::get("/lakeshare/shares/sales/orders/part-0.parquet")
//!     .body(Body::empty())
//!     .unwrap();
//! let response = app.oneshot(anonymous).await.unwrap();
//! assert_eq!(response.status(), 403);
//! # });
//! ```

mod access;
mod credentials;
mod listing;
mod objects;
mod request;
mod service;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use http::{Request, Response};
use lakeshare_storage::Signer;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Error, s3_error};

pub use credentials::{Credentials, Grant};
pub use objects::{ByteStream, ObjectError, ObjectInfo, Objects};

use credentials::{Refusal, Session};

/// What can go wrong outside a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The grant could not be enforced as written (no prefixes, a prefix without its trailing
    /// `/`, or with an empty, `.` or `..` segment).
    #[error("invalid grant: {0}")]
    InvalidGrant(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The read-only S3 endpoint for one bucket. Cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    shared: Arc<Shared>,
}

/// What every request shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) bucket: Arc<str>,
    pub(crate) signer: Signer,
    pub(crate) objects: Arc<dyn Objects>,
    /// The largest ListObjectsV2 page.
    pub(crate) max_keys: usize,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("bucket", &self.shared.bucket)
            .field("signer", &self.shared.signer)
            .field("max_keys", &self.shared.max_keys)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The endpoint for `bucket`, minting and checking credentials with `signer` (every replica
    /// given the same signing secrets accepts the others' credentials) and serving `objects`.
    ///
    /// Panics unless `bucket` is a valid S3 bucket name (3 to 63 lowercase letters, digits,
    /// dots and hyphens): it is the gateway's fixed name, not configuration.
    pub fn new(bucket: &str, signer: Signer, objects: Arc<dyn Objects>) -> Self {
        assert!(
            s3s::path::check_bucket_name(bucket),
            "{bucket:?} is not a valid S3 bucket name"
        );
        Self {
            shared: Arc::new(Shared {
                bucket: bucket.into(),
                signer,
                objects,
                max_keys: listing::MAX_KEYS,
            }),
        }
    }

    /// Caps ListObjectsV2 pages at `max_keys` entries (clamped to 1..=1000; S3's 1000 by
    /// default), whatever the client asks for.
    #[must_use]
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        Arc::make_mut(&mut self.shared).max_keys = max_keys.clamp(1, listing::MAX_KEYS);
        self
    }

    /// The one bucket this endpoint serves.
    pub fn bucket(&self) -> &str {
        &self.shared.bucket
    }

    /// Credentials for `grant`, valid on every replica with the same signing secrets until the
    /// grant expires. Nothing is stored.
    pub fn mint(&self, grant: &Grant) -> Result<Credentials> {
        credentials::mint(&self.shared.signer, &self.shared.bucket, grant)
    }

    /// Answers one S3 request (path-style, the bucket first in the path). Never fails: refusals
    /// and faults are S3 XML errors.
    pub async fn handle(&self, request: Request<Body>) -> Response<Body> {
        let session = match self.admit(&request) {
            Ok(session) => Arc::new(session),
            Err(error) => {
                tracing::debug!(code = error.code().as_str(), "s3 endpoint: refused");
                return request::error_response(&error);
            }
        };
        let request = request.map(s3s::Body::http_body_unsync);
        match self.service(session).call(request).await {
            Ok(response) => response.map(Body::new),
            Err(error) => {
                tracing::warn!(?error, "s3 endpoint: s3s failed");
                request::error_response(&s3_error!(InternalError))
            }
        }
    }

    /// The request's session, opened from its token.
    fn admit<B>(&self, request: &Request<B>) -> Result<Session, S3Error> {
        let token = request::session_token(request)?;
        credentials::open(&self.shared.signer, &self.shared.bucket, &token, now_ms()).map_err(
            |refusal| match refusal {
                Refusal::Invalid => request::invalid_token(),
                Refusal::Expired => request::expired_token(),
            },
        )
    }

    /// An s3s service for one request. s3s asks its auth provider for a secret by access key
    /// alone, and the secret is in the request's token, so each request gets a service holding
    /// its own session (a few small allocations) rather than passing it through a task-local.
    fn service(&self, session: Arc<Session>) -> S3Service {
        let mut builder = S3ServiceBuilder::new(service::ReadOnly {
            shared: self.shared.clone(),
            session: session.clone(),
        });
        builder.set_auth(access::SessionAuth(session.clone()));
        builder.set_access(access::GrantAccess {
            bucket: self.shared.bucket.clone(),
            session,
        });
        builder.build()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
