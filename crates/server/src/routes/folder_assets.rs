//! Assets that are one folder each (volumes, skills): one set of handlers over [`FolderAsset`].
//! A new kind implements the trait and gets listing, all-listing, get, `files`, `file-urls` and
//! credentials through [`routes`].

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use futures::StreamExt;
use serde::Serialize;

use super::asset_files::{self, AssetFolder, Named};
use crate::app::App;
use crate::auth::Recipient;
use crate::error::ApiResult;
use crate::etag::serialized_with_etag;
use crate::pages::{Params, paginate};

/// One kind of folder asset, as configured in a schema.
pub(crate) trait FolderAsset: Named + Send + Sync + Sized + 'static {
    /// The kind in messages (`volume`), listing names and the credentials route.
    const KIND: &'static str;
    /// The kind in paths (`volumes`).
    const PLURAL: &'static str;
    type Item: Serialize + Send;

    /// The assets of this kind a schema holds.
    fn of(schema: &lakeshare_catalog::Schema) -> &[Self];

    /// The asset's folder, as the file endpoints see it.
    fn folder<'a>(&'a self, share: &str, schema: &str) -> AssetFolder<'a>;

    /// What a listing and a get answer for it. An asset that cannot be described (a broken
    /// SKILL.md, say) is left out of listings and logged; getting it names the problem.
    fn describe(
        &self,
        app: &App,
        share: &str,
        schema: &str,
    ) -> impl Future<Output = ApiResult<Self::Item>> + Send;
}

/// The routes of kind `K`: `/shares/{share}/all-{plural}`, `…/schemas/{schema}/{plural}`, and
/// under `…/{plural}/{name}`: the asset, `files`, `file-urls`, `temporary-{kind}-credentials`.
pub(crate) fn routes<K: FolderAsset>() -> Router<App> {
    let plural = K::PLURAL;
    let one = format!("/shares/{{share}}/schemas/{{schema}}/{plural}/{{name}}");
    Router::new()
        .route(
            &format!("/shares/{{share}}/all-{plural}"),
            get(list_all::<K>),
        )
        .route(
            &format!("/shares/{{share}}/schemas/{{schema}}/{plural}"),
            get(list::<K>),
        )
        .route(&one, get(get_one::<K>))
        .route(&format!("{one}/files"), get(files::<K>))
        .route(&format!("{one}/file-urls"), post(file_urls::<K>))
        .route(
            &format!("{one}/temporary-{}-credentials", K::KIND),
            post(credentials::<K>),
        )
}

type AssetPath = Path<(String, String, String)>;

/// Describes several assets, a few at a time, leaving out those that cannot be described.
async fn describe_all<K: FolderAsset>(app: &App, assets: Vec<(&str, &str, &K)>) -> Vec<K::Item> {
    // Collected first: a stream mapping borrowed items with a closure is not provably `Send`
    // for every lifetime, which axum handlers need.
    let pending: Vec<_> = assets
        .into_iter()
        .map(|(share, schema, asset)| async move {
            asset.describe(app, share, schema).await.map_err(|e| {
                tracing::warn!(kind = K::KIND, name = %asset.name(), "left out of a listing: {}", e.message);
            })
        })
        .collect();
    let described: Vec<Result<K::Item, ()>> =
        futures::stream::iter(pending).buffered(8).collect().await;
    described.into_iter().flatten().collect()
}

/// A page of `assets`: paged first, so a page costs only its own assets' descriptions.
async fn page_of<K: FolderAsset>(
    app: &App,
    recipient: &Recipient,
    assets: Vec<(&str, &str, &K)>,
    listing: &str,
    params: &Params,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let page = paginate(assets, params, listing, &recipient.name, app.signer())?;
    let body = lakeshare_protocol::lists::ListResponse {
        items: describe_all(app, page.items).await,
        next_page_token: page.next_page_token,
    };
    Ok(serialized_with_etag(headers, &body))
}

async fn list<K: FolderAsset>(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let share_name = &app.share(&recipient, &share)?.name;
    let schema = app.schema(&recipient, &share, &schema)?;
    let listing = format!("{}/{share_name}/{}", K::PLURAL, schema.name).to_lowercase();
    let assets = K::of(schema)
        .iter()
        .map(|a| (share_name.as_str(), schema.name.as_str(), a))
        .collect();
    page_of(&app, &recipient, assets, &listing, &params, &headers).await
}

async fn list_all<K: FolderAsset>(
    State(app): State<App>,
    recipient: Recipient,
    Path(share): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let share = app.share(&recipient, &share)?;
    let listing = format!("all-{}/{}", K::PLURAL, share.name).to_lowercase();
    let assets = share
        .schemas
        .iter()
        .flat_map(|schema| {
            K::of(schema)
                .iter()
                .map(|a| (share.name.as_str(), schema.name.as_str(), a))
        })
        .collect();
    page_of(&app, &recipient, assets, &listing, &params, &headers).await
}

/// The asset `share.schema.name` and the spelling of its share and schema in the configuration.
fn find<'a, K: FolderAsset>(
    app: &'a App,
    recipient: &Recipient,
    (share, schema, name): &(String, String, String),
) -> ApiResult<(&'a str, &'a str, &'a K)> {
    let found = asset_files::find_asset(app, recipient, share, schema, name, K::KIND, K::of)?;
    Ok((found.share, found.schema, found.asset))
}

async fn get_one<K: FolderAsset>(
    State(app): State<App>,
    recipient: Recipient,
    Path(path): AssetPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (share, schema, asset) = find::<K>(&app, &recipient, &path)?;
    let body = asset.describe(&app, share, schema).await?;
    Ok(serialized_with_etag(&headers, &body))
}

async fn files<K: FolderAsset>(
    State(app): State<App>,
    recipient: Recipient,
    Path(path): AssetPath,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (share, schema, asset) = find::<K>(&app, &recipient, &path)?;
    asset_files::list_files(
        &app,
        &recipient,
        asset.folder(share, schema),
        &params,
        &headers,
    )
    .await
}

async fn file_urls<K: FolderAsset>(
    State(app): State<App>,
    recipient: Recipient,
    Path(path): AssetPath,
    body: Bytes,
) -> ApiResult<Response> {
    let (share, schema, asset) = find::<K>(&app, &recipient, &path)?;
    asset_files::file_urls(&app, &recipient, asset.folder(share, schema), &body).await
}

async fn credentials<K: FolderAsset>(
    State(app): State<App>,
    recipient: Recipient,
    Path(path): AssetPath,
) -> ApiResult<Response> {
    let (share, schema, asset) = find::<K>(&app, &recipient, &path)?;
    asset_files::credentials(&app, &recipient, asset.folder(share, schema)).await
}
