//! ListObjectsV2 over [`Objects::list`]: pages, continuation tokens and delimiter grouping.
//!
//! The store lists flat and sorted; a page walks that listing from a position, folding keys that
//! contain the delimiter after the request prefix into common prefixes. Keys under one common
//! prefix are contiguous in sorted order, so once a common prefix is emitted the walk skips its
//! block (by restarting the store's listing after `common prefix + U+10FFFF`), and the position
//! remembers the last common prefix so the next page does not repeat it.

use lakeshare_storage::{Purpose, Signer};
use s3s::dto::{CommonPrefix, ListObjectsV2Input, ListObjectsV2Output, Object, ObjectStorageClass};
use s3s::{S3Result, s3_error};
use serde::{Deserialize, Serialize};

use crate::access::{key_is_clean, list_scope};
use crate::credentials::Grant;
use crate::objects::{ObjectError, ObjectInfo, Objects};
use crate::service::{etag_of, fault, timestamp};

/// The largest page S3 serves, and the default.
pub(crate) const MAX_KEYS: usize = 1000;

/// Greater than any character: after `p` + this, a sorted listing has left every key that starts
/// with `p` (except keys that themselves continue with U+10FFFF, which the dedup still folds).
const AFTER_EVERYTHING: char = char::MAX;

/// Where a page resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// The store listing continues strictly after this key.
    #[serde(rename = "a")]
    after: Option<String>,
    /// The last common prefix emitted, so keys folding into it are not emitted again.
    #[serde(rename = "c")]
    last_prefix: Option<String>,
}

impl Position {
    /// Skips the rest of the last common prefix's block when the walk is inside it.
    fn skip_emitted_block(&mut self) {
        if let (Some(after), Some(prefix)) = (&self.after, &self.last_prefix)
            && after.starts_with(prefix.as_str())
        {
            let mut past = prefix.clone();
            past.push(AFTER_EVERYTHING);
            if past > *after {
                self.after = Some(past);
            }
        }
    }
}

/// What a continuation token carries, sealed so a client can neither read nor forge it.
#[derive(Serialize, Deserialize)]
struct PageToken {
    /// Tells these tokens apart from the gateway's other list-page tokens.
    k: String,
    /// The request's prefix and delimiter: a token only continues the listing it came from.
    p: String,
    d: Option<String>,
    #[serde(flatten)]
    position: Position,
}

const TOKEN_KIND: &str = "s3-list-v2";

#[derive(Debug, Default)]
struct Page {
    objects: Vec<ObjectInfo>,
    prefixes: Vec<String>,
    next: Option<Position>,
}

impl Page {
    fn len(&self) -> usize {
        self.objects.len() + self.prefixes.len()
    }
}

/// The common prefix `key` folds into: up to and including the first delimiter after `prefix`.
fn fold<'k>(prefix: &str, delimiter: Option<&str>, key: &'k str) -> Option<&'k str> {
    let delimiter = delimiter?;
    let at = key[prefix.len()..].find(delimiter)?;
    Some(&key[..prefix.len() + at + delimiter.len()])
}

/// One page of up to `max_keys` entries (objects and common prefixes) of the keys under `scope`,
/// grouped relative to `prefix` (which `scope` starts with).
async fn walk(
    objects: &dyn Objects,
    scope: &str,
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: usize,
    mut position: Position,
) -> Result<Page, ObjectError> {
    let mut page = Page::default();
    if max_keys == 0 {
        return Ok(page);
    }
    loop {
        // One more than the page holds, to learn whether another entry follows.
        let want = max_keys - page.len() + 1;
        let batch = objects.list(scope, position.after.as_deref(), want).await?;
        let complete = batch.len() < want;
        for info in batch.into_iter().take(want) {
            let in_order = position
                .after
                .as_deref()
                .is_none_or(|after| info.key.as_str() > after);
            if !info.key.starts_with(scope) || !in_order {
                return Err(ObjectError::Fault(format!(
                    "Objects::list broke its contract: key {:?} listed for prefix {scope:?} after {:?}",
                    info.key, position.after
                )));
            }
            match fold(prefix, delimiter, &info.key) {
                Some(common) if position.last_prefix.as_deref() == Some(common) => {}
                Some(common) => {
                    if page.len() == max_keys {
                        page.next = Some(position);
                        return Ok(page);
                    }
                    let common = common.to_owned();
                    page.prefixes.push(common.clone());
                    position.last_prefix = Some(common);
                }
                // Keys no GET could name are left out of listings too.
                None if !key_is_clean(&info.key) => {}
                None => {
                    if page.len() == max_keys {
                        page.next = Some(position);
                        return Ok(page);
                    }
                    position.after = Some(info.key.clone());
                    page.objects.push(info);
                    continue;
                }
            }
            position.after = Some(info.key);
        }
        if complete {
            return Ok(page);
        }
        position.skip_emitted_block();
    }
}

