//! Temporary credentials for directory access: an STS `AssumeRole` whose session policy narrows
//! the role to reading one table's prefix (and, for an Iceberg table generated from it, the
//! prefix of its generated metadata).
//!
//! The request is signed with the store's own credentials (static or from the provider chain,
//! as object_store resolved them), so vending needs nothing beyond the `sts:` entry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::path::Path;
use secrecy::SecretString;

use crate::sigv4::{self, SigV4Post};
use crate::store::Store;
use crate::{Error, Result, now_ms};

/// Credentials a recipient can read a table's prefix with until `expires_at_ms`. The secret
/// parts are `SecretString`s, so no `Debug` output or log line can carry them; they are exposed
/// once, where the response body is built.
#[derive(Debug, Clone)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: SecretString,
    pub expires_at_ms: i64,
    /// From minting to expiry, for deciding when to mint again.
    lifetime_ms: i64,
}

/// What a vend is for: the recipient it is minted for names the STS session, so the store's
/// audit trail (CloudTrail and the like) attributes reads; `max_duration` clamps the lifetime,
/// so credentials do not outlive the recipient's own access.
#[derive(Debug, Clone)]
pub struct VendRequest<'a> {
    pub table_url: &'a str,
    /// Further folders of the same store the credentials read (a table's generated metadata).
    pub also: &'a [String],
    pub recipient: &'a str,
    pub max_duration: Option<Duration>,
}

impl Store {
    /// Whether [`Store::vend`] can work for this store: S3 with an `sts:` entry.
    pub fn vends_credentials(&self) -> bool {
        self.s3_client().is_some() && self.config().sts.is_some()
    }

