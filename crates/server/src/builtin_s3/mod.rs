//! The gateway's built-in read-only S3 endpoint (`lakeshare_s3_endpoint`), served at
//! `/{bucket}` on the main listener: how recipients read, with credentials the gateway mints,
//! the files of tables and folders on its own disk (and of stores that do not vend credentials):
//! for the Iceberg catalog, for directory access, for asset credentials.
//!
//! Keys: `tables/{share}/{schema}/{table}/files/{path}` are a table's own files (by their path
//! below its root), `tables/{share}/{schema}/{table}/iceberg/{name}` the Iceberg metadata
//! generated for it, `folders/{id}/{path}` the files of a shared folder on the gateway's disk.

pub(crate) mod objects;

use crate::app::App;
use crate::auth::Recipient;
use crate::registry::TableHandle;

/// The folder of every table's key prefix.
pub(crate) const TABLES: &str = "tables/";
/// The folder of a table's own files under its key prefix.
pub(crate) const FILES: &str = "files/";
/// The folder of its generated metadata.
pub(crate) const GENERATED: &str = "iceberg/";

/// The key prefix of a table in the endpoint's bucket: `tables/{share}/{schema}/{table}/`.
pub(crate) fn key_prefix(handle: &TableHandle) -> String {
    format!(
        "{TABLES}{}/{}/{}/",
        handle.share, handle.schema, handle.name
    )
}

/// Where directory access reads a table on the gateway's disk: its files under the built-in
/// S3 endpoint, by their paths below the table's root.
pub(crate) fn files_location(app: &App, handle: &TableHandle) -> String {
    format!(
        "s3://{}/{}{}",
        app.s3_endpoint().bucket(),
        key_prefix(handle),
        FILES.trim_end_matches('/')
    )
}

/// Read-only credentials of the built-in S3 endpoint for keys under `prefix`, expiring after
/// the signed-URL lifetime or with the recipient's own token, whichever comes first.
pub(crate) fn mint(
    app: &App,
    recipient: &Recipient,
    prefix: &str,
) -> Result<lakeshare_s3_endpoint::Credentials, lakeshare_s3_endpoint::Error> {
    let mut expires_at_ms = lakeshare_storage::now_ms() + app.url_ttl_ms();
    if let Some(limit) = recipient.expires_at_ms {
        expires_at_ms = expires_at_ms.min(limit);
    }
    let minted = app.s3_endpoint().mint(&lakeshare_s3_endpoint::Grant {
        prefixes: vec![prefix.to_string()],
        expires_at_ms,
    })?;
    crate::metrics::credentials_issued("builtin");
    Ok(minted)
}
