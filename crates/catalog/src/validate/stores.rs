//! `stores:`: each store's kind-specific fields, credentials and addresses.

use super::*;

pub(super) fn validate_stores(config: &mut Config, dir: &Path) -> Result<(), Problem> {
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

/// `(field within the store, reason)`.
pub(super) fn validate_store(store: &mut StoreConfig, dir: &Path) -> Result<(), (String, String)> {
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
