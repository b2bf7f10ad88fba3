//! `lakeshare check`'s probe of a store: can it list, and does it accept the URLs it signs.

use super::*;

impl Store {
    /// Whether the store answers and the credentials can list and sign: one line per aspect,
    /// for `lakeshare check`.
    pub async fn check(&self) -> Vec<(&'static str, std::result::Result<String, String>)> {
        let listed = tokio::time::timeout(self.timeout, async {
            let mut listing = self.client.list(None);
            let mut seen = 0usize;
            while seen < 10 {
                match listing.try_next().await {
                    Ok(Some(_)) => seen += 1,
                    Ok(None) => break,
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(if seen == 10 {
                "listed the bucket (10+ objects)".to_string()
            } else {
                format!("listed the bucket ({seen} objects)")
            })
        })
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.timeout)));
        let signed = self.check_signing().await;
        vec![("list", listed), ("sign", signed)]
    }
}

impl Store {
    /// Signs a URL for an object that does not exist and fetches it: a 404 means the store
    /// accepted the signature, a 403 that it refused it. The URL names the public endpoint, which
    /// the gateway may not reach; that is reported, not failed.
    async fn check_signing(&self) -> std::result::Result<String, String> {
        let key = Path::from(format!("lakeshare-check-{}", now_ms()));
        let urls = self
            .sign_now(&[key], Duration::from_secs(60))
            .await
            .map_err(|e| e.to_string())?;
        let url = &urls[0].url;
        let origin = Url::parse(url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let client = self.http_client().map_err(|e| e.to_string())?;
        match client.get(url).send().await {
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => Ok(format!(
                "signs URLs for {origin}, and the store accepts them"
            )),
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                let code = crate::vending::parse_error(&body)
                    .map(|(code, _)| code)
                    .unwrap_or_default();
                Err(format!(
                    "the store refused a URL signed for {origin} with these credentials ({status} {code})"
                ))
            }
            // Not a failure: the gateway need not reach the address recipients use.
            Err(e) => Ok(format!(
                "signs URLs for {origin}; not tried, as this host cannot reach it ({e})"
            )),
        }
    }
}
