//! Bodies of the list and get endpoints. Each is sent as one compact JSON line.

use serde::{Deserialize, Serialize};

/// A page of a listing. `next_page_token` is omitted on the last page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Share {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `GET /shares/{share}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetShareResponse {
    pub share: Share,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub name: String,
    pub share: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    pub name: String,
    pub schema: String,
    pub share: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The table root; given only with directory access, which needs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `url` (the query API) always; `dir` when temporary credentials can be vended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_modes: Option<Vec<String>>,
    /// License, provenance, risk labels and the rest; clients that do not know it ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governance: Option<lakeshare_model::Governance>,
}

/// `POST …/temporary-table-credentials`: credentials for directory access to `location`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporaryTableCredentialsResponse {
    pub credentials: TableCredentials,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableCredentials {
    pub location: String,
    pub aws_temp_credentials: AwsTempCredentials,
    /// Epoch milliseconds.
    pub expiration_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsTempCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Where the credentials work, when that is not AWS itself (the gateway's built-in S3
    /// endpoint, an S3-compatible store): a lakeshare extension clients without it ignore,
    /// and which a client must otherwise be configured with.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub endpoint: Option<String>,
}

/// The optional body of `POST …/temporary-table-credentials`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemporaryTableCredentialsRequest {
    #[serde(default)]
    pub location: Option<String>,
}

/// `GET …/tables/{table}` (OpenSharing): a table with the format that tells the client which
/// API family to read it with (its format's name, as OpenSharing lists it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableWithFormat {
    #[serde(flatten)]
    pub table: Table,
    pub format: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_page_has_no_token() {
        let page = ListResponse {
            items: vec![Schema {
                name: "s".into(),
                share: "sh".into(),
            }],
            next_page_token: None,
        };
        assert_eq!(
            serde_json::to_string(&page).unwrap(),
            r#"{"items":[{"name":"s","share":"sh"}]}"#
        );
    }
}
