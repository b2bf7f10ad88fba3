//! Credentials → recipients: static bearer tokens, and the access tokens the OAuth 2.0 token
//! endpoint issues to recipients with client credentials (`routes/oauth.rs`).
//!
//! An access token is a sealed token ([`Purpose::AccessToken`]) naming the recipient, its
//! client id and the expiry: stateless, so any replica with the signing secrets accepts it, and
//! no longer accepted once the recipient's client is gone from the configuration.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use lakeshare_catalog::{BearerToken, IpBlock, TokenHash};
use lakeshare_storage::{Purpose, Signer};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::error::ApiError;

/// The recipient a request was authenticated as.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub name: Arc<str>,
    /// Lower-cased names of the granted shares.
    pub shares: Arc<[String]>,
    /// When the recipient's access ends (its `expires_at`), epoch milliseconds.
    pub expires_at_ms: Option<i64>,
    /// Index of the recipient's entry, for its address list and rate limit.
    entry: usize,
    /// Where this request came from, if known.
    pub client: Option<std::net::IpAddr>,
    /// This request's id (see `audit.rs`).
    pub request_id: Arc<str>,
}

impl Recipient {
    /// The recipient as the audit log names it.
    pub fn caller(&self) -> crate::audit::Caller<'_> {
        crate::audit::Caller {
            recipient: Some(&self.name),
            client: self.client,
            request_id: &self.request_id,
        }
    }

    pub fn may_read(&self, share: &str) -> bool {
        self.shares.iter().any(|s| s.eq_ignore_ascii_case(share))
    }
}

/// One configured recipient and how it may authenticate.
#[derive(Debug)]
struct Entry {
    tokens: Vec<BearerToken>,
    client: Option<(String, TokenHash)>,
    oidc: Option<lakeshare_catalog::OidcConfig>,
    expires_at_ms: Option<i64>,
    allow_ips: Vec<IpBlock>,
    rate: Option<Arc<crate::rate::Bucket>>,
    recipient: Recipient,
}

/// What an access token seals.
#[derive(Serialize, Deserialize)]
struct AccessClaims {
    /// The recipient.
    r: String,
    /// The client id it was issued to.
    c: String,
    /// Expiry, epoch milliseconds.
    e: i64,
    /// A fingerprint of the client's secret hash: a new secret revokes the old one's tokens.
    s: String,
}

/// The first bytes of a secret's hash, hex: enough to tell a replaced secret from the current.
fn fingerprint(hash: &TokenHash) -> String {
    hash.to_hex()[..16].to_string()
}

/// Why the token endpoint issued nothing (RFC 6749 §5.2: a wrong client id and a wrong
/// secret are the same `invalid_client`).
#[derive(Debug, PartialEq, Eq)]
pub enum ClientRefused {
    InvalidClient,
}

/// The recipients known to the server, and the signer of their access tokens.
#[derive(Debug)]
pub struct Recipients {
    entries: Vec<Entry>,
    signer: Signer,
    access_token_ttl_ms: i64,
    federation: Arc<crate::oidc::Federation>,
}

impl Recipients {
    pub fn from_config(
        recipients: &[lakeshare_catalog::Recipient],
        signer: Signer,
        access_token_ttl: std::time::Duration,
    ) -> Self {
        let federation = crate::oidc::Federation::new(
            recipients
                .iter()
                .filter_map(|r| Some(r.oidc.as_ref()?.issuer.as_str())),
        );
        Self {
            entries: recipients
                .iter()
                .enumerate()
                .map(|(i, r)| Entry {
                    tokens: r.bearer_tokens().to_vec(),
                    client: r.oauth_client().map(|(id, hash)| (id.to_string(), *hash)),
                    oidc: r.oidc.clone(),
                    expires_at_ms: r.expires_at_ms(),
                    allow_ips: r.allow_ips().to_vec(),
                    rate: r.rate_limit.map(|l| Arc::new(crate::rate::Bucket::new(l))),
                    recipient: Recipient {
                        name: r.name.as_str().into(),
                        shares: r.shares.iter().map(|s| s.to_lowercase()).collect(),
                        expires_at_ms: r.expires_at_ms(),
                        entry: i,
                        client: None,
                        request_id: Arc::from(""),
                    },
                })
                .collect(),
            signer,
            access_token_ttl_ms: i64::try_from(access_token_ttl.as_millis()).unwrap_or(i64::MAX),
            federation: Arc::new(federation),
        }
    }

