//! Checks that need the whole file: names, references between sections, value ranges.

use std::collections::HashSet;
use std::path::Path;

use crate::assets::{Rules, check_governance, validate_assets};
use crate::config::FormatName;
use crate::config::{ColumnPick, Config, TableEntry, TokenHash};
use crate::stores::{CatalogConfig, CatalogKind, StoreConfig, StoreKind, StoreUrl};

/// `(field path, reason)` of the first problem found.
mod catalogs;
mod place;
mod recipients;
mod server;
mod stores;

use catalogs::{resolve_catalog_table, validate_catalogs};
pub(crate) use place::{Place, resolve_place};
use place::{absolute_location, resolve_location};
pub use recipients::issuer_scheme_allowed;
use server::validate_server;
use stores::validate_stores;

pub(crate) type Problem = (String, String);

/// Every problem found, one per broken item (a share, a table, a recipient…), in file order;
/// problems of `server`, `stores` and `catalogs` stop the check there, as what follows resolves
/// through them.
pub(crate) fn validate(config: &mut Config, dir: &Path) -> Result<(), Vec<Problem>> {
    let mut problems = Problems::default();
    problems.check(validate_server(config));
    problems.check(validate_tls(config, dir));
    problems.check(validate_stores(config, dir));
    problems.check(validate_catalogs(config, dir));
    problems.check(validate_digest_cache(config, dir));
    problems.done()?;
    validate_shares(config, dir, &mut problems);
    recipients::validate_recipients(config, &mut problems);
    problems.check(validate_cache(config, dir));
    problems.check(validate_audit(config, dir));
    problems.done()
}

/// `server.tls`: both files exist (made absolute); their contents are read by the listener,
/// at start and on every reload.
fn validate_tls(config: &mut Config, dir: &Path) -> Result<(), Problem> {
    let Some(tls) = config.server.tls.as_mut() else {
        return Ok(());
    };
    for (field, path) in [("cert", &mut tls.cert), ("key", &mut tls.key)] {
        let absolute = dir.join(&*path);
        if !absolute.is_file() {
            return Err((
                format!("server.tls.{field}"),
                format!("'{path}' is not a file"),
            ));
        }
        *path = absolute.display().to_string();
    }
    Ok(())
}

/// `audit`: a file sink names a file in an existing folder (made absolute), outside every
/// shared folder.
fn validate_audit(config: &mut Config, dir: &Path) -> Result<(), Problem> {
    use crate::config::AuditSink;
    let Some(audit) = config.audit.clone() else {
        return Ok(());
    };
    let path = match (audit.sink, audit.path.as_deref()) {
        (AuditSink::Stdout, None) => return Ok(()),
        (AuditSink::Stdout, Some(_)) => {
            return Err((
                "audit.path".into(),
                "is for sink: file; sink: stdout writes to standard output".into(),
            ));
        }
        (AuditSink::File, None) => {
            return Err((
                "audit.path".into(),
                "sink: file needs the path of the file to append to".into(),
            ));
        }
        (AuditSink::File, Some(path)) => path.to_string(),
    };
    let absolute = dir.join(&path);
    let parent = absolute.parent().unwrap_or(dir);
    if !parent.is_dir() {
        return Err((
            "audit.path".into(),
            format!("the folder of '{path}' does not exist"),
        ));
    }
    if absolute.is_dir() {
        return Err(("audit.path".into(), format!("'{path}' is a folder")));
    }
    // Recipients must not be able to read who else read what.
    let folder = parent
        .canonicalize()
        .unwrap_or_else(|_| parent.to_path_buf());
    let inside = config.shared_locations().any(|(store, location)| {
        store.is_none()
            && !location.contains("://")
            && Path::new(location)
                .canonicalize()
                .is_ok_and(|shared| folder.starts_with(shared))
    });
    if inside {
        return Err((
            "audit.path".into(),
            format!("'{path}' is inside a shared folder, where recipients could read it"),
        ));
    }
    if let Some(audit) = config.audit.as_mut() {
        audit.path = Some(absolute.display().to_string());
    }
    Ok(())
}

