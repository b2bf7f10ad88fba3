//! The `fileidhash` request header: which scheme the ids of a read's files follow. `parquet` is
//! the MD5 hex of the path the table's log names the file by (the reference server's default,
//! and lakeshare's in both response formats); `delta` is the SHA-256 hex of it. The server echoes
//! the header in lowercase; a client treats a missing or different echo as an error.

use std::borrow::Cow;

use lakeshare_model::DataFile;

/// The header's name, as sent and as echoed.
pub const FILE_ID_HASH_HEADER: &str = "fileidhash";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum FileIdHash {
    #[default]
    Parquet,
    Delta,
}

impl FileIdHash {
    /// The scheme `value` names (case-insensitive), or why it names none.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "parquet" => Ok(Self::Parquet),
            "delta" => Ok(Self::Delta),
            _ => Err(format!(
                "fileidhash '{value}' is not a file id scheme; use parquet (MD5 of the file's path) or delta (SHA-256 of it)"
            )),
        }
    }

    /// The echo.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Delta => "delta",
        }
    }

    /// `file`'s id in this scheme (`None` if its adapter gave it none in this scheme).
    pub fn id_of(self, file: &DataFile) -> Option<Cow<'_, str>> {
        match self {
            Self::Parquet => Some(Cow::Borrowed(&file.id)),
            Self::Delta => file.sha256_id.map(|id| Cow::Owned(id.hex())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_parse_case_insensitively_and_pick_their_id() {
        assert_eq!(FileIdHash::parse("DELTA"), Ok(FileIdHash::Delta));
        assert_eq!(FileIdHash::parse("Parquet"), Ok(FileIdHash::Parquet));
        assert!(FileIdHash::parse("sha1").unwrap_err().contains("sha1"));
        let file = DataFile::at_path("file:///t/a.parquet", "a.parquet", 1);
        assert_eq!(
            FileIdHash::Parquet.id_of(&file).as_deref(),
            Some(file.id.as_str())
        );
        assert_eq!(FileIdHash::Delta.id_of(&file).map(|id| id.len()), Some(64));
    }
}
