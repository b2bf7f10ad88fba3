//! Agent skills: small folders fetched often, so each carries a version that follows its content
//! and every response an ETag.

use lakeshare_assets::{SKILL_FILE, SkillManifest, skill_version};
use lakeshare_catalog::SkillEntry;
use lakeshare_protocol::assets::AgentSkill;
use sha2::{Digest, Sha256};

use super::asset_files::{AssetFolder, Digests};
use super::folder_assets::FolderAsset;
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::routes::lists::share_id;

impl FolderAsset for SkillEntry {
    const KIND: &'static str = "skill";
    const PLURAL: &'static str = "skills";
    type Item = AgentSkill;

    fn of(schema: &lakeshare_catalog::Schema) -> &[Self] {
        &schema.skills
    }

    fn folder<'a>(&'a self, share: &str, schema: &str) -> AssetFolder<'a> {
        AssetFolder {
            label: format!("skill '{share}.{schema}.{}'", self.name),
            location: &self.location,
            store: self.store.as_deref(),
            digests: Digests::Always,
        }
    }

    async fn describe(&self, app: &App, share: &str, schema: &str) -> ApiResult<AgentSkill> {
        item(app, share, schema, self).await
    }
}

/// Describes a skill from its files: SKILL.md's front matter, and the version over every file's
/// digest.
async fn item(app: &App, share: &str, schema: &str, skill: &SkillEntry) -> ApiResult<AgentSkill> {
    let target = skill.folder(share, schema);
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
