//! The configured folders of volumes, models and skills.

use crate::registry::Opener;

/// The folder at `location`: in store `store`, or on the gateway's disk.
pub fn open_folder(
    opener: &Opener,
    location: &str,
    store: Option<&str>,
) -> Result<lakeshare_storage::Folder, lakeshare_storage::Error> {
    match store {
        None => {
            lakeshare_storage::Folder::local(location, opener.signer.clone(), &opener.files_url)
        }
        Some(name) => {
            let store = opener
                .stores
                .get(name)
                .map_err(|e| lakeshare_storage::Error::Store {
                    store: name.to_string(),
                    reason: e.to_string(),
                })?;
            lakeshare_storage::Folder::in_store(store, location)
        }
    }
}

/// The folder of one volume, READY model version or skill, for `lakeshare check` and
/// `lakeshare digest`.
pub struct SharedFolder {
    /// `volume 'share.schema.name'`, …
    pub label: String,
    /// The skill's name, for skills, whose SKILL.md is checked too.
    pub skill: Option<String>,
    /// Whether every file is hashed when listed (models and skills) or only on request.
    pub always_digested: bool,
    pub location: String,
    pub store: Option<String>,
}

/// Every shared folder of the configuration, in file order.
pub fn shared_folders(config: &lakeshare_catalog::Config) -> Vec<SharedFolder> {
    let mut out = Vec::new();
    for (share, schema) in config.schemas() {
        let qualified = |name: &str| format!("{}.{}.{name}", share.name, schema.name);
        for v in &schema.volumes {
            out.push(SharedFolder {
                label: format!("volume '{}'", qualified(&v.name)),
                skill: None,
                always_digested: false,
                location: v.location.clone(),
                store: v.store.clone(),
            });
        }
        for m in &schema.models {
            for v in m
                .versions
                .iter()
                .filter(|v| v.status == lakeshare_catalog::ModelVersionStatus::Ready)
            {
                out.push(SharedFolder {
                    label: format!("version {} of model '{}'", v.version, qualified(&m.name)),
                    skill: None,
                    always_digested: true,
                    location: v.location.clone(),
                    store: v.store.clone(),
                });
            }
        }
        for s in &schema.skills {
            out.push(SharedFolder {
                label: format!("skill '{}'", qualified(&s.name)),
                skill: Some(s.name.clone()),
                always_digested: true,
                location: s.location.clone(),
                store: s.store.clone(),
            });
        }
    }
    out
}

/// The key prefix of a folder on the gateway's disk in the built-in S3 endpoint's bucket,
/// `folders/{id}/`: an id derived from the folder's path, so the key tells nothing of it.
pub(crate) fn folder_key(location: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(b"lakeshare/folder-key/v1\0")
        .chain_update(location.trim_end_matches('/').as_bytes())
        .finalize();
    format!("{FOLDERS}{}/", hex::encode(&digest[..12]))
}

/// The folder of every shared folder's key prefix.
pub(crate) const FOLDERS: &str = "folders/";
