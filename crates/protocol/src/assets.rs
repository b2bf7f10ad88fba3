//! Bodies of the OpenSharing asset endpoints: volumes, agent skills, registered models and
//! their versions, and lakeshare's file listings and signed file URLs for them.
//!
//! The shapes follow the OpenSharing documents; what lakeshare adds (`governance`, a skill's
//! `version`, the file endpoints) is optional and additive, so clients written against the
//! documents ignore it.

use std::collections::BTreeMap;

use lakeshare_model::Governance;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    pub schema: String,
    pub share: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The asset's folder as a store URI; absent for folders on the gateway's own disk, whose
    /// paths mean nothing to a recipient (and are the gateway's to keep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governance: Option<Governance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSkill {
    pub name: String,
    pub schema: String,
    pub share: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub description: String,
    /// The asset's folder as a store URI; absent for folders on the gateway's own disk, whose
    /// paths mean nothing to a recipient (and are the gateway's to keep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Changes exactly when a file of the skill changes (lakeshare's addition).
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governance: Option<Governance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredModel {
    pub name: String,
    pub schema: String,
    pub share: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governance: Option<Governance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelVersion {
    pub model_name: String,
    pub schema: String,
    pub share: String,
    pub version: i64,
    pub status: String,
    /// The asset's folder as a store URI; absent for folders on the gateway's own disk, whose
    /// paths mean nothing to a recipient (and are the gateway's to keep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Aliases naming this version (lakeshare's addition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The model's governance metadata (lakeshare's addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governance: Option<Governance>,
}

/// One file of a volume, model version or skill, in a file listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetFile {
    /// Relative to the asset's folder, `/`-separated.
    pub path: String,
    pub size: u64,
    /// Epoch milliseconds.
    pub modification_time: i64,
    /// Hex SHA-256 of the content. Always present for model and skill files; for volume files
    /// only once computed (`lakeshare digest`), since hashing a large volume on listing would not
    /// be affordable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// `POST …/file-urls`: the files to sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUrlsRequest {
    pub paths: Vec<String>,
}

/// One signed file. `url` supports `Range` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileUrl {
    pub path: String,
    pub url: String,
    pub expiration_timestamp: i64,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// `POST …/temporary-{volume,skill,model-version}-credentials`: the flat shape shared by all
/// non-table assets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetCredentials {
    pub aws_temp_credentials: crate::lists::AwsTempCredentials,
    /// Epoch milliseconds.
    pub expiration_time: i64,
    /// Where the credentials read the asset's folder, when that is not its `storageLocation`
    /// (a folder on the gateway's disk, read through its built-in S3 endpoint): a lakeshare
    /// extension.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub storage_location: Option<String>,
}
