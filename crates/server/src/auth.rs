//! Bearer tokens → recipients.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use lakeshare_catalog::TokenHash;
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::error::ApiError;

/// The recipient a request was authenticated as.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub name: Arc<str>,
    /// Lower-cased names of the granted shares.
    pub shares: Arc<[String]>,
    /// When the recipient's token stops working, epoch milliseconds.
    pub expires_at_ms: Option<i64>,
}

impl Recipient {
    pub fn may_read(&self, share: &str) -> bool {
        self.shares.iter().any(|s| s.eq_ignore_ascii_case(share))
    }
}

/// The recipients known to the server, by token hash.
#[derive(Debug)]
pub struct Recipients {
    entries: Vec<(TokenHash, Option<i64>, Recipient)>,
}

impl Recipients {
    pub fn from_config(recipients: &[lakeshare_catalog::Recipient]) -> Self {
        Self {
            entries: recipients
                .iter()
                .map(|r| {
                    (
                        *r.token_hash(),
                        r.expires_at_ms(),
                        Recipient {
                            name: r.name.as_str().into(),
                            shares: r.shares.iter().map(|s| s.to_lowercase()).collect(),
                            expires_at_ms: r.expires_at_ms(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// The recipient holding `token`. Every entry is compared, each in constant time, so the
    /// time taken says nothing about which token (or how much of one) matched.
    pub fn authenticate(&self, token: &str, now_ms: i64) -> Result<&Recipient, ApiError> {
        let presented = TokenHash::of(token);
        let mut found = None;
        for (hash, expires, recipient) in &self.entries {
            if bool::from(hash.0.ct_eq(&presented.0)) {
                found = Some((expires, recipient));
            }
        }
        match found {
            Some((Some(expires), _)) if now_ms >= *expires => {
                Err(ApiError::unauthenticated("the bearer token has expired"))
            }
            Some((_, recipient)) => Ok(recipient),
            None => Err(ApiError::unauthenticated("the bearer token is not valid")),
        }
    }
}

impl FromRequestParts<App> for Recipient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)?;
        app.recipients()
            .authenticate(token, lakeshare_storage::now_ms())
            .cloned()
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

    fn recipients() -> Recipients {
        let config = lakeshare_catalog::Config::from_yaml(
            r#"
shares: [{ name: a }, { name: b }]
recipients:
  - { name: one, token: "token-one-0123456789", shares: [A] }
  - { name: two, token: "token-two-0123456789", shares: [b], expires_at: "2001-01-01T00:00:00Z" }
"#,
            std::path::Path::new("/"),
        )
        .unwrap();
        Recipients::from_config(&config.recipients)
    }

    #[test]
    fn finds_the_recipient_of_a_token() {
        let r = recipients();
        let one = r.authenticate("token-one-0123456789", 0).unwrap();
        assert_eq!(&*one.name, "one");
        assert!(one.may_read("a") && one.may_read("A") && !one.may_read("b"));
    }

    #[test]
    fn unknown_and_expired_tokens_are_refused() {
        let r = recipients();
        assert!(r.authenticate("token-one-012345678", 0).is_err());
        let expired = r
            .authenticate("token-two-0123456789", 978_307_200_000)
            .unwrap_err();
        assert!(expired.message.contains("expired"));
        assert!(
            r.authenticate("token-two-0123456789", 978_307_199_999)
                .is_ok()
        );
    }
}
