//! What a run of append snapshots added: the data files a computed table over an Iceberg
//! table computes alone when its definition works row by row (`TableSource::appended`).

use std::collections::HashSet;

use super::*;

impl IcebergSource {
    /// The data files the snapshots after version `after` up to version `to` added, if every
    /// one of them only appended data files under the same schema; `None` otherwise (any
    /// other operation, a delete file, a removed file, a schema change, or a snapshot between
    /// the two that has expired).
    ///
    /// The snapshots checked are `to`'s ancestors down to `after`'s, not the versions between
    /// the two numbers: every snapshot that changed the table counts, version or not.
    pub(super) async fn appended_files(
        &self,
        loaded: &Loaded,
        after: VersionEntry,
        to: VersionEntry,
    ) -> Result<Option<HashSet<String>>, Error> {
        let metadata = &loaded.metadata;
        let Some(base) = metadata.snapshot_by_id(after.snapshot_id) else {
            return Ok(None);
        };
        let mut added = HashSet::new();
        let mut id = to.snapshot_id;
        while id != after.snapshot_id {
            let Some(snapshot) = metadata.snapshot_by_id(id) else {
                return Ok(None);
            };
            if snapshot.summary().operation != Operation::Append
                || snapshot.schema_id() != base.schema_id()
            {
                return Ok(None);
            }
            let own = self
                .manifests(loaded, snapshot)
                .await?
                .entries()
                .iter()
                .filter(|m| m.added_snapshot_id == id)
                .cloned()
                .collect();
            for (file, manifest) in self.read_manifests(loaded, own).await? {
                for entry in manifest.entries() {
                    if entry.snapshot_id() != Some(id) || entry.status() == ManifestStatus::Existing
                    {
                        continue;
                    }
                    if file.content == ManifestContentType::Deletes
                        || entry.status() == ManifestStatus::Deleted
                    {
                        return Ok(None);
                    }
                    added.insert(entry.data_file().file_path().to_string());
                }
            }
            let Some(parent) = snapshot.parent_snapshot_id() else {
                // `after` is not an ancestor of `to` (a rollback between them).
                return Ok(None);
            };
            id = parent;
        }
        Ok(Some(added))
    }
}
