//! When the table must be opened again. hudi-rs opens a table by reading `hoodie.properties`,
//! building its storage and loading the timeline: several times what Delta's check for new
//! commits costs, and every request needs the latest commits. One listing of the active
//! timeline folder tells whether anything happened since the last open: every action (a
//! commit, clean, rollback, compaction, clustering, archival) adds, completes or removes
//! instant files there. While the listing is unchanged the opened table, its versions and the
//! commit metadata and column statistics read from it are kept.

use super::*;

/// The active timeline folder's files (name and size), sorted.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Listing(Vec<(String, u64)>);

/// An opened table with what tells whether it is still current.
pub(super) struct Opened {
    pub(super) loaded: Arc<Loaded>,
    timeline_dir: String,
    /// The listing taken before `loaded` was opened; `None` when none was (the first open,
    /// or the timeline folder moved): the next request opens the table again after listing.
    /// A listing taken after the open could already show a commit the table does not have,
    /// and would then keep that stale table for as long as nothing else changed.
    listed_before: Option<Listing>,
}

impl Opened {
    pub(super) fn new(loaded: Loaded, listed_before: Option<(&Opened, Listing)>) -> Self {
        let timeline_dir = active_timeline_dir(&loaded.table.hudi_options());
        // A listing of another folder says nothing about this layout.
        let listed_before = listed_before
            .filter(|(before, _)| before.timeline_dir == timeline_dir)
            .map(|(_, listing)| listing);
        Self {
            loaded: Arc::new(loaded),
            timeline_dir,
            listed_before,
        }
    }

    /// The timeline folder as it is now.
    pub(super) async fn list(&self) -> Result<Listing, Error> {
        let mut files: Vec<(String, u64)> = self
            .loaded
            .storage
            .list_files(Some(self.timeline_dir.as_str()))
            .await
            .map_err(|e| Error::Hudi(e.into()))?
            .into_iter()
            .map(|f| (f.name, f.size))
            .collect();
        files.sort_unstable();
        Ok(Listing(files))
    }

    /// Whether `now` shows the timeline this table was opened at.
    pub(super) fn is_current(&self, now: &Listing) -> bool {
        self.listed_before.as_ref() == Some(now)
    }
}

/// Where hudi-rs reads the active timeline, by the rule it opens tables with: layout version 2
/// (the default from table version 8) keeps instants in `.hoodie/<hoodie.timeline.path>`
/// (`timeline` by default), layout version 1 in `.hoodie` itself.
fn active_timeline_dir(config: &HashMap<String, String>) -> String {
    let table_version: i64 = config
        .get("hoodie.table.version")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(6);
    let layout: i64 = config
        .get("hoodie.timeline.layout.version")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(if table_version >= 8 { 2 } else { 1 });
    if layout >= 2 {
        let path = config
            .get("hoodie.timeline.path")
            .map(|p| p.trim().trim_matches('/'))
            .filter(|p| !p.is_empty())
            .unwrap_or("timeline");
        format!(".hoodie/{path}")
    } else {
        ".hoodie".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_timeline_folder_follows_the_layout_version() {
        assert_eq!(active_timeline_dir(&config(&[])), ".hoodie");
        assert_eq!(
            active_timeline_dir(&config(&[("hoodie.table.version", "6")])),
            ".hoodie"
        );
        assert_eq!(
            active_timeline_dir(&config(&[("hoodie.table.version", "8")])),
            ".hoodie/timeline"
        );
        assert_eq!(
            active_timeline_dir(&config(&[
                ("hoodie.table.version", "8"),
                ("hoodie.timeline.layout.version", "1")
            ])),
            ".hoodie"
        );
        assert_eq!(
            active_timeline_dir(&config(&[
                ("hoodie.table.version", "9"),
                ("hoodie.timeline.path", "tl")
            ])),
            ".hoodie/tl"
        );
    }
}
