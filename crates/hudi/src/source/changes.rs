//! The change feed: per version, the base files it removed and added.

use super::*;

impl HudiSource {
    pub(super) async fn changes_between(
        &self,
        loaded: &Loaded,
        start: Version,
        end: Version,
    ) -> Result<Vec<VersionChanges>, Error> {
        let first = self.position(loaded, start)?;
        let last = self.position(loaded, end)?;
        let infos = self.infos(loaded).await?;
        let mut out = Vec::with_capacity(last - first + 1);
        // The files just before the range: as of the previous version, or as of a moment
        // before the earliest active instant (which sees what archived commits left).
        let mut before = match first.checked_sub(1) {
            Some(prev) => self.files_of_version(loaded, infos, prev).await?,
            None => {
                let earliest = earliest_instant(&loaded.entries).unwrap_or_default();
                let instant = instant_before(earliest)
                    .ok_or_else(|| Error::Corrupt(format!("unreadable instant time {earliest}")))?;
                let read = AsOf {
                    instant: &instant,
                    seen: 0,
                };
                self.files_at(loaded, infos, read).await?
            }
        };
        let mut schema_before = match first.checked_sub(1) {
            Some(prev) => Some(self.avro_schema(loaded, Some(prev)).await?),
            None => None,
        };
        // Clustering rewrites rows without changing them, except in a read-optimized view,
        // where it also folds in the log files.
        let skip_clustering = !(loaded.table.is_mor() && self.options.read_optimized);
        for at in first..=last {
            let entry = &loaded.entries[at];
            let info = &infos[at];
            check_predecessors(entry, info, &before)?;
            let live = self.files_of_version(loaded, infos, at).await?;
            let mut changes = Vec::new();
            if !(skip_clustering && info.rewrites_only()) {
                let old: HashSet<&str> = before.iter().map(|l| l.file.id.as_str()).collect();
                let new: HashSet<&str> = live.iter().map(|l| l.file.id.as_str()).collect();
                for l in before.iter().filter(|l| !new.contains(l.file.id.as_str())) {
                    changes.push(ChangeFile {
                        kind: ChangeKind::Removed,
                        file: l.file.clone(),
                    });
                }
                for l in live.iter().filter(|l| !old.contains(l.file.id.as_str())) {
                    changes.push(ChangeFile {
                        kind: ChangeKind::Added,
                        file: l.file.clone(),
                    });
                }
            }
            let schema = self.avro_schema(loaded, Some(at)).await?;
            let metadata = if schema_before.as_deref() != Some(schema.as_str()) {
                Some(self.metadata(loaded, Some(at)).await?)
            } else {
                None
            };
            schema_before = Some(schema);
            let mut version_changes = VersionChanges {
                version: entry.version,
                timestamp_ms: entry.timestamp_ms,
                protocol: metadata.as_ref().map(|(_, p)| p.clone()),
                metadata: metadata.map(|(m, _)| m),
                files: changes,
            };
            version_changes.sort_files();
            out.push(version_changes);
            before = live;
        }
        Ok(out)
    }
}
