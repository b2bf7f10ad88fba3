//! Temporary credentials for directory access: an STS `AssumeRole` whose session policy narrows
//! the role to reading one table's prefix.
//!
//! The request is signed with the store's own credentials (static or from the provider chain,
//! as object_store resolved them), so vending needs nothing beyond the `sts:` entry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use object_store::path::Path;
use sha2::{Digest, Sha256};

use crate::store::Store;
use crate::{Error, Result};

/// Credentials a recipient can read a table's prefix with until `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expires_at_ms: i64,
}

impl Store {
    /// Whether [`Store::vend`] can work for this store: S3 with an `sts:` entry.
    pub fn vends_credentials(&self) -> bool {
        self.s3_client().is_some() && self.config().sts.is_some()
    }

    /// Read-only credentials scoped to the table at `table_url` (a URL of this store).
    pub async fn vend(&self, table_url: &str) -> Result<TemporaryCredentials> {
        let unsupported = || Error::Unsupported {
            url: table_url.to_string(),
            reason: format!(
                "store '{}' does not vend credentials: only S3 stores with an `sts:` entry do",
                self.name()
            ),
        };
        let (Some(s3), Some(sts)) = (self.s3_client(), self.config().sts.as_ref()) else {
            return Err(unsupported());
        };
        let prefix = self.key_of(table_url)?;
        let bucket = self.config().bucket.clone().unwrap_or_default();
        let failed = |reason: String| Error::Store {
            store: self.name().to_string(),
            reason,
        };
        let caller = s3
            .credentials()
            .get_credential()
            .await
            .map_err(|e| failed(format!("no credentials to call STS with: {e}")))?;
        let endpoint = sts
            .endpoint
            .clone()
            .or_else(|| self.config().endpoint.clone())
            .unwrap_or_else(|| format!("https://sts.{}.amazonaws.com", self.region()));
        let session = format!("lakeshare-{}", chrono::Utc::now().timestamp_millis());
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "AssumeRole")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", &sts.role_arn)
            .append_pair("RoleSessionName", &session)
            .append_pair("DurationSeconds", &sts.duration_seconds.to_string())
            .append_pair("Policy", &read_only_policy(&bucket, &prefix))
            .finish();
        let url = url::Url::parse(&endpoint).map_err(|e| failed(format!("STS endpoint: {e}")))?;
        let request = SigV4Request {
            url: &url,
            body: body.as_bytes(),
            region: self.region(),
            service: "sts",
            key_id: &caller.key_id,
            secret: &caller.secret_key,
            token: caller.token.as_deref(),
            now: Utc::now(),
        };
        let client = reqwest::Client::builder()
            .timeout(self.timeout())
            .connect_timeout(self.timeout().min(Duration::from_secs(5)))
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let mut builder = client.post(url.clone()).body(body.clone());
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| failed(format!("STS at {endpoint} unreachable: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| failed(format!("reading the STS answer: {e}")))?;
        if !status.is_success() {
            let code = xml_text(&text, "Code").unwrap_or("?");
            let message = xml_text(&text, "Message").unwrap_or(text.trim());
            return Err(failed(format!(
                "STS refused AssumeRole of {} ({status}): {code}: {message}",
                sts.role_arn
            )));
        }
        parse_assume_role(&text).map_err(failed)
    }

    fn region(&self) -> &str {
        self.config().region.as_deref().unwrap_or("us-east-1")
    }
}

/// A session policy allowing reads of the objects under `prefix` and listings of that prefix.
fn read_only_policy(bucket: &str, prefix: &Path) -> String {
    let prefix = prefix.as_ref();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [format!("arn:aws:s3:::{bucket}/{prefix}/*")],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [format!("arn:aws:s3:::{bucket}")],
                "Condition": { "StringLike": { "s3:prefix": [prefix.to_string(), format!("{prefix}/*")] } },
            },
        ],
    })
    .to_string()
}

fn parse_assume_role(xml: &str) -> std::result::Result<TemporaryCredentials, String> {
    let field = |tag: &str| {
        xml_text(xml, tag)
            .map(str::to_string)
            .ok_or_else(|| format!("the STS answer has no <{tag}>"))
    };
    let expiration = field("Expiration")?;
    let expires_at_ms = DateTime::parse_from_rfc3339(&expiration)
        .map_err(|e| format!("STS expiration '{expiration}': {e}"))?
        .timestamp_millis();
    Ok(TemporaryCredentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: field("SessionToken")?,
        expires_at_ms,
    })
}

