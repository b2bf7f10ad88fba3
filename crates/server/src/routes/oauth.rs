//! The OAuth 2.0 token endpoint (RFC 6749 §4.4, the `client_credentials` grant), for recipients
//! configured with a client (`oauth: {client_id, client_secret_sha256}`): the Delta Sharing
//! connector's `oauth_client_credentials` profiles call it at `{endpoint}/oauth/token`, Iceberg
//! clients given a `credential` at `{icebergEndpoint}v1/oauth/tokens`. Both get the same
//! short-lived access tokens ([`crate::auth`]), which every route accepts as bearer tokens.
//!
//! Errors follow RFC 6749 §5.2 (`{error, error_description}`), not the sharing API's shape:
//! that is what OAuth clients parse.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use crate::app::App;
use crate::auth::ClientRefused;

/// RFC 6749 §5.2 error codes this endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OAuthError {
    InvalidRequest,
    InvalidClient,
    UnsupportedGrantType,
}

/// A refusal: its code, what was wrong, and whether the client authenticated with HTTP Basic
/// (whose refusal must name the scheme in `WWW-Authenticate`).
struct Refusal {
    error: OAuthError,
    description: String,
    basic: bool,
}

impl Refusal {
    fn new(error: OAuthError, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            basic: false,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, code) = match self.error {
            OAuthError::InvalidRequest => (StatusCode::BAD_REQUEST, "invalid_request"),
            OAuthError::InvalidClient => (StatusCode::UNAUTHORIZED, "invalid_client"),
            OAuthError::UnsupportedGrantType => (StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        };
        let body = json!({"error": code, "error_description": self.description});
        let mut response = (status, no_store(), axum::Json(body)).into_response();
        if self.error == OAuthError::InvalidClient {
            let challenge = if self.basic {
                "Basic realm=\"lakeshare\""
            } else {
                "Bearer realm=\"lakeshare\""
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// Token answers must not be cached (RFC 6749 §5.1).
fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// `POST {prefix}/oauth/token` and `POST {prefix}/iceberg/v1/oauth/tokens`.
pub async fn token(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    match issue(&app, &headers, &body) {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

fn issue(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<Response, Refusal> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form {
        return Err(Refusal::new(
            OAuthError::InvalidRequest,
            "the request must be a form (Content-Type: application/x-www-form-urlencoded)",
        ));
    }
    let params = Params::parse(body)?;
    match params.get("grant_type")? {
        None => {
            return Err(Refusal::new(
                OAuthError::InvalidRequest,
                "grant_type is missing",
            ));
        }
        Some("client_credentials") => {}
        Some(other) => {
            return Err(Refusal::new(
                OAuthError::UnsupportedGrantType,
                format!("grant_type '{other}' is not supported; use client_credentials"),
            ));
        }
    }
    let basic = basic_credentials(headers)?;
    let in_body = (params.get("client_id")?, params.get("client_secret")?);
    let used_basic = basic.is_some();
    let (client_id, secret) = match (basic, in_body) {
        (Some(_), (Some(_), _) | (_, Some(_))) => {
            return Err(Refusal::new(
                OAuthError::InvalidRequest,
                "the client authenticated twice (HTTP Basic and the request body); use one",
            ));
        }
        (Some((id, secret)), _) => (id, secret),
        (None, (Some(id), Some(secret))) => (id.to_string(), secret.to_string()),
        (None, _) => {
            return Err(Refusal::new(
                OAuthError::InvalidClient,
                "no client credentials: send client_id and client_secret by HTTP Basic or in the body",
            ));
        }
    };
    let (token, expires_in) = app
        .recipients()
        .issue(&client_id, &secret, lakeshare_storage::now_ms())
        .map_err(|ClientRefused::InvalidClient| Refusal {
            error: OAuthError::InvalidClient,
            description: "unknown client or wrong client secret".into(),
            basic: used_basic,
        })?;
    tracing::info!(target: "lakeshare::audit", client_id = %client_id, "oauth access token issued");
    let body = json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
    });
    Ok((StatusCode::OK, no_store(), axum::Json(body)).into_response())
}

/// The form's parameters; each may appear once (RFC 6749 §3.2).
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(body: &[u8]) -> Result<Self, Refusal> {
        Ok(Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }

    fn get(&self, name: &str) -> Result<Option<&str>, Refusal> {
        let mut values = self.0.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(Refusal::new(
                OAuthError::InvalidRequest,
                format!("{name} is given more than once"),
            ));
        }
        Ok(first)
    }
}

/// `Authorization: Basic base64(client_id:client_secret)`, each part form-encoded (RFC 6749
/// §2.3.1), if the request has one.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || Refusal {
        error: OAuthError::InvalidClient,
        description: "the Authorization header must be `Basic base64(client_id:client_secret)`"
            .into(),
        basic: true,
    };
    let text = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let form_decode = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((form_decode(id), form_decode(secret))))
}