/// The problems found so far.
#[derive(Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    pub(crate) fn check(&mut self, result: Result<(), Problem>) {
        if let Err(problem) = result {
            self.0.push(problem);
        }
    }

    fn done(&mut self) -> Result<(), Vec<Problem>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(std::mem::take(&mut self.0))
        }
    }
}

fn validate_shares(config: &mut Config, dir: &Path, problems: &mut Problems) {
    let stores = config.stores.clone();
    let catalogs = config.catalogs.clone();
    let risk_labels = config.governance.risk_labels.clone();
    for label in risk_labels.keys() {
        problems.check(
            check_name(label, false).map_err(|r| (format!("governance.risk_labels.{label}"), r)),
        );
    }
    let mut share_names = HashSet::new();
    for (i, share) in config.shares.iter_mut().enumerate() {
        let at = format!("shares[{i}]");
        problems.check(check_name(&share.name, false).map_err(|r| (format!("{at}.name"), r)));
        problems.check(unique(
            &mut share_names,
            &share.name,
            &format!("{at}.name"),
            "share",
        ));
        let rules = Rules {
            share: &share.name,
            require: &share.require,
            risk_labels: &risk_labels,
        };
        let mut schema_names = HashSet::new();
        for (j, schema) in share.schemas.iter_mut().enumerate() {
            let at = format!("{at}.schemas[{j}]");
            problems.check(check_name(&schema.name, true).map_err(|r| (format!("{at}.name"), r)));
            problems.check(unique(
                &mut schema_names,
                &schema.name,
                &format!("{at}.name"),
                "schema",
            ));
            for (k, include) in schema.include.iter().enumerate() {
                let at = format!("{at}.include[{k}]");
                problems.check(validate_include(include, &catalogs, &rules, &at));
            }
            let mut table_names = HashSet::new();
            for (k, table) in schema.tables.iter_mut().enumerate() {
                let at = format!("{at}.tables[{k}]");
                let asset = format!("table '{}.{}.{}'", share.name, schema.name, table.name);
                problems.check(unique(
                    &mut table_names,
                    &table.name,
                    &format!("{at}.name"),
                    "table",
                ));
                problems.check(validate_table(
                    table, &stores, &catalogs, &rules, dir, &asset, &at,
                ));
            }
            problems.check(validate_assets(schema, &rules, &stores, dir, &at));
        }
    }
}

fn validate_include(
    include: &crate::config::IncludeConfig,
    catalogs: &[CatalogConfig],
    rules: &Rules,
    at: &str,
) -> Result<(), Problem> {
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
    check_governance(&include.governance, rules, &asset, at)
}

