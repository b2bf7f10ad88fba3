//! A query's file lines, signed and serialised once per block of a snapshot and reused while
//! their URLs have more than half their lifetime left.
//!
//! Signing a URL and serialising its line is nearly all a warm query costs, and neither
//! changes between requests for the same snapshot: the same files, the same signer, the same
//! response format and id scheme give the same bytes until the URLs age. So the lines of a
//! snapshot's files are kept in blocks of [`BLOCK`] (in the snapshot's file order), in the
//! snapshot cache under its byte bound, and a query sends slices of them: a whole table is
//! the blocks themselves, without a copy; a pruned or paged one copies only the lines it
//! returns. A block is rendered by the first query that needs it, so a page of a large table
//! signs only its own blocks.
//!
//! A block is dropped once its earliest URL is past half its lifetime, so every line sent has
//! at least half the configured lifetime left (the promise store signers already keep for the
//! URLs they reuse), and the end-of-stream line still names the earliest expiry actually sent.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use futures::StreamExt;
use lakeshare_model::Version;
use lakeshare_protocol::{FileIdHash, ResponseFormat};
use lakeshare_storage::UrlSigner;

use crate::cache::{ServedSnapshot, SnapshotCache};
use crate::encode::{self, BodyLines, Chunk, Ending};

/// Files per block: the chunk size of every streamed body.
const BLOCK: usize = encode::ITEMS_PER_CHUNK;

/// What a block's bytes depend on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockKey {
    /// The signer's identity ([`crate::registry::OpenedTable::signer_id`]): a reopened table
    /// (another secret, another public URL) never meets lines signed before.
    pub signer: u64,
    /// The snapshot: its table's cache key and version.
    pub table: Arc<str>,
    pub version: Version,
    pub format: ResponseFormat,
    pub ids: FileIdHash,
    /// The recipient the URLs are bound to, where the signer binds one (the gateway's own
    /// file route audits downloads as theirs).
    pub audience: Option<Arc<str>>,
    /// Which block: files `index * BLOCK ..` of the snapshot.
    pub index: u32,
}

/// The lines of one block's files.
#[derive(Debug)]
pub struct Block {
    lines: encode::Rendered,
    /// How long the block may be served from when it was signed.
    fresh_for: Duration,
}

impl Block {
    fn new(lines: encode::Rendered, signed_at_ms: i64) -> Self {
        /// Never longer than a day, whatever the URLs say.
        const LONGEST_MS: i64 = 24 * 3600 * 1000;
        let life_ms = lines
            .earliest_expiry_ms
            .saturating_sub(signed_at_ms)
            .clamp(0, 2 * LONGEST_MS);
        Self {
            lines,
            fresh_for: Duration::from_millis((life_ms / 2) as u64),
        }
    }

    /// What the block weighs against the cache's bound.
    pub fn bytes(&self) -> u32 {
        let held = 128 + self.lines.bytes.len() + self.lines.ends.len() * 4;
        u32::try_from(held).unwrap_or(u32::MAX)
    }

    pub fn fresh_for(&self) -> Duration {
        self.fresh_for
    }

    /// Where the lines of the block's files `first..=last` (positions in the block) lie.
    fn span(&self, first: usize, last: usize) -> Range<usize> {
        let start = match first {
            0 => 0,
            n => self.lines.ends[n - 1] as usize,
        };
        start..self.lines.ends[last] as usize
    }

    /// The lines of the block's files `first..=last`, as one slice of the block.
    fn run(&self, first: usize, last: usize) -> Bytes {
        self.lines.bytes.slice(self.span(first, last))
    }
}

/// Where a query's lines come from: the snapshot, how they are written, who signs them.
pub struct Source {
    pub cache: SnapshotCache,
    pub served: Arc<ServedSnapshot>,
    pub signer: Arc<dyn UrlSigner>,
    /// The key of every block but its index.
    pub key: BlockKey,
}

/// The body of a query: `head`, the lines of the snapshot's files `selection[page]` (indices
/// in ascending order), then the end-of-stream line, as [`encode::framed`] writes it.
pub async fn stream(
    head: Vec<u8>,
    source: Source,
    selection: Arc<[u32]>,
    page: Range<usize>,
    ending: Ending,
) -> Result<
    impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    Arc<lakeshare_storage::Error>,
> {
    let source = Arc::new(source);
    let groups = Groups {
        selection: selection.clone(),
        at: page.start,
        end: page.end,
    };
    let chunks = futures::stream::iter(groups).then(move |group| {
        let source = source.clone();
        let selection = selection.clone();
        async move { source.chunk(&selection[group]).await }
    });
    encode::framed(head, chunks, ending).await
}

