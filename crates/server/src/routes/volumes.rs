//! Volumes: folders of arbitrary files.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use lakeshare_catalog::VolumeEntry;
use lakeshare_protocol::assets::Volume;

use super::asset_files::{self, AssetFolder, Digests};
use crate::app::App;
use crate::auth::Recipient;
use crate::error::ApiResult;
use crate::etag::serialized_with_etag;
use crate::pages::{Params, paginate};
use crate::routes::lists::share_id;

type VolumePath = Path<(String, String, String)>;

fn item(share: &str, schema: &str, volume: &VolumeEntry) -> Volume {
    Volume {
        name: volume.name.clone(),
        schema: schema.to_string(),
        share: share.to_string(),
        share_id: Some(share_id(share)),
        id: Some(crate::registry::stable_uuid(
            &format!("volume:{share}.{schema}.{}", volume.name).to_lowercase(),
        )),
        storage_location: super::asset_files::storage_location(&volume.location),
        governance: (!volume.governance.is_empty()).then(|| volume.governance.clone()),
    }
}

/// The volume `share.schema.name` and the spelling of its share and schema in the configuration.
fn find<'a>(
    app: &'a App,
    recipient: &Recipient,
    (share, schema, name): &(String, String, String),
) -> ApiResult<(&'a str, &'a str, &'a VolumeEntry)> {
    let found = asset_files::find_asset(app, recipient, share, schema, name, "volume", |s| {
        &s.volumes
    })?;
    Ok((found.share, found.schema, found.asset))
}

fn folder<'a>(share: &str, schema: &str, volume: &'a VolumeEntry) -> AssetFolder<'a> {
    AssetFolder {
        label: format!("volume '{share}.{schema}.{}'", volume.name),
        location: &volume.location,
        store: volume.store.as_deref(),
        digests: Digests::Known,
    }
}

pub async fn list(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let share_name = app.share(&recipient, &share)?.name.clone();
    let schema = app.schema(&recipient, &share, &schema)?;
    let items: Vec<Volume> = schema
        .volumes
        .iter()
        .map(|v| item(&share_name, &schema.name, v))
        .collect();
    let listing = format!("volumes/{share_name}/{}", schema.name).to_lowercase();
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
    let items: Vec<Volume> = share
        .schemas
        .iter()
        .flat_map(|schema| {
            schema
                .volumes
                .iter()
                .map(|v| item(&share.name, &schema.name, v))
        })
        .collect();
    let listing = format!("all-volumes/{}", share.name).to_lowercase();
    let page = paginate(items, &params, &listing, &recipient.name, app.signer())?;
    Ok(serialized_with_etag(&headers, &page))
}

pub async fn get(
    State(app): State<App>,
    recipient: Recipient,
    Path(path): VolumePath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (share, schema, volume) = find(&app, &recipient, &path)?;
    let body = item(share, schema, volume);
    Ok(serialized_with_etag(&headers, &body))
}

pub async fn files(
    State(app): State<App>,
    recipient: Recipient,
    Path(path): VolumePath,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (share, schema, volume) = find(&app, &recipient, &path)?;
    asset_files::list_files(
        &app,
        &recipient,
        folder(share, schema, volume),
        &params,
        &headers,
    )
    .await
}

pub async fn file_urls(
    State(app): State<App>,
    recipient: Recipient,
    Path(path): VolumePath,
    body: Bytes,
) -> ApiResult<Response> {
    let (share, schema, volume) = find(&app, &recipient, &path)?;
    asset_files::file_urls(&app, &recipient, folder(share, schema, volume), &body).await
}

pub async fn credentials(
    State(app): State<App>,
    recipient: Recipient,
    Path(path): VolumePath,
) -> ApiResult<Response> {
    let (share, schema, volume) = find(&app, &recipient, &path)?;
    asset_files::credentials(&app, &recipient, folder(share, schema, volume)).await
}