    /// Read-only credentials scoped to the table at `table_url` (a URL of this store). Credentials
    /// minted for the same table and recipient are handed out again while at least half their
    /// lifetime remains, so a chatty client cannot exhaust the account's STS quota.
    pub async fn vend(&self, request: VendRequest<'_>) -> Result<TemporaryCredentials> {
        let folders = std::iter::once(request.table_url)
            .chain(request.also.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("\n");
        let cache_key = (folders, request.recipient.to_string());
        if let Some(cached) = self.vended().get(&cache_key)
            && cached.reusable_at(now_ms())
        {
            return Ok(cached);
        }
        let fresh = self.assume_role(&request).await?;
        self.vended().insert(cache_key, fresh.clone());
        Ok(fresh)
    }

    async fn assume_role(&self, request: &VendRequest<'_>) -> Result<TemporaryCredentials> {
        let unsupported = || Error::Unsupported {
            url: request.table_url.to_string(),
            reason: format!(
                "store '{}' does not vend credentials: only S3 stores with an `sts:` entry do",
                self.name()
            ),
        };
        let (Some(s3), Some(sts)) = (self.s3_client(), self.config().sts.as_ref()) else {
            return Err(unsupported());
        };
        let mut prefixes = vec![self.key_of(request.table_url)?];
        for url in request.also {
            prefixes.push(self.key_of(url)?);
        }
        let bucket = self.config().bucket.clone().unwrap_or_default();
        let unavailable = |reason: String| Error::Store {
            store: self.name().to_string(),
            reason,
        };
        let caller = s3
            .credentials()
            .get_credential()
            .await
            .map_err(|e| unavailable(format!("no credentials to call STS with: {e}")))?;
        let endpoint = sts
            .endpoint
            .clone()
            .or_else(|| self.config().endpoint.clone())
            .unwrap_or_else(|| format!("https://sts.{}.amazonaws.com", self.region()));
        let duration = match request.max_duration {
            // STS refuses less than 15 minutes.
            Some(max) => sts.duration_seconds.min(max.as_secs()).max(900),
            None => sts.duration_seconds,
        };
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "AssumeRole")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", &sts.role_arn)
            .append_pair("RoleSessionName", &session_name(request.recipient))
            .append_pair("DurationSeconds", &duration.to_string())
            .append_pair("Policy", &read_only_policy(&bucket, &prefixes))
            .finish();
        let url =
            url::Url::parse(&endpoint).map_err(|e| unavailable(format!("STS endpoint: {e}")))?;
        let signed = SigV4Post {
            url: &url,
            content_type: sigv4::FORM,
            body: body.as_bytes(),
            region: self.region(),
            service: "sts",
            key_id: &caller.key_id,
            secret: &caller.secret_key,
            token: caller.token.as_deref(),
            now: Utc::now(),
        };
        let mut builder = self.http_client()?.post(url.clone()).body(body.clone());
        for (name, value) in signed.headers() {
            builder = builder.header(name, value);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| unavailable(format!("STS at {endpoint} unreachable: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| unavailable(format!("reading the STS answer: {e}")))?;
        if status.is_server_error() {
            return Err(unavailable(format!("STS answered {status}")));
        }
        if !status.is_success() {
            let (code, message) = parse_error(&text).unwrap_or_default();
            let code = if code.is_empty() {
                "?".to_string()
            } else {
                code
            };
            let message = message.unwrap_or_else(|| text.trim().to_string());
            return Err(Error::Refused {
                store: self.name().to_string(),
                reason: format!(
                    "STS refused AssumeRole of {} ({status}): {code}: {message}",
                    sts.role_arn
                ),
            });
        }
        parse_assume_role(&text).map_err(unavailable)
    }

    pub(crate) fn region(&self) -> &str {
        self.config().region.as_deref().unwrap_or("us-east-1")
    }
}

impl TemporaryCredentials {
    /// Whether these can be handed out again at `now_ms`: at least half their lifetime (counted
    /// from now to expiry when minted) remains, and at least five minutes.
    fn reusable_at(&self, now_ms: i64) -> bool {
        let remaining = self.expires_at_ms - now_ms;
        remaining >= 300_000 && remaining * 2 >= self.lifetime_ms
    }
}

/// `lakeshare-<recipient>`, in the characters STS allows in a session name (2 to 64 of
/// `[\w+=,.@-]`).
fn session_name(recipient: &str) -> String {
    let cleaned: String = recipient
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("lakeshare-{cleaned}").chars().take(64).collect()
}

/// A session policy allowing reads of the objects under `prefixes` and listings of them.
fn read_only_policy(bucket: &str, prefixes: &[Path]) -> String {
    let objects: Vec<String> = prefixes
        .iter()
        .map(|p| format!("arn:aws:s3:::{bucket}/{}/*", p.as_ref()))
        .collect();
    // `{prefix}/`, never the bare prefix: a listing of `sales/events` would also name the
    // keys of `sales/events2/`.
    let listed: Vec<String> = prefixes
        .iter()
        .flat_map(|p| [format!("{}/", p.as_ref()), format!("{}/*", p.as_ref())])
        .collect();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": objects,
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [format!("arn:aws:s3:::{bucket}")],
                "Condition": { "StringLike": { "s3:prefix": listed } },
            },
        ],
    })
    .to_string()
}

