//! Checks that need the whole file: names, references between sections, value ranges.

use std::collections::HashSet;
use std::path::Path;

use crate::config::{Config, ResolvedRecipient, TokenHash};

/// `(field path, reason)` of the first problem found.
type Problem = (String, String);

pub(crate) fn validate(config: &mut Config, dir: &Path) -> Result<(), Problem> {
    validate_server(config)?;
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
                table.location = absolute_location(&table.location, dir)
                    .map_err(|r| (format!("{at}.location"), r))?;
            }
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
    if let Some(secret) = &server.signing_secret
        && secret.len() < 16
    {
        return Err((
            "server.signing_secret".into(),
            "is shorter than 16 characters".into(),
        ));
    }
    Ok(())
}

/// The protocol's naming rules: at most 255 characters, no spaces, `/`, control characters or DEL;
/// schema and table names also no `.` (clients split `share.schema.table` on dots).
fn check_name(name: &str, dots_forbidden: bool) -> Result<(), String> {
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
fn unique(seen: &mut HashSet<String>, name: &str, field: &str, what: &str) -> Result<(), Problem> {
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

    #[test]
    fn server_values_are_checked() {
        assert!(message("server: { listen: nowhere }").contains("server.listen"));
        assert!(message("server: { prefix: api }").contains("server.prefix"));
        assert!(message("server: { url_ttl_seconds: 0 }").contains("server.url_ttl_seconds"));
        assert!(message("server: { public_url: ftp://x }").contains("server.public_url"));
    }
}
