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

/// RFC 6749 §5.2 error codes this endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OAuthError {
    InvalidRequest,
    InvalidClient,
    UnsupportedGrantType,
}

/// A refusal: its code and what was wrong.
struct Refusal {
    error: OAuthError,
    description: String,
}

impl Refusal {
    fn new(error: OAuthError, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
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
            // The scheme this endpoint takes (RFC 6749 §5.2), whichever the client tried.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"lakeshare\""),
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
pub async fn token(
    State(app): State<App>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match issue(&app, &extensions, &headers, &body) {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

fn issue(
    app: &App,
    extensions: &axum::http::Extensions,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Refusal> {
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
        Some(_) => {
            return Err(Refusal::new(
                OAuthError::UnsupportedGrantType,
                "only grant_type=client_credentials is supported",
            ));
        }
    }
    let in_body = (params.get("client_id")?, params.get("client_secret")?);
    // Each candidate is a (client id, secret) to try: HTTP Basic parts are form-encoded
    // (RFC 6749 §2.3.1), but some clients (the Python connector) send them as they are.
    let candidates: Vec<(String, String)> = match (basic_credentials(headers)?, in_body) {
        (Some(_), (_, Some(_))) => {
            return Err(Refusal::new(
                OAuthError::InvalidRequest,
                "the client authenticated twice (HTTP Basic and the request body); use one",
            ));
        }
        (Some(basic), (Some(id), None)) if basic.iter().all(|(b, _)| b != id) => {
            return Err(Refusal::new(
                OAuthError::InvalidRequest,
                "client_id in the body is not the client of the Authorization header",
            ));
        }
        (Some(basic), _) => basic,
        (None, (Some(id), Some(secret))) => vec![(id.to_string(), secret.to_string())],
        (None, _) => {
            return Err(Refusal::new(
                OAuthError::InvalidClient,
                "no client credentials: send client_id and client_secret by HTTP Basic or in the body",
            ));
        }
    };
    let now = lakeshare_storage::now_ms();
    let (client_id, (token, expires_in, recipient)) = candidates
        .iter()
        .find_map(|(id, secret)| {
            let issued = app.recipients().issue(id, secret, now).ok()?;
            Some((id.clone(), issued))
        })
        .ok_or_else(|| {
            Refusal::new(
                OAuthError::InvalidClient,
                "unknown client or wrong client secret",
            )
        })?;
    app.audit().record(
        "token_issued",
        crate::audit::Caller {
            recipient: Some(&recipient),
            client: crate::client::address_of(extensions, headers, app.config()),
            request_id: &crate::audit::request_id(extensions),
        },
        json!({ "client_id": client_id, "expires_in": expires_in }),
    );
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

/// `Authorization: Basic base64(client_id:client_secret)`, if the request has one: the parts
/// form-decoded (RFC 6749 §2.3.1), then as sent if that differs. Another scheme is no client
/// authentication (pyiceberg renews its token on a session that still sends the old one).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<Vec<(String, String)>>, Refusal> {
    let Some(text) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let Some(encoded) = text
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| encoded)
    else {
        return Ok(None);
    };
    let bad = || {
        Refusal::new(
            OAuthError::InvalidClient,
            "the Authorization header must be `Basic base64(client_id:client_secret)`",
        )
    };
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
    let decoded = (form_decode(id), form_decode(secret));
    let raw = (id.to_string(), secret.to_string());
    Ok(Some(if decoded == raw {
        vec![decoded]
    } else {
        vec![decoded, raw]
    }))
}
