//! `recipients`: names, credentials (bearer tokens, OAuth clients, OIDC federation), grants,
//! expiries, address allow lists and rate limits.

use std::collections::HashSet;

use secrecy::{ExposeSecret, SecretString};

use super::{Problem, Problems, parse_sha256, unique};
use crate::config::{
    BearerToken, Config, IpBlock, OidcConfig, RateLimitConfig, Recipient, ResolvedRecipient,
    TokenHash,
};

/// What must differ between recipients: their tokens and secrets, client ids, and federated
/// identities (one JWT must name one recipient).
#[derive(Default)]
struct Seen {
    names: HashSet<String>,
    secrets: HashSet<TokenHash>,
    client_ids: HashSet<String>,
    identities: HashSet<(String, String, String)>,
}

pub(crate) fn validate_recipients(config: &mut Config, problems: &mut Problems) {
    let mut seen = Seen::default();
    let shares: Vec<String> = config.shares.iter().map(|s| s.name.clone()).collect();
    for (i, recipient) in config.recipients.iter_mut().enumerate() {
        let at = format!("recipients[{i}]");
        match validate_recipient(recipient, &shares, &mut seen, &at) {
            Ok(resolved) => recipient.resolved = Some(resolved),
            Err(problem) => problems.check(Err(problem)),
        }
    }
}

fn validate_recipient(
    recipient: &Recipient,
    shares: &[String],
    seen: &mut Seen,
    at: &str,
) -> Result<ResolvedRecipient, Problem> {
    if recipient.name.trim().is_empty() {
        return Err((format!("{at}.name"), "must not be empty".into()));
    }
    unique(
        &mut seen.names,
        &recipient.name,
        &format!("{at}.name"),
        "recipient",
    )?;
    let expires_at_ms = recipient
        .expires_at
        .as_deref()
        .map(|t| parse_time(t, &format!("{at}.expires_at")))
        .transpose()?;
    // Each token with the field it came from, for the error naming a duplicate.
    let mut tokens = Vec::new();
    if let Some(hash) = token_hash(&recipient.token, &recipient.token_sha256, at)? {
        let token = BearerToken {
            hash,
            expires_at_ms,
        };
        tokens.push((at.to_string(), token));
    }
    for (j, extra) in recipient.tokens.iter().enumerate() {
        let at = format!("{at}.tokens[{j}]");
        let hash = token_hash(&extra.token, &extra.token_sha256, &at)?
            .ok_or_else(|| (at.clone(), "needs token or token_sha256".to_string()))?;
        let own = extra
            .expires_at
            .as_deref()
            .map(|t| parse_time(t, &format!("{at}.expires_at")))
            .transpose()?;
        let expires_at_ms = match (own, expires_at_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokens.push((
            at,
            BearerToken {
                hash,
                expires_at_ms,
            },
        ));
    }
    for (field, token) in &tokens {
        if !seen.secrets.insert(token.hash) {
            return Err((
                field.clone(),
                "has the same token as another token in the file; give each its own".into(),
            ));
        }
    }
    let tokens: Vec<BearerToken> = tokens.into_iter().map(|(_, t)| t).collect();
    let client_secret_hash = match &recipient.oauth {
        None => None,
        Some(client) => {
            let id = &client.client_id;
            let plain = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
            if id.is_empty() || id.len() > 128 || !id.chars().all(plain) {
                return Err((
                    format!("{at}.oauth.client_id"),
                    format!("'{id}' must be 1 to 128 letters, digits, '-', '_' or '.'"),
                ));
            }
            unique(
                &mut seen.client_ids,
                id,
                &format!("{at}.oauth.client_id"),
                "OAuth client",
            )?;
            let hash = parse_sha256(&client.client_secret_sha256)
                .map_err(|r| (format!("{at}.oauth.client_secret_sha256"), r))?;
            // A secret that is also a bearer token would read as that token's recipient.
            if !seen.secrets.insert(hash) {
                return Err((
                    format!("{at}.oauth.client_secret_sha256"),
                    "is the hash of a bearer token or of another client's secret; give each its own".into(),
                ));
            }
            Some(hash)
        }
    };
    if let Some(oidc) = &recipient.oidc {
        validate_oidc(oidc, &format!("{at}.oidc"))?;
        let identity = (
            oidc.issuer.clone(),
            oidc.subject_claim.clone(),
            oidc.subject.clone(),
        );
        if !seen.identities.insert(identity) {
            return Err((
                format!("{at}.oidc"),
                "another recipient federates the same issuer, claim and subject; a token would name both".into(),
            ));
        }
    }
    if tokens.is_empty() && recipient.oauth.is_none() && recipient.oidc.is_none() {
        return Err((
            at.to_string(),
            "needs token (e.g. ${ACME_TOKEN}), token_sha256, tokens, oauth or oidc".into(),
        ));
    }
    for (j, share) in recipient.shares.iter().enumerate() {
        if !shares.iter().any(|s| s.eq_ignore_ascii_case(share)) {
            return Err((
                format!("{at}.shares[{j}]"),
                format!("no share named '{share}'"),
            ));
        }
    }
    let allow_ips = recipient
        .allow_ips
        .iter()
        .enumerate()
        .map(|(j, block)| IpBlock::parse(block).map_err(|r| (format!("{at}.allow_ips[{j}]"), r)))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(limit) = &recipient.rate_limit {
        validate_rate_limit(limit, &format!("{at}.rate_limit"))?;
    }
    Ok(ResolvedRecipient {
        tokens,
        client_secret_hash,
        expires_at_ms,
        allow_ips,
    })
}

/// The hash of a token given as `token` or `token_sha256` (at most one of them).
fn token_hash(
    token: &Option<SecretString>,
    token_sha256: &Option<String>,
    at: &str,
) -> Result<Option<TokenHash>, Problem> {
    match (token, token_sha256) {
        (Some(_), Some(_)) => Err((
            at.to_string(),
            "give either token or token_sha256, not both".into(),
        )),
        (None, None) => Ok(None),
        (Some(token), None) => {
            if token.expose_secret().len() < 16 {
                return Err((
                    format!("{at}.token"),
                    "is shorter than 16 characters; use `lakeshare token` to make one".into(),
                ));
            }
            Ok(Some(TokenHash::of(token.expose_secret())))
        }
        (None, Some(hex)) => parse_sha256(hex)
            .map(Some)
            .map_err(|r| (format!("{at}.token_sha256"), r)),
    }
}

fn parse_time(text: &str, at: &str) -> Result<i64, Problem> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            (
                at.to_string(),
                format!("'{text}' is not an RFC 3339 time: {e}"),
            )
        })
}

