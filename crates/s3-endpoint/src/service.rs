//! The S3 operations the endpoint serves, over [`Objects`]. Requests reach these methods only
//! after [`crate::access`] has checked the signature, the operation, the bucket and the key.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::TryStreamExt;
use http_body_util::StreamBody;
use hyper::body::Frame;
use s3s::dto::{
    ETag, GetBucketLocationInput, GetBucketLocationOutput, GetObjectInput, GetObjectOutput,
    HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput, ListObjectsV2Input,
    ListObjectsV2Output, StreamingBlob, Timestamp,
};
use s3s::{S3, S3Error, S3Request, S3Response, S3Result, s3_error};
use sha2::{Digest, Sha256};

use crate::Shared;
use crate::credentials::Session;
use crate::listing::list_objects_v2;
use crate::objects::{ByteStream, ObjectError, ObjectInfo};

/// The operations for one request: the endpoint's state and the request's opened session.
pub(crate) struct ReadOnly {
    pub(crate) shared: Arc<Shared>,
    pub(crate) session: Arc<Session>,
}

/// The object's entity tag: the store's, or one derived from key, size and modification time,
/// the same on every replica and new whenever the file changes.
pub(crate) fn etag_of(info: &ObjectInfo) -> ETag {
    let tag = match &info.etag {
        Some(tag) => tag.trim_matches('"').to_owned(),
        None => {
            let digest = Sha256::new()
                .chain_update(info.key.as_bytes())
                .chain_update([0])
                .chain_update(info.size.to_be_bytes())
                .chain_update(info.last_modified_ms.to_be_bytes())
                .finalize();
            hex::encode(&digest[..16])
        }
    };
    ETag::Strong(tag)
}

pub(crate) fn timestamp(ms: i64) -> Timestamp {
    let since_epoch = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    Timestamp::from(SystemTime::UNIX_EPOCH + since_epoch)
}

/// The S3 error for a store failure: a denial keeps its message; a fault is logged and answered
/// with a bare `InternalError`, so no path or store detail reaches the client.
pub(crate) fn fault(error: ObjectError) -> S3Error {
    match error {
        ObjectError::Denied(message) => S3Error::with_message(
            s3s::S3ErrorCode::AccessDenied,
            format!("Access denied: {message}"),
        ),
        ObjectError::Fault(message) => {
            tracing::warn!(error = %message, "s3 endpoint: the object store failed");
            s3_error!(
                InternalError,
                "We encountered an internal error. Please try again."
            )
        }
    }
}

fn content_length(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

fn blob(stream: ByteStream) -> StreamingBlob {
    // The store's stream is Send but not Sync, which `StreamingBlob::wrap` needs.
    let body = StreamBody::new(stream.map_ok(Frame::data));
    StreamingBlob::from(s3s::Body::http_body_unsync(body))
}

#[async_trait::async_trait]
impl S3 for ReadOnly {
    async fn head_bucket(
        &self,
        _req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        _req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        // No constraint means us-east-1; the endpoint accepts signatures for any region.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let info = self
            .shared
            .objects
            .head(&req.input.key)
            .await
            .map_err(fault)?
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(content_length(info.size)),
            e_tag: Some(etag_of(&info)),
            last_modified: Some(timestamp(info.last_modified_ms)),
            accept_ranges: Some("bytes".into()),
            ..HeadObjectOutput::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        if input.part_number.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "partNumber is not supported; use a Range."
            ));
        }
        let objects = &self.shared.objects;
        let (info, stream, range) = match input.range {
            None => objects
                .get(&input.key, None)
                .await
                .map_err(fault)?
                .map(|(info, stream)| (info, stream, None))
                .ok_or_else(|| s3_error!(NoSuchKey))?,
            Some(range) => {
                let size = objects
                    .head(&input.key)
                    .await
                    .map_err(fault)?
                    .ok_or_else(|| s3_error!(NoSuchKey))?
                    .size;
                let bytes = range.check(size)?;
                let (info, stream) = objects
                    .get(&input.key, Some(bytes.clone()))
                    .await
                    .map_err(fault)?
                    .ok_or_else(|| s3_error!(NoSuchKey))?;
                (info, stream, Some((bytes, size)))
            }
        };
        let (length, content_range) = match range {
            None => (info.size, None),
            Some((bytes, size)) => (
                bytes.end - bytes.start,
                Some(format!("bytes {}-{}/{size}", bytes.start, bytes.end - 1)),
            ),
        };
        Ok(S3Response::new(GetObjectOutput {
            body: Some(blob(stream)),
            content_length: Some(content_length(length)),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag_of(&info)),
            last_modified: Some(timestamp(info.last_modified_ms)),
            ..GetObjectOutput::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let output = list_objects_v2(
            self.shared.objects.as_ref(),
            &self.shared.signer,
            &self.session.grant,
            self.shared.max_keys,
            req.input,
        )
        .await?;
        Ok(S3Response::new(output))
    }
}