/// ListObjectsV2 for `grant`, with pages of at most `page_cap` entries.
pub(crate) async fn list_objects_v2(
    objects: &dyn Objects,
    signer: &Signer,
    grant: &Grant,
    page_cap: usize,
    input: ListObjectsV2Input,
) -> S3Result<ListObjectsV2Output> {
    let prefix = input.prefix.clone().unwrap_or_default();
    let Some(scope) = list_scope(grant, &prefix) else {
        return Err(s3_error!(
            AccessDenied,
            "The listing prefix is outside this credential's grant; list under a granted prefix."
        ));
    };
    let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
    let max_keys = match input.max_keys {
        None => page_cap,
        Some(n) => usize::try_from(n)
            .map_err(|_| s3_error!(InvalidArgument, "max-keys must not be negative"))?
            .min(page_cap),
    };
    let position = match &input.continuation_token {
        Some(token) => read_token(signer, token, &prefix, delimiter.as_deref())?,
        None => Position {
            after: input.start_after.clone(),
            last_prefix: None,
        },
    };

    let page = walk(
        objects,
        &scope,
        &prefix,
        delimiter.as_deref(),
        max_keys,
        position,
    )
    .await
    .map_err(fault)?;

    let key_count = page.len();
    let next_continuation_token = page.next.map(|mut position| {
        position.skip_emitted_block();
        let token = PageToken {
            k: TOKEN_KIND.to_owned(),
            p: prefix.clone(),
            d: delimiter.clone(),
            position,
        };
        signer.sign(
            Purpose::ListPage,
            &serde_json::to_vec(&token).expect("page tokens serialise"),
        )
    });
    let contents: Vec<Object> = page
        .objects
        .iter()
        .map(|info| Object {
            key: Some(info.key.clone()),
            size: Some(i64::try_from(info.size).unwrap_or(i64::MAX)),
            e_tag: Some(etag_of(info)),
            last_modified: Some(timestamp(info.last_modified_ms)),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            ..Object::default()
        })
        .collect();
    let common_prefixes: Vec<CommonPrefix> = page
        .prefixes
        .into_iter()
        .map(|prefix| CommonPrefix {
            prefix: Some(prefix),
        })
        .collect();

    Ok(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(prefix),
        delimiter,
        max_keys: Some(i32::try_from(max_keys).unwrap_or(i32::MAX)),
        key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
        is_truncated: Some(next_continuation_token.is_some()),
        continuation_token: input.continuation_token,
        next_continuation_token,
        start_after: input.start_after,
        contents: (!contents.is_empty()).then_some(contents),
        common_prefixes: (!common_prefixes.is_empty()).then_some(common_prefixes),
        ..ListObjectsV2Output::default()
    })
}

