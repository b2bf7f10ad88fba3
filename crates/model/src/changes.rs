use crate::{DataFile, TableMetadata, TableProtocol, Version};

/// What one commit changed, as the change data feed reports it.
#[derive(Debug, Clone)]
pub struct VersionChanges {
    pub version: Version,
    /// Commit time, epoch milliseconds, as [`crate::TableSource::version_at`] counts it.
    pub timestamp_ms: i64,
    /// The table metadata this commit set, if it changed it.
    pub metadata: Option<TableMetadata>,
    /// The protocol this commit set, if it changed it.
    pub protocol: Option<TableProtocol>,
    /// The files whose rows changed in this commit. Files rewritten without changing data
    /// (compaction) are not listed.
    pub files: Vec<ChangeFile>,
}

impl VersionChanges {
    /// Puts the files in the order the gateway serves them: by kind, then as
    /// [`crate::Snapshot::sort_files`] orders files. Change-feed pages key on it.
    pub fn sort_files(&mut self) {
        self.files.sort_by(|a, b| {
            a.kind
                .cmp(&b.kind)
                .then_with(|| crate::snapshot::file_order(&a.file, &b.file))
        });
    }

    /// Whether the commit recorded its row changes in change data files, which then describe
    /// the commit's changes completely (its added and removed files must not be read as well).
    pub fn has_change_data(&self) -> bool {
        self.files.iter().any(|f| f.kind == ChangeKind::ChangeData)
    }
}

/// One file of a commit's changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFile {
    pub kind: ChangeKind,
    pub file: DataFile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Rows inserted: every row of the file.
    Added,
    /// Rows deleted: every row of the file.
    Removed,
    /// A change data file: rows with their own `_change_type`.
    ChangeData,
}
