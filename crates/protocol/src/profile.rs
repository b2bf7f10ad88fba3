//! Recipient profile files (`*.share`), the credentials a recipient loads into a client.

use serde::{Deserialize, Serialize};

/// A version 1 profile: endpoint plus bearer token. Version 1 is the only version on which the
/// Python and Spark clients accept bearer tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub share_credentials_version: u32,
    pub endpoint: String,
    /// OpenSharing's Iceberg REST catalog of the same shares, for Iceberg-only engines.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub iceberg_endpoint: Option<String>,
    pub bearer_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
}

impl Profile {
    pub fn bearer(endpoint: impl Into<String>, bearer_token: impl Into<String>) -> Self {
        Self {
            share_credentials_version: 1,
            endpoint: endpoint.into(),
            iceberg_endpoint: None,
            bearer_token: bearer_token.into(),
            expiration_time: None,
        }
    }

    /// The profile naming the Iceberg REST catalog the gateway serves beside the sharing API
    /// (`{endpoint}/iceberg/`), for builds that serve one.
    pub fn with_iceberg_catalog(mut self) -> Self {
        self.iceberg_endpoint = Some(iceberg_endpoint(&self.endpoint));
        self
    }

    /// The profile as the pretty JSON file recipients receive.
    pub fn to_file_contents(&self) -> String {
        file_contents(self)
    }
}

/// A version 2 profile of type `oauth_client_credentials`: the connector exchanges the client
/// id and secret at `tokenEndpoint` for short-lived access tokens (Python connector 1.4 and
/// later, Spark).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthProfile {
    pub share_credentials_version: u32,
    #[serde(rename = "type")]
    pub kind: String,
    pub endpoint: String,
    pub token_endpoint: String,
    pub client_id: String,
    pub client_secret: String,
    /// OpenSharing's Iceberg REST catalog of the same shares, for Iceberg-only engines.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub iceberg_endpoint: Option<String>,
}

impl OAuthProfile {
    pub fn client_credentials(
        endpoint: impl Into<String>,
        token_endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            share_credentials_version: 2,
            kind: "oauth_client_credentials".into(),
            endpoint: endpoint.into(),
            token_endpoint: token_endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            iceberg_endpoint: None,
        }
    }

    /// See [`Profile::with_iceberg_catalog`].
    pub fn with_iceberg_catalog(mut self) -> Self {
        self.iceberg_endpoint = Some(iceberg_endpoint(&self.endpoint));
        self
    }

    /// The profile as the pretty JSON file recipients receive.
    pub fn to_file_contents(&self) -> String {
        file_contents(self)
    }
}

/// A profile as the pretty JSON file recipients receive.
fn file_contents(profile: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(profile).expect("profiles always serialise");
    text.push('\n');
    text
}

/// The Iceberg REST catalog's base URL for the sharing API at `endpoint`.
pub fn iceberg_endpoint(endpoint: &str) -> String {
    format!("{}/iceberg/", endpoint.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_version_one_bearer_profile() {
        let p =
            Profile::bearer("http://127.0.0.1:8080/delta-sharing", "tok").with_iceberg_catalog();
        let v: serde_json::Value = serde_json::from_str(&p.to_file_contents()).unwrap();
        assert_eq!(v["shareCredentialsVersion"], 1);
        assert_eq!(v["endpoint"], "http://127.0.0.1:8080/delta-sharing");
        assert_eq!(v["bearerToken"], "tok");
        assert_eq!(
            v["icebergEndpoint"],
            "http://127.0.0.1:8080/delta-sharing/iceberg/"
        );
        assert!(v.get("expirationTime").is_none());
        let plain = Profile::bearer("http://h/delta-sharing", "tok").to_file_contents();
        assert!(!plain.contains("icebergEndpoint"));
    }

    #[test]
    fn writes_a_version_two_client_credentials_profile() {
        let p = OAuthProfile::client_credentials(
            "http://h/delta-sharing",
            "http://h/delta-sharing/oauth/token",
            "app",
            "secret",
        );
        let v: serde_json::Value = serde_json::from_str(&p.to_file_contents()).unwrap();
        assert_eq!(v["shareCredentialsVersion"], 2);
        assert_eq!(v["type"], "oauth_client_credentials");
        assert_eq!(v["tokenEndpoint"], "http://h/delta-sharing/oauth/token");
        assert_eq!(
            (&v["clientId"], &v["clientSecret"]),
            (&"app".into(), &"secret".into())
        );
    }
}
