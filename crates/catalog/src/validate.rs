//! Checks that need the whole file: names, references between sections, value ranges.

use std::collections::HashSet;
use std::path::Path;

use crate::assets::{Rules, check_governance, validate_assets};
use crate::config::FormatName;
use crate::config::{Config, ResolvedRecipient, TableEntry, TokenHash};
use crate::stores::{CatalogConfig, CatalogKind, StoreConfig, StoreKind, StoreUrl};

/// `(field path, reason)` of the first problem found.
pub(crate) type Problem = (String, String);

pub(crate) fn validate(config: &mut Config, dir: &Path) -> Result<(), Problem> {
    validate_server(config)?;
    validate_stores(config, dir)?;
    validate_catalogs(config, dir)?;
    validate_digest_cache(config, dir)?;
    let stores = config.stores.clone();
    let catalogs = config.catalogs.clone();
    let risk_labels = config.governance.risk_labels.clone();
    for label in risk_labels.keys() {
        check_name(label, false).map_err(|r| (format!("governance.risk_labels.{label}"), r))?;
    }
    let mut share_names = HashSet::new();
    for (i, share) in config.shares.iter_mut().enumerate() {
        let at = format!("shares[{i}]");
        check_name(&share.name, false).map_err(|r| (format!("{at}.name"), r))?;
        unique(
            &mut share_names,
            &share.name,
            &format!("{at}.name"),
            "share",
        )?;
        let rules = Rules {
            share: &share.name,
            require: &share.require,
            risk_labels: &risk_labels,
        };
        let mut schema_names = HashSet::new();
        for (j, schema) in share.schemas.iter_mut().enumerate() {
            let at = format!("{at}.schemas[{j}]");
            check_name(&schema.name, true).map_err(|r| (format!("{at}.name"), r))?;
            unique(
                &mut schema_names,
                &schema.name,
                &format!("{at}.name"),
                "schema",
            )?;
            for (k, include) in schema.include.iter().enumerate() {
                let at = format!("{at}.include[{k}]");
                if !catalogs.iter().any(|c| c.name == include.catalog) {
                    return Err((
                        format!("{at}.catalog"),
                        format!("no catalog named '{}' under catalogs:", include.catalog),
                    ));
                }
                if include.namespace.split('.').any(str::is_empty) {
                    return Err((
                        format!("{at}.namespace"),
                        format!("'{}' is not a namespace", include.namespace),
                    ));
                }
                let asset = format!(
                    "the tables of namespace '{}' in catalog '{}'",
                    include.namespace, include.catalog
                );
                check_governance(&include.governance, &rules, &asset, &at)?;
            }
            let mut table_names = HashSet::new();
            for (k, table) in schema.tables.iter_mut().enumerate() {
                let at = format!("{at}.tables[{k}]");
                check_name(&table.name, true).map_err(|r| (format!("{at}.name"), r))?;
                unique(
                    &mut table_names,
                    &table.name,
                    &format!("{at}.name"),
                    "table",
                )?;
                if table.catalog.is_some() {
                    resolve_catalog_table(table, &catalogs, &at)?;
                } else {
                    if table.table.is_some() {
                        return Err((
                            format!("{at}.table"),
                            "needs catalog: (the catalog the table is registered in)".into(),
                        ));
                    }
                    resolve_location(table, &stores, dir, &at)?;
                }
                if let Some(description) = table.description.take() {
                    if table.governance.description.is_some() {
                        return Err((
                            format!("{at}.description"),
                            "give either description or governance.description, not both".into(),
                        ));
                    }
                    table.governance.description = Some(description);
                }
                let asset = format!("table '{}.{}.{}'", share.name, schema.name, table.name);
                check_governance(&table.governance, &rules, &asset, &at)?;
                if table.hudi.is_some() && table.format.is_some_and(|f| f != FormatName::Hudi) {
                    return Err((
                        format!("{at}.hudi"),
                        "applies to Hudi tables only, and this table is declared with another format".into(),
                    ));
                }
            }
            validate_assets(schema, &rules, &stores, dir, &at)?;
        }
    }

    let mut recipient_names = HashSet::new();
    let mut token_hashes = HashSet::new();
    for (i, recipient) in config.recipients.iter_mut().enumerate() {
        let at = format!("recipients[{i}]");
        if recipient.name.trim().is_empty() {
            return Err((format!("{at}.name"), "must not be empty".into()));
        }
        unique(
            &mut recipient_names,
            &recipient.name,
            &format!("{at}.name"),
            "recipient",
        )?;
        let token_hash = match (&recipient.token, &recipient.token_sha256) {
            (Some(_), Some(_)) => {
                return Err((at, "give either token or token_sha256, not both".into()));
            }
            (None, None) => {
                return Err((
                    at,
                    "needs token (e.g. ${ACME_TOKEN}) or token_sha256".into(),
                ));
            }
            (Some(token), None) => {
                if token.len() < 16 {
                    return Err((
                        format!("{at}.token"),
                        "is shorter than 16 characters; use `lakeshare token` to make one".into(),
                    ));
                }
                TokenHash::of(token)
            }
            (None, Some(hex)) => {
                parse_sha256(hex).map_err(|r| (format!("{at}.token_sha256"), r))?
            }
        };
        if !token_hashes.insert(token_hash) {
            return Err((at, "has the same token as another recipient".into()));
        }
        for (j, share) in recipient.shares.iter().enumerate() {
            if !config
                .shares
                .iter()
                .any(|s| s.name.eq_ignore_ascii_case(share))
            {
                return Err((
                    format!("{at}.shares[{j}]"),
                    format!("no share named '{share}'"),
                ));
            }
        }
        let expires_at_ms = recipient
            .expires_at
            .as_deref()
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|t| t.timestamp_millis())
                    .map_err(|e| {
                        (
                            format!("{at}.expires_at"),
                            format!("'{t}' is not an RFC 3339 time: {e}"),
                        )
                    })
            })
            .transpose()?;
        recipient.resolved = Some(ResolvedRecipient {
            token_hash,
            expires_at_ms,
        });
    }
    Ok(())
}