    /// Keeps what `previous` (the state before a reload) learnt that still holds: a
    /// recipient's rate bucket where its limit is unchanged (a reload does not refill it), and
    /// the identity providers' keys where the issuers are the same.
    pub fn carry_over(&mut self, previous: &Recipients) {
        for entry in &mut self.entries {
            let Some(bucket) = &entry.rate else { continue };
            let before = previous
                .entries
                .iter()
                .find(|p| p.recipient.name == entry.recipient.name)
                .and_then(|p| p.rate.as_ref())
                .filter(|p| p.same_limit(bucket));
            if let Some(before) = before {
                entry.rate = Some(before.clone());
            }
        }
        if self.federation.issuers() == previous.federation.issuers() {
            self.federation = previous.federation.clone();
        }
    }

    /// The recipient holding `token`, if it may call from `client` now: authenticated, then
    /// checked against its address allow list (403) and its rate limit (429).
    pub async fn admit(
        &self,
        token: &str,
        client: Option<std::net::IpAddr>,
        now_ms: i64,
    ) -> Result<Recipient, ApiError> {
        let mut recipient = self.authenticate(token, now_ms).await?;
        recipient.client = client;
        let entry = &self.entries[recipient.entry];
        if !entry.allow_ips.is_empty() {
            let allowed = client.is_some_and(|a| entry.allow_ips.iter().any(|b| b.contains(a)));
            if !allowed {
                let shown =
                    client.map_or_else(|| "unknown".to_string(), |a| a.to_canonical().to_string());
                return Err(ApiError::forbidden(format!(
                    "recipient '{}' may not call from address {shown}",
                    recipient.name
                )));
            }
        }
        if let Some(bucket) = &entry.rate
            && let Err(wait) = bucket.take()
        {
            return Err(ApiError::too_many_requests(
                format!(
                    "recipient '{}' is over its request rate limit; retry in {} s",
                    recipient.name,
                    crate::error::whole_seconds(wait)
                ),
                wait,
            ));
        }
        Ok(recipient)
    }

    /// The recipient holding `token`: a static bearer token, an access token issued here, or
    /// a JWT of a federated identity provider. Every static token is compared, each in
    /// constant time, so the time taken says nothing about which token (or how much of one)
    /// matched.
    pub async fn authenticate(&self, token: &str, now_ms: i64) -> Result<Recipient, ApiError> {
        let presented = TokenHash::of(token);
        let mut found = None;
        for entry in &self.entries {
            for bearer in &entry.tokens {
                if bool::from(bearer.hash.0.ct_eq(&presented.0)) {
                    found = Some((entry, bearer));
                }
            }
        }
        if let Some((entry, bearer)) = found {
            return match bearer.expires_at_ms {
                Some(expires) if now_ms >= expires => {
                    Err(ApiError::unauthenticated("the bearer token has expired"))
                }
                _ => Ok(entry.recipient.clone()),
            };
        }
        if let Ok(sealed) = self.signer.verify(Purpose::AccessToken, token) {
            return self.access_token_recipient(&sealed, now_ms);
        }
        if !self.federation.is_empty() {
            return self.federated_recipient(token, now_ms).await;
        }
        Err(ApiError::unauthenticated("the bearer token is not valid"))
    }

