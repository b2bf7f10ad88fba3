//! Row counts of data files whose statistics lack one, from their Parquet footers.
//!
//! Iceberg manifests require every data file's row count; Delta writers may leave statistics
//! out. A footer is a ranged read of a few kilobytes at the end of the file; each file's count
//! is read once and kept (a file's bytes never change under its name).

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};
use lakeshare_model::{DataFile, Root};
use moka::sync::Cache;
use object_store::ObjectStoreExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::registry::OpenedTable;

/// Footers read at once per generation.
const CONCURRENT_READS: usize = 16;

/// Counts by file URL and size.
#[derive(Clone)]
pub struct RowCounts {
    known: Cache<(String, u64), u64>,
}

impl RowCounts {
    pub fn new(max_entries: u64) -> Self {
        Self {
            known: Cache::new(max_entries),
        }
    }

    /// The row count of every file in `files` that has none in its statistics, by file id.
    pub async fn missing(
        &self,
        opened: &OpenedTable,
        files: &[DataFile],
    ) -> Result<HashMap<String, u64>, lakeshare_iceberg_rest::Error> {
        let wanted: Vec<DataFile> = files
            .iter()
            .filter(|f| f.stats.as_ref().and_then(|s| s.num_records).is_none())
            .cloned()
            .collect();
        let lookups: Vec<_> = wanted.into_iter().map(|f| self.count(opened, f)).collect();
        futures::stream::iter(lookups)
            .buffer_unordered(CONCURRENT_READS)
            .try_collect()
            .await
    }

    async fn count(
        &self,
        opened: &OpenedTable,
        file: DataFile,
    ) -> Result<(String, u64), lakeshare_iceberg_rest::Error> {
        let key = (file.url.to_string(), file.size);
        if let Some(n) = self.known.get(&key) {
            return Ok((file.id, n));
        }
        let n = footer_rows(opened, &file).await.map_err(|e| {
            let message = format!(
                "the row count of data file {} could not be read: {}",
                file.id,
                e.message()
            );
            match e {
                FooterError::Unreadable(_) => lakeshare_iceberg_rest::Error::Unavailable(message),
                FooterError::NotParquet(_) => lakeshare_iceberg_rest::Error::Invalid(message),
            }
        })?;
        self.known.insert(key, n);
        Ok((file.id, n))
    }
}

/// Why a footer gave no row count: its bytes could not be read (which may pass), or they are
/// not a Parquet footer (which will not).
enum FooterError {
    Unreadable(String),
    NotParquet(String),
}

impl FooterError {
    fn message(&self) -> &str {
        match self {
            FooterError::Unreadable(m) | FooterError::NotParquet(m) => m,
        }
    }
}

async fn footer_rows(opened: &OpenedTable, file: &DataFile) -> Result<u64, FooterError> {
    let not_parquet = |m: &str| FooterError::NotParquet(m.to_string());
    let tail = read_range(opened, file, file.size.saturating_sub(8), file.size)
        .await
        .map_err(FooterError::Unreadable)?;
    if tail.len() != 8 || &tail[4..] != b"PAR1" {
        return Err(not_parquet("it is not a Parquet file"));
    }
    let footer_len = u64::from(u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")));
    let start = file
        .size
        .checked_sub(8 + footer_len)
        .ok_or_else(|| not_parquet("its footer length is larger than the file"))?;
    let footer = read_range(opened, file, start, file.size - 8)
        .await
        .map_err(FooterError::Unreadable)?;
    let metadata = parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&footer)
        .map_err(|e| FooterError::NotParquet(format!("its footer is not valid: {e}")))?;
    u64::try_from(metadata.file_metadata().num_rows())
        .map_err(|_| not_parquet("a negative row count"))
}

async fn read_range(
    opened: &OpenedTable,
    file: &DataFile,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, String> {
    match &opened.root {
        Root::Local(_) => {
            let path = url::Url::parse(&file.url.as_str())
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or("not a local file")?;
            let mut f = tokio::fs::File::open(path)
                .await
                .map_err(|e| e.kind().to_string())?;
            f.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| e.to_string())?;
            let mut buf = vec![0; (end - start) as usize];
            f.read_exact(&mut buf)
                .await
                .map_err(|e| e.kind().to_string())?;
            Ok(buf)
        }
        Root::Store(_) => {
            let store = opened.store.as_ref().ok_or("no store")?;
            let key = store
                .key_of(&file.url.as_str())
                .map_err(|e| e.to_string())?;
            let bytes = store
                .object_store()
                .get_range(&key, start..end)
                .await
                .map_err(|e| format!("{:?}", lakeshare_model::fault_of(&e)))?;
            Ok(bytes.to_vec())
        }
    }
}
