//! A data file's absolute URL, held as the table root its files share and the rest.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The absolute URL of a data file (`file:///…`, `s3://…`).
///
/// Every file of a table lives under its root, so a snapshot of 100k files would hold that
/// root 100k times if each URL were a `String` of its own: the larger part of each URL, and
/// more than any other field of a cached file entry. An adapter resolving a path under the
/// root builds the URL with [`FileUrl::under`], the root allocated once and shared; the URL
/// is the root followed by the rest, byte for byte. Equality, order and hashing are those of
/// the whole URL's text, however it is split.
#[derive(Clone, Default)]
pub struct FileUrl {
    root: Option<Arc<str>>,
    rest: Box<str>,
}

impl FileUrl {
    /// The URL `root` followed by `rest` (which is not escaped or resolved: the caller has
    /// made sure that the text is the URL it means).
    pub fn under(root: &Arc<str>, rest: &str) -> Self {
        Self {
            root: Some(root.clone()),
            rest: rest.into(),
        }
    }

    /// This URL, sharing `root`'s allocation if it begins with it.
    pub fn sharing(self, root: &Arc<str>) -> Self {
        match &self.root {
            None if self.rest.len() > root.len() && self.rest.starts_with(&**root) => {
                Self::under(root, &self.rest[root.len()..])
            }
            _ => self,
        }
    }

    /// The URL as one string: borrowed when it is held in one piece.
    pub fn as_str(&self) -> Cow<'_, str> {
        match &self.root {
            None => Cow::Borrowed(&self.rest),
            Some(root) => Cow::Owned([&**root, &*self.rest].concat()),
        }
    }

    /// The shared root (empty for a URL held in one piece) and the rest after it.
    pub fn parts(&self) -> (&str, &str) {
        (self.root.as_deref().unwrap_or(""), &self.rest)
    }

    /// The length of the whole URL in bytes.
    pub fn len(&self) -> usize {
        self.parts().0.len() + self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the URL begins with `prefix`.
    pub fn starts_with(&self, prefix: &str) -> bool {
        let (root, rest) = self.parts();
        match prefix.strip_prefix(root) {
            Some(in_rest) => rest.starts_with(in_rest),
            None => root.starts_with(prefix),
        }
    }

    /// Bytes this holds outside itself for its own sake (not the shared root), for a cache's
    /// weight.
    pub fn heap_bytes(&self) -> usize {
        self.rest.len()
    }

    fn bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let (root, rest) = self.parts();
        root.bytes().chain(rest.bytes())
    }
}

impl From<String> for FileUrl {
    fn from(url: String) -> Self {
        Self {
            root: None,
            rest: url.into_boxed_str(),
        }
    }
}

impl From<&str> for FileUrl {
    fn from(url: &str) -> Self {
        Self {
            root: None,
            rest: url.into(),
        }
    }
}

impl fmt::Display for FileUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (root, rest) = self.parts();
        if f.width().is_none() && f.precision().is_none() {
            f.write_str(root)?;
            f.write_str(rest)
        } else {
            f.pad(&self.as_str())
        }
    }
}

impl fmt::Debug for FileUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.as_str(), f)
    }
}

impl PartialEq for FileUrl {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.bytes().eq(other.bytes())
    }
}

impl Eq for FileUrl {}

impl PartialEq<str> for FileUrl {
    fn eq(&self, other: &str) -> bool {
        let (root, rest) = self.parts();
        other.strip_prefix(root) == Some(rest)
    }
}

impl PartialEq<&str> for FileUrl {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialOrd for FileUrl {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FileUrl {
    /// As the whole URLs' texts compare (bytewise, as `str`'s order is).
    fn cmp(&self, other: &Self) -> Ordering {
        self.bytes().cmp(other.bytes())
    }
}

impl Hash for FileUrl {
    /// As the whole URL's `str` would hash.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (root, rest) = self.parts();
        state.write(root.as_bytes());
        state.write(rest.as_bytes());
        state.write_u8(0xff);
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    fn split(url: &str, at: usize) -> FileUrl {
        FileUrl::under(&Arc::from(&url[..at]), &url[at..])
    }

    #[test]
    fn a_split_url_is_the_url_it_spells() {
        let whole = FileUrl::from("file:///t/day=1/a.parquet");
        for at in 0..=whole.len() {
            let url = split("file:///t/day=1/a.parquet", at);
            assert_eq!(url, whole, "split at {at}");
            assert_eq!(url.as_str(), "file:///t/day=1/a.parquet");
            assert_eq!(url.to_string(), "file:///t/day=1/a.parquet");
            assert_eq!(
                format!("{url:?}"),
                format!("{:?}", "file:///t/day=1/a.parquet")
            );
            assert_eq!(url, "file:///t/day=1/a.parquet");
            assert_ne!(url, "file:///t/day=1/a.parquet2");
            assert_eq!(url.len(), whole.len());
            assert!(url.starts_with("file:///t/"));
            assert!(url.starts_with("file:///t/day=1/a.parquet"));
            assert!(!url.starts_with("file:///u"));
            assert!(!url.starts_with("file:///t/day=1/a.parquet/"));
            let state = std::collections::hash_map::RandomState::new();
            assert_eq!(
                state.hash_one(&url),
                state.hash_one(&whole),
                "split at {at}"
            );
        }
    }

    #[test]
    fn a_url_under_a_root_shares_it() {
        let root: Arc<str> = Arc::from("s3://b/t/");
        let url = FileUrl::from("s3://b/t/a.parquet").sharing(&root);
        assert_eq!(url.parts(), ("s3://b/t/", "a.parquet"));
        assert_eq!(url, "s3://b/t/a.parquet");
        let elsewhere = FileUrl::from("s3://b/u/a.parquet").sharing(&root);
        assert_eq!(elsewhere.parts(), ("", "s3://b/u/a.parquet"));
    }

    #[test]
    fn urls_order_as_their_text_does() {
        let texts = ["file:///t/a", "file:///t/a/b", "file:///t/b", "file:///u"];
        for a in texts {
            for b in texts {
                for at in [0, 5, 9] {
                    assert_eq!(
                        split(a, at).cmp(&FileUrl::from(b)),
                        a.cmp(b),
                        "{a} {b} {at}"
                    );
                }
            }
        }
    }
}
