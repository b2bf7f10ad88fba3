//! OIDC federation: a recipient whose own identity provider signs JWTs for it
//! (`recipients[].oidc`), so it needs no secret from us at all.
//!
//! A JWT is checked with `jsonwebtoken` against the issuer's published keys: the issuer's
//! discovery document (`{issuer}/.well-known/openid-configuration`) names its JWKS, which is
//! fetched on first use, kept for [`KEYS_TTL`], and fetched again when a token names a key id
//! it does not hold (the provider rotated its keys), at most once per [`MIN_REFRESH`] so that
//! made-up key ids cannot make the gateway hammer the provider. Only RS256 and ES256 are
//! accepted, each with a key of its own type: `alg: none` and HMAC tokens (which would turn a
//! public key into a shared secret) never reach the verifier.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// How long a fetched key set is used before it is fetched again.
pub const KEYS_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches of an issuer's keys for unknown key ids.
pub const MIN_REFRESH: Duration = Duration::from_secs(5);
/// Past this age, keys fetched before are not used while the provider cannot be reached: a key
/// it withdrew must not stay trusted for as long as it is down.
pub const MAX_STALE: Duration = Duration::from_secs(24 * 3600);
/// Clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 60;
/// Largest discovery document or key set read.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Why a JWT was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The token is not a JWT from a federated issuer; it may be another kind of token.
    #[error("not a JWT of a federated issuer")]
    NotFederated,
    /// A JWT of a federated issuer that fails a check (401).
    #[error("{0}")]
    Invalid(String),
    /// The issuer's keys cannot be had right now (503: the client may retry).
    #[error("the identity provider's keys cannot be fetched; try again later")]
    Unavailable,
}

/// A verified JWT: its issuer and claims.
#[derive(Debug)]
pub struct Verified {
    pub issuer: String,
    pub claims: Map<String, Value>,
}

impl Verified {
    /// Whether the token's `aud` (a string or a list) names one of `audiences`.
    pub fn has_audience(&self, audiences: &[String]) -> bool {
        match self.claims.get("aud") {
            Some(Value::String(aud)) => audiences.iter().any(|a| a == aud),
            Some(Value::Array(auds)) => auds
                .iter()
                .filter_map(Value::as_str)
                .any(|aud| audiences.iter().any(|a| a == aud)),
            _ => false,
        }
    }

    /// The claim `name` as text (a string, or a number as written).
    pub fn claim(&self, name: &str) -> Option<String> {
        match self.claims.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// The issuers recipients federate with, and their keys.
pub struct Federation {
    issuers: HashMap<String, Issuer>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish()
    }
}

struct Issuer {
    url: String,
    keys: RwLock<Arc<KeySet>>,
    /// Held while fetching, so concurrent misses wait for one fetch instead of each making one.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct KeySet {
    keys: Vec<Key>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

#[derive(Clone)]
struct Key {
    id: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

impl Federation {
    /// The issuers named by `issuers` (duplicates are one issuer).
    pub fn new<'a>(issuers: impl IntoIterator<Item = &'a str>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client builds");
        let issuers = issuers
            .into_iter()
            .map(|url| {
                let issuer = Issuer {
                    url: url.to_string(),
                    keys: RwLock::default(),
                    fetching: tokio::sync::Mutex::new(()),
                };
                (url.to_string(), issuer)
            })
            .collect();
        Self { issuers, http }
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// The issuers federated with, sorted.
    pub fn issuers(&self) -> Vec<&str> {
        let mut issuers: Vec<&str> = self.issuers.keys().map(String::as_str).collect();
        issuers.sort_unstable();
        issuers
    }

