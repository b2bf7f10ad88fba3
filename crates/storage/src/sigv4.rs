//! AWS Signature Version 4 for a POST with a form body: what the STS query API needs.
//!
//! object_store signs its own requests but exposes no general signer, so the one request the
//! gateway makes outside it (STS `AssumeRole`) is signed here.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The form content type STS expects.
pub(crate) const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// A POST to sign.
pub(crate) struct SigV4Post<'a> {
    pub url: &'a url::Url,
    pub content_type: &'a str,
    pub body: &'a [u8],
    pub region: &'a str,
    pub service: &'a str,
    pub key_id: &'a str,
    pub secret: &'a str,
    pub token: Option<&'a str>,
    pub now: DateTime<Utc>,
}

impl SigV4Post<'_> {
    /// The headers to send besides the host: content type, date, token and authorization.
    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        let amz_date = self.now.format("%Y%m%dT%H%M%SZ").to_string();
        let date = self.now.format("%Y%m%d").to_string();
        // As the HTTP client will send it: no port when it is the scheme's default.
        let host = match self.url.port() {
            Some(port) => format!("{}:{port}", self.url.host_str().unwrap_or_default()),
            None => self.url.host_str().unwrap_or_default().to_string(),
        };
        let mut canonical_headers = vec![
            ("content-type", self.content_type.to_string()),
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
            ("content-type", self.content_type.to_string()),
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

    fn signature(content_type: &str) -> String {
        let url = url::Url::parse("https://example.amazonaws.com/").unwrap();
        let request = SigV4Post {
            url: &url,
            content_type,
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
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature="
        ));
        auth.rsplit('=').next().unwrap().to_string()
    }

    /// The `post-x-www-form-urlencoded` case of AWS's Signature Version 4 test suite.
    #[test]
    fn matches_the_aws_test_suite() {
        assert_eq!(
            signature("application/x-www-form-urlencoded"),
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );
    }

    /// The same request with the content type sent to STS, as botocore signs it.
    #[test]
    fn matches_botocore_for_the_sts_content_type() {
        assert_eq!(
            signature(FORM),
            "2f3b42f35f135abf9c562afcbbc44fc03df96dcfd4332ecebad8b39a7d4b6125"
        );
    }
}
