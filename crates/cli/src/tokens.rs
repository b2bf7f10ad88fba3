//! `lakeshare token rotate`: a new bearer token for a recipient and the `tokens:` lines that
//! hand it over, the current tokens expiring after a grace window.

use anyhow::bail;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use lakeshare_catalog::{Config, TokenHash};

/// What to print: the new token, and the lines to put in place of the recipient's `token`,
/// `token_sha256` and `tokens`. Current tokens keep an earlier expiry of their own; tokens
/// that have expired already are left out.
pub fn rotation(
    config: &Config,
    recipient: &str,
    token: &str,
    grace_hours: u32,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let Some(entry) = config
        .recipients
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(recipient))
    else {
        bail!("no recipient in the configuration is named '{recipient}'");
    };
    let grace_end = now + Duration::hours(i64::from(grace_hours));
    let now_ms = now.timestamp_millis();
    let mut entries = vec![format!(
        "{{ token_sha256: \"{}\" }}",
        TokenHash::of(token).to_hex()
    )];
    for old in entry.bearer_tokens() {
        if old.expires_at_ms.is_some_and(|e| e <= now_ms) {
            continue;
        }
        let expires = old
            .expires_at_ms
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .map_or(grace_end, |e| e.min(grace_end));
        entries.push(format!(
            "{{ token_sha256: \"{}\", expires_at: \"{}\" }}",
            old.hash.to_hex(),
            expires.to_rfc3339_opts(SecondsFormat::Secs, true)
        ));
    }
    let block: Vec<String> = entries.iter().map(|e| format!("      - {e}")).collect();
    Ok(format!(
        "token:        {token}\n\
         token_sha256: {}\n\
         \n\
         # Give the token to recipient '{name}'. In its entry, replace token, token_sha256 and\n\
         # tokens with these lines; its current tokens keep working until {end}:\n\
         \x20   tokens:\n{}\n\
         \n\
         # or, in a one-line entry `- {{ name: ..., ... }}`:\n\
         #   tokens: [{}]\n",
        TokenHash::of(token).to_hex(),
        block.join("\n"),
        entries.join(", "),
        name = entry.name,
        end = grace_end.to_rfc3339_opts(SecondsFormat::Secs, true),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_token_is_added_and_the_old_ones_expire_after_the_grace_window() {
        let old = "an-old-token-0123456789";
        let config = Config::from_yaml(
            &format!(
                "shares: [{{ name: s }}]\nrecipients:\n  - {{ name: acme, token: \"{old}\", shares: [s], tokens: [{{ token_sha256: \"{}\", expires_at: \"2020-01-01T00:00:00Z\" }}] }}\n",
                TokenHash::of("long-gone-token-0123").to_hex()
            ),
            std::path::Path::new("/"),
        )
        .unwrap();
        let now = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let text = rotation(&config, "ACME", "the-new-token-0123456789", 24, now).unwrap();
        let new_hash = TokenHash::of("the-new-token-0123456789").to_hex();
        assert!(
            text.contains(&format!("- {{ token_sha256: \"{new_hash}\" }}")),
            "{text}"
        );
        assert!(text.contains(&format!(
            "- {{ token_sha256: \"{}\", expires_at: \"2026-12-03T10:00:00Z\" }}",
            TokenHash::of(old).to_hex()
        )));
        assert!(!text.contains(&TokenHash::of("long-gone-token-0123").to_hex()));
        // The lines are valid configuration.
        let yaml_lines: String = text
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("tokens:"))
            .take_while(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        let flow = text.lines().find_map(|l| l.strip_prefix("#   ")).unwrap();
        let one_line = Config::from_yaml(
            &format!(
                "shares: [{{ name: s }}]\nrecipients:\n  - {{ name: acme, shares: [s], {flow} }}\n"
            ),
            std::path::Path::new("/"),
        )
        .unwrap();
        assert_eq!(one_line.recipients[0].bearer_tokens().len(), 2);
        let rotated = Config::from_yaml(
            &format!("shares: [{{ name: s }}]\nrecipients:\n  - name: acme\n    shares: [s]\n{yaml_lines}\n"),
            std::path::Path::new("/"),
        )
        .unwrap();
        assert_eq!(rotated.recipients[0].bearer_tokens().len(), 2);
        assert!(rotation(&config, "nobody", "x", 1, now).is_err());
    }
}
