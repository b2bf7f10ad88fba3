//! Minting and opening credentials: the grant and the secret travel sealed in the session token.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lakeshare_storage::{Purpose, Signer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::access::key_is_clean;
use crate::{Error, Result};

/// What one credential may read: keys under `prefixes`, in the endpoint's bucket, until
/// `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Key prefixes, each non-empty, ending in `/` and free of empty, `.` and `..` segments
    /// (`tables/orders/`). A key is readable when it starts with one of them; a listing when
    /// its prefix does.
    pub prefixes: Vec<String>,
    /// When the credential stops working, milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
}

impl Grant {
    /// Refuses a grant the endpoint could not enforce as written.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.prefixes.is_empty() {
            return Err(Error::InvalidGrant(
                "a grant needs at least one prefix".into(),
            ));
        }
        for prefix in &self.prefixes {
            let Some(folder) = prefix.strip_suffix('/') else {
                return Err(Error::InvalidGrant(format!(
                    "prefix {prefix:?} must end in '/'"
                )));
            };
            if !key_is_clean(folder) {
                return Err(Error::InvalidGrant(format!(
                    "prefix {prefix:?} has an empty, '.' or '..' segment"
                )));
            }
        }
        Ok(())
    }
}

/// An S3 credential for one [`Grant`]: what a client is configured with. `Debug` shows only the
/// access key id and the expiry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// The grant's expiry, milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// The sealed payload of a session token.
#[derive(Serialize, Deserialize)]
struct Payload {
    /// The bucket, so a token minted by an endpoint for one bucket is refused by another.
    b: String,
    p: Vec<String>,
    e: i64,
    /// The secret access key.
    s: String,
}

/// An opened session token: what a request is checked against.
pub(crate) struct Session {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) grant: Grant,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("access_key_id", &self.access_key_id)
            .field("grant", &self.grant)
            .finish_non_exhaustive()
    }
}

/// Why a session token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not sealed by our signer for this purpose and bucket, altered, or malformed.
    Invalid,
    /// Genuine, but the grant has expired.
    Expired,
}

/// The access key id bound to `token`: 20 characters like AWS's, `LSIA` and 16 hex digits of
/// SHA-256 over the token. A request must present the id of the token it carries.
pub(crate) fn access_key_id(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    format!("LSIA{}", hex::encode_upper(&digest[..8]))
}

pub(crate) fn mint(signer: &Signer, bucket: &str, grant: &Grant) -> Result<Credentials> {
    grant.validate()?;
    let secret: [u8; 32] = rand::random();
    let secret_access_key = URL_SAFE_NO_PAD.encode(secret);
    let payload = Payload {
        b: bucket.to_owned(),
        p: grant.prefixes.clone(),
        e: grant.expires_at_ms,
        s: secret_access_key.clone(),
    };
    let session_token = signer.sign(
        Purpose::S3Credential,
        &serde_json::to_vec(&payload).expect("the payload serialises"),
    );
    Ok(Credentials {
        access_key_id: access_key_id(&session_token),
        secret_access_key,
        session_token,
        expires_at_ms: grant.expires_at_ms,
    })
}

pub(crate) fn open(
    signer: &Signer,
    bucket: &str,
    token: &str,
    now_ms: i64,
) -> std::result::Result<Session, Refusal> {
    let bytes = signer
        .verify(Purpose::S3Credential, token)
        .map_err(|_| Refusal::Invalid)?;
    let payload: Payload = serde_json::from_slice(&bytes).map_err(|_| Refusal::Invalid)?;
    if payload.b != bucket {
        return Err(Refusal::Invalid);
    }
    let grant = Grant {
        prefixes: payload.p,
        expires_at_ms: payload.e,
    };
    // Sealed tokens only ever hold grants `mint` accepted; this guards against a signer shared
    // with code that seals other shapes under the same purpose.
    grant.validate().map_err(|_| Refusal::Invalid)?;
    if now_ms >= grant.expires_at_ms {
        return Err(Refusal::Expired);
    }
    Ok(Session {
        access_key_id: access_key_id(token),
        secret_access_key: payload.s,
        grant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            prefixes: vec!["tables/orders/".into()],
            expires_at_ms: 2_000,
        }
    }

    #[test]
    fn minted_tokens_open_to_the_grant_and_secret() {
        let signer = Signer::from_secret("k");
        let creds = mint(&signer, "lake", &grant()).unwrap();
        let session = open(&signer, "lake", &creds.session_token, 1_000).unwrap();
        assert_eq!(session.grant, grant());
        assert_eq!(session.secret_access_key, creds.secret_access_key);
        assert_eq!(session.access_key_id, creds.access_key_id);
        assert_eq!(creds.access_key_id.len(), 20);
        assert!(creds.access_key_id.starts_with("LSIA"));
        assert_eq!(creds.expires_at_ms, 2_000);
        // A replica with the same secrets (and more) opens it too.
        let replica = Signer::from_secrets(&["new", "k"]);
        assert!(open(&replica, "lake", &creds.session_token, 1_000).is_ok());
    }

    #[test]
    fn each_mint_has_its_own_secret_and_id() {
        let signer = Signer::from_secret("k");
        let a = mint(&signer, "lake", &grant()).unwrap();
        let b = mint(&signer, "lake", &grant()).unwrap();
        assert_ne!(a.secret_access_key, b.secret_access_key);
        assert_ne!(a.access_key_id, b.access_key_id);
        assert!(!a.session_token.contains(&a.secret_access_key));
    }

    #[test]
    fn refuses_expired_foreign_and_other_bucket_tokens() {
        let signer = Signer::from_secret("k");
        let creds = mint(&signer, "lake", &grant()).unwrap();
        let token = &creds.session_token;
        assert_eq!(
            open(&signer, "lake", token, 2_000).unwrap_err(),
            Refusal::Expired
        );
        assert_eq!(
            open(&Signer::from_secret("other"), "lake", token, 0).unwrap_err(),
            Refusal::Invalid
        );
        assert_eq!(
            open(&signer, "pond", token, 0).unwrap_err(),
            Refusal::Invalid
        );
        // A genuine token of another purpose is refused.
        let page = signer.sign(Purpose::ListPage, b"{}");
        assert_eq!(
            open(&signer, "lake", &page, 0).unwrap_err(),
            Refusal::Invalid
        );
    }

    #[test]
    fn refuses_grants_it_could_not_enforce() {
        let signer = Signer::from_secret("k");
        for prefixes in [
            vec![],
            vec!["tables/orders".to_owned()],
            vec!["/".to_owned()],
            vec!["tables//".to_owned()],
            vec!["tables/../".to_owned()],
            vec!["./".to_owned()],
        ] {
            let grant = Grant {
                prefixes: prefixes.clone(),
                expires_at_ms: 1,
            };
            assert!(
                matches!(mint(&signer, "lake", &grant), Err(Error::InvalidGrant(_))),
                "{prefixes:?}"
            );
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let creds = mint(&Signer::from_secret("k"), "lake", &grant()).unwrap();
        let shown = format!("{creds:?}");
        assert!(shown.contains(&creds.access_key_id));
        assert!(!shown.contains(&creds.secret_access_key));
        assert!(!shown.contains(&creds.session_token));
    }
}
