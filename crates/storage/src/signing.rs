//! HMAC-SHA256 tokens: `base64url(payload).base64url(mac)`.
//!
//! Every stateless token the gateway hands out (file URLs, page tokens) is one of these, each
//! under its own [`Purpose`] so that a token minted for one use can never be accepted for another.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// What a token is for; mixed into the MAC so tokens do not cross uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    LocalFile,
    PageToken,
    RefreshToken,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::LocalFile => b"lakeshare/local-file/v1",
            Purpose::PageToken => b"lakeshare/page-token/v1",
            Purpose::RefreshToken => b"lakeshare/refresh-token/v1",
        }
    }
}

/// Signs and verifies tokens with a server secret. Cheap to clone.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { key: <redacted> }")
    }
}

impl Signer {
    /// A signer keyed from a configured secret; every replica given the same secret accepts the
    /// others' tokens.
    pub fn from_secret(secret: &str) -> Self {
        Self {
            key: Sha256::digest(secret.as_bytes()).into(),
        }
    }

    /// A signer with a random key: tokens die with the process.
    pub fn random() -> Self {
        Self {
            key: rand::random(),
        }
    }

    pub fn sign(&self, purpose: Purpose, payload: &[u8]) -> String {
        let mac = self.mac(purpose, payload).finalize().into_bytes();
        let mut token = URL_SAFE_NO_PAD.encode(payload);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(mac));
        token
    }

    /// Returns the payload of a token signed by this key for `purpose`; the MAC is compared in
    /// constant time.
    pub fn verify(&self, purpose: Purpose, token: &str) -> Result<Vec<u8>> {
        let (payload, mac) = token.split_once('.').ok_or(Error::InvalidToken)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Error::InvalidToken)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| Error::InvalidToken)?;
        self.mac(purpose, &payload)
            .verify_slice(&mac)
            .map_err(|_| Error::InvalidToken)?;
        Ok(payload)
    }

    fn mac(&self, purpose: Purpose, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(purpose.label());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_tampering() {
        let s = Signer::from_secret("k");
        let token = s.sign(Purpose::PageToken, b"offset=10");
        assert_eq!(s.verify(Purpose::PageToken, &token).unwrap(), b"offset=10");

        let (payload, mac) = token.split_once('.').unwrap();
        let forged = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(b"offset=99"));
        assert!(matches!(
            s.verify(Purpose::PageToken, &forged),
            Err(Error::InvalidToken)
        ));
        let truncated = format!("{payload}.{}", &mac[1..]);
        assert!(matches!(
            s.verify(Purpose::PageToken, &truncated),
            Err(Error::InvalidToken)
        ));
        assert!(matches!(
            s.verify(Purpose::PageToken, "garbage"),
            Err(Error::InvalidToken)
        ));
    }

    #[test]
    fn tokens_do_not_cross_purposes_or_keys() {
        let s = Signer::from_secret("k");
        let token = s.sign(Purpose::PageToken, b"x");
        assert!(s.verify(Purpose::LocalFile, &token).is_err());
        assert!(
            Signer::from_secret("other")
                .verify(Purpose::PageToken, &token)
                .is_err()
        );
        assert!(Signer::random().verify(Purpose::PageToken, &token).is_err());
    }
}
