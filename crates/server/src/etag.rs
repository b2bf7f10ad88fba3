//! Conditional GETs: an ETag on JSON responses recipients poll (skills, listings), and a 304 when
//! the client's copy is still current, so a skill fetched often costs a round trip, not a body.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The body as JSON with a strong ETag derived from its bytes, or 304 Not Modified when
/// `If-None-Match` names that ETag. Deriving it from the bytes makes it change exactly when the
/// response would.
pub(crate) fn json_with_etag(request: &HeaderMap, body: Vec<u8>) -> Response {
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
    let etag_value = HeaderValue::from_str(&etag).expect("hex is a valid header value");
    // Clients must revalidate, since the content can change at any time.
    let cache_control = HeaderValue::from_static("private, no-cache");
    if matches_any(request, &etag) {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag_value),
                (header::CACHE_CONTROL, cache_control),
            ],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(lakeshare_protocol::JSON_CONTENT_TYPE),
            ),
            (header::ETAG, etag_value),
            (header::CACHE_CONTROL, cache_control),
        ],
        body,
    )
        .into_response()
}

/// [`json_with_etag`] for a value to serialise.
pub(crate) fn serialized_with_etag(request: &HeaderMap, value: &impl serde::Serialize) -> Response {
    json_with_etag(
        request,
        serde_json::to_vec(value).expect("response bodies serialise"),
    )
}

/// Whether `If-None-Match` lists `etag` (weakly compared, as RFC 9110 asks for it) or is `*`.
fn matches_any(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(if_none_match: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, if_none_match.parse().unwrap());
        h
    }

    #[test]
    fn a_matching_tag_gets_304_and_another_the_body() {
        let first = json_with_etag(&HeaderMap::new(), b"{}".to_vec());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].to_str().unwrap().to_string();
        let again = json_with_etag(&headers(&format!("\"x\", W/{etag}")), b"{}".to_vec());
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let changed = json_with_etag(&headers(&etag), b"{\"a\":1}".to_vec());
        assert_eq!(changed.status(), StatusCode::OK);
        assert_ne!(changed.headers()[header::ETAG], etag.as_str());
    }
}