    /// The recipient of an access token this gateway sealed.
    fn access_token_recipient(&self, sealed: &[u8], now_ms: i64) -> Result<Recipient, ApiError> {
        let claims: AccessClaims = serde_json::from_slice(sealed)
            .map_err(|_| ApiError::unauthenticated("the bearer token is not valid"))?;
        // The client must still be configured for that recipient: removing it revokes every
        // access token it was issued.
        let entry = self
            .entries
            .iter()
            .find(|e| {
                *e.recipient.name == *claims.r
                    && e.client
                        .as_ref()
                        .is_some_and(|(id, hash)| *id == claims.c && fingerprint(hash) == claims.s)
            })
            .ok_or_else(|| ApiError::unauthenticated("the bearer token is not valid"))?;
        if now_ms >= claims.e {
            return Err(ApiError::unauthenticated(
                "the access token has expired; get a new one from the token endpoint",
            ));
        }
        if entry.expires_at_ms.is_some_and(|expires| now_ms >= expires) {
            return Err(ApiError::unauthenticated(
                "the recipient's access has expired",
            ));
        }
        // The recipient's own expiry, not the token's: credentials minted for a request (S3,
        // STS) last as long as they would for a bearer token, and a client renews its token
        // without being asked to fetch them again.
        Ok(entry.recipient.clone())
    }

    /// The recipient a federated JWT names: its issuer, an audience and its subject claim.
    async fn federated_recipient(&self, token: &str, now_ms: i64) -> Result<Recipient, ApiError> {
        use crate::oidc::Refused;
        let verified = match self.federation.verify(token).await {
            Ok(v) => v,
            Err(Refused::NotFederated) => {
                return Err(ApiError::unauthenticated("the bearer token is not valid"));
            }
            Err(Refused::Invalid(reason)) => return Err(ApiError::unauthenticated(reason)),
            Err(e @ Refused::Unavailable) => {
                return Err(ApiError::unavailable(e.to_string()));
            }
        };
        let mut matching = self.entries.iter().filter(|e| {
            e.oidc.as_ref().is_some_and(|o| {
                o.issuer == verified.issuer
                    && verified.has_audience(&o.audiences)
                    && verified.claim(&o.subject_claim).as_deref() == Some(o.subject.as_str())
            })
        });
        let entry = matching.next().ok_or_else(|| {
            ApiError::unauthenticated(
                "no recipient is federated with this token's audience and subject",
            )
        })?;
        // Recipients naming callers by different claims can both match one token; which one
        // it is must not depend on their order in the file.
        if let Some(other) = matching.next() {
            tracing::warn!(
                first = %entry.recipient.name,
                second = %other.recipient.name,
                "a federated token matches two recipients; refused"
            );
            return Err(ApiError::unauthenticated(
                "this token matches more than one recipient; the provider must make their subjects distinct",
            ));
        }
        if entry.expires_at_ms.is_some_and(|expires| now_ms >= expires) {
            return Err(ApiError::unauthenticated(
                "the recipient's access has expired",
            ));
        }
        Ok(entry.recipient.clone())
    }

    /// An access token for the client `client_id` holding `secret`, its lifetime in seconds
    /// and the recipient it is for. Every client's secret is compared in constant time.
    pub fn issue(
        &self,
        client_id: &str,
        secret: &str,
        now_ms: i64,
    ) -> Result<(String, u64, Arc<str>), ClientRefused> {
        let presented = TokenHash::of(secret);
        let mut found = None;
        for entry in &self.entries {
            if let Some((id, hash)) = &entry.client {
                let secret_matches = bool::from(hash.0.ct_eq(&presented.0));
                if secret_matches && id == client_id {
                    found = Some(entry);
                }
            }
        }
        let entry = found.ok_or(ClientRefused::InvalidClient)?;
        let (_, secret_hash) = entry.client.as_ref().expect("found by its client");
        let mut expires = now_ms.saturating_add(self.access_token_ttl_ms);
        if let Some(recipient_expires) = entry.expires_at_ms {
            if now_ms >= recipient_expires {
                return Err(ClientRefused::InvalidClient);
            }
            expires = expires.min(recipient_expires);
        }
        let claims = AccessClaims {
            r: entry.recipient.name.to_string(),
            c: client_id.to_string(),
            e: expires,
            s: fingerprint(secret_hash),
        };
        let payload = serde_json::to_vec(&claims).expect("claims always serialise");
        let token = self.signer.sign(Purpose::AccessToken, &payload);
        let seconds = u64::try_from((expires - now_ms) / 1000).unwrap_or(0);
        Ok((token, seconds, entry.recipient.name.clone()))
    }
}