/// Default `digest_cache`, relative to the configuration's folder.
const DEFAULT_DIGEST_CACHE: &str = ".lakeshare/digests.jsonl";

fn validate_digest_cache(config: &mut Config, dir: &Path) -> Result<(), Problem> {
    let given = config
        .digest_cache
        .as_deref()
        .unwrap_or(DEFAULT_DIGEST_CACHE);
    if given.contains("://") {
        return Err((
            "digest_cache".into(),
            format!("'{given}' must be a path on the gateway's disk"),
        ));
    }
    config.digest_cache =
        Some(absolute_location(given, dir).map_err(|r| ("digest_cache".to_string(), r))?);
    Ok(())
}

fn validate_server(config: &Config) -> Result<(), Problem> {
    let server = &config.server;
    server.listen.parse::<std::net::SocketAddr>().map_err(|_| {
        (
            "server.listen".into(),
            format!("'{}' is not host:port, e.g. 127.0.0.1:8080", server.listen),
        )
    })?;
    if let Some(url) = &server.public_url
        && (!(url.starts_with("http://") || url.starts_with("https://"))
            || url.len() <= "https://".len())
    {
        return Err((
            "server.public_url".into(),
            format!("'{url}' is not an http(s) URL"),
        ));
    }
    let prefix = &server.prefix;
    if !prefix.starts_with('/')
        || prefix.len() < 2
        || prefix.ends_with('/')
        || prefix.contains("//")
    {
        return Err((
            "server.prefix".into(),
            format!("'{prefix}' must start with '/' and not end with one, e.g. /delta-sharing"),
        ));
    }
    if server.url_ttl_seconds == 0 || server.url_ttl_seconds > 7 * 24 * 3600 {
        return Err((
            "server.url_ttl_seconds".into(),
            "must be between 1 and 604800 (7 days)".into(),
        ));
    }
    if server.snapshot_cache_mb == 0 {
        return Err((
            "server.snapshot_cache_mb".into(),
            "must be at least 1".into(),
        ));
    }
    for (field, value) in [
        ("request_timeout_seconds", server.request_timeout_seconds),
        ("header_timeout_seconds", server.header_timeout_seconds),
        ("max_connections", server.max_connections as u64),
        (
            "max_concurrent_requests",
            server.max_concurrent_requests as u64,
        ),
    ] {
        if value == 0 {
            return Err((format!("server.{field}"), "must be at least 1".into()));
        }
    }
    if server.signing_secret.is_some() && !server.signing_secrets.is_empty() {
        return Err((
            "server.signing_secret".into(),
            "give signing_secret or signing_secrets, not both (signing_secret is a list of one)"
                .into(),
        ));
    }
    if let Some(secret) = &server.signing_secret
        && secret.len() < 16
    {
        return Err((
            "server.signing_secret".into(),
            "is shorter than 16 characters".into(),
        ));
    }
    for (i, secret) in server.signing_secrets.iter().enumerate() {
        if secret.len() < 16 {
            return Err((
                format!("server.signing_secrets[{i}]"),
                "is shorter than 16 characters".into(),
            ));
        }
        if server.signing_secrets[..i].contains(secret) {
            return Err((
                format!("server.signing_secrets[{i}]"),
                "repeats an earlier secret".into(),
            ));
        }
    }
    Ok(())
}

