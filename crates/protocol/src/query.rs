//! The body of `POST …/query`.

use serde::Deserialize;

/// Every field is optional and an empty body `{}` is a valid request. Unknown fields are ignored
/// so newer clients keep working; fields of the wrong type are a malformed request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryRequest {
    /// Legacy SQL predicates, AND-ed; best effort.
    pub predicate_hints: Option<Vec<String>>,
    /// A JSON predicate tree, sent as a string; best effort.
    pub json_predicate_hints: Option<String>,
    pub limit_hint: Option<i64>,
    pub version: Option<i64>,
    pub timestamp: Option<String>,
    pub starting_version: Option<i64>,
    pub ending_version: Option<i64>,
    pub max_files: Option<i32>,
    pub page_token: Option<String>,
    pub include_refresh_token: Option<bool>,
    pub refresh_token: Option<String>,
    #[serde(alias = "idempotency_key")]
    pub idempotency_key: Option<String>,
}

/// `{"queryStatus":{"queryId":…,"status":"pending"}}`: an asynchronous query's answer until
/// its files are ready; the client polls `POST …/queries/{queryId}`.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryStatusLine<'a> {
    pub query_status: QueryStatus<'a>,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryStatus<'a> {
    pub query_id: &'a str,
    pub status: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_is_a_valid_request() {
        let q: QueryRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(q, QueryRequest::default());
    }

    #[test]
    fn reads_the_fields_clients_send() {
        let q: QueryRequest = serde_json::from_str(
            r#"{"jsonPredicateHints":"{\"op\":\"isNull\"}","limitHint":10,"version":3,"idempotency_key":"k","extra":1}"#,
        )
        .unwrap();
        assert_eq!(q.limit_hint, Some(10));
        assert_eq!(q.version, Some(3));
        assert_eq!(q.idempotency_key.as_deref(), Some("k"));
    }

    #[test]
    fn wrong_types_are_rejected() {
        assert!(serde_json::from_str::<QueryRequest>(r#"{"version":"three"}"#).is_err());
        assert!(
            serde_json::from_str::<QueryRequest>(r#"{"jsonPredicateHints":{"op":"x"}}"#).is_err()
        );
    }
}