impl Source {
    /// The lines of `files` (snapshot indices, ascending, all in one block).
    async fn chunk(&self, files: &[u32]) -> Result<Chunk, Arc<lakeshare_storage::Error>> {
        let (first, last) = (files[0] as usize, files[files.len() - 1] as usize);
        let index = first / BLOCK;
        let block = self.block(index).await?;
        let base = index * BLOCK;
        let bytes = if last - first + 1 == files.len() {
            block.run(first - base, last - base)
        } else {
            let mut buf = Vec::with_capacity(files.len() * 512);
            for &i in files {
                let at = i as usize - base;
                buf.extend_from_slice(&block.lines.bytes[block.span(at, at)]);
            }
            Bytes::from(buf)
        };
        crate::metrics::COUNTERS
            .files_served
            .inc_by(files.len() as u64);
        Ok(Chunk {
            bytes,
            earliest_expiry_ms: block.lines.earliest_expiry_ms,
        })
    }

    async fn block(&self, index: usize) -> Result<Arc<Block>, Arc<lakeshare_storage::Error>> {
        let key = BlockKey {
            index: u32::try_from(index).expect("snapshot indices are u32"),
            ..self.key.clone()
        };
        let files = index * BLOCK..((index + 1) * BLOCK).min(self.served.snapshot.files.len());
        let lines = SnapshotLines {
            served: &self.served,
            format: self.key.format,
            ids: self.key.ids,
        };
        self.cache
            .lines(key, async {
                let signed_at_ms = lakeshare_storage::now_ms();
                let rendered = encode::render(&lines, &*self.signer, files).await?;
                Ok(Block::new(rendered, signed_at_ms))
            })
            .await
    }
}

/// The file lines of a snapshot, by file index.
struct SnapshotLines<'a> {
    served: &'a ServedSnapshot,
    format: ResponseFormat,
    ids: FileIdHash,
}

impl BodyLines for SnapshotLines<'_> {
    fn urls<'a>(&'a self, i: usize, out: &mut Vec<std::borrow::Cow<'a, str>>) {
        encode::push_urls(&self.served.snapshot.files[i], out);
    }

    fn write(
        &self,
        buf: &mut Vec<u8>,
        i: usize,
        signed: &mut dyn Iterator<Item = lakeshare_storage::SignedUrl>,
    ) {
        let file = &self.served.snapshot.files[i];
        encode::write_file(buf, self.format, file, self.ids, signed);
    }
}

/// Positions `at..end` of a selection split where its indices cross into another block.
struct Groups {
    selection: Arc<[u32]>,
    at: usize,
    end: usize,
}

impl Iterator for Groups {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.at >= self.end {
            return None;
        }
        let block = self.selection[self.at] as usize / BLOCK;
        let next_block = ((block + 1) * BLOCK) as u32;
        let rest = &self.selection[self.at..self.end];
        let group = self.at..self.at + rest.partition_point(|&i| i < next_block);
        self.at = group.end;
        Some(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(selection: &[u32], page: Range<usize>) -> Vec<Vec<u32>> {
        let selection: Arc<[u32]> = selection.into();
        Groups {
            selection: selection.clone(),
            at: page.start,
            end: page.end,
        }
        .map(|g| selection[g].to_vec())
        .collect()
    }

    #[test]
    fn a_selection_splits_at_block_boundaries_only() {
        let b = BLOCK as u32;
        let all: Vec<u32> = (0..2 * b + 3).collect();
        let split = groups(&all, 0..all.len());
        assert_eq!(split.len(), 3);
        assert_eq!(split[0], (0..b).collect::<Vec<_>>());
        assert_eq!(split[2], vec![2 * b, 2 * b + 1, 2 * b + 2]);
        let sparse = [1, 5, b - 1, b + 7, 3 * b];
        assert_eq!(
            groups(&sparse, 1..4),
            vec![vec![5, b - 1], vec![b + 7]],
            "a page is cut from the selection, then split"
        );
        assert!(groups(&sparse, 2..2).is_empty());
    }

    #[test]
    fn a_block_is_fresh_for_half_its_earliest_url_lifetime() {
        let rendered = |earliest| encode::Rendered {
            bytes: Bytes::from_static(b"a\nbc\n"),
            ends: vec![2, 5],
            earliest_expiry_ms: earliest,
        };
        let block = Block::new(rendered(61_000), 1_000);
        assert_eq!(block.fresh_for(), Duration::from_secs(30));
        assert_eq!(&block.run(0, 0)[..], b"a\n");
        assert_eq!(&block.run(1, 1)[..], b"bc\n");
        assert_eq!(&block.run(0, 1)[..], b"a\nbc\n");
        assert_eq!(
            Block::new(rendered(500), 1_000).fresh_for(),
            Duration::ZERO,
            "a URL already expired is never reused"
        );
    }
}