/// The protocol's naming rules: at most 255 characters, no spaces, `/`, control characters or DEL;
/// schema and table names also no `.` (clients split `share.schema.table` on dots).
pub(crate) fn check_name(name: &str, dots_forbidden: bool) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.chars().count() > 255 {
        return Err("is longer than 255 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == ' ' || c == '/' || c.is_ascii_control() || (dots_forbidden && c == '.'))
    {
        return Err(format!(
            "'{name}' contains {c:?}, which names may not contain"
        ));
    }
    Ok(())
}

/// Names are case-insensitive in the protocol, so `Sales` and `sales` would collide.
pub(crate) fn unique(
    seen: &mut HashSet<String>,
    name: &str,
    field: &str,
    what: &str,
) -> Result<(), Problem> {
    if !seen.insert(name.to_lowercase()) {
        return Err((
            field.into(),
            format!("another {what} is already named '{name}' (names are case-insensitive)"),
        ));
    }
    Ok(())
}

fn parse_sha256(hex_digest: &str) -> Result<TokenHash, String> {
    let bytes =
        hex::decode(hex_digest.trim()).map_err(|_| format!("'{hex_digest}' is not hexadecimal"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "must be 64 hex digits (a SHA-256)".to_string())?;
    Ok(TokenHash(bytes))
}

fn validate_stores(config: &mut Config, dir: &Path) -> Result<(), Problem> {
    let mut names = HashSet::new();
    for (i, store) in config.stores.iter_mut().enumerate() {
        let at = format!("stores[{i}]");
        check_name(&store.name, true).map_err(|r| (format!("{at}.name"), r))?;
        unique(&mut names, &store.name, &format!("{at}.name"), "store")?;
        validate_store(store, dir).map_err(|(field, r)| {
            let field = if field.is_empty() {
                at.clone()
            } else {
                format!("{at}.{field}")
            };
            (field, r)
        })?;
    }
    Ok(())
}

fn validate_catalogs(config: &mut Config, dir: &Path) -> Result<(), Problem> {
    let mut names = HashSet::new();
    let stores = config.stores.clone();
    for (i, catalog) in config.catalogs.iter_mut().enumerate() {
        let at = format!("catalogs[{i}]");
        check_name(&catalog.name, true).map_err(|r| (format!("{at}.name"), r))?;
        unique(&mut names, &catalog.name, &format!("{at}.name"), "catalog")?;
        let rest_only = [
            ("warehouse", catalog.warehouse.is_some()),
            ("credential", catalog.credential.is_some()),
            ("token", catalog.token.is_some()),
            ("store", catalog.store.is_some()),
            ("prefix", catalog.prefix.is_some()),
        ];
        match catalog.kind {
            CatalogKind::IcebergSql => {
                if let Some((field, _)) = rest_only.iter().find(|(_, given)| *given) {
                    return Err((
                        format!("{at}.{field}"),
                        "does not apply to iceberg-sql catalogs".into(),
                    ));
                }
                let path = sqlite_path(&catalog.uri).map_err(|r| (format!("{at}.uri"), r))?;
                catalog.uri =
                    absolute_location(&path, dir).map_err(|r| (format!("{at}.uri"), r))?;
            }
            CatalogKind::IcebergRest => validate_rest_catalog(catalog, &stores, &at)?,
        }
    }
    Ok(())
}

fn validate_rest_catalog(
    catalog: &CatalogConfig,
    stores: &[StoreConfig],
    at: &str,
) -> Result<(), Problem> {
    if !(catalog.uri.starts_with("http://") || catalog.uri.starts_with("https://")) {
        return Err((
            format!("{at}.uri"),
            format!("'{}' is not an http(s) URL", catalog.uri),
        ));
    }
    if catalog.catalog_name.is_some() {
        return Err((
            format!("{at}.catalog_name"),
            "does not apply to iceberg-rest catalogs".into(),
        ));
    }
    if catalog.credential.is_some() && catalog.token.is_some() {
        return Err((
            format!("{at}.token"),
            "give either credential or token, not both".into(),
        ));
    }
    let store = catalog.store.as_deref().ok_or_else(|| {
        (
            format!("{at}.store"),
            "is required: the store the catalog's tables live in (the gateway reads and signs their files through it)".into(),
        )
    })?;
    match stores.iter().find(|s| s.name == store) {
        Some(s) if s.kind == StoreKind::S3 => Ok(()),
        Some(s) => Err((
            format!("{at}.store"),
            format!(
                "'{store}' is a {} store; Iceberg REST tables are read from S3 stores only, for now",
                s.kind
            ),
        )),
        None => Err((
            format!("{at}.store"),
            format!("no store named '{store}' under stores:"),
        )),
    }
}

/// The file of a SQLite catalog URI: a plain path, `sqlite:path`, `sqlite://path` or
/// `sqlite:////abs/path` (SQLAlchemy's form, as pyiceberg writes it).
fn sqlite_path(uri: &str) -> Result<String, String> {
    let Some(rest) = uri.strip_prefix("sqlite:") else {
        if uri.contains("://") {
            return Err(format!(
                "'{uri}' is not a SQLite database (sqlite:///path or a path)"
            ));
        }
        return Ok(uri.to_string());
    };
    let path = match rest.strip_prefix("///") {
        Some(abs) if abs.starts_with('/') => abs.to_string(),
        Some(relative) => relative.to_string(),
        None => rest.trim_start_matches("//").to_string(),
    };
    if path.is_empty() || path == ":memory:" {
        return Err(format!("'{uri}' names no database file"));
    }
    Ok(path)
}

/// Checks a table named in a catalog: the catalog exists, the identifier has a namespace.
fn resolve_catalog_table(
    table: &mut TableEntry,
    catalogs: &[CatalogConfig],
    at: &str,
) -> Result<(), Problem> {
    let name = table.catalog.clone().unwrap_or_default();
    if !table.location.is_empty() || table.store.is_some() {
        return Err((
            format!("{at}.catalog"),
            "give either catalog and table, or location (or store and path), not both".into(),
        ));
    }
    let catalog = catalogs.iter().find(|c| c.name == name).ok_or_else(|| {
        (
            format!("{at}.catalog"),
            format!("no catalog named '{name}' under catalogs:"),
        )
    })?;
    let identifier = table.table.as_deref().unwrap_or_default();
    let parts: Vec<&str> = identifier.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err((
            format!("{at}.table"),
            format!("'{identifier}' is not namespace.table"),
        ));
    }
    match (table.format, catalog.kind) {
        (None | Some(FormatName::Iceberg), CatalogKind::IcebergSql | CatalogKind::IcebergRest) => {
            table.format = Some(FormatName::Iceberg);
        }
        (Some(other), _) => {
            return Err((
                format!("{at}.format"),
                format!("{other:?} tables cannot come from an Iceberg catalog"),
            ));
        }
    }
    // For messages and logs: where the table is found.
    table.location = format!("{}:{identifier}", catalog.name);
    Ok(())
}

/// `(field within the store, reason)`.
fn validate_store(store: &mut StoreConfig, dir: &Path) -> Result<(), (String, String)> {
    let kind = store.kind;
    let given: [(&str, bool, &[StoreKind]); 15] = {
        use StoreKind::*;
        [
            ("bucket", store.bucket.is_some(), &[S3, Gcs]),
            ("account", store.account.is_some(), &[Azure]),
            ("container", store.container.is_some(), &[Azure]),
            ("region", store.region.is_some(), &[S3]),
            ("endpoint", store.endpoint.is_some(), &[S3, Azure, Gcs]),
            // GCS signs URLs for storage.googleapis.com whatever the endpoint.
            (
                "public_endpoint",
                store.public_endpoint.is_some(),
                &[S3, Azure],
            ),
            ("path_style", store.path_style.is_some(), &[S3]),
            ("allow_http", store.allow_http.is_some(), &[S3, Azure, Gcs]),
            ("access_key_id", store.access_key_id.is_some(), &[S3]),
            (
                "secret_access_key",
                store.secret_access_key.is_some(),
                &[S3],
            ),
            ("session_token", store.session_token.is_some(), &[S3]),
            ("access_key", store.access_key.is_some(), &[Azure]),
            ("use_emulator", store.use_emulator, &[Azure]),
            ("sts", store.sts.is_some(), &[S3]),
            ("root", store.root.is_some(), &[Local]),
        ]
    };
    for (field, present, kinds) in given {
        if present && !kinds.contains(&kind) {
            return Err((field.into(), format!("does not apply to {kind} stores")));
        }
    }
    let gcs_key = store.service_account_path.is_some() || store.service_account_key.is_some();
    if gcs_key && kind != StoreKind::Gcs {
        return Err((
            "service_account_key".into(),
            format!("does not apply to {kind} stores"),
        ));
    }
    let required = |field: &str, value: &Option<String>| match value.as_deref() {
        Some(v) if !v.trim().is_empty() => Ok(()),
        _ => Err((field.to_string(), format!("is required for {kind} stores"))),
    };
    match kind {
        StoreKind::S3 | StoreKind::Gcs => {
            required("bucket", &store.bucket)?;
            let bucket = store.bucket.as_deref().unwrap_or_default();
            if bucket.contains('/') {
                return Err((
                    "bucket".into(),
                    format!("'{bucket}' is a bucket name, not a path"),
                ));
            }
        }
        StoreKind::Azure => {
            required("container", &store.container)?;
            if store.account.is_none() && !store.use_emulator {
                return Err(("account".into(), "is required for azure stores".into()));
            }
            if store.use_emulator && store.endpoint.is_some() {
                return Err((
                    "endpoint".into(),
                    "does not go with use_emulator: Azurite's address is taken from the AZURITE_BLOB_STORAGE_URL environment variable (default http://127.0.0.1:10000)".into(),
                ));
            }
        }
        StoreKind::Local => {
            required("root", &store.root)?;
            let root = absolute_location(store.root.as_deref().unwrap_or_default(), dir)
                .map_err(|r| ("root".to_string(), r))?;
            if root.contains("://") {
                return Err(("root".into(), format!("'{root}' must be a directory path")));
            }
            store.root = Some(root);
        }
    }
    for (field, value) in [
        ("endpoint", &store.endpoint),
        ("public_endpoint", &store.public_endpoint),
    ] {
        if let Some(url) = value
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err((field.into(), format!("'{url}' is not an http(s) URL")));
        }
    }
    if store.access_key_id.is_some() != store.secret_access_key.is_some() {
        return Err((
            "secret_access_key".into(),
            "access_key_id and secret_access_key go together".into(),
        ));
    }
    if store.session_token.is_some() && store.access_key_id.is_none() {
        return Err((
            "session_token".into(),
            "needs access_key_id and secret_access_key".into(),
        ));
    }
    if store.timeout_seconds == 0 || store.timeout_seconds > 600 {
        return Err(("timeout_seconds".into(), "must be between 1 and 600".into()));
    }
    if let Some(sts) = &store.sts {
        if !(900..=43_200).contains(&sts.duration_seconds) {
            return Err((
                "sts.duration_seconds".into(),
                "must be between 900 and 43200, the range STS accepts".into(),
            ));
        }
        if let Some(url) = &sts.endpoint
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err((
                "sts.endpoint".into(),
                format!("'{url}' is not an http(s) URL"),
            ));
        }
    }
    Ok(())
}

