//! The configured tables and how each is opened: format detection, the adapter, the URL signer.
//!
//! This is the composition root for formats: the one place outside the adapters that names them,
//! each behind its cargo feature.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lakeshare_catalog::{FormatName, TableEntry};
use lakeshare_model::{TableFormat, TableSource};
use lakeshare_storage::{LocalUrlSigner, Signer, UrlSigner};
use tokio::sync::OnceCell;

/// An opened table: its adapter and the signer for its files.
#[derive(Debug, Clone)]
pub struct OpenedTable {
    pub source: Arc<dyn TableSource>,
    pub signer: Arc<dyn UrlSigner>,
}

/// A configured table. It is opened at start-up, and again on first use if that failed, so one
/// table whose storage is down does not keep the gateway from serving the others.
#[derive(Debug)]
pub struct TableHandle {
    pub share: String,
    pub schema: String,
    pub name: String,
    pub entry: TableEntry,
    /// Stable id of the table in listings: derived from its coordinates.
    pub id: String,
    opened: OnceCell<OpenedTable>,
}

impl TableHandle {
    pub fn new(share: &str, schema: &str, entry: TableEntry) -> Self {
        Self {
            share: share.to_string(),
            schema: schema.to_string(),
            name: entry.name.clone(),
            id: stable_uuid(&format!("{share}.{schema}.{}", entry.name).to_lowercase()),
            entry,
            opened: OnceCell::new(),
        }
    }

    /// `share.schema.table`, for messages and logs.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}.{}", self.share, self.schema, self.name)
    }

    /// The opened table, opening it now if it is not yet.
    pub async fn open(
        &self,
        signer: &Signer,
        files_url: &str,
        url_ttl: Duration,
    ) -> lakeshare_model::Result<&OpenedTable> {
        self.opened
            .get_or_try_init(|| open_table(&self.entry, signer, files_url, url_ttl))
            .await
    }
}

/// Opens one configured table: detects its format if the configuration does not say, opens the
/// adapter and makes the URL signer for its files.
// A build without any adapter feature refuses every table, leaving the rest unreachable.
#[cfg_attr(not(feature = "delta"), allow(unreachable_code, unused_variables))]
pub async fn open_table(
    entry: &TableEntry,
    signer: &Signer,
    files_url: &str,
    url_ttl: Duration,
) -> lakeshare_model::Result<OpenedTable> {
    let format = match entry.format {
        Some(f) => TableFormat::from(f),
        None => detect_format(&entry.location)?,
    };
    let (source, local_root): (Arc<dyn TableSource>, Option<std::path::PathBuf>) = match format {
        #[cfg(feature = "delta")]
        TableFormat::Delta => {
            let source = lakeshare_delta::DeltaSource::open(&entry.location).await?;
            let root = source.local_root();
            (Arc::new(source), root)
        }
        other => {
            return Err(lakeshare_model::Error::Unsupported(format!(
                "tables in the {other} format are not supported by this build of lakeshare"
            )));
        }
    };
    let Some(root) = local_root else {
        return Err(lakeshare_model::Error::Unsupported(
            "the table is not on the local filesystem, and object stores are not supported by this build of lakeshare".into(),
        ));
    };
    let url_signer = LocalUrlSigner::new(signer.clone(), files_url, &root, url_ttl)
        .map_err(|e| lakeshare_model::Error::Storage(e.to_string()))?;
    Ok(OpenedTable {
        source,
        signer: Arc::new(url_signer),
    })
}

/// Tells a table's format from its layout on the local filesystem.
fn detect_format(location: &str) -> lakeshare_model::Result<TableFormat> {
    let path = Path::new(location);
    if location.contains("://") {
        return Err(lakeshare_model::Error::Unsupported(format!(
            "cannot detect the format of '{location}': give `format:` for tables outside the local filesystem"
        )));
    }
    if !path.is_dir() {
        return Err(lakeshare_model::Error::TableNotFound {
            location: location.to_string(),
            reason: "no such directory".into(),
        });
    }
    let format = if path.join("_delta_log").is_dir() {
        FormatName::Delta
    } else if path.join(".hoodie").is_dir() {
        FormatName::Hudi
    } else if path.join("metadata").is_dir() {
        FormatName::Iceberg
    } else {
        return Err(lakeshare_model::Error::TableNotFound {
            location: location.to_string(),
            reason:
                "no _delta_log, .hoodie or metadata folder, so no table format could be detected"
                    .into(),
        });
    };
    Ok(format.into())
}

/// A UUID-shaped id derived from a name (SHA-256, version nibble set to 8, "custom"), stable
/// across restarts and replicas.
pub(crate) fn stable_uuid(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut b: [u8; 16] = Sha256::digest(name.as_bytes())[..16]
        .try_into()
        .expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ids_look_like_uuids_and_do_not_change() {
        let id = stable_uuid("demo.delta.trips");
        assert_eq!(id.len(), 36);
        assert_eq!(id, stable_uuid("demo.delta.trips"));
        assert_ne!(id, stable_uuid("demo.delta.other"));
    }

    #[test]
    fn detects_formats_by_layout() {
        let dir = tempfile::tempdir().unwrap();
        let at = |sub: &str| {
            let p = dir.path().join(sub);
            std::fs::create_dir_all(&p).unwrap();
            p.parent().unwrap().to_string_lossy().into_owned()
        };
        assert_eq!(
            detect_format(&at("d/_delta_log")).unwrap(),
            TableFormat::Delta
        );
        assert_eq!(detect_format(&at("h/.hoodie")).unwrap(), TableFormat::Hudi);
        assert_eq!(
            detect_format(&at("i/metadata")).unwrap(),
            TableFormat::Iceberg
        );
        let empty = at("e/x");
        let err = detect_format(&empty).unwrap_err().to_string();
        assert!(err.contains("no table format could be detected"), "{err}");
        assert!(
            detect_format("s3://b/t")
                .unwrap_err()
                .to_string()
                .contains("give `format:`")
        );
    }
}
