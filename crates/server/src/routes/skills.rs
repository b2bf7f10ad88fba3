//! Agent skills: small folders fetched often, so each carries a version that follows its content
//! and every response an ETag.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::StreamExt;
use lakeshare_assets::{SKILL_FILE, SkillManifest, skill_version};
use lakeshare_catalog::SkillEntry;
use lakeshare_protocol::assets::AgentSkill;
use sha2::{Digest, Sha256};

use super::asset_files::{self, AssetFolder, Digests};
use crate::app::App;
use crate::auth::Recipient;
use crate::error::{ApiError, ApiResult};
use crate::etag::serialized_with_etag;
use crate::pages::{Params, paginate};
use crate::routes::lists::share_id;

fn folder<'a>(share: &str, schema: &str, skill: &'a SkillEntry) -> AssetFolder<'a> {
    AssetFolder {
        label: format!("skill '{share}.{schema}.{}'", skill.name),
        location: &skill.location,
        store: skill.store.as_deref(),
        digests: Digests::Always,
    }
}

/// Describes a skill from its files: SKILL.md's front matter, and the version over every file's
/// digest.
async fn item(app: &App, share: &str, schema: &str, skill: &SkillEntry) -> ApiResult<AgentSkill> {
    let target = folder(share, schema, skill);
    let label = target.label.clone();
    let failed = |e: lakeshare_assets::Error| ApiError::from_asset(&label, &e);
    let dir = target.open(app)?;
    let files = dir.list().await.map_err(|e| failed(e.into()))?;
    if !files.iter().any(|f| f.path == SKILL_FILE) {
        return Err(failed(lakeshare_assets::Error::Skill {
            skill: skill.name.clone(),
            reason: format!("there is no {SKILL_FILE} in its folder"),
        }));
    }
    let digests = app
        .digests()
        .digest_all(&dir, &files)
        .await
        .map_err(failed)?;
    let text = dir.read(SKILL_FILE).await.map_err(|e| failed(e.into()))?;
    let listed = files
        .iter()
        .zip(&digests)
        .find(|(f, _)| f.path == SKILL_FILE)
        .map(|(_, d)| d.as_str());
    // The version must describe the SKILL.md the description came from.
    if listed != Some(hex::encode(Sha256::digest(&text)).as_str()) {
        return Err(failed(lakeshare_assets::Error::Changed {
            path: dir.file_location(SKILL_FILE),
        }));
    }
    let text = String::from_utf8(text.to_vec()).map_err(|_| {
        failed(lakeshare_assets::Error::Skill {
            skill: skill.name.clone(),
            reason: "is not UTF-8 text".into(),
        })
    })?;
    let manifest = SkillManifest::parse(&text, &skill.name).map_err(failed)?;
    let version = skill_version(
        files
            .iter()
            .zip(&digests)
            .map(|(f, d)| (f.path.as_str(), d.as_str())),
    );
    Ok(AgentSkill {
        name: skill.name.clone(),
        schema: schema.to_string(),
        share: share.to_string(),
        share_id: Some(share_id(share)),
        id: Some(crate::registry::stable_uuid(
            &format!("skill:{share}.{schema}.{}", skill.name).to_lowercase(),
        )),
        description: manifest.description,
        storage_location: super::asset_files::storage_location(&format!(
            "{}/",
            skill.location.trim_end_matches('/')
        )),
        license: manifest.license,
        compatibility: manifest.compatibility,
        allowed_tools: manifest.allowed_tools,
        metadata: manifest.metadata,
        version,
        governance: (!skill.governance.is_empty()).then(|| skill.governance.clone()),
    })
}

/// Describes several skills, a few at a time. A skill that cannot be described is left out of
/// the listing (and logged), rather than failing the listing for the others; getting it names
/// the problem.
async fn items(app: &App, skills: Vec<(&str, &str, &SkillEntry)>) -> Vec<AgentSkill> {
    // Collected first: a stream mapping borrowed items with a closure is not provably `Send`
    // for every lifetime, which axum handlers need.
    let pending: Vec<_> = skills
        .into_iter()
        .map(|(share, schema, skill)| async move {
            item(app, share, schema, skill).await.map_err(|e| {
                tracing::warn!(skill = %skill.name, "left out of a listing: {}", e.message);
            })
        })
        .collect();
    let described: Vec<Result<AgentSkill, ()>> =
        futures::stream::iter(pending).buffered(8).collect().await;
    described.into_iter().flatten().collect()
}

type SkillPath = Path<(String, String, String)>;

fn find<'a>(
    app: &'a App,
    recipient: &Recipient,
    (share, schema, name): &(String, String, String),
) -> ApiResult<(&'a str, &'a str, &'a SkillEntry)> {
    let found =
        asset_files::find_asset(app, recipient, share, schema, name, "skill", |s| &s.skills)?;
    Ok((found.share, found.schema, found.asset))
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
    let listing = format!("skills/{share_name}/{}", schema.name).to_lowercase();
    // Page first, so a page costs only its own skills' listings.
    let all: Vec<&SkillEntry> = schema.skills.iter().collect();
    let page = paginate(all, &params, &listing, &recipient.name, app.signer())?;
    let wanted = page
        .items
        .iter()
        .map(|s| (share_name.as_str(), schema.name.as_str(), *s))
        .collect();
    let body = lakeshare_protocol::lists::ListResponse {
        items: items(&app, wanted).await,
        next_page_token: page.next_page_token,
    };
    Ok(serialized_with_etag(&headers, &body))
}

pub async fn list_all(
    State(app): State<App>,
    recipient: Recipient,
    Path(share): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let share = app.share(&recipient, &share)?;
    let all: Vec<(&str, &str, &SkillEntry)> = share
        .schemas
        .iter()
        .flat_map(|schema| {
            schema
                .skills
                .iter()
                .map(|s| (share.name.as_str(), schema.name.as_str(), s))
        })
        .collect();
    let listing = format!("all-skills/{}", share.name).to_lowercase();
    let page = paginate(all, &params, &listing, &recipient.name, app.signer())?;
    let body = lakeshare_protocol::lists::ListResponse {
        items: items(&app, page.items).await,
        next_page_token: page.next_page_token,
    };
    Ok(serialized_with_etag(&headers, &body))
}

pub async fn get(
    State(app): State<App>,
    recipient: Recipient,
    Path(path): SkillPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (share, schema, skill) = find(&app, &recipient, &path)?;
    let body = item(&app, share, schema, skill).await?;
    Ok(serialized_with_etag(&headers, &body))
}

pub async fn files(
    State(app): State<App>,
    recipient: Recipient,
    Path(path): SkillPath,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (share, schema, skill) = find(&app, &recipient, &path)?;
    asset_files::list_files(
        &app,
        &recipient,
        folder(share, schema, skill),
        &params,
        &headers,
    )
    .await
}

pub async fn file_urls(
    State(app): State<App>,
    recipient: Recipient,
    Path(path): SkillPath,
    body: Bytes,
) -> ApiResult<Response> {
    let (share, schema, skill) = find(&app, &recipient, &path)?;
    asset_files::file_urls(&app, &recipient, folder(share, schema, skill), &body).await
}

pub async fn credentials(
    State(app): State<App>,
    recipient: Recipient,
    Path(path): SkillPath,
) -> ApiResult<Response> {
    let (share, schema, skill) = find(&app, &recipient, &path)?;
    asset_files::credentials(&app, &recipient, folder(share, schema, skill)).await
}