/// The parts of an STS `AssumeRole` answer the gateway uses; other elements are ignored.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResponse {
    assume_role_result: AssumeRoleResult,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResult {
    credentials: StsCredentials,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

/// An STS (or S3) error answer: `<ErrorResponse><Error><Code>…` or `<Error><Code>…`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorResponse {
    error: StsError,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsError {
    code: String,
    #[serde(default)]
    message: Option<String>,
}

fn parse_assume_role(xml: &str) -> std::result::Result<TemporaryCredentials, String> {
    let answer: AssumeRoleResponse =
        quick_xml::de::from_str(xml).map_err(|e| format!("the STS answer is not readable: {e}"))?;
    let credentials = answer.assume_role_result.credentials;
    let expiration = credentials.expiration.trim();
    let expires_at_ms = DateTime::parse_from_rfc3339(expiration)
        .map_err(|e| format!("STS expiration '{expiration}': {e}"))?
        .timestamp_millis();
    Ok(TemporaryCredentials {
        access_key_id: credentials.access_key_id.trim().to_string(),
        secret_access_key: credentials.secret_access_key.trim().to_string().into(),
        session_token: credentials.session_token.trim().to_string().into(),
        expires_at_ms,
        lifetime_ms: expires_at_ms - now_ms(),
    })
}

/// The code and message of an STS or S3 error answer, if it is one.
pub(crate) fn parse_error(xml: &str) -> Option<(String, Option<String>)> {
    let error = quick_xml::de::from_str::<ErrorResponse>(xml)
        .map(|r| r.error)
        .or_else(|_| quick_xml::de::from_str::<StsError>(xml))
        .ok()?;
    Some((error.code, error.message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn the_policy_reads_only_the_table() {
        let policy: serde_json::Value =
            serde_json::from_str(&read_only_policy("lake", &[Path::from("sales/orders")])).unwrap();
        assert_eq!(
            policy["Statement"][0]["Resource"][0],
            "arn:aws:s3:::lake/sales/orders/*"
        );
        assert_eq!(policy["Statement"][0]["Action"][0], "s3:GetObject");
        assert_eq!(
            policy["Statement"][1]["Condition"]["StringLike"]["s3:prefix"],
            serde_json::json!(["sales/orders/", "sales/orders/*"])
        );
    }

    #[test]
    fn the_policy_of_a_generated_table_reads_its_metadata_too() {
        let prefixes = [Path::from("sales/orders"), Path::from("cache/1234")];
        let policy: serde_json::Value =
            serde_json::from_str(&read_only_policy("lake", &prefixes)).unwrap();
        assert_eq!(
            policy["Statement"][0]["Resource"],
            serde_json::json!([
                "arn:aws:s3:::lake/sales/orders/*",
                "arn:aws:s3:::lake/cache/1234/*"
            ])
        );
        assert_eq!(
            policy["Statement"][1]["Condition"]["StringLike"]["s3:prefix"],
            serde_json::json!([
                "sales/orders/",
                "sales/orders/*",
                "cache/1234/",
                "cache/1234/*"
            ])
        );
    }

    #[test]
    fn session_names_name_the_recipient_in_the_allowed_characters() {
        assert_eq!(session_name("acme corp/eu"), "lakeshare-acme-corp-eu");
        assert_eq!(session_name(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn credentials_are_reused_for_half_their_life() {
        let creds = |expires_at_ms, lifetime_ms| TemporaryCredentials {
            access_key_id: String::new(),
            secret_access_key: String::new().into(),
            session_token: String::new().into(),
            expires_at_ms,
            lifetime_ms,
        };
        assert!(creds(3_600_000, 3_600_000).reusable_at(0));
        assert!(creds(3_600_000, 3_600_000).reusable_at(1_800_000));
        assert!(!creds(3_600_000, 3_600_000).reusable_at(1_800_001));
        assert!(!creds(900_000, 900_000).reusable_at(700_000));
    }

    #[test]
    fn parses_sts_errors_and_escaped_values() {
        let xml = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>
            <Type>Sender</Type><Code>AccessDenied</Code>
            <Message>User &lt;x&gt; is not authorized</Message></Error>
            <RequestId>r-1</RequestId></ErrorResponse>"#;
        let (code, message) = parse_error(xml).unwrap();
        assert_eq!(code, "AccessDenied");
        assert_eq!(message.as_deref(), Some("User <x> is not authorized"));
        assert!(parse_error("not xml at all").is_none());
        let token_with_entity = "<AssumeRoleResponse><AssumeRoleResult><Credentials>\
            <AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>a&amp;b</SecretAccessKey>\
            <SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>\
            </Credentials><AssumedRoleUser><Arn>x</Arn></AssumedRoleUser></AssumeRoleResult>\
            <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>";
        let creds = parse_assume_role(token_with_entity).unwrap();
        assert_eq!(creds.secret_access_key.expose_secret(), "a&b");
    }

    #[test]
    fn parses_assume_role_answers() {
        let xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials>\
            <AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s3cr3t</SecretAccessKey>\
            <SessionToken>tok</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>\
            </Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let creds = parse_assume_role(xml).unwrap();
        assert_eq!(creds.access_key_id, "ASIAX");
        assert_eq!(creds.session_token.expose_secret(), "tok");
        let shown = format!("{creds:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("\"tok\"") && shown.contains("ASIAX"),
            "{shown}"
        );
        assert_eq!(creds.expires_at_ms, 1_893_456_000_000);
        let incomplete = "<AssumeRoleResponse><AssumeRoleResult><Credentials>\
            <AccessKeyId>A</AccessKeyId></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        assert!(
            parse_assume_role(incomplete)
                .unwrap_err()
                .contains("missing field `SecretAccessKey`")
        );
    }
}
