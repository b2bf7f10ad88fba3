//! Stateless, signed continuation tokens for table reads: page tokens and refresh tokens.
//!
//! A token records everything needed to continue a read on any replica: the table, the pinned
//! version, the position, and a hash of the request's parameters, so it cannot be replayed
//! against another table, by another recipient, or with other predicates.

use lakeshare_storage::{Purpose, Signer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

/// How long a page token stays valid (the reference server uses three days).
pub const PAGE_TOKEN_TTL_MS: i64 = 3 * 24 * 3600 * 1000;
/// How long a refresh token stays valid.
pub const REFRESH_TOKEN_TTL_MS: i64 = 3600 * 1000;

/// Where the next page of a read starts, as a key into content that does not depend on the
/// replica or on the order an adapter produced it in: a version never changes meaning, and the
/// files of a snapshot (and of each commit) come sorted by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Position {
    /// From the first item (refresh tokens).
    Start,
    /// Query pages: after the file with this id.
    AfterFile(String),
    /// Change pages: at item `index` of the lines of the commit at `version`.
    Change { version: u64, index: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Table id.
    t: String,
    /// Recipient name.
    r: String,
    /// Pinned version.
    pub v: u64,
    /// Hash of the parameters the read was made with.
    h: String,
    /// Where the next page starts.
    pub p: Position,
    /// Expiry, epoch ms.
    e: i64,
}

/// What a token is bound to; every field must match when it is read back.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub table_id: &'a str,
    pub recipient: &'a str,
    /// From [`params_hash`].
    pub params: &'a str,
}

/// A short hash of the parameters that shape a read's results (not the paging ones).
pub fn params_hash(parts: &impl Serialize) -> String {
    let json = serde_json::to_vec(parts).expect("parameters serialise");
    hex::encode(&Sha256::digest(&json)[..12])
}

pub fn issue(
    signer: &Signer,
    purpose: Purpose,
    binding: Binding<'_>,
    version: u64,
    position: Position,
    now_ms: i64,
) -> String {
    let ttl = match purpose {
        Purpose::Refresh => REFRESH_TOKEN_TTL_MS,
        _ => PAGE_TOKEN_TTL_MS,
    };
    let cursor = Cursor {
        t: binding.table_id.to_string(),
        r: binding.recipient.to_string(),
        v: version,
        h: binding.params.to_string(),
        p: position,
        e: now_ms + ttl,
    };
    signer.sign(
        purpose,
        &serde_json::to_vec(&cursor).expect("cursors serialise"),
    )
}

/// The request parameter a token of `purpose` travels in, for error messages.
fn parameter(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Refresh => "refreshToken",
        _ => "pageToken",
    }
}

/// Reads back a token if the request has one (an empty token is none).
pub fn read(
    signer: &Signer,
    purpose: Purpose,
    token: Option<&str>,
    binding: Binding<'_>,
    now_ms: i64,
) -> ApiResult<Option<Cursor>> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let invalid = |why: &str| ApiError::invalid(format!("{} {why}", parameter(purpose)));
    let payload = signer.verify(purpose, token).map_err(|_| {
        invalid("is not a token this server issued for this read, or it was altered")
    })?;
    let cursor: Cursor =
        serde_json::from_slice(&payload).map_err(|_| invalid("is not readable"))?;
    if cursor.t != binding.table_id || cursor.r != binding.recipient {
        return Err(invalid("was issued for another table or recipient"));
    }
    if cursor.h != binding.params {
        return Err(invalid(
            "was issued for a request with other parameters; resend the original ones",
        ));
    }
    if now_ms >= cursor.e {
        return Err(invalid("has expired; start the read again"));
    }
    Ok(Some(cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Binding<'static> = Binding {
        table_id: "t1",
        recipient: "r1",
        params: "h1",
    };

    #[test]
    fn round_trips_with_the_same_binding() {
        let s = Signer::from_secret("a-secret-of-enough-length");
        let after = Position::AfterFile("f-1000".into());
        let token = issue(&s, Purpose::QueryPage, B, 7, after.clone(), 0);
        let c = read(&s, Purpose::QueryPage, Some(&token), B, 1)
            .unwrap()
            .unwrap();
        assert_eq!((c.v, c.p), (7, after));
    }

    #[test]
    fn refuses_other_bindings_purposes_and_old_tokens() {
        let s = Signer::from_secret("a-secret-of-enough-length");
        let token = issue(&s, Purpose::QueryPage, B, 7, Position::Start, 0);
        let other_table = Binding {
            table_id: "t2",
            ..B
        };
        let other_params = Binding { params: "h2", ..B };
        let err = |r: ApiResult<Option<Cursor>>| r.unwrap_err().message;
        assert!(
            err(read(&s, Purpose::QueryPage, Some(&token), other_table, 1))
                .contains("another table")
        );
        assert!(
            err(read(&s, Purpose::QueryPage, Some(&token), other_params, 1))
                .contains("other parameters")
        );
        for other in [Purpose::Refresh, Purpose::ChangePage, Purpose::ListPage] {
            assert!(err(read(&s, other, Some(&token), B, 1)).contains("not a token"));
        }
        assert!(
            err(read(
                &s,
                Purpose::QueryPage,
                Some(&token),
                B,
                PAGE_TOKEN_TTL_MS
            ))
            .contains("expired")
        );
        assert!(params_hash(&("a", 1)) != params_hash(&("a", 2)));
        assert_eq!(read(&s, Purpose::QueryPage, Some(""), B, 1).unwrap(), None);
    }
}