#[allow(clippy::too_many_arguments)]
fn validate_table(
    table: &mut TableEntry,
    stores: &[StoreConfig],
    catalogs: &[CatalogConfig],
    rules: &Rules,
    dir: &Path,
    asset: &str,
    at: &str,
) -> Result<(), Problem> {
    check_name(&table.name, true).map_err(|r| (format!("{at}.name"), r))?;
    if let Some(view) = &table.view {
        check_view(table, view, at)?;
    } else if table.catalog.is_some() {
        resolve_catalog_table(table, catalogs, at)?;
    } else {
        if table.table.is_some() {
            return Err((
                format!("{at}.table"),
                "needs catalog: (the catalog the table is registered in)".into(),
            ));
        }
        resolve_location(table, stores, dir, at)?;
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
    check_governance(&table.governance, rules, asset, at)?;
    if let Some(filter) = &table.filter {
        check_filter(filter).map_err(|reason| (format!("{at}.filter"), reason))?;
    }
    if let Some(columns) = &table.columns {
        check_columns(columns).map_err(|reason| (format!("{at}.columns"), reason))?;
    }
    if table.hudi.is_some() && table.format.is_some_and(|f| f != FormatName::Hudi) {
        return Err((
            format!("{at}.hudi"),
            "applies to Hudi tables only, and this table is declared with another format".into(),
        ));
    }
    Ok(())
}

/// Longest `view:` accepted, in bytes.
const MAX_VIEW_BYTES: usize = 64 * 1024;

/// A view is one `SELECT` and has no place of its own: what it reads is in its query, and
/// what it shares is its result, so the options that shape a stored table do not apply.
fn check_view(table: &TableEntry, view: &str, at: &str) -> Result<(), Problem> {
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;
    let given = [
        ("location", !table.location.is_empty()),
        ("store", table.store.is_some()),
        ("path", table.path.is_some()),
        ("catalog", table.catalog.is_some()),
        ("table", table.table.is_some()),
        ("format", table.format.is_some()),
        ("hudi", table.hudi.is_some()),
        ("filter", table.filter.is_some()),
        ("columns", table.columns.is_some()),
        ("materialize", table.materialize.is_some()),
    ];
    if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
        return Err((
            format!("{at}.{field}"),
            "does not apply to a view, which has no location: its query says what it reads, \
             and its WHERE and SELECT what it shares"
                .into(),
        ));
    }
    let at = format!("{at}.view");
    if view.len() > MAX_VIEW_BYTES {
        return Err((
            at,
            format!(
                "is {} bytes long; the limit is {MAX_VIEW_BYTES}",
                view.len()
            ),
        ));
    }
    let statements = Parser::new(&GenericDialect {})
        .with_recursion_limit(64)
        .try_with_sql(view)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| (at.clone(), format!("is not a SQL query: {e}")))?;
    match statements.as_slice() {
        [sqlparser::ast::Statement::Query(_)] => Ok(()),
        [] => Err((at, "is empty: give one SELECT".into())),
        [_] => Err((
            at,
            "must be a query (one SELECT), nothing that changes or defines anything".into(),
        )),
        _ => Err((
            at,
            format!("holds {} statements; give one SELECT", statements.len()),
        )),
    }
}

