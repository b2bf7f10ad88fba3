//! The change feed: per snapshot, the data files it added and removed.

use super::scan::{delete_files_error, refuse_deletes};
use super::*;

impl IcebergSource {
    pub(super) async fn version_changes(
        &self,
        loaded: &Loaded,
        entry: VersionEntry,
    ) -> Result<VersionChanges, Error> {
        let metadata = &loaded.metadata;
        let snapshot = metadata.snapshot_by_id(entry.snapshot_id).ok_or_else(|| {
            Error::Unsupported(format!("snapshot {} is missing", entry.snapshot_id))
        })?;
        let schema = snapshot.schema(metadata)?;
        let list = self.manifests(loaded, snapshot).await?;
        // Only manifests this snapshot wrote can hold its additions and removals.
        let own = list
            .entries()
            .iter()
            .filter(|m| m.added_snapshot_id == entry.snapshot_id)
            .cloned()
            .collect();
        let manifests = self.read_manifests(loaded, own).await?;
        let mut changes = VersionChanges {
            version: entry.version,
            timestamp_ms: entry.timestamp_ms,
            metadata: None,
            protocol: None,
            files: Vec::new(),
        };
        // A replace (compaction, manifest rewrite) changes files, not data: nothing to report.
        if snapshot.summary().operation == Operation::Replace {
            return Ok(changes);
        }
        // A removed file whose rows earlier delete files had already masked would be reported
        // with those rows: refuse when the parent had live delete files.
        if let Some(parent) = snapshot
            .parent_snapshot_id()
            .and_then(|id| metadata.snapshot_by_id(id))
        {
            let parent_list = self.manifests(loaded, parent).await?;
            let deletes = parent_list
                .entries()
                .iter()
                .filter(|m| m.content == ManifestContentType::Deletes)
                .cloned()
                .collect();
            refuse_deletes(&self.read_manifests(loaded, deletes).await?, entry.version)?;
        }
        for (file, manifest) in &manifests {
            let ours = manifest
                .entries()
                .iter()
                .filter(|e| e.snapshot_id() == Some(entry.snapshot_id));
            if file.content == ManifestContentType::Deletes {
                if ours.clone().any(|e| e.status() == ManifestStatus::Added) {
                    return Err(delete_files_error(entry.version));
                }
                continue;
            }
            // Every identity partition of the file's own spec: a change read spans versions whose
            // partitioning may differ, and clients take the values of the columns they know.
            let positions = identity_columns(manifest.metadata().partition_spec(), &schema);
            for e in ours {
                let kind = match e.status() {
                    ManifestStatus::Added => ChangeKind::Added,
                    ManifestStatus::Deleted => ChangeKind::Removed,
                    ManifestStatus::Existing => continue,
                };
                let mut data_file =
                    files::data_file(e.data_file(), &schema, &positions, entry.timestamp_ms);
                data_file.stats = None;
                changes.files.push(ChangeFile {
                    kind,
                    file: data_file,
                });
            }
        }
        changes.sort_files();
        Ok(changes)
    }
}