fn validate_oidc(oidc: &OidcConfig, at: &str) -> Result<(), Problem> {
    let issuer = url::Url::parse(&oidc.issuer).map_err(|e| {
        (
            format!("{at}.issuer"),
            format!("'{}' is not a URL: {e}", oidc.issuer),
        )
    })?;
    if !issuer_scheme_allowed(&issuer) {
        return Err((
            format!("{at}.issuer"),
            format!(
                "'{}' must be https (plain http only for a loopback address, for tests)",
                oidc.issuer
            ),
        ));
    }
    if issuer.query().is_some() || issuer.fragment().is_some() {
        return Err((
            format!("{at}.issuer"),
            "an issuer URL has no query or fragment (OpenID Connect Discovery §2)".into(),
        ));
    }
    if oidc.audiences.is_empty() || oidc.audiences.iter().any(|a| a.trim().is_empty()) {
        return Err((
            format!("{at}.audiences"),
            "list at least one audience, none empty: a token must be meant for this gateway".into(),
        ));
    }
    if oidc.subject_claim.trim().is_empty() {
        return Err((format!("{at}.subject_claim"), "must not be empty".into()));
    }
    if oidc.subject.is_empty() {
        return Err((format!("{at}.subject"), "must not be empty".into()));
    }
    Ok(())
}

/// Whether an issuer (or the key set it names) may be fetched from `url`: https, or http to a
/// loopback address (a test identity provider on the same machine).
pub fn issuer_scheme_allowed(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(a)) => a.is_loopback(),
            Some(url::Host::Ipv6(a)) => a.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

fn validate_rate_limit(limit: &RateLimitConfig, at: &str) -> Result<(), Problem> {
    if !(limit.requests_per_second.is_finite() && limit.requests_per_second >= 0.001) {
        return Err((
            format!("{at}.requests_per_second"),
            "must be a number of at least 0.001 (one request in 1000 s)".into(),
        ));
    }
    if limit.burst == Some(0) {
        return Err((
            format!("{at}.burst"),
            "must be at least 1 (or left out: one second's worth)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::IpBlock;

    #[test]
    fn ip_blocks_match_their_addresses() {
        let block = IpBlock::parse("10.1.0.0/16").unwrap();
        assert!(block.contains("10.1.2.3".parse().unwrap()));
        assert!(!block.contains("10.2.0.1".parse().unwrap()));
        assert!(block.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = IpBlock::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all = IpBlock::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let v6 = IpBlock::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(
            IpBlock::parse("10.1.0.1/16")
                .unwrap_err()
                .contains("10.1.0.0/16")
        );
        assert!(IpBlock::parse("10.0.0.0/33").is_err());
        let mapped = IpBlock::parse("::ffff:10.0.0.0/104").unwrap();
        assert!(mapped.contains("10.9.9.9".parse().unwrap()));
        assert!(mapped.contains("::ffff:10.9.9.9".parse().unwrap()));
        assert!(IpBlock::parse("nope").is_err());
    }
}
