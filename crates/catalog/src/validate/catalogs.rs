//! `catalogs:`: upstream catalogs, and tables named in them.

use super::*;

pub(super) fn validate_catalogs(config: &mut Config, dir: &Path) -> Result<(), Problem> {
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

pub(super) fn validate_rest_catalog(
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
pub(super) fn sqlite_path(uri: &str) -> Result<String, String> {
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
pub(super) fn resolve_catalog_table(
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
