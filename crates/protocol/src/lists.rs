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
}

/// `GET …/tables/{table}` (OpenSharing): a table with the format that tells the client which
/// API family to read it with (`delta` or `iceberg`).
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