fn read_token(
    signer: &Signer,
    token: &str,
    prefix: &str,
    delimiter: Option<&str>,
) -> S3Result<Position> {
    let invalid = || s3_error!(InvalidArgument, "The continuation token is not valid.");
    let bytes = signer
        .verify(Purpose::ListPage, token)
        .map_err(|_| invalid())?;
    let token: PageToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if token.k != TOKEN_KIND || token.p != prefix || token.d.as_deref() != delimiter {
        return Err(s3_error!(
            InvalidArgument,
            "The continuation token belongs to another listing (prefix or delimiter differ)."
        ));
    }
    Ok(token.position)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::ops::Range;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use futures::executor::block_on;

    use super::*;
    use crate::objects::ByteStream;

    /// Sorted keys in memory; counts `list` calls.
    struct Keys(BTreeSet<String>, AtomicUsize);

    impl Keys {
        fn new(keys: &[&str]) -> Self {
            Self(
                keys.iter().map(|k| (*k).to_owned()).collect(),
                AtomicUsize::new(0),
            )
        }
    }

    #[async_trait]
    impl Objects for Keys {
        async fn head(&self, _key: &str) -> Result<Option<ObjectInfo>, ObjectError> {
            Ok(None)
        }
        async fn get(
            &self,
            _key: &str,
            _range: Option<Range<u64>>,
        ) -> Result<Option<(ObjectInfo, ByteStream)>, ObjectError> {
            Ok(None)
        }
        async fn list(
            &self,
            prefix: &str,
            start_after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<ObjectInfo>, ObjectError> {
            self.1.fetch_add(1, Ordering::Relaxed);
            Ok(self
                .0
                .iter()
                .filter(|k| k.starts_with(prefix) && start_after.is_none_or(|a| k.as_str() > a))
                .take(limit)
                .map(|k| ObjectInfo {
                    key: k.clone(),
                    size: 1,
                    last_modified_ms: 0,
                    etag: None,
                })
                .collect())
        }
    }

    /// Every page of a listing, flattened to `key` and `prefix/` entries in page order.
    fn all_pages(
        objects: &Keys,
        prefix: &str,
        delimiter: Option<&str>,
        max_keys: usize,
    ) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut position = Position::default();
        loop {
            let page =
                block_on(walk(objects, prefix, prefix, delimiter, max_keys, position)).unwrap();
            let mut entries: Vec<String> = page.objects.iter().map(|o| o.key.clone()).collect();
            entries.extend(page.prefixes.iter().cloned());
            entries.sort();
            pages.push(entries);
            match page.next {
                Some(mut next) => {
                    next.skip_emitted_block();
                    position = next;
                }
                None => return pages,
            }
        }
    }

    const KEYS: &[&str] = &[
        "t/_delta_log/0.json",
        "t/_delta_log/1.json",
        "t/a.parquet",
        "t/p=1/x.parquet",
        "t/p=1/y.parquet",
        "t/p=2/x.parquet",
        "t/p=3/deep/x.parquet",
        "t/z.parquet",
    ];

    #[test]
    fn flat_pages_cover_every_key_once() {
        let keys = Keys::new(KEYS);
        let pages = all_pages(&keys, "t/", None, 3);
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 2]);
        assert_eq!(pages.concat(), KEYS);
    }

    #[test]
    fn delimiter_folds_into_prefixes_never_repeated_across_pages() {
        let keys = Keys::new(KEYS);
        let expected = [
            "t/_delta_log/",
            "t/a.parquet",
            "t/p=1/",
            "t/p=2/",
            "t/p=3/",
            "t/z.parquet",
        ];
        for max_keys in 1..=7 {
            let pages = all_pages(&keys, "t/", Some("/"), max_keys);
            let mut flat = pages.concat();
            flat.sort();
            assert_eq!(flat, expected, "max_keys {max_keys}");
            assert!(pages.iter().all(|p| p.len() <= max_keys));
            // Only the last page may be short.
            assert!(pages[..pages.len() - 1].iter().all(|p| p.len() == max_keys));
        }
    }

    #[test]
    fn a_big_folder_costs_one_store_call_not_one_per_key() {
        let mut keys: Vec<String> = (0..500).map(|i| format!("t/big/{i:04}")).collect();
        keys.push("t/small".into());
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let keys = Keys::new(&refs);
        let page = block_on(walk(&keys, "t/", "t/", Some("/"), 10, Position::default())).unwrap();
        assert_eq!(page.prefixes, ["t/big/"]);
        assert_eq!(page.objects.len(), 1);
        assert!(page.next.is_none());
        assert_eq!(keys.1.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn refuses_a_store_that_breaks_the_contract() {
        struct Unsorted;
        #[async_trait]
        impl Objects for Unsorted {
            async fn head(&self, _: &str) -> Result<Option<ObjectInfo>, ObjectError> {
                Ok(None)
            }
            async fn get(
                &self,
                _: &str,
                _: Option<Range<u64>>,
            ) -> Result<Option<(ObjectInfo, ByteStream)>, ObjectError> {
                Ok(None)
            }
            async fn list(
                &self,
                _: &str,
                _: Option<&str>,
                _: usize,
            ) -> Result<Vec<ObjectInfo>, ObjectError> {
                // Ignores start_after: would loop forever if trusted.
                Ok(["t/b", "t/a", "u/c"]
                    .iter()
                    .map(|k| ObjectInfo {
                        key: (*k).into(),
                        size: 0,
                        last_modified_ms: 0,
                        etag: None,
                    })
                    .collect())
            }
        }
        let result = block_on(walk(&Unsorted, "t/", "t/", None, 2, Position::default()));
        assert!(matches!(result, Err(ObjectError::Fault(_))));
    }

    #[test]
    fn tokens_continue_only_their_own_listing() {
        let signer = Signer::from_secret("k");
        let token = PageToken {
            k: TOKEN_KIND.into(),
            p: "t/".into(),
            d: Some("/".into()),
            position: Position {
                after: Some("t/a".into()),
                last_prefix: None,
            },
        };
        let sealed = signer.sign(Purpose::ListPage, &serde_json::to_vec(&token).unwrap());
        assert_eq!(
            read_token(&signer, &sealed, "t/", Some("/"))
                .unwrap()
                .after
                .as_deref(),
            Some("t/a")
        );
        assert!(read_token(&signer, &sealed, "t/x/", Some("/")).is_err());
        assert!(read_token(&signer, &sealed, "t/", None).is_err());
        assert!(read_token(&Signer::from_secret("j"), &sealed, "t/", Some("/")).is_err());
        assert!(read_token(&signer, "dC9h", "t/", Some("/")).is_err());
    }
}