    /// Verifies `token` as a JWT of one of the federated issuers: signature, algorithm,
    /// `iss`, `exp` and `nbf` (audience and subject are the recipient's to check).
    pub async fn verify(&self, token: &str) -> Result<Verified, Refused> {
        let Some(issuer_url) = unverified_issuer(token) else {
            return Err(Refused::NotFederated);
        };
        let Some(issuer) = self.issuers.get(&issuer_url) else {
            return Err(Refused::NotFederated);
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            Refused::Invalid(
                "the token's header is not valid; only RS256 and ES256 JWTs are accepted".into(),
            )
        })?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(Refused::Invalid(format!(
                "JWTs signed with {:?} are not accepted; only RS256 and ES256 are",
                header.alg
            )));
        }
        let keys = issuer
            .keys_for(&self.http, header.kid.as_deref(), header.alg)
            .await?;
        let candidates: Vec<&Key> = keys
            .keys
            .iter()
            .filter(|k| k.algorithm == header.alg)
            .filter(|k| header.kid.is_none() || k.id == header.kid)
            .collect();
        if candidates.is_empty() {
            return Err(Refused::Invalid(
                "the token is signed with a key its issuer does not publish".into(),
            ));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[&issuer.url]);
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let mut last = None;
        for key in candidates {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => {
                    return Ok(Verified {
                        issuer: issuer.url.clone(),
                        claims: data.claims,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        let reason = match last.as_ref().map(|e| e.kind()) {
            Some(jsonwebtoken::errors::ErrorKind::ExpiredSignature) => "the token has expired",
            Some(jsonwebtoken::errors::ErrorKind::ImmatureSignature) => {
                "the token is not valid yet (nbf)"
            }
            Some(jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(_)) => {
                "the token lacks one of the claims exp, iss and aud"
            }
            Some(jsonwebtoken::errors::ErrorKind::InvalidClaimFormat(_)) => {
                "a claim of the token has the wrong type"
            }
            _ => "the token's signature is not valid",
        };
        Err(Refused::Invalid(reason.into()))
    }
}

impl Issuer {
    /// The issuer's keys, fetched first if they are older than [`KEYS_TTL`] or (at most once
    /// per [`MIN_REFRESH`]) if none has the id `kid`.
    async fn keys_for(
        &self,
        http: &reqwest::Client,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<KeySet>, Refused> {
        let has_key = |set: &KeySet| {
            set.keys
                .iter()
                .any(|k| k.algorithm == alg && (kid.is_none() || k.id.as_deref() == kid))
        };
        let usable =
            |set: &KeySet| set.fetched_at.is_some_and(|t| t.elapsed() < KEYS_TTL) && has_key(set);
        let current = self.current();
        if usable(&current) {
            return Ok(current);
        }
        let _fetching = self.fetching.lock().await;
        let current = self.current();
        if usable(&current) {
            return Ok(current);
        }
        // Whatever the reason (stale keys, an unknown key id, a failed fetch), at most one
        // fetch per MIN_REFRESH: tokens naming a federated issuer cost the provider nothing more.
        if current
            .attempted_at
            .is_some_and(|t| t.elapsed() < MIN_REFRESH)
        {
            return if current.keys.is_empty() {
                Err(Refused::Unavailable)
            } else {
                Ok(current)
            };
        }
        let now = Instant::now();
        match self.fetch(http).await {
            Ok(keys) => {
                let set = Arc::new(KeySet {
                    keys,
                    fetched_at: Some(now),
                    attempted_at: Some(now),
                });
                *self.keys.write().expect("not poisoned") = set.clone();
                Ok(set)
            }
            Err(e) => {
                tracing::warn!(issuer = %self.url, "fetching the identity provider's keys failed: {e}");
                // Keep what was fetched before (a provider down for a while does not lock its
                // recipients out while their keys are known), up to MAX_STALE, but wait before
                // asking again.
                let fresh_enough = current.fetched_at.is_some_and(|t| t.elapsed() < MAX_STALE);
                let set = Arc::new(KeySet {
                    keys: if fresh_enough {
                        current.keys.clone()
                    } else {
                        Vec::new()
                    },
                    fetched_at: current.fetched_at,
                    attempted_at: Some(now),
                });
                *self.keys.write().expect("not poisoned") = set.clone();
                if set.keys.is_empty() {
                    Err(Refused::Unavailable)
                } else {
                    Ok(set)
                }
            }
        }
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys.read().expect("not poisoned").clone()
    }

    /// The discovery document, then the key set it names.
    async fn fetch(&self, http: &reqwest::Client) -> Result<Vec<Key>, String> {
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            self.url.trim_end_matches('/')
        );
        let document = get_json(http, &discovery).await?;
        let issuer = document.get("issuer").and_then(Value::as_str);
        if issuer != Some(self.url.as_str()) {
            return Err(format!(
                "the discovery document names issuer {issuer:?}, not the configured one"
            ));
        }
        let jwks_uri = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("the discovery document has no jwks_uri")?;
        let parsed = url::Url::parse(jwks_uri).map_err(|e| format!("jwks_uri: {e}"))?;
        // Plain http only where the issuer itself is a loopback test provider: an https
        // issuer's document cannot send the gateway to a cleartext endpoint.
        let issuer_is_https = self.url.starts_with("https://");
        if parsed.scheme() != "https"
            && (issuer_is_https || !lakeshare_catalog::issuer_scheme_allowed(&parsed))
        {
            return Err("jwks_uri must be https".into());
        }
        let set = get_json(http, jwks_uri).await?;
        let listed = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the key set has no keys array")?;
        // Keys of kinds we do not use (or cannot parse) are skipped, not fatal: providers
        // publish encryption keys and newer key types beside their signing keys.
        Ok(listed
            .iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .filter_map(|jwk| Key::from_jwk(&jwk))
            .collect())
    }
}

impl Key {
    /// A signing key for RS256 (an RSA key) or ES256 (a P-256 key), if `jwk` is one.
    fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            return None;
        }
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => return None,
        };
        let declared_matches = match jwk.common.key_algorithm {
            None => true,
            Some(KeyAlgorithm::RS256) => algorithm == Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => algorithm == Algorithm::ES256,
            Some(_) => false,
        };
        if !declared_matches {
            return None;
        }
        Some(Self {
            id: jwk.common.key_id.clone(),
            algorithm,
            key: DecodingKey::from_jwk(jwk).ok()?,
        })
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let response = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: status {}", response.status()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(format!("GET {url}: over {MAX_DOCUMENT_BYTES} bytes"));
    }
    // Read in chunks up to the bound: a chunked answer has no length to refuse up front.
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("GET {url}: over {MAX_DOCUMENT_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))
}

/// The `iss` claim of a JWT-shaped token, before any check: it picks the keys to check with.
fn unverified_issuer(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(claims: Value) -> Verified {
        Verified {
            issuer: "https://idp".into(),
            claims: claims.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn audiences_are_a_string_or_a_list() {
        let wanted = ["lakeshare".to_string()];
        assert!(verified(serde_json::json!({"aud": "lakeshare"})).has_audience(&wanted));
        assert!(verified(serde_json::json!({"aud": ["x", "lakeshare"]})).has_audience(&wanted));
        assert!(!verified(serde_json::json!({"aud": ["x"]})).has_audience(&wanted));
        assert!(!verified(serde_json::json!({})).has_audience(&wanted));
    }

    #[test]
    fn the_issuer_is_read_from_jwt_shaped_tokens_only() {
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"iss":"https://idp"}"#)
        );
        assert_eq!(unverified_issuer(&token).as_deref(), Some("https://idp"));
        assert_eq!(unverified_issuer("a-static-bearer-token"), None);
        assert_eq!(unverified_issuer(&format!("{token}.more")), None);
    }
}
