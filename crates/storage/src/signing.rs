//! Sealed tokens: every stateless token the gateway hands out (file URLs, page, change-page and
//! refresh tokens) is encrypted and authenticated, under its own [`Purpose`].
//!
//! A token is `base64url(version ‖ key id ‖ nonce ‖ XChaCha20-Poly1305(payload))`, with the
//! purpose as associated data. Encryption keeps what a token carries (table roots, file paths,
//! positions) away from whoever holds it; the key id lets several secrets verify at once, so the
//! secret can be rotated without breaking the tokens and URLs already out: the newest key seals,
//! every configured key opens. The 192-bit random nonces make collisions negligible however many
//! tokens one key seals.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// What a token is for; bound into the seal so a token minted for one use is refused for any
/// other, even where two purposes' payloads happen to have the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A `/files/{token}` URL for a file on the gateway's disk.
    LocalFile,
    /// The next page of a listing (shares, schemas, tables, asset files).
    ListPage,
    /// The next page of a table query.
    QueryPage,
    /// The next page of a change-feed read.
    ChangePage,
    /// A query's refresh token (new URLs for the same files).
    Refresh,
    /// The session token of an S3 credential minted by the S3 endpoint: it seals the grant
    /// (readable key prefixes, expiry) and the credential's secret access key, so any replica
    /// holding the signing secrets can check a request's SigV4 signature without shared state.
    S3Credential,
    /// An OAuth 2.0 access token issued to a recipient's client: it seals the recipient, the
    /// client and the expiry, so any replica holding the signing secrets accepts it.
    AccessToken,
    /// The id of an asynchronous query: it seals the query, its table, recipient and pinned
    /// version, so any replica answers the polls.
    AsyncQuery,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::LocalFile => b"lakeshare/local-file/v2",
            Purpose::ListPage => b"lakeshare/list-page/v2",
            Purpose::QueryPage => b"lakeshare/query-page/v2",
            Purpose::ChangePage => b"lakeshare/change-page/v2",
            Purpose::Refresh => b"lakeshare/refresh/v2",
            Purpose::S3Credential => b"lakeshare/s3-credential/v2",
            Purpose::AccessToken => b"lakeshare/access-token/v2",
            Purpose::AsyncQuery => b"lakeshare/async-query/v2",
        }
    }
}

/// The token layout's version byte: tokens of another layout are refused, not misread.
const LAYOUT: u8 = 2;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

#[derive(Clone)]
struct Key {
    id: [u8; KEY_ID_LEN],
    cipher: XChaCha20Poly1305,
}

impl Key {
    fn from_bytes(bytes: [u8; 32]) -> Self {
        let id_hash = Sha256::new()
            .chain_update(b"lakeshare/key-id/v2\0")
            .chain_update(bytes)
            .finalize();
        Self {
            id: id_hash[..KEY_ID_LEN].try_into().expect("a 4-byte prefix"),
            cipher: XChaCha20Poly1305::new(&bytes.into()),
        }
    }
}