impl FromRequestParts<App> for Recipient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)?;
        let client = crate::client::address(parts, app.config());
        let mut recipient = app
            .recipients()
            .admit(token, client, lakeshare_storage::now_ms())
            .await?;
        recipient.request_id = crate::audit::request_id(&parts.extensions);
        Ok(recipient)
    }
}

/// The bearer token of a request, or why it has none.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let header = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthenticated("missing Authorization: Bearer <token> header"))?;
    header
        .to_str()
        .ok()
        .and_then(|h| {
            let (scheme, token) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthenticated("the Authorization header must be `Bearer <token>`")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn config() -> lakeshare_catalog::Config {
        lakeshare_catalog::Config::from_yaml(
            &format!(
                r#"
shares: [{{ name: a }}, {{ name: b }}]
recipients:
  - {{ name: one, token: "token-one-0123456789", shares: [A] }}
  - {{ name: two, token: "token-two-0123456789", shares: [b], expires_at: "2001-01-01T00:00:00Z" }}
  - {{ name: app, oauth: {{ client_id: app-1, client_secret_sha256: "{SECRET_HASH}" }}, shares: [a] }}
"#
            ),
            std::path::Path::new("/"),
        )
        .unwrap()
    }

    fn recipients() -> Recipients {
        Recipients::from_config(
            &config().recipients,
            Signer::from_secret("a signing secret for tests"),
            std::time::Duration::from_secs(60),
        )
    }

    #[tokio::test]
    async fn finds_the_recipient_of_a_token() {
        let r = recipients();
        let one = r.authenticate("token-one-0123456789", 0).await.unwrap();
        assert_eq!(&*one.name, "one");
        assert!(one.may_read("a") && one.may_read("A") && !one.may_read("b"));
    }

    #[tokio::test]
    async fn unknown_and_expired_tokens_are_refused() {
        let r = recipients();
        assert!(r.authenticate("token-one-012345678", 0).await.is_err());
        let expired = r
            .authenticate("token-two-0123456789", 978_307_200_000)
            .await
            .unwrap_err();
        assert!(expired.message.contains("expired"));
        assert!(
            r.authenticate("token-two-0123456789", 978_307_199_999)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn client_credentials_get_access_tokens_that_expire() {
        let r = recipients();
        // SECRET_HASH is the SHA-256 of "test".
        let (token, seconds, recipient) = r.issue("app-1", "test", 1_000).unwrap();
        assert_eq!(&*recipient, "app");
        assert_eq!(seconds, 60);
        let app = r.authenticate(&token, 1_000).await.unwrap();
        assert_eq!(&*app.name, "app");
        let expired = r.authenticate(&token, 61_000).await.unwrap_err();
        assert!(expired.message.contains("expired"), "{}", expired.message);
        assert_eq!(
            r.issue("app-1", "wrong", 0),
            Err(ClientRefused::InvalidClient)
        );
        assert_eq!(
            r.issue("app-2", "test", 0),
            Err(ClientRefused::InvalidClient)
        );
    }

    #[tokio::test]
    async fn access_tokens_die_with_their_client_and_their_signing_secret() {
        let (token, _, _) = recipients().issue("app-1", "test", 0).unwrap();
        let mut without_client = config();
        without_client.recipients.retain(|r| r.name != "app");
        let revoked = Recipients::from_config(
            &without_client.recipients,
            Signer::from_secret("a signing secret for tests"),
            std::time::Duration::from_secs(60),
        );
        assert!(revoked.authenticate(&token, 0).await.is_err());
        let mut new_secret = config();
        let yaml = "shares: [{ name: a }]\nrecipients:\n  - { name: app, oauth: { client_id: app-1, client_secret_sha256: \"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\" }, shares: [a] }\n";
        new_secret.recipients =
            lakeshare_catalog::Config::from_yaml(yaml, std::path::Path::new("/"))
                .unwrap()
                .recipients;
        let rotated = Recipients::from_config(
            &new_secret.recipients,
            Signer::from_secret("a signing secret for tests"),
            std::time::Duration::from_secs(60),
        );
        assert!(
            rotated.authenticate(&token, 0).await.is_err(),
            "a new secret revokes old tokens"
        );
        assert!(rotated.issue("app-1", "hello", 0).is_ok());
        let other_secret = Recipients::from_config(
            &config().recipients,
            Signer::from_secret("another secret"),
            std::time::Duration::from_secs(60),
        );
        assert!(other_secret.authenticate(&token, 0).await.is_err());
        // A token sealed for another purpose is not an access token.
        let signer = Signer::from_secret("a signing secret for tests");
        let other_purpose =
            signer.sign(Purpose::Refresh, br#"{"r":"app","c":"app-1","e":99999999}"#);
        assert!(recipients().authenticate(&other_purpose, 0).await.is_err());
    }

    #[tokio::test]
    async fn each_token_has_its_own_expiry_and_addresses_and_rates_are_enforced() {
        let yaml = r#"
shares: [{ name: a }]
recipients:
  - name: rotating
    shares: [a]
    tokens:
      - { token: "new-token-0123456789" }
      - { token: "old-token-0123456789", expires_at: "2001-01-01T00:00:00Z" }
    allow_ips: ["10.0.0.0/8"]
  - { name: limited, token: "limited-token-0123456789", shares: [a], rate_limit: { requests_per_second: 0.001, burst: 2 } }
"#;
        let config = lakeshare_catalog::Config::from_yaml(yaml, std::path::Path::new("/")).unwrap();
        let r = Recipients::from_config(
            &config.recipients,
            Signer::from_secret("s"),
            std::time::Duration::from_secs(60),
        );
        let before = 978_307_199_999;
        let inside = Some("10.1.2.3".parse().unwrap());
        assert!(
            r.admit("old-token-0123456789", inside, before)
                .await
                .is_ok()
        );
        assert!(
            r.admit("old-token-0123456789", inside, before + 1)
                .await
                .is_err()
        );
        assert!(
            r.admit("new-token-0123456789", inside, before + 1)
                .await
                .is_ok()
        );
        let outside = r
            .admit(
                "new-token-0123456789",
                Some("192.0.2.1".parse().unwrap()),
                0,
            )
            .await
            .unwrap_err();
        assert_eq!(outside.status, axum::http::StatusCode::FORBIDDEN);
        assert!(outside.message.contains("192.0.2.1"), "{}", outside.message);
        assert!(r.admit("new-token-0123456789", None, 0).await.is_err());
        for _ in 0..2 {
            assert!(r.admit("limited-token-0123456789", None, 0).await.is_ok());
        }
        let limited = r
            .admit("limited-token-0123456789", None, 0)
            .await
            .unwrap_err();
        assert_eq!(limited.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(limited.retry_after.is_some_and(|w| w.as_secs() > 100));
        // Another recipient is not held up by that one's limit.
        assert!(r.admit("new-token-0123456789", inside, 0).await.is_ok());
    }

    #[tokio::test]
    async fn a_reload_keeps_rate_buckets_whose_limits_are_unchanged() {
        let load = |rate: &str| {
            let yaml = format!(
                "shares: [{{ name: a }}]\nrecipients:\n  - {{ name: r, token: \"rate-token-0123456789\", shares: [a], rate_limit: {{ requests_per_second: {rate}, burst: 1 }} }}\n"
            );
            let config =
                lakeshare_catalog::Config::from_yaml(&yaml, std::path::Path::new("/")).unwrap();
            Recipients::from_config(
                &config.recipients,
                Signer::from_secret("s"),
                std::time::Duration::from_secs(60),
            )
        };
        let before = load("0.001");
        assert!(before.admit("rate-token-0123456789", None, 0).await.is_ok());
        let mut same = load("0.001");
        same.carry_over(&before);
        assert!(
            same.admit("rate-token-0123456789", None, 0).await.is_err(),
            "the spent bucket is kept"
        );
        let mut changed = load("0.002");
        changed.carry_over(&before);
        assert!(
            changed
                .admit("rate-token-0123456789", None, 0)
                .await
                .is_ok(),
            "a new limit starts full"
        );
    }
}
