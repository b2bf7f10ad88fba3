//! object_store clients for each store kind, from storage's options: bounds, retries,
//! credentials, endpoints.

use secrecy::ExposeSecret;

use super::*;

/// Per-request bounds: a request gives up after the store's timeout, and connecting after at
/// most 5 s, so an unreachable store fails fast.
pub(super) fn client_options(config: &StoreOptions) -> ClientOptions {
    let timeout = config.timeout;
    ClientOptions::new()
        .with_timeout(timeout)
        .with_connect_timeout(timeout.min(Duration::from_secs(5)))
        .with_allow_http(config.allows_http())
}

/// Retries stop once the operation has taken the store's timeout.
pub(super) fn retry_config(timeout: Duration) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: timeout,
    }
}

pub(super) fn s3_builder(config: &StoreOptions, endpoint: Option<&str>) -> AmazonS3Builder {
    // Credentials from the file stand alone; without them the environment and the provider
    // chain supply them (an AWS_SESSION_TOKEN in the environment must not join static keys).
    let base = if config.access_key_id.is_some() {
        AmazonS3Builder::new()
    } else {
        AmazonS3Builder::from_env()
    };
    let mut builder = base
        .with_bucket_name(config.bucket.as_deref().unwrap_or_default())
        .with_region(config.region.as_deref().unwrap_or("us-east-1"))
        .with_virtual_hosted_style_request(!config.path_style.unwrap_or(true))
        .with_client_options(client_options(config))
        .with_retry(retry_config(config.timeout));
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
    }
    if let (Some(key), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
        builder = builder
            .with_access_key_id(key)
            .with_secret_access_key(secret.expose_secret());
        if let Some(token) = &config.session_token {
            builder = builder.with_token(token.expose_secret());
        }
    }
    builder
}

/// The account URL of an Azure store, which signed URLs start with: the configured endpoint,
/// Azurite's, or Azure's.
pub(super) fn azure_endpoint(config: &StoreOptions) -> String {
    let account = config.azure_account().unwrap_or(AZURITE_ACCOUNT);
    match (&config.endpoint, config.use_emulator) {
        (Some(endpoint), _) => endpoint.trim_end_matches('/').to_string(),
        // object_store's emulator mode takes Azurite's address from this variable only.
        (None, true) => format!(
            "{}/{account}",
            std::env::var("AZURITE_BLOB_STORAGE_URL")
                .unwrap_or_else(|_| AZURITE_URL.to_string())
                .trim_end_matches('/')
        ),
        (None, false) => format!("https://{account}.blob.core.windows.net"),
    }
}

pub(super) fn azure_builder(config: &StoreOptions, endpoint: &str) -> MicrosoftAzureBuilder {
    let base = if config.access_key.is_some() || config.use_emulator {
        MicrosoftAzureBuilder::new()
    } else {
        MicrosoftAzureBuilder::from_env()
    };
    let mut builder = base
        .with_account(config.azure_account().unwrap_or(AZURITE_ACCOUNT))
        .with_container_name(config.container.as_deref().unwrap_or_default())
        .with_client_options(client_options(config))
        .with_retry(retry_config(config.timeout));
    // Emulator mode is more than an address: Azurite ignores the listing offset (`startFrom`)
    // and object_store filters client-side only in this mode; without it a Delta log listing
    // from a version would include older commits.
    builder = if config.use_emulator {
        builder.with_use_emulator(true)
    } else {
        builder.with_endpoint(endpoint.to_string())
    };
    if let Some(key) = &config.access_key {
        builder = builder.with_access_key(key.expose_secret());
    }
    builder
}
