//! Who may do what: the secret for a signature check, the read-only operation list, and the
//! grant's prefixes applied to keys and listings.

use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{S3Result, s3_error};

use crate::credentials::{Grant, Session};

/// The operations the endpoint serves; s3s's names.
const READ_OPERATIONS: [&str; 5] = [
    "GetObject",
    "HeadObject",
    "ListObjectsV2",
    "HeadBucket",
    "GetBucketLocation",
];

/// Whether `key` is a relative path with no empty, `.` or `..` segment (and no NUL): the only
/// keys (and prefix folders) the endpoint hands to [`crate::Objects`].
pub(crate) fn key_is_clean(key: &str) -> bool {
    !key.is_empty()
        && !key.contains('\0')
        && key
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."))
}

/// What a grant says about reading one key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyAccess {
    Allowed,
    /// A folder: one the grant lies under (`tables` or `tables/` for a grant of
    /// `tables/orders/`), or a folder key (ending in `/`) inside the grant. In the grant's view
    /// it is no object, so it is answered 404 without asking the store: clients such as pyarrow
    /// and s3fs probe folders with HEAD before listing them, and a 403 there would fail them.
    Absent,
    Denied,
}

pub(crate) fn key_access(grant: &Grant, key: &str) -> KeyAccess {
    let (path, is_folder) = match key.strip_suffix('/') {
        Some(path) => (path, true),
        None => (key, false),
    };
    if !key_is_clean(path) {
        return KeyAccess::Denied;
    }
    let inside = grant.prefixes.iter().any(|p| key.starts_with(p.as_str()));
    let above = grant.prefixes.iter().any(|p| {
        p.strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('/'))
    });
    match (inside, above, is_folder) {
        (true, _, false) => KeyAccess::Allowed,
        (true, _, true) | (false, true, _) => KeyAccess::Absent,
        (false, false, _) => KeyAccess::Denied,
    }
}

/// The prefix to list for a ListObjectsV2 `prefix`, or `None` if the grant does not cover it.
///
/// A prefix starting with a grant prefix lists as asked. A grant prefix without its trailing `/`
/// (`tables/orders` for `tables/orders/`) lists that grant prefix: what the caller sees is exactly
/// the grant's part of what was asked for (`tables/orders2/...` is not shown). Anything shorter,
/// including no prefix, is refused rather than answered with a filtered view.
pub(crate) fn list_scope(grant: &Grant, prefix: &str) -> Option<String> {
    let folders = prefix.strip_suffix('/').unwrap_or(prefix);
    if !key_is_clean(folders) {
        return None;
    }
    if grant
        .prefixes
        .iter()
        .any(|p| prefix.starts_with(p.as_str()))
    {
        return Some(prefix.to_owned());
    }
    grant
        .prefixes
        .iter()
        .find(|p| p.strip_suffix('/') == Some(prefix))
        .cloned()
}

/// The signature check's secret: the one sealed in the request's session token, for the access
/// key id bound to that token only.
pub(crate) struct SessionAuth(pub(crate) Arc<Session>);

#[async_trait::async_trait]
impl S3Auth for SessionAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key != self.0.access_key_id {
            return Err(s3_error!(
                InvalidAccessKeyId,
                "The access key id does not belong to the session token."
            ));
        }
        Ok(SecretKey::from(self.0.secret_access_key.as_str()))
    }
}

/// Runs after the signature check and before the operation: signed requests only, read
/// operations only, this bucket only, keys inside the grant only. Listings are checked by the
/// operation itself ([`list_scope`]), which needs the parsed prefix.
pub(crate) struct GrantAccess {
    pub(crate) bucket: Arc<str>,
    pub(crate) session: Arc<Session>,
}

#[async_trait::async_trait]
impl S3Access for GrantAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Anonymous requests are refused."));
        };
        if credentials.access_key != self.session.access_key_id {
            return Err(s3_error!(InvalidAccessKeyId));
        }
        let operation = cx.s3_op().name();
        if !READ_OPERATIONS.contains(&operation) {
            return Err(s3_error!(
                AccessDenied,
                "This endpoint is read-only: {operation} is not allowed."
            ));
        }
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => return Err(s3_error!(AccessDenied, "Name a bucket.")),
            S3Path::Bucket { bucket } => (bucket, None),
            S3Path::Object { bucket, key } => (bucket, Some(key)),
        };
        if **bucket != *self.bucket {
            return Err(s3_error!(NoSuchBucket));
        }
        match key.map(|key| key_access(&self.session.grant, key)) {
            None | Some(KeyAccess::Allowed) => Ok(()),
            Some(KeyAccess::Absent) => Err(s3_error!(NoSuchKey)),
            Some(KeyAccess::Denied) => Err(s3_error!(
                AccessDenied,
                "The key is outside this credential's grant."
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            prefixes: vec!["tables/orders/".into(), "meta/".into()],
            expires_at_ms: 0,
        }
    }

    #[test]
    fn keys_are_read_only_inside_the_grant() {
        let g = grant();
        assert_eq!(
            key_access(&g, "tables/orders/part-0.parquet"),
            KeyAccess::Allowed
        );
        assert_eq!(key_access(&g, "meta/v1.json"), KeyAccess::Allowed);
        assert_eq!(key_access(&g, "tables/orders2/x"), KeyAccess::Denied);
        assert_eq!(key_access(&g, "tables/other/x"), KeyAccess::Denied);
        assert_eq!(key_access(&g, "tables/orders"), KeyAccess::Absent);
        assert_eq!(key_access(&g, "tables/orders/"), KeyAccess::Absent);
        assert_eq!(key_access(&g, "tables/orders/p=1/"), KeyAccess::Absent);
        assert_eq!(key_access(&g, "tables"), KeyAccess::Absent);
        assert_eq!(key_access(&g, "tables/"), KeyAccess::Absent);
        assert_eq!(key_access(&g, "table"), KeyAccess::Denied);
        assert_eq!(key_access(&g, "tables/orders2/"), KeyAccess::Denied);
        for unclean in [
            "tables/orders/../secrets/x",
            "tables/orders//x",
            "tables/orders/./x",
            "tables/orders/../",
            "/tables/orders/x",
            "tables/orders/a\0b",
            "",
        ] {
            assert_eq!(key_access(&g, unclean), KeyAccess::Denied, "{unclean:?}");
        }
    }

    #[test]
    fn listings_stay_inside_the_grant() {
        let g = grant();
        let scope = |p: &str| list_scope(&g, p);
        assert_eq!(scope("tables/orders/").as_deref(), Some("tables/orders/"));
        assert_eq!(
            scope("tables/orders/_delta_log/").as_deref(),
            Some("tables/orders/_delta_log/")
        );
        assert_eq!(
            scope("tables/orders/part-").as_deref(),
            Some("tables/orders/part-")
        );
        // The grant prefix without its slash lists the grant prefix, nothing beside it.
        assert_eq!(scope("tables/orders").as_deref(), Some("tables/orders/"));
        for refused in [
            "",
            "tables/",
            "tables/order",
            "tables/orders2/",
            "tables/orders/../",
            "tables/orders/..",
            "tables/orders//",
        ] {
            assert_eq!(scope(refused), None, "{refused:?}");
        }
    }
}
