//! `server:`: addresses, limits and signing secrets.

use secrecy::ExposeSecret;

use super::*;

pub(super) fn validate_server(config: &mut Config) -> Result<(), Problem> {
    config.server.trusted_blocks = config
        .server
        .trusted_proxies
        .iter()
        .enumerate()
        .map(|(i, block)| {
            crate::config::IpBlock::parse(block)
                .map_err(|r| (format!("server.trusted_proxies[{i}]"), r))
        })
        .collect::<Result<_, _>>()?;
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
    if server.access_token_ttl_seconds < 5 || server.access_token_ttl_seconds > 24 * 3600 {
        return Err((
            "server.access_token_ttl_seconds".into(),
            "must be between 5 and 86400 (a day)".into(),
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
        && secret.expose_secret().len() < 16
    {
        return Err((
            "server.signing_secret".into(),
            "is shorter than 16 characters".into(),
        ));
    }
    for (i, secret) in server.signing_secrets.iter().enumerate() {
        if secret.expose_secret().len() < 16 {
            return Err((
                format!("server.signing_secrets[{i}]"),
                "is shorter than 16 characters".into(),
            ));
        }
        if server.signing_secrets[..i]
            .iter()
            .any(|earlier| earlier.expose_secret() == secret.expose_secret())
        {
            return Err((
                format!("server.signing_secrets[{i}]"),
                "repeats an earlier secret".into(),
            ));
        }
    }
    Ok(())
}