/// Turns a table's `location`, or its `store` and `path`, into an absolute path or a canonical
/// store URL, and records which store it lives in.
fn resolve_location(
    table: &mut TableEntry,
    stores: &[StoreConfig],
    dir: &Path,
    at: &str,
) -> Result<(), Problem> {
    resolve_place(
        Place {
            location: &mut table.location,
            store: &mut table.store,
            path: &table.path,
            what: "table",
        },
        stores,
        dir,
        at,
    )
}

/// The three ways of saying where a folder is (`location`; `store` and `path`), borrowed from
/// whichever entry holds them.
pub(crate) struct Place<'a> {
    pub location: &'a mut String,
    pub store: &'a mut Option<String>,
    pub path: &'a Option<String>,
    /// What the folder is, for messages: "table", "volume", …
    pub what: &'static str,
}

/// Turns a `location`, or a `store` and `path`, into an absolute path or a canonical store URL,
/// and records which store it lives in (None on the local filesystem).
pub(crate) fn resolve_place(
    place: Place<'_>,
    stores: &[StoreConfig],
    dir: &Path,
    at: &str,
) -> Result<(), Problem> {
    let Place {
        location,
        store: store_name,
        path,
        what,
    } = place;
    if let Some(name) = store_name.clone() {
        if !location.is_empty() {
            return Err((
                format!("{at}.location"),
                "give either location, or store and path, not both".into(),
            ));
        }
        let store = stores.iter().find(|s| s.name == name).ok_or_else(|| {
            (
                format!("{at}.store"),
                format!("no store named '{name}' under stores:"),
            )
        })?;
        let path = path.as_deref().unwrap_or_default();
        if path.trim_matches('/').is_empty() {
            return Err((
                format!("{at}.path"),
                format!("is required with store: {name}"),
            ));
        }
        if path.split('/').any(|segment| segment == "..") {
            return Err((
                format!("{at}.path"),
                format!("'{path}' must not contain '..'"),
            ));
        }
        *location = store.url_of(path);
        if store.kind == StoreKind::Local {
            *store_name = None;
        }
        return Ok(());
    }
    if path.is_some() {
        return Err((
            format!("{at}.path"),
            "needs store: (the store the path is in)".into(),
        ));
    }
    if location.trim().is_empty() {
        return Err((
            format!("{at}.location"),
            "is required (or store and path)".into(),
        ));
    }
    let Some(url) = StoreUrl::parse(&*location).map_err(|r| (format!("{at}.location"), r))? else {
        *location =
            absolute_location(&*location, dir).map_err(|r| (format!("{at}.location"), r))?;
        return Ok(());
    };
    let matching: Vec<&StoreConfig> = stores
        .iter()
        .filter(|s| {
            s.kind == url.kind
                && s.bucket_or_container() == Some(url.bucket.as_str())
                && match (&url.account, s.azure_account()) {
                    (Some(wanted), Some(have)) => wanted.eq_ignore_ascii_case(have),
                    _ => true,
                }
        })
        .collect();
    let store = match matching.as_slice() {
        [store] => *store,
        [] => {
            let what = if url.kind == StoreKind::Azure {
                "container"
            } else {
                "bucket"
            };
            return Err((
                format!("{at}.location"),
                format!(
                    "no store for {} {what} '{}': add one under stores: (kind: {}, {what}: {})",
                    url.kind, url.bucket, url.kind, url.bucket
                ),
            ));
        }
        several => {
            let names: Vec<&str> = several.iter().map(|s| s.name.as_str()).collect();
            return Err((
                format!("{at}.location"),
                format!(
                    "stores {} all serve '{}'; say which with store: and path:",
                    names.join(", "),
                    url.bucket
                ),
            ));
        }
    };
    if url.path.is_empty() {
        return Err((
            format!("{at}.location"),
            format!(
                "'{}' is a whole bucket; a {what} is a folder inside one",
                location
            ),
        ));
    }
    *location = store.url_of(&url.path);
    *store_name = Some(store.name.clone());
    Ok(())
}