/// The text of the first `<tag>…</tag>` in an STS answer (flat, unescaped values: keys,
/// tokens, times, error codes).
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].trim())
}

/// An AWS Signature Version 4 signed POST of a form body (the STS query API).
struct SigV4Request<'a> {
    url: &'a url::Url,
    body: &'a [u8],
    region: &'a str,
    service: &'a str,
    key_id: &'a str,
    secret: &'a str,
    token: Option<&'a str>,
    now: DateTime<Utc>,
}

impl SigV4Request<'_> {
    const CONTENT_TYPE: &'static str = "application/x-www-form-urlencoded; charset=utf-8";

    /// The headers to send: content type, date, token and authorization.
    fn headers(&self) -> Vec<(&'static str, String)> {
        let amz_date = self.now.format("%Y%m%dT%H%M%SZ").to_string();
        let date = self.now.format("%Y%m%d").to_string();
        let host = match self.url.port() {
            Some(port) => format!("{}:{port}", self.url.host_str().unwrap_or_default()),
            None => self.url.host_str().unwrap_or_default().to_string(),
        };
        let mut canonical_headers = vec![
            ("content-type", Self::CONTENT_TYPE.to_string()),
            ("host", host),
            ("x-amz-date", amz_date.clone()),
        ];
        if let Some(token) = self.token {
            canonical_headers.push(("x-amz-security-token", token.to_string()));
        }
        let signed_headers = canonical_headers
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(";");
        let canonical_request = format!(
            "POST\n{}\n\n{}\n{signed_headers}\n{}",
            self.url.path(),
            canonical_headers
                .iter()
                .map(|(k, v)| format!("{k}:{}\n", v.trim()))
                .collect::<String>(),
            hex::encode(Sha256::digest(self.body)),
        );
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let mut key = hmac(format!("AWS4{}", self.secret).as_bytes(), date.as_bytes());
        for part in [self.region, self.service, "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        let mut headers = vec![
            ("content-type", Self::CONTENT_TYPE.to_string()),
            ("x-amz-date", amz_date),
            (
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                    self.key_id
                ),
            ),
        ];
        if let Some(token) = self.token {
            headers.push(("x-amz-security-token", token.to_string()));
        }
        headers
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real check is the STS of the end-to-end tests, which verifies these signatures.
    #[test]
    fn signatures_have_the_sigv4_shape_and_cover_the_body() {
        let url = url::Url::parse("https://example.amazonaws.com/").unwrap();
        let request = SigV4Request {
            url: &url,
            body: b"Param1=value1",
            region: "us-east-1",
            service: "service",
            key_id: "AKIDEXAMPLE",
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token: None,
            now: DateTime::parse_from_rfc3339("2015-08-30T12:36:00Z")
                .unwrap()
                .with_timezone(&Utc),
        };
        let headers = request.headers();
        let auth = &headers
            .iter()
            .find(|(k, _)| *k == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="),
            "{auth}"
        );
        let signature = auth.rsplit('=').next().unwrap();
        assert_eq!(signature.len(), 64);
        // Deterministic: the same request signs the same way, and any change alters it.
        assert_eq!(request.headers(), headers);
        let other = SigV4Request {
            body: b"Param1=value2",
            ..request
        };
        assert_ne!(other.headers(), headers);
    }

    #[test]
    fn the_policy_reads_only_the_table() {
        let policy: serde_json::Value =
            serde_json::from_str(&read_only_policy("lake", &Path::from("sales/orders"))).unwrap();
        assert_eq!(
            policy["Statement"][0]["Resource"][0],
            "arn:aws:s3:::lake/sales/orders/*"
        );
        assert_eq!(policy["Statement"][0]["Action"][0], "s3:GetObject");
        assert_eq!(
            policy["Statement"][1]["Condition"]["StringLike"]["s3:prefix"][1],
            "sales/orders/*"
        );
    }

    #[test]
    fn parses_assume_role_answers() {
        let xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials>\
            <AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s3cr3t</SecretAccessKey>\
            <SessionToken>tok</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>\
            </Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let creds = parse_assume_role(xml).unwrap();
        assert_eq!(creds.access_key_id, "ASIAX");
        assert_eq!(creds.session_token, "tok");
        assert_eq!(creds.expires_at_ms, 1_893_456_000_000);
        assert!(
            parse_assume_role("<x/>")
                .unwrap_err()
                .contains("no <Expiration>")
        );
    }
}
