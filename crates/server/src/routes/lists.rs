//! Shares, schemas and tables: what a recipient may see.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use lakeshare_protocol::JSON_CONTENT_TYPE;
use lakeshare_protocol::lists::{GetShareResponse, Schema, Share, Table};

use crate::app::App;
use crate::auth::Recipient;
use crate::error::ApiResult;
use crate::pages::{Params, paginate};
use crate::registry::TableHandle;

/// One compact JSON line: the Python connector parses only the first line of a list body.
fn json_line<T: serde::Serialize>(value: &T) -> Response {
    (
        [(header::CONTENT_TYPE, JSON_CONTENT_TYPE)],
        serde_json::to_vec(value).expect("list bodies always serialise"),
    )
        .into_response()
}

fn share_item(share: &lakeshare_catalog::Share) -> Share {
    Share {
        name: share.name.clone(),
        id: Some(share_id(&share.name)),
    }
}

pub(crate) fn share_id(name: &str) -> String {
    crate::registry::stable_uuid(&format!("share:{}", name.to_lowercase()))
}

pub(crate) fn table_item(app: &App, t: &TableHandle) -> Table {
    let location = if app.vending_store(t).is_some() {
        Some(t.entry.location.clone())
    } else if app.builtin_directory_access(t) {
        Some(crate::builtin_s3::files_location(app, t))
    } else {
        None
    };
    let dir = location.is_some();
    let mut modes = vec!["url".to_string()];
    if dir {
        modes.push("dir".to_string());
    }
    Table {
        name: t.name.clone(),
        schema: t.schema.clone(),
        share: t.share.clone(),
        share_id: Some(share_id(&t.share)),
        id: Some(t.id.clone()),
        location,
        access_modes: Some(modes),
        governance: (!t.entry.governance.is_empty()).then(|| t.entry.governance.clone()),
    }
}

pub async fn shares(
    State(app): State<App>,
    recipient: Recipient,
    params: Params,
) -> ApiResult<Response> {
    let items: Vec<Share> = app
        .config()
        .shares
        .iter()
        .filter(|s| recipient.may_read(&s.name))
        .map(share_item)
        .collect();
    let page = paginate(items, &params, "shares", &recipient.name, app.signer())?;
    Ok(json_line(&page))
}

pub async fn share(
    State(app): State<App>,
    recipient: Recipient,
    Path(share): Path<String>,
) -> ApiResult<Response> {
    let share = app.share(&recipient, &share)?;
    Ok(json_line(&GetShareResponse {
        share: share_item(share),
    }))
}

pub async fn schemas(
    State(app): State<App>,
    recipient: Recipient,
    Path(share): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let share = app.share(&recipient, &share)?;
    let items: Vec<Schema> = share
        .schemas
        .iter()
        .map(|s| Schema {
            name: s.name.clone(),
            share: share.name.clone(),
        })
        .collect();
    let listing = format!("schemas/{}", share.name.to_lowercase());
    Ok(json_line(&paginate(
        items,
        &params,
        &listing,
        &recipient.name,
        app.signer(),
    )?))
}

pub async fn tables(
    State(app): State<App>,
    recipient: Recipient,
    Path((share, schema)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let schema = app.schema(&recipient, &share, &schema)?;
    let listing = format!(
        "tables/{}/{}",
        share.to_lowercase(),
        schema.name.to_lowercase()
    );
    let tables = app.schema_tables(&share, &schema.name).await?;
    table_page(&app, &recipient, &params, &listing, &tables)
}

pub async fn all_tables(
    State(app): State<App>,
    recipient: Recipient,
    Path(share): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let share = app.share(&recipient, &share)?;
    let listing = format!("all-tables/{}", share.name.to_lowercase());
    let mut tables = Vec::new();
    for schema in &share.schemas {
        tables.extend(app.schema_tables(&share.name, &schema.name).await?);
    }
    table_page(&app, &recipient, &params, &listing, &tables)
}

/// One page of `tables`, as a list body.
fn table_page(
    app: &App,
    recipient: &Recipient,
    params: &Params,
    listing: &str,
    tables: &[std::sync::Arc<TableHandle>],
) -> ApiResult<Response> {
    let items: Vec<Table> = tables.iter().map(|t| table_item(app, t)).collect();
    Ok(json_line(&paginate(
        items,
        params,
        listing,
        &recipient.name,
        app.signer(),
    )?))
}
