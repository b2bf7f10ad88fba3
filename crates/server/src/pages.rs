//! Query parameters, and paging of list endpoints with stateless signed tokens.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lakeshare_protocol::lists::ListResponse;
use lakeshare_storage::{Purpose, Signer};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

/// The request's query parameters, with typed getters whose errors name the parameter.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Params(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl Params {
    /// These parameters with `name` also given the value of `alias` (Iceberg's `pageSize` is
    /// the listings' `maxResults`).
    #[cfg(feature = "iceberg-catalog")]
    pub fn with_alias(mut self, alias: &str, name: &str) -> Self {
        if let Some(value) = self.get(alias).map(str::to_string) {
            self.0.retain(|(k, _)| k != name);
            self.0.push((name.to_string(), value));
        }
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn i64(&self, name: &str) -> ApiResult<Option<i64>> {
        self.get(name)
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    ApiError::invalid(format!(
                        "parameter '{name}' must be a whole number, got '{v}'"
                    ))
                })
            })
            .transpose()
    }
}

impl Params {
    /// Booleans as clients send them; Python writes `True`/`False`.
    pub fn bool(&self, name: &str) -> ApiResult<Option<bool>> {
        self.get(name)
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid(format!(
                    "parameter '{name}' must be true or false, got '{v}'"
                ))),
            })
            .transpose()
    }
}

/// Page size when the client gives none, and the most one page holds.
const DEFAULT_PAGE: usize = 500;
const MAX_PAGE: usize = 1000;

/// How long a listing's page token stays valid: long enough for any client to page through,
/// short enough that a leaked token does not outlive the listing it was cut from by much.
pub const LIST_TOKEN_TTL_MS: i64 = 24 * 3600 * 1000;

/// Where the next page of a listing starts. Bound to the listing and the recipient, so a token
/// cannot be replayed against another listing or by another recipient.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    l: String,
    r: String,
    o: usize,
    /// Expiry, epoch ms.
    e: i64,
}

/// Cuts one page out of `items` per `maxResults` and `pageToken`.
pub fn paginate<T>(
    items: Vec<T>,
    params: &Params,
    listing: &str,
    recipient: &str,
    signer: &Signer,
) -> ApiResult<ListResponse<T>> {
    paginate_at(
        items,
        params,
        listing,
        recipient,
        signer,
        lakeshare_storage::now_ms(),
    )
}

/// [`paginate`] at `now_ms`, for tests of expiry.
fn paginate_at<T>(
    items: Vec<T>,
    params: &Params,
    listing: &str,
    recipient: &str,
    signer: &Signer,
    now_ms: i64,
) -> ApiResult<ListResponse<T>> {
    let page_size = match params.i64("maxResults")? {
        None => DEFAULT_PAGE,
        Some(n) if n < 0 => {
            return Err(ApiError::invalid(format!(
                "parameter 'maxResults' must not be negative, got {n}"
            )));
        }
        Some(n) => (n as usize).min(MAX_PAGE),
    };
    let start = match params.get("pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => {
            let invalid =
                || ApiError::invalid("parameter 'pageToken' is not a token this listing issued");
            let payload = signer
                .verify(Purpose::ListPage, token)
                .map_err(|_| invalid())?;
            let cursor: Cursor = serde_json::from_slice(&payload).map_err(|_| invalid())?;
            if cursor.l != listing || cursor.r != recipient {
                return Err(invalid());
            }
            if now_ms >= cursor.e {
                return Err(ApiError::invalid(
                    "parameter 'pageToken' has expired; list again from the start",
                ));
            }
            cursor.o
        }
    };
    let total = items.len();
    let end = start.saturating_add(page_size).min(total);
    let next_page_token = (end < total).then(|| {
        let cursor = Cursor {
            l: listing.to_string(),
            r: recipient.to_string(),
            o: end,
            e: now_ms + LIST_TOKEN_TTL_MS,
        };
        signer.sign(
            Purpose::ListPage,
            &serde_json::to_vec(&cursor).expect("cursor serialises"),
        )
    });
    Ok(ListResponse {
        items: items
            .into_iter()
            .skip(start)
            .take(end.saturating_sub(start))
            .collect(),
        next_page_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Params {
        Params(
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    #[test]
    fn pages_through_a_listing() {
        let signer = Signer::from_secret("secret-for-tests");
        let items: Vec<u32> = (0..5).collect();
        let first = paginate(
            items.clone(),
            &params("maxResults=2"),
            "shares",
            "r",
            &signer,
        )
        .unwrap();
        assert_eq!(first.items, vec![0, 1]);
        let token = first.next_page_token.unwrap();
        let q = format!("maxResults=2&pageToken={token}");
        let second = paginate(items.clone(), &params(&q), "shares", "r", &signer).unwrap();
        assert_eq!(second.items, vec![2, 3]);
        let q = format!("maxResults=2&pageToken={}", second.next_page_token.unwrap());
        let last = paginate(items.clone(), &params(&q), "shares", "r", &signer).unwrap();
        assert_eq!(last.items, vec![4]);
        assert!(last.next_page_token.is_none());
    }

    #[test]
    fn tokens_are_bound_to_listing_and_recipient() {
        let signer = Signer::from_secret("secret-for-tests");
        let first = paginate(
            vec![1, 2, 3],
            &params("maxResults=1"),
            "shares",
            "r",
            &signer,
        )
        .unwrap();
        let q = format!("pageToken={}", first.next_page_token.unwrap());
        assert!(paginate(vec![1, 2, 3], &params(&q), "schemas/x", "r", &signer).is_err());
        assert!(paginate(vec![1, 2, 3], &params(&q), "shares", "other", &signer).is_err());
        assert!(paginate(vec![1], &params("pageToken=forged"), "shares", "r", &signer).is_err());
    }

    #[test]
    fn list_tokens_expire() {
        let signer = Signer::from_secret("secret-for-tests");
        let first = paginate_at(vec![1, 2], &params("maxResults=1"), "l", "r", &signer, 0).unwrap();
        let q = format!("pageToken={}", first.next_page_token.unwrap());
        let ok = paginate_at(
            vec![1, 2],
            &params(&q),
            "l",
            "r",
            &signer,
            LIST_TOKEN_TTL_MS - 1,
        );
        assert_eq!(ok.unwrap().items, vec![2]);
        let err = paginate_at(
            vec![1, 2],
            &params(&q),
            "l",
            "r",
            &signer,
            LIST_TOKEN_TTL_MS,
        )
        .unwrap_err();
        assert!(err.message.contains("expired"), "{}", err.message);
    }

    #[test]
    fn zero_results_and_bad_values() {
        let signer = Signer::from_secret("secret-for-tests");
        let page = paginate(vec![1, 2], &params("maxResults=0"), "l", "r", &signer).unwrap();
        assert!(page.items.is_empty());
        assert!(page.next_page_token.is_some());
        let err = paginate(vec![1], &params("maxResults=-1"), "l", "r", &signer).unwrap_err();
        assert!(err.message.contains("maxResults"));
        let err = paginate(vec![1], &params("maxResults=ten"), "l", "r", &signer).unwrap_err();
        assert!(err.message.contains("'ten'"));
    }

    #[test]
    fn booleans_are_case_insensitive() {
        assert_eq!(params("x=True").bool("x").unwrap(), Some(true));
        assert_eq!(params("x=FALSE").bool("x").unwrap(), Some(false));
        assert!(params("x=yes").bool("x").is_err());
    }
}