/// `columns:` lists at least one column, and no name twice as recipients see them.
fn check_columns(columns: &[ColumnPick]) -> Result<(), String> {
    if columns.is_empty() {
        return Err("is empty: list the columns to share, or leave columns out".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for column in columns {
        if column.name().is_empty() || column.shown().is_empty() {
            return Err("names a column with an empty name".into());
        }
        if !seen.insert(column.shown()) {
            return Err(format!("shows a column named '{}' twice", column.shown()));
        }
    }
    Ok(())
}

/// Longest `filter:` accepted, in bytes: a condition over partition columns is short, and the
/// parser recurses on nesting.
const MAX_FILTER_BYTES: usize = 16 * 1024;

/// A table's `filter:` is one SQL expression, in the dialect DataFusion parses it in. What it
/// may name (partition columns, no subqueries) depends on the table and is checked where it is
/// applied (`lakeshare_filter::PartitionFilter`).
fn check_filter(filter: &str) -> Result<(), String> {
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;
    use sqlparser::tokenizer::Token;
    if filter.trim().is_empty() {
        return Err("is empty: give a SQL condition, or leave filter out".into());
    }
    if filter.len() > MAX_FILTER_BYTES {
        return Err(format!(
            "is {} bytes long; the limit is {MAX_FILTER_BYTES}",
            filter.len()
        ));
    }
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(64)
        .try_with_sql(filter)
        .map_err(|e| format!("is not a SQL condition: {e}"))?;
    let expr = parser
        .parse_expr()
        .map_err(|e| format!("is not a SQL condition: {e}"))?;
    let rest = parser.peek_token();
    if rest.token != Token::EOF {
        return Err(format!(
            "is not one SQL condition: unexpected {} after `{expr}`",
            rest.token
        ));
    }
    Ok(())
}

/// A table's `cache_budget` bounds what it takes in the `cache:`: without one, it is a
/// mistake to say so rather than to ignore.
fn budget_without_cache(config: &Config) -> Result<(), Problem> {
    for (i, share) in config.shares.iter().enumerate() {
        for (j, schema) in share.schemas.iter().enumerate() {
            if let Some(k) = schema.tables.iter().position(|t| t.cache_budget.is_some()) {
                return Err((
                    format!("shares[{i}].schemas[{j}].tables[{k}].cache_budget"),
                    "bounds what the table takes in the cache:, and the configuration has \
                     no cache:"
                        .into(),
                ));
            }
        }
    }
    Ok(())
}

/// `cache`: a folder on the gateway's disk (made absolute) or a prefix in a store (as a
/// canonical URL), not inside a shared folder: the gateway writes nothing into what it
/// shares, and credentials for a shared folder must not reach the generated files of other
/// tables. (A cache holding shared folders is fine: each table's files go under its own id.)
fn validate_cache(config: &mut Config, dir: &Path) -> Result<(), Problem> {
    let stores = config.stores.clone();
    let Some(cache) = config.cache.as_mut() else {
        return budget_without_cache(config);
    };
    resolve_place(
        Place {
            location: &mut cache.location,
            store: &mut cache.store,
            path: &cache.path,
            what: "cache",
        },
        &stores,
        dir,
        "cache",
    )?;
    let cache = config.cache.as_ref().expect("checked above");
    if let Some(default) = cache.materialize {
        for share in &mut config.shares {
            for schema in &mut share.schemas {
                for table in schema.tables.iter_mut().filter(|t| t.view.is_none()) {
                    table.materialize.get_or_insert(default);
                }
            }
        }
    }
    let cache = config.cache.as_ref().expect("checked above");
    let folder = cache.location.trim_end_matches('/');
    for (store, location) in config.shared_locations() {
        let location = location.trim_end_matches('/');
        if location.is_empty() {
            continue;
        }
        let inside = match store {
            None => Path::new(folder).starts_with(Path::new(location)),
            Some(_) => {
                folder == location
                    || folder
                        .strip_prefix(location)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
        };
        // Store folders compare by their canonical URLs, whichever store entry names them: two
        // entries may reach one bucket (one to read shares with, one to write the cache).
        if store.is_some() == cache.store.is_some() && inside {
            return Err((
                "cache.location".into(),
                format!(
                    "lies inside the shared folder {location}; the gateway never writes into what it shares"
                ),
            ));
        }
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

pub(crate) fn parse_sha256(hex_digest: &str) -> Result<TokenHash, String> {
    let bytes =
        hex::decode(hex_digest.trim()).map_err(|_| format!("'{hex_digest}' is not hexadecimal"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "must be 64 hex digits (a SHA-256)".to_string())?;
    Ok(TokenHash(bytes))
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
    fn every_broken_item_is_reported_at_once() {
        let text = message(&format!(
            "shares:\n  - name: s\n    schemas:\n      - name: x\n        tables:\n          - {{ name: t, location: /a, format: delta, hudi: {{}} }}\n          - {{ name: t, location: /b }}\nrecipients:\n  - {{ name: a, token_sha256: \"{HASH}\", shares: [nope] }}\n  - {{ name: b }}\n"
        ));
        assert!(text.contains("4 problems:"), "{text}");
        for part in [
            "shares[0].schemas[0].tables[0].hudi",
            "shares[0].schemas[0].tables[1].name: another table",
            "recipients[0].shares[0]: no share named 'nope'",
            "recipients[1]: needs token",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
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
        assert_eq!(config.recipients[0].bearer_tokens()[0].hash.to_hex(), HASH);
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
    fn recipients_may_have_oauth_clients_instead_of_tokens() {
        let with = |recipients: &str| {
            load(&format!(
                "shares: [{{ name: s }}]\nrecipients:\n{recipients}"
            ))
        };
        let config = with(&format!(
            "  - {{ name: app, oauth: {{ client_id: app-1, client_secret_sha256: \"{HASH}\" }}, shares: [s] }}\n"
        ))
        .unwrap();
        let app = &config.recipients[0];
        assert!(app.bearer_tokens().is_empty());
        assert_eq!(app.oauth_client().unwrap().0, "app-1");
        let bad_id = with(&format!(
            "  - {{ name: app, oauth: {{ client_id: \"a b\", client_secret_sha256: \"{HASH}\" }} }}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(bad_id.contains("recipients[0].oauth.client_id"), "{bad_id}");
        let twice = with(&format!(
            "  - {{ name: a, oauth: {{ client_id: x, client_secret_sha256: \"{HASH}\" }} }}\n  - {{ name: b, oauth: {{ client_id: X, client_secret_sha256: \"{HASH}\" }} }}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(twice.contains("recipients[1].oauth.client_id"), "{twice}");
        let no_hash = with("  - { name: a, oauth: { client_id: x, client_secret_sha256: abc } }\n")
            .unwrap_err()
            .to_string();
        assert!(no_hash.contains("client_secret_sha256"), "{no_hash}");
        let shared = with(&format!(
            "  - {{ name: a, token_sha256: \"{HASH}\" }}\n  - {{ name: b, oauth: {{ client_id: x, client_secret_sha256: \"{HASH}\" }} }}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            shared.contains("recipients[1].oauth.client_secret_sha256"),
            "{shared}"
        );
        let nothing = with("  - { name: a }\n").unwrap_err().to_string();
        assert!(nothing.contains("oauth or oidc"), "{nothing}");
        assert!(
            message("server: { access_token_ttl_seconds: 1 }")
                .contains("server.access_token_ttl_seconds")
        );
    }

    #[test]
    fn a_cache_is_a_local_folder_or_a_store_prefix_outside_every_shared_folder() {
        let cache = |cache: &str| {
            let yaml = format!(
                "{}cache: {cache}\n",
                with_table("{ name: t, store: lake, path: sales/orders }")
            );
            load(&yaml).map(|c| {
                let cache = c.cache.unwrap();
                (cache.location, cache.store)
            })
        };
        assert_eq!(
            cache("{ location: generated }").unwrap(),
            ("/cfg/generated".into(), None)
        );
        assert_eq!(
            cache("{ store: lake, path: lakeshare-cache }").unwrap(),
            ("s3://lake/lakeshare-cache".into(), Some("lake".into()))
        );
        assert_eq!(
            cache("{ location: \"s3://lake/cache/\" }").unwrap(),
            ("s3://lake/cache".into(), Some("lake".into()))
        );
        let inside = cache("{ store: lake, path: sales/orders/cache }")
            .unwrap_err()
            .to_string();
        assert!(
            inside.contains("cache.location") && inside.contains("inside the shared folder"),
            "{inside}"
        );
        // A sibling whose name begins like the table's folder is not inside it.
        assert!(cache("{ store: lake, path: sales/orders2 }").is_ok());
        let unknown = cache("{ store: nowhere, path: c }")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("cache.store"), "{unknown}");
        // Another store entry on the same bucket does not make the table's folder another one.
        let yaml = format!(
            "{}\n  - {{ name: writer, kind: s3, bucket: lake }}\nshares:\n  - name: s\n    schemas:\n      - name: x\n        tables:\n          - {{ name: t, store: lake, path: sales/orders }}\ncache: {{ store: writer, path: sales/orders/cache }}\n",
            STORES.trim_end()
        );
        let err = load(&yaml).unwrap_err().to_string();
        assert!(err.contains("inside the shared folder"), "{err}");
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

    #[test]
    fn budgets_read_as_sizes_and_a_table_budget_needs_a_cache() {
        let table = "shares:\n  - name: s\n    schemas:\n      - name: x\n        tables:\n          - { name: a, location: /a, cache_budget: 2 MiB }\n";
        let config = load(&format!("{table}cache: {{ location: /c, budget: 1 GB }}\n")).unwrap();
        let cache = config.cache.as_ref().unwrap();
        assert_eq!(cache.budget, Some(crate::ByteSize(1_000_000_000)));
        let (_, _, a) = config.tables().next().unwrap();
        assert_eq!(a.cache_budget, Some(crate::ByteSize(2 << 20)));
        let text = message(table);
        assert!(
            text.contains("tables[0].cache_budget") && text.contains("no cache:"),
            "{text}"
        );
        let text = message("shares: []\ncache: { location: /c, budget: lots }\n");
        assert!(
            text.contains("cache.budget") && text.contains("not a size"),
            "{text}"
        );
    }

    #[test]
    fn the_cache_gives_materialize_to_every_stored_table_without_its_own() {
        use crate::config::MaterializeMode;
        let config = load(
            "shares:\n  - name: s\n    schemas:\n      - name: x\n        tables:\n          - { name: a, location: /a }\n          - { name: b, location: /b, materialize: never }\n          - { name: v, view: \"SELECT * FROM s.x.a\" }\ncache: { location: /c, materialize: auto }\n",
        )
        .unwrap();
        let modes: Vec<_> = config.tables().map(|(_, _, t)| t.materialize).collect();
        assert_eq!(
            modes,
            [
                Some(MaterializeMode::Auto),
                Some(MaterializeMode::Never),
                None
            ]
        );
        let text = message("shares: []\ncache: { location: /c, materialize: sometimes }\n");
        assert!(text.contains("cache.materialize"), "{text}");
    }

    #[test]
    fn views_and_column_subsets_are_checked_where_they_are_given() {
        use crate::config::ColumnPick;
        let tables = |table: &str| {
            format!(
                "shares:\n  - name: s\n    schemas:\n      - name: x\n        tables:\n          - {table}\n"
            )
        };
        let config = load(&tables(
            "{ name: v, history: true, view: \"SELECT a FROM s.x.t JOIN s.x.u ON t.k = u.k\" }",
        ))
        .unwrap();
        let view = &config.shares[0].schemas[0].tables[0];
        assert!(view.is_computed() && view.location.is_empty());
        let config = load(&tables(
            "{ name: t, location: /a, columns: [id, { name: fare, as: fare_usd }] }",
        ))
        .unwrap();
        let columns = config.shares[0].schemas[0].tables[0]
            .columns
            .clone()
            .unwrap();
        assert_eq!(
            columns.iter().map(ColumnPick::shown).collect::<Vec<_>>(),
            ["id", "fare_usd"]
        );
        for (table, field, says) in [
            (
                "{ name: v, view: \"DELETE FROM s.x.t\" }",
                "tables[0].view",
                "must be a query",
            ),
            (
                "{ name: v, view: \"SELECT 1; SELECT 2\" }",
                "tables[0].view",
                "2 statements",
            ),
            (
                "{ name: v, view: \"SELEC a\" }",
                "tables[0].view",
                "not a SQL query",
            ),
            (
                "{ name: v, location: /a, view: \"SELECT 1\" }",
                "tables[0].location",
                "does not apply to a view",
            ),
            (
                "{ name: v, filter: \"a > 1\", view: \"SELECT 1\" }",
                "tables[0].filter",
                "does not apply to a view",
            ),
            (
                "{ name: t, location: /a, columns: [] }",
                "tables[0].columns",
                "is empty",
            ),
            (
                "{ name: t, location: /a, columns: [a, { name: b, as: a }] }",
                "tables[0].columns",
                "'a' twice",
            ),
        ] {
            let text = message(&tables(table));
            assert!(
                text.contains(field) && text.contains(says),
                "{table}: {text}"
            );
        }
    }
}
