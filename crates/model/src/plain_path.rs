//! Paths that need no URL handling: a file URL is the root's URL and such a path, byte for byte.

/// Whether `path` is `/`-separated segments of letters, digits and `-._=+@,~` only, none of
/// them empty, `.` or `..`. Percent-encoding leaves such a path as it is, decoding too, and
/// URL parsing neither resolves nor normalises any of it; so joining it to a directory URL is
/// string concatenation, and a URL that is a root's URL followed by it names that path below
/// the root. Adapters resolve, and signers check, every file of a snapshot: most paths writers
/// produce are plain, and the full URL handling is kept for the rest.
pub fn is_plain_path(path: &str) -> bool {
    path.split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._=+@,~".contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_plain_segments_only() {
        for plain in ["a.parquet", "p=1/part-0001_x.snappy.parquet", "a+b@c,d~e"] {
            assert!(is_plain_path(plain), "{plain}");
        }
        for not in [
            "", "/a", "a/", "a//b", ".", "./a", "a/../b", "a b", "a%20b", "a?b", "a#b", "é",
            "a\\b", "s3://b/k",
        ] {
            assert!(!is_plain_path(not), "{not}");
        }
    }
}
