//! Where a table or asset lives: a location (path or store URL) or a store and a path.

use super::*;

/// Turns a table's `location`, or its `store` and `path`, into an absolute path or a canonical
/// store URL, and records which store it lives in.
pub(super) fn resolve_location(
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

pub(super) fn absolute_location(location: &str, dir: &Path) -> Result<String, String> {
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
