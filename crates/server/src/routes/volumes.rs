//! Volumes: folders of arbitrary files.

use lakeshare_catalog::VolumeEntry;
use lakeshare_protocol::assets::Volume;

use super::asset_files::{AssetFolder, Digests};
use super::folder_assets::FolderAsset;
use crate::app::App;
use crate::error::ApiResult;
use crate::routes::lists::share_id;

impl FolderAsset for VolumeEntry {
    const KIND: &'static str = "volume";
    const PLURAL: &'static str = "volumes";
    type Item = Volume;

    fn of(schema: &lakeshare_catalog::Schema) -> &[Self] {
        &schema.volumes
    }

    fn folder<'a>(&'a self, share: &str, schema: &str) -> AssetFolder<'a> {
        AssetFolder {
            label: format!("volume '{share}.{schema}.{}'", self.name),
            location: &self.location,
            store: self.store.as_deref(),
            digests: Digests::Known,
        }
    }

    async fn describe(&self, _: &App, share: &str, schema: &str) -> ApiResult<Volume> {
        Ok(Volume {
            name: self.name.clone(),
            schema: schema.to_string(),
            share: share.to_string(),
            share_id: Some(share_id(share)),
            id: Some(crate::registry::stable_uuid(
                &format!("volume:{share}.{schema}.{}", self.name).to_lowercase(),
            )),
            storage_location: super::asset_files::storage_location(&self.location),
            governance: (!self.governance.is_empty()).then(|| self.governance.clone()),
        })
    }
}
