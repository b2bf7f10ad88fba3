//! The Iceberg REST catalog's bodies, as the spec names their fields, for the read-only subset
//! recipients use.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// The operations the catalog serves, in the exact form clients match `endpoints` against
/// (pyiceberg and Java compare these strings literally).
pub const ENDPOINTS: &[&str] = &[
    "GET /v1/{prefix}/namespaces",
    "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}",
    "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}/credentials",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
];

/// `GET /v1/config`.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigResponse {
    pub defaults: BTreeMap<String, String>,
    pub overrides: BTreeMap<String, String>,
    pub endpoints: Vec<String>,
}

/// `GET /v1/{prefix}/namespaces`.
#[derive(Debug, Clone, Serialize)]
pub struct ListNamespacesResponse {
    pub namespaces: Vec<Vec<String>>,
    /// Absent on the last page: clients loop while it is present, and an empty string would
    /// make some of them ask again forever.
    #[serde(rename = "next-page-token", skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `GET /v1/{prefix}/namespaces/{namespace}`.
#[derive(Debug, Clone, Serialize)]
pub struct GetNamespaceResponse {
    pub namespace: Vec<String>,
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableIdentifier {
    pub namespace: Vec<String>,
    pub name: String,
}

/// `GET /v1/{prefix}/namespaces/{namespace}/tables`.
#[derive(Debug, Clone, Serialize)]
pub struct ListTablesResponse {
    pub identifiers: Vec<TableIdentifier>,
    #[serde(rename = "next-page-token", skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// Storage settings for the files under `prefix`, as Iceberg FileIO properties.
#[derive(Debug, Clone, Serialize)]
pub struct StorageCredential {
    pub prefix: String,
    pub config: BTreeMap<String, String>,
}

/// `GET /v1/{prefix}/namespaces/{namespace}/tables/{table}`.
#[derive(Debug, Clone, Serialize)]
pub struct LoadTableResult {
    #[serde(rename = "metadata-location")]
    pub metadata_location: String,
    pub metadata: Value,
    /// The credentials again, for clients that read only `config` (pyiceberg before 0.12,
    /// iceberg-rust).
    pub config: BTreeMap<String, String>,
    #[serde(rename = "storage-credentials")]
    pub storage_credentials: Vec<StorageCredential>,
}

/// `GET /v1/{prefix}/namespaces/{namespace}/tables/{table}/credentials`.
#[derive(Debug, Clone, Serialize)]
pub struct LoadCredentialsResponse {
    #[serde(rename = "storage-credentials")]
    pub storage_credentials: Vec<StorageCredential>,
}

/// Iceberg's error body: `{"error": {message, type, code}}`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorResponse {
    pub error: ErrorModel,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorModel {
    pub message: String,
    /// The exception name Java clients map to their own (`NoSuchTableException`, …).
    #[serde(rename = "type")]
    pub kind: String,
    pub code: u16,
}
