//! What every non-table asset offers beyond its description: its files listed (with digests),
//! signed URLs for chosen files, and temporary credentials for its folder.
//!
//! The file endpoints are lakeshare's addition to OpenSharing, for stores that cannot vend
//! credentials and for the gateway's own disk: recipients read the bytes straight from storage
//! through the signed URLs, Range requests included, and check them against the digests.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use lakeshare_protocol::assets::{AssetCredentials, AssetFile, FileUrl, FileUrlsRequest};
use lakeshare_protocol::lists::{AwsTempCredentials, ListResponse};
use lakeshare_storage::{Folder, FolderFile};
use secrecy::ExposeSecret;

use crate::app::App;
use crate::auth::Recipient;
use crate::error::{ApiError, ApiResult};
use crate::etag::serialized_with_etag;
use crate::pages::{Params, paginate};

/// An asset of a schema, found by `(share, schema, name)` as a recipient names it
/// (case-insensitively), with the configuration's spelling of its share and schema.
pub(crate) struct Found<'a, T> {
    pub share: &'a str,
    pub schema: &'a str,
    pub asset: &'a T,
}

/// A configured asset, by name.
pub(crate) trait Named {
    fn name(&self) -> &str;
}

impl Named for lakeshare_catalog::VolumeEntry {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for lakeshare_catalog::ModelEntry {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for lakeshare_catalog::SkillEntry {
    fn name(&self) -> &str {
        &self.name
    }
}

/// Looks up the asset `name` among `assets_of(schema)`; `kind` names the asset type in the 404.
pub(crate) fn find_asset<'a, T: Named>(
    app: &'a App,
    recipient: &Recipient,
    share: &str,
    schema: &str,
    name: &str,
    kind: &str,
    assets_of: impl Fn(&'a lakeshare_catalog::Schema) -> &'a [T],
) -> ApiResult<Found<'a, T>> {
    let found_share = app.share(recipient, share)?;
    let found_schema = app.schema(recipient, share, schema)?;
    let asset = assets_of(found_schema)
        .iter()
        .find(|a| a.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            ApiError::not_found(format!("{kind} '{name}' not found in '{share}.{schema}'"))
        })?;
    Ok(Found {
        share: &found_share.name,
        schema: &found_schema.name,
        asset,
    })
}

/// Which files get a digest in listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Digests {
    /// Every file, computed on first listing: model artifacts and skill files, which recipients
    /// are expected to verify.
    Always,
    /// Only those already computed (by `lakeshare digest` or an earlier listing of a model or
    /// skill): volumes may hold terabytes, which no listing should have to read.
    Known,
}

/// The folder of one asset, as the file endpoints see it.
pub(crate) struct AssetFolder<'a> {
    /// `volume 'share.schema.name'`, for messages and the audit log.
    pub label: String,
    pub location: &'a str,
    pub store: Option<&'a str>,
    pub digests: Digests,
}

impl AssetFolder<'_> {
    pub(crate) fn open(&self, app: &App) -> ApiResult<Folder> {
        app.folder(&self.label, self.location, self.store)
    }

    async fn list(&self, folder: &Folder) -> ApiResult<Vec<FolderFile>> {
        folder
            .list()
            .await
            .map_err(|e| ApiError::from_asset(&self.label, &e.into()))
    }

    async fn digests_of(
        &self,
        app: &App,
        folder: &Folder,
        files: &[FolderFile],
    ) -> ApiResult<Vec<Option<String>>> {
        match self.digests {
            Digests::Always => Ok(app
                .digests()
                .digest_all(folder, files)
                .await
                .map_err(|e| ApiError::from_asset(&self.label, &e))?
                .into_iter()
                .map(Some)
                .collect()),
            Digests::Known => {
                let mut known = Vec::with_capacity(files.len());
                for file in files {
                    known.push(app.digests().known(folder, file).await);
                }
                Ok(known)
            }
        }
    }
}

/// `GET …/files`: one page of the folder's files, sorted by path, with an ETag.
pub(crate) async fn list_files(
    app: &App,
    recipient: &Recipient,
    target: AssetFolder<'_>,
    params: &Params,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let folder = target.open(app)?;
    let files = target.list(&folder).await?;
    let listing = format!("files/{}", target.label);
    let page = paginate(files, params, &listing, &recipient.name, app.signer())?;
    let digests = target.digests_of(app, &folder, &page.items).await?;
    let body = ListResponse {
        items: page
            .items
            .into_iter()
            .zip(digests)
            .map(|(file, sha256)| AssetFile {
                path: file.path,
                size: file.size,
                modification_time: file.modified_ms,
                sha256,
            })
            .collect(),
        next_page_token: page.next_page_token,
    };
    Ok(serialized_with_etag(headers, &body))
}

/// Most files one request may ask URLs for, as for a page of a listing.
const MAX_PATHS: usize = 1000;