/// Seals and opens tokens with the server's secrets. Cheap to clone.
#[derive(Clone)]
pub struct Signer {
    /// Newest first: `keys[0]` seals, every key opens.
    keys: Arc<[Key]>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id())
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer keyed from one configured secret; every replica given the same secret accepts
    /// the others' tokens.
    pub fn from_secret(secret: &str) -> Self {
        Self::from_secrets(&[secret])
    }

    /// A signer for rotation: the first secret seals new tokens, all of them open. Panics on an
    /// empty list (configuration validation refuses one; use [`Signer::random`] for none).
    pub fn from_secrets(secrets: &[&str]) -> Self {
        assert!(!secrets.is_empty(), "at least one signing secret");
        let keys = secrets
            .iter()
            .map(|secret| {
                let key = Sha256::new()
                    .chain_update(b"lakeshare/token-key/v2\0")
                    .chain_update(secret.as_bytes())
                    .finalize();
                Key::from_bytes(key.into())
            })
            .collect();
        Self { keys }
    }

    /// A signer with a random key: tokens die with the process.
    pub fn random() -> Self {
        Self {
            keys: Arc::new([Key::from_bytes(rand::random())]),
        }
    }

    /// The id of the key that seals, in hex: safe to log, it says nothing about the key.
    pub fn key_id(&self) -> String {
        hex::encode(self.keys[0].id)
    }

    pub fn sign(&self, purpose: Purpose, payload: &[u8]) -> String {
        let key = &self.keys[0];
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: payload,
                    aad: purpose.label(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any payload that fits in memory");
        let mut token = Vec::with_capacity(HEADER_LEN + sealed.len());
        token.push(LAYOUT);
        token.extend_from_slice(&key.id);
        token.extend_from_slice(&nonce);
        token.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The payload of a token sealed by one of this signer's keys for `purpose`. A token from
    /// another key, for another purpose, altered or truncated is [`Error::InvalidToken`].
    pub fn verify(&self, purpose: Purpose, token: &str) -> Result<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| Error::InvalidToken)?;
        if bytes.len() < HEADER_LEN || bytes[0] != LAYOUT {
            return Err(Error::InvalidToken);
        }
        let key_id = &bytes[1..1 + KEY_ID_LEN];
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or(Error::InvalidToken)?;
        key.cipher
            .decrypt(
                XNonce::from_slice(&bytes[1 + KEY_ID_LEN..HEADER_LEN]),
                Payload {
                    msg: &bytes[HEADER_LEN..],
                    aad: purpose.label(),
                },
            )
            .map_err(|_| Error::InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_tampering() {
        let s = Signer::from_secret("k");
        let token = s.sign(Purpose::QueryPage, b"offset=10");
        assert_eq!(s.verify(Purpose::QueryPage, &token).unwrap(), b"offset=10");

        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = URL_SAFE_NO_PAD.encode(&bytes);
        assert!(matches!(
            s.verify(Purpose::QueryPage, &altered),
            Err(Error::InvalidToken)
        ));
        assert!(matches!(
            s.verify(Purpose::QueryPage, &token[..token.len() - 2]),
            Err(Error::InvalidToken)
        ));
        assert!(matches!(
            s.verify(Purpose::QueryPage, "garbage"),
            Err(Error::InvalidToken)
        ));
    }

    #[test]
    fn tokens_do_not_cross_purposes_or_keys() {
        let s = Signer::from_secret("k");
        let token = s.sign(Purpose::QueryPage, b"x");
        for other in [
            Purpose::LocalFile,
            Purpose::ListPage,
            Purpose::ChangePage,
            Purpose::Refresh,
            Purpose::S3Credential,
        ] {
            assert!(s.verify(other, &token).is_err(), "{other:?}");
        }
        assert!(
            Signer::from_secret("other")
                .verify(Purpose::QueryPage, &token)
                .is_err()
        );
        assert!(Signer::random().verify(Purpose::QueryPage, &token).is_err());
    }

    #[test]
    fn payloads_are_not_readable_in_the_token() {
        let s = Signer::from_secret("k");
        let payload = br#"{"r":"/srv/private/tables/orders","p":"part-0.parquet"}"#;
        let token = s.sign(Purpose::LocalFile, payload);
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        assert!(
            !bytes.windows(7).any(|w| w == b"private"),
            "the payload travels encrypted"
        );
        // The same payload seals differently every time (random nonces).
        assert_ne!(token, s.sign(Purpose::LocalFile, payload));
    }

    #[test]
    fn rotated_secrets_keep_old_tokens_valid() {
        let old = Signer::from_secret("the-old-secret-0123");
        let token = old.sign(Purpose::Refresh, b"v=3");
        let rotated = Signer::from_secrets(&["the-new-secret-0123", "the-old-secret-0123"]);
        assert_eq!(rotated.verify(Purpose::Refresh, &token).unwrap(), b"v=3");
        // New tokens carry the new key's id, which the old set alone does not open.
        let fresh = rotated.sign(Purpose::Refresh, b"v=4");
        assert!(old.verify(Purpose::Refresh, &fresh).is_err());
        assert_ne!(rotated.key_id(), old.key_id());
        assert_eq!(
            rotated.key_id(),
            Signer::from_secret("the-new-secret-0123").key_id()
        );
        // Once the old secret is dropped its tokens stop working.
        let dropped = Signer::from_secret("the-new-secret-0123");
        assert!(dropped.verify(Purpose::Refresh, &token).is_err());
    }
}