fn absolute_location(location: &str, dir: &Path) -> Result<String, String> {
    if location.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if let Some((scheme, _)) = location.split_once("://") {
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(format!("'{location}' is neither a path nor a URL"));
        }
        return Ok(location.to_string());
    }
    let path = Path::new(location);
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    };
    Ok(path.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use crate::{Config, Error};
    use std::path::Path;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn load(yaml: &str) -> Result<Config, Error> {
        Config::from_yaml(yaml, Path::new("/cfg"))
    }

    fn message(yaml: &str) -> String {
        load(yaml).unwrap_err().to_string()
    }

    #[test]
    fn a_full_file_loads_with_defaults_filled_in() {
        let config = load(&format!(
            r#"
server: {{ listen: "0.0.0.0:9000", public_url: "https://share.example.com/", url_ttl_seconds: 600 }}
shares:
  - name: sales
    schemas:
      - name: retail
        tables:
          - {{ name: orders, location: data/orders, history: true }}
recipients:
  - {{ name: acme, token_sha256: "{HASH}", shares: [SALES], expires_at: "2030-01-01T00:00:00Z" }}
"#
        ))
        .unwrap();
        assert_eq!(
            config.server.endpoint(),
            "https://share.example.com/delta-sharing"
        );
        let (_, _, table) = config.tables().next().unwrap();
        assert_eq!(table.location, "/cfg/data/orders");
        assert!(table.history);
        assert_eq!(table.format, None);
        assert_eq!(config.recipients[0].token_hash().to_hex(), HASH);
        assert_eq!(
            config.recipients[0].expires_at_ms(),
            Some(1_893_456_000_000)
        );
    }

    #[test]
    fn typos_in_keys_are_named_with_their_path() {
        let msg = message(
            "shares:\n  - name: s\n    schemas:\n      - name: x\n        tables:\n          - { name: t, locaton: /x }\n",
        );
        assert!(msg.contains("shares[0].schemas[0].tables[0]"), "{msg}");
        assert!(msg.contains("locaton"), "{msg}");
        assert!(msg.contains("line 6"), "{msg}");
    }

    #[test]
    fn wrong_formats_are_refused() {
        let msg = message(
            "shares:\n  - name: s\n    schemas:\n      - name: x\n        tables:\n          - { name: t, location: /x, format: orc }\n",
        );
        assert!(msg.contains("format"), "{msg}");
        assert!(msg.contains("orc"), "{msg}");
    }

    #[test]
    fn recipients_must_reference_existing_shares() {
        let msg = message(&format!(
            "recipients:\n  - {{ name: a, token_sha256: \"{HASH}\", shares: [nope] }}\n"
        ));
        assert!(
            msg.contains("recipients[0].shares[0]: no share named 'nope'"),
            "{msg}"
        );
    }

    #[test]
    fn tokens_are_required_once_and_well_formed() {
        assert!(message("recipients:\n  - { name: a }\n").contains("needs token"));
        assert!(
            message("recipients:\n  - { name: a, token_sha256: abcd }\n").contains("64 hex digits")
        );
        assert!(
            message("recipients:\n  - { name: a, token: short }\n").contains("shorter than 16")
        );
        assert!(
            message("recipients:\n  - { name: a, token_sha256: xyz }\n")
                .contains("not hexadecimal")
        );
        let dup = format!(
            "recipients:\n  - {{ name: a, token_sha256: \"{HASH}\" }}\n  - {{ name: b, token_sha256: \"{HASH}\" }}\n"
        );
        assert!(message(&dup).contains("recipients[1]: has the same token"));
    }

    #[test]
    fn unset_environment_variables_are_named() {
        let msg =
            message("recipients:\n  - { name: a, token: \"${LAKESHARE_TEST_SURELY_UNSET}\" }\n");
        assert!(
            msg.contains("LAKESHARE_TEST_SURELY_UNSET is not set"),
            "{msg}"
        );
        assert!(msg.contains("recipients[0].token"), "{msg}");
    }

    #[test]
    fn names_follow_the_protocol_rules() {
        let table_with_dot = "shares:\n  - name: s\n    schemas:\n      - name: x\n        tables:\n          - { name: a.b, location: /x }\n";
        assert!(message(table_with_dot).contains("shares[0].schemas[0].tables[0].name"));
        let dup_share = "shares:\n  - name: Sales\n  - name: sales\n";
        assert!(message(dup_share).contains("shares[1].name: another share is already named"));
        assert!(message("shares:\n  - name: \"a b\"\n").contains("' '"));
    }

    const STORES: &str = r#"
stores:
  - { name: lake, kind: s3, bucket: lake, endpoint: "http://10.0.0.5:8333", public_endpoint: "https://s3.example.com" }
  - { name: blobs, kind: azure, container: data, use_emulator: true }
  - { name: disk, kind: local, root: lake }
"#;

    fn with_table(table: &str) -> String {
        format!(
            "{STORES}shares:\n  - name: s\n    schemas:\n      - name: x\n        tables:\n          - {table}\n"
        )
    }

    #[test]
    fn tables_resolve_through_stores() {
        let location = |table: &str| {
            let config = load(&with_table(table)).unwrap();
            let (_, _, t) = config.tables().next().unwrap();
            (t.location.clone(), t.store.clone())
        };
        assert_eq!(
            location("{ name: t, location: s3://lake/sales/orders/ }"),
            ("s3://lake/sales/orders".into(), Some("lake".into()))
        );
        assert_eq!(
            location("{ name: t, store: lake, path: /sales/orders }"),
            ("s3://lake/sales/orders".into(), Some("lake".into()))
        );
        assert_eq!(
            location(
                "{ name: t, location: \"abfss://data@devstoreaccount1.dfs.core.windows.net/t\" }"
            ),
            ("az://data/t".into(), Some("blobs".into()))
        );
        assert_eq!(
            location("{ name: t, store: disk, path: sales }"),
            ("/cfg/lake/sales".into(), None)
        );
    }

    #[test]
    fn catalog_tables_are_checked() {
        let yaml = |table: &str, catalog: &str| {
            format!(
                "catalogs:\n  - {catalog}\nshares:\n  - name: s\n    schemas:\n      - name: x\n        tables:\n          - {table}\n"
            )
        };
        let sql = "{ name: lake, kind: iceberg-sql, uri: \"sqlite:////data/catalog.db\" }";
        let config = load(&yaml(
            "{ name: t, catalog: lake, table: sales.orders }",
            sql,
        ))
        .unwrap();
        let (_, _, t) = config.tables().next().unwrap();
        assert_eq!(t.format, Some(crate::FormatName::Iceberg));
        assert_eq!(config.catalogs[0].uri, "/data/catalog.db");
        let relative = "{ name: lake, kind: iceberg-sql, uri: \"sqlite:///catalog.db\" }";
        let config = load(&yaml("{ name: t, catalog: lake, table: a.b }", relative)).unwrap();
        assert_eq!(config.catalogs[0].uri, "/cfg/catalog.db");
        let msg = message(&yaml("{ name: t, catalog: lake, table: orders }", sql));
        assert!(
            msg.contains("tables[0].table: 'orders' is not namespace.table"),
            "{msg}"
        );
        let msg = message(&yaml("{ name: t, catalog: nope, table: a.b }", sql));
        assert!(msg.contains("no catalog named 'nope'"), "{msg}");
        let msg = message(&yaml(
            "{ name: t, catalog: lake, table: a.b, location: /x }",
            sql,
        ));
        assert!(msg.contains("not both"), "{msg}");
        let msg = message(&yaml("{ name: t, table: a.b, location: /x }", sql));
        assert!(msg.contains("needs catalog:"), "{msg}");
        let rest = "{ name: lake, kind: iceberg-rest, uri: \"http://h:8181\" }";
        let msg = message(&yaml("{ name: t, catalog: lake, table: a.b }", rest));
        assert!(msg.contains("catalogs[0].store: is required"), "{msg}");
        let sql_with_warehouse = "{ name: lake, kind: iceberg-sql, uri: x.db, warehouse: w }";
        let msg = message(&yaml(
            "{ name: t, catalog: lake, table: a.b }",
            sql_with_warehouse,
        ));
        assert!(
            msg.contains("catalogs[0].warehouse: does not apply"),
            "{msg}"
        );
    }

    #[test]
    fn store_mistakes_are_named() {
        let msg = message(&with_table("{ name: t, location: s3://other/t }"));
        assert!(
            msg.contains("shares[0].schemas[0].tables[0].location"),
            "{msg}"
        );
        assert!(msg.contains("no store for s3 bucket 'other'"), "{msg}");
        let msg = message(&with_table("{ name: t, store: nope, path: t }"));
        assert!(msg.contains("no store named 'nope'"), "{msg}");
        let msg = message(&with_table("{ name: t, store: lake, path: ../x }"));
        assert!(msg.contains("must not contain '..'"), "{msg}");
        let msg = message(&with_table(
            "{ name: t, store: lake, path: t, location: s3://lake/t }",
        ));
        assert!(msg.contains("not both"), "{msg}");
        let msg = message("stores:\n  - { name: a, kind: s3 }\n");
        assert!(
            msg.contains("stores[0].bucket: is required for s3 stores"),
            "{msg}"
        );
        let msg = message("stores:\n  - { name: a, kind: s3, bucket: b, container: c }\n");
        assert!(
            msg.contains("stores[0].container: does not apply to s3 stores"),
            "{msg}"
        );
        let msg = message("stores:\n  - { name: a, kind: s3, bucket: b, access_key_id: k }\n");
        assert!(msg.contains("go together"), "{msg}");
        let msg = message("stores:\n  - { name: a, kind: s3, bucket: b, endpoint: s3.local }\n");
        assert!(msg.contains("stores[0].endpoint"), "{msg}");
        let msg = message("stores:\n  - { name: a, kind: ftp }\n");
        assert!(msg.contains("stores[0].kind"), "{msg}");
    }

    #[test]
    fn server_values_are_checked() {
        assert!(message("server: { listen: nowhere }").contains("server.listen"));
        assert!(message("server: { prefix: api }").contains("server.prefix"));
        assert!(message("server: { url_ttl_seconds: 0 }").contains("server.url_ttl_seconds"));
        assert!(message("server: { public_url: ftp://x }").contains("server.public_url"));
    }
}
