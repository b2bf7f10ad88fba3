//! Registered models, their versions (READY ones are listed and readable) and aliases.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use lakeshare_catalog::{ModelEntry, ModelVersionEntry, ModelVersionStatus};
use lakeshare_protocol::assets::{ModelVersion, RegisteredModel};

use super::asset_files::{self, AssetFolder, Digests};
use crate::app::App;
use crate::auth::Recipient;
use crate::error::{ApiError, ApiResult};
use crate::etag::serialized_with_etag;
use crate::pages::{Params, paginate};
use crate::routes::lists::share_id;

/// A model with the spelling of its share and schema in the configuration.
struct Found<'a> {
    share: &'a str,
    schema: &'a str,
    model: &'a ModelEntry,
}

impl Found<'_> {
    fn qualified(&self) -> String {
        format!("{}.{}.{}", self.share, self.schema, self.model.name)
    }

    fn item(&self) -> RegisteredModel {
        let model = self.model;
        RegisteredModel {
            name: model.name.clone(),
            schema: self.schema.to_string(),
            share: self.share.to_string(),
            share_id: Some(share_id(self.share)),
            id: Some(crate::registry::stable_uuid(
                &format!("model:{}", self.qualified()).to_lowercase(),
            )),
            comment: model.comment.clone(),
            storage_location: super::asset_files::storage_location(&model.location),
            governance: (!model.governance.is_empty()).then(|| model.governance.clone()),
        }
    }

    fn version_item(&self, version: &ModelVersionEntry) -> ModelVersion {
        let model = self.model;
        ModelVersion {
            model_name: model.name.clone(),
            schema: self.schema.to_string(),
            share: self.share.to_string(),
            version: version.version,
            status: version.status.as_str().to_string(),
            storage_location: super::asset_files::storage_location(&version.location),
            id: Some(crate::registry::stable_uuid(
                &format!("model-version:{}/{}", self.qualified(), version.version).to_lowercase(),
            )),
            source: version.source.clone(),
            run_id: version.run_id.clone(),
            comment: version.comment.clone(),
            aliases: model
                .aliases
                .iter()
                .filter(|(_, v)| **v == version.version)
                .map(|(alias, _)| alias.clone())
                .collect(),
            governance: (!model.governance.is_empty()).then(|| model.governance.clone()),
        }
    }

    fn version(&self, version: &str) -> ApiResult<&ModelVersionEntry> {
        let number: i64 = version.trim().parse().map_err(|_| {
            ApiError::invalid(format!(
                "model versions are whole numbers; '{version}' is not one"
            ))
        })?;
        self.numbered(number)
    }

    fn numbered(&self, number: i64) -> ApiResult<&ModelVersionEntry> {
        self.model
            .versions
            .iter()
            .find(|v| v.version == number)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "model '{}' has no version {number}",
                    self.qualified()
                ))
            })
    }

    /// The folder of a version whose files may be read: READY ones only.
    fn readable<'a>(&self, version: &'a ModelVersionEntry) -> ApiResult<AssetFolder<'a>> {
        if version.status != ModelVersionStatus::Ready {
            return Err(ApiError::invalid(format!(
                "version {} of model '{}' is {}; only READY versions can be read",
                version.version,
                self.qualified(),
                version.status.as_str()
            )));
        }
        Ok(AssetFolder {
            label: format!(
                "version {} of model '{}'",
                version.version,
                self.qualified()
            ),
            location: &version.location,
            store: version.store.as_deref(),
            digests: Digests::Always,
        })
    }
}

fn find<'a>(
    app: &'a App,
    recipient: &Recipient,
    share: &str,
    schema: &str,
    name: &str,
) -> ApiResult<Found<'a>> {
    let found =
        asset_files::find_asset(app, recipient, share, schema, name, "model", |s| &s.models)?;
    Ok(Found {
        share: found.share,
        schema: found.schema,
        model: found.asset,
    })
}

pub async fn list(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let share_name = &app.share(&recipient, &share)?.name;
    let schema = app.schema(&recipient, &share, &schema)?;
    let items: Vec<RegisteredModel> = schema
        .models
        .iter()
        .map(|model| {
            Found {
                share: share_name,
                schema: &schema.name,
                model,
            }
            .item()
        })
        .collect();
    let listing = format!("models/{share_name}/{}", schema.name).to_lowercase();
    let page = paginate(items, &params, &listing, &recipient.name, app.signer())?;
    Ok(serialized_with_etag(&headers, &page))
}

pub async fn list_all(
    State(app): State<App>,
    recipient: Recipient,
    Path(share): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let share = app.share(&recipient, &share)?;
    let items: Vec<RegisteredModel> = share
        .schemas
        .iter()
        .flat_map(|schema| {
            schema.models.iter().map(|model| {
                Found {
                    share: &share.name,
                    schema: &schema.name,
                    model,
                }
                .item()
            })
        })
        .collect();
    let listing = format!("all-models/{}", share.name).to_lowercase();
    let page = paginate(items, &params, &listing, &recipient.name, app.signer())?;
    Ok(serialized_with_etag(&headers, &page))
}

pub async fn get(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, model)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let found = find(&app, &recipient, &share, &schema, &model)?;
    Ok(serialized_with_etag(&headers, &found.item()))
}

/// READY versions only, newest first.
pub async fn versions(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, model)): Path<(String, String, String)>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let found = find(&app, &recipient, &share, &schema, &model)?;
    let mut ready: Vec<&ModelVersionEntry> = found
        .model
        .versions
        .iter()
        .filter(|v| v.status == ModelVersionStatus::Ready)
        .collect();
    ready.sort_by_key(|v| std::cmp::Reverse(v.version));
    let items: Vec<ModelVersion> = ready.into_iter().map(|v| found.version_item(v)).collect();
    let listing = format!("model-versions/{}", found.qualified()).to_lowercase();
    let page = paginate(items, &params, &listing, &recipient.name, app.signer())?;
    Ok(serialized_with_etag(&headers, &page))
}

pub async fn version(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, model, version)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let found = find(&app, &recipient, &share, &schema, &model)?;
    let version = found.version(&version)?;
    Ok(serialized_with_etag(&headers, &found.version_item(version)))
}

pub async fn alias(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, model, alias)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let found = find(&app, &recipient, &share, &schema, &model)?;
    let number = found
        .model
        .aliases
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&alias))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "model '{}' has no alias '{alias}'",
                found.qualified()
            ))
        })?;
    let version = found.numbered(number)?;
    Ok(serialized_with_etag(&headers, &found.version_item(version)))
}

type VersionPath = Path<(String, String, String, String)>;

pub async fn files(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, model, version)): VersionPath,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let found = find(&app, &recipient, &share, &schema, &model)?;
    let target = found.readable(found.version(&version)?)?;
    asset_files::list_files(&app, &recipient, target, &params, &headers).await
}

pub async fn file_urls(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, model, version)): VersionPath,
    body: Bytes,
) -> ApiResult<Response> {
    let found = find(&app, &recipient, &share, &schema, &model)?;
    let target = found.readable(found.version(&version)?)?;
    asset_files::file_urls(&app, &recipient, target, &body).await
}

pub async fn credentials(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema, model, version)): VersionPath,
) -> ApiResult<Response> {
    let found = find(&app, &recipient, &share, &schema, &model)?;
    let target = found.readable(found.version(&version)?)?;
    asset_files::credentials(&app, &recipient, target).await
}