/// `POST …/file-urls` with `{"paths": [...]}`: a signed URL for each, valid for the server's URL
/// lifetime, with its size and digest.
pub(crate) async fn file_urls(
    app: &App,
    recipient: &Recipient,
    target: AssetFolder<'_>,
    body: &Bytes,
) -> ApiResult<Response> {
    let request: FileUrlsRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::malformed(format!(
            "the request body must be {{\"paths\": [\"<file path>\", …]}}: {e}"
        ))
    })?;
    if request.paths.is_empty() || request.paths.len() > MAX_PATHS {
        return Err(ApiError::invalid(format!(
            "'paths' must name between 1 and {MAX_PATHS} files, got {}",
            request.paths.len()
        )));
    }
    let folder = target.open(app)?;
    let listed: HashMap<String, FolderFile> = target
        .list(&folder)
        .await?
        .into_iter()
        .map(|f| (f.path.clone(), f))
        .collect();
    let chosen = request
        .paths
        .iter()
        .map(|path| {
            listed
                .get(path.trim_start_matches('/'))
                .cloned()
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "{} has no file '{path}'; list its files for the paths it has",
                        target.label
                    ))
                })
        })
        .collect::<ApiResult<Vec<FolderFile>>>()?;
    let digests = target.digests_of(app, &folder, &chosen).await?;
    let paths: Vec<&str> = chosen.iter().map(|f| f.path.as_str()).collect();
    let ttl = std::time::Duration::from_millis(app.url_ttl_ms() as u64);
    let signed = folder
        .sign_for(&paths, ttl, Some((&recipient.name, &target.label)))
        .await
        .map_err(|e| ApiError::from_asset(&target.label, &e.into()))?;
    crate::metrics::COUNTERS
        .urls_signed
        .inc_by(paths.len() as u64);
    app.audit().record(
        "file_urls",
        recipient.caller(),
        serde_json::json!({
            "object": target.label,
            "files": paths.len(),
            "paths": paths.iter().take(crate::audit::MAX_LISTED_IDS).collect::<Vec<_>>(),
        }),
    );
    let items: Vec<FileUrl> = chosen
        .into_iter()
        .zip(signed)
        .zip(digests)
        .map(|((file, url), sha256)| FileUrl {
            path: file.path,
            url: url.url,
            expiration_timestamp: url.expires_at_ms,
            size: file.size,
            sha256,
        })
        .collect();
    let body = ListResponse {
        items,
        next_page_token: None,
    };
    Ok((
        [(header::CONTENT_TYPE, lakeshare_protocol::JSON_CONTENT_TYPE)],
        serde_json::to_vec(&body).expect("URL lists serialise"),
    )
        .into_response())
}

/// `POST …/temporary-*-credentials`: read-only credentials scoped to the folder, where its store
/// can vend them; otherwise a 400 saying why and pointing at the file endpoints.
pub(crate) async fn credentials(
    app: &App,
    recipient: &Recipient,
    target: AssetFolder<'_>,
) -> ApiResult<Response> {
    let refused = |why: String| {
        ApiError::unsupported(format!(
            "temporary credentials for {} cannot be given: {why}; list its files (GET …/files) and ask for signed URLs (POST …/file-urls) instead",
            target.label
        ))
    };
    let body = if target.store.is_none() && !target.location.contains("://") {
        // On the gateway's disk: credentials for its built-in S3 endpoint.
        let prefix = app
            .builtin_folder_access(target.location)
            .map_err(refused)?;
        let minted = crate::builtin_s3::mint(app, recipient, &prefix)
            .map_err(|e| ApiError::internal("minting S3 credentials", e))?;
        AssetCredentials {
            aws_temp_credentials: AwsTempCredentials {
                access_key_id: minted.access_key_id,
                secret_access_key: minted.secret_access_key,
                session_token: minted.session_token,
                endpoint: Some(app.s3_endpoint_url()),
            },
            expiration_time: minted.expires_at_ms,
            storage_location: Some(format!(
                "s3://{}/{}",
                app.s3_endpoint().bucket(),
                prefix.trim_end_matches('/')
            )),
        }
    } else {
        let store = app
            .vending_store_for(target.location, target.store)
            .map_err(refused)?;
        let vended = super::credentials::vend(
            store,
            (target.location, &[]),
            recipient,
            &target.label,
            "the file endpoints",
        )
        .await?;
        AssetCredentials {
            aws_temp_credentials: AwsTempCredentials {
                access_key_id: vended.access_key_id,
                secret_access_key: vended.secret_access_key.expose_secret().to_string(),
                session_token: vended.session_token.expose_secret().to_string(),
                endpoint: None,
            },
            expiration_time: vended.expires_at_ms,
            storage_location: None,
        }
    };
    app.audit().record(
        "credentials",
        recipient.caller(),
        serde_json::json!({ "object": target.label, "expires_at_ms": body.expiration_time }),
    );
    Ok((
        [(header::CONTENT_TYPE, lakeshare_protocol::JSON_CONTENT_TYPE)],
        serde_json::to_vec(&body).expect("credential bodies always serialise"),
    )
        .into_response())
}

/// `storageLocation` as a recipient may see it: a store URI (`s3://…`, `abfss://…`, `gs://…`),
/// which it can read with vended credentials; never a path on the gateway's disk.
pub(super) fn storage_location(location: &str) -> Option<String> {
    let (scheme, _) = location.split_once("://")?;
    let store_uri = !scheme.is_empty()
        && !scheme.eq_ignore_ascii_case("file")
        && scheme.chars().all(|c| c.is_ascii_alphanumeric());
    store_uri.then(|| location.to_string())
}

#[cfg(test)]
mod storage_location_tests {
    use super::storage_location;

    #[test]
    fn only_store_uris_reach_recipients() {
        assert_eq!(
            storage_location("s3://lake/ai/docs").as_deref(),
            Some("s3://lake/ai/docs")
        );
        assert_eq!(storage_location("/srv/lakeshare/ai/docs"), None);
        assert_eq!(storage_location("file:///srv/lakeshare/ai/docs"), None);
        assert_eq!(storage_location("C:\\data\\docs"), None);
    }
}
