//! What is decided before s3s sees a request: the method, the signature scheme, and the session
//! token (which s3s does not read). Refusals here answer the same XML error shape s3s does.

use std::borrow::Cow;

use axum::body::Body;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use s3s::xml::Serialize as _;
use s3s::{S3Error, s3_error};

const TOKEN_HEADER: &str = "x-amz-security-token";
const TOKEN_QUERY: &str = "X-Amz-Security-Token";
const SIGV4_HEADER_PREFIX: &str = "AWS4-HMAC-SHA256 ";

/// The request's session token, once the request is a read, signed with SigV4 (in the
/// `Authorization` header or presigned) and carries exactly one token.
pub(crate) fn session_token<B>(req: &Request<B>) -> Result<String, S3Error> {
    let query: Vec<(Cow<'_, str>, Cow<'_, str>)> = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).collect())
        .unwrap_or_default();
    let in_query = |name: &'static str| query.iter().filter(move |(k, _)| k == name);

    // SigV2 (HMAC-SHA1, no scope or expiry in the signature) is refused outright, although s3s
    // would check it.
    let authorization = req.headers().get(header::AUTHORIZATION);
    let header_v4 = match authorization {
        None => false,
        Some(value) if value.as_bytes().starts_with(SIGV4_HEADER_PREFIX.as_bytes()) => true,
        Some(_) => {
            return Err(s3_error!(
                AccessDenied,
                "Only AWS Signature Version 4 (AWS4-HMAC-SHA256) is accepted."
            ));
        }
    };
    if in_query("Signature").next().is_some() || in_query("AWSAccessKeyId").next().is_some() {
        return Err(s3_error!(
            AccessDenied,
            "Only AWS Signature Version 4 presigned URLs are accepted."
        ));
    }
    let presigned_v4 = in_query("X-Amz-Signature").next().is_some();
    if !header_v4 && !presigned_v4 {
        return Err(s3_error!(
            AccessDenied,
            "Anonymous requests are refused: sign with SigV4 and the session token."
        ));
    }

    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(s3_error!(
            AccessDenied,
            "This endpoint is read-only: {} is not allowed.",
            req.method()
        ));
    }

    let mut headers = req.headers().get_all(TOKEN_HEADER).iter();
    let from_header = match (headers.next(), headers.next()) {
        (None, _) => None,
        (Some(value), None) => Some(value.to_str().map_err(|_| invalid_token())?),
        (Some(_), Some(_)) => return Err(invalid_token()),
    };
    let mut queried = in_query(TOKEN_QUERY);
    let from_query = match (queried.next(), queried.next()) {
        (None, _) => None,
        (Some((_, value)), None) => Some(value.as_ref()),
        (Some(_), Some(_)) => return Err(invalid_token()),
    };
    match (from_header, from_query) {
        (None, None) => Err(s3_error!(
            AccessDenied,
            "A session token (X-Amz-Security-Token) is required."
        )),
        (Some(token), None) | (None, Some(token)) => Ok(token.to_owned()),
        (Some(a), Some(b)) if a == b => Ok(a.to_owned()),
        (Some(_), Some(_)) => Err(invalid_token()),
    }
}

/// `InvalidToken`, answered 403 (AWS answers 400) so that clients treat it as the authorization
/// failure it is.
pub(crate) fn invalid_token() -> S3Error {
    let mut error = s3_error!(
        InvalidToken,
        "The provided token is malformed or otherwise invalid."
    );
    error.set_status_code(StatusCode::FORBIDDEN);
    error
}

pub(crate) fn expired_token() -> S3Error {
    s3_error!(ExpiredToken, "The provided token has expired.")
}

/// An S3 error as s3s would answer it: the status and `<Error><Code>…</Code><Message>…` XML.
pub(crate) fn error_response(error: &S3Error) -> Response<Body> {
    let status = error
        .status_code()
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut xml = Vec::with_capacity(256);
    {
        let mut ser = s3s::xml::Serializer::new(&mut xml);
        ser.decl()
            .and_then(|()| error.serialize(&mut ser))
            .expect("writing XML into memory succeeds");
    }
    let mut response = Response::new(Body::from(xml));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = "AWS4-HMAC-SHA256 Credential=LSIA/20260101/us-east-1/s3/aws4_request, \
                      SignedHeaders=host, Signature=00";

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    fn code(result: Result<String, S3Error>) -> String {
        result.unwrap_err().code().as_str().to_owned()
    }

    #[test]
    fn takes_the_token_from_the_header_or_the_presigned_query() {
        let req = request(
            "GET",
            "/b/k",
            &[("authorization", V4), ("x-amz-security-token", "tok")],
        );
        assert_eq!(session_token(&req).unwrap(), "tok");
        let req = request(
            "GET",
            "/b/k?X-Amz-Signature=00&X-Amz-Security-Token=t%2Bk",
            &[],
        );
        assert_eq!(session_token(&req).unwrap(), "t+k");
        let req = request(
            "HEAD",
            "/b/k?X-Amz-Signature=00&X-Amz-Security-Token=tok",
            &[("x-amz-security-token", "tok")],
        );
        assert_eq!(session_token(&req).unwrap(), "tok");
    }

    #[test]
    fn refuses_anonymous_sigv2_writes_and_token_confusion() {
        let refused = [
            (request("GET", "/b/k", &[]), "AccessDenied"),
            (
                request("GET", "/b/k", &[("x-amz-security-token", "tok")]),
                "AccessDenied",
            ),
            (
                request(
                    "GET",
                    "/b/k",
                    &[
                        ("authorization", "AWS LSIA:c2ln"),
                        ("x-amz-security-token", "t"),
                    ],
                ),
                "AccessDenied",
            ),
            (
                request(
                    "GET",
                    "/b/k?AWSAccessKeyId=LSIA&Signature=c2ln&X-Amz-Security-Token=t",
                    &[],
                ),
                "AccessDenied",
            ),
            (
                request(
                    "PUT",
                    "/b/k",
                    &[("authorization", V4), ("x-amz-security-token", "t")],
                ),
                "AccessDenied",
            ),
            (
                request(
                    "POST",
                    "/b?delete",
                    &[("authorization", V4), ("x-amz-security-token", "t")],
                ),
                "AccessDenied",
            ),
            (
                request("GET", "/b/k", &[("authorization", V4)]),
                "AccessDenied",
            ),
            (
                request(
                    "GET",
                    "/b/k",
                    &[
                        ("authorization", V4),
                        ("x-amz-security-token", "a"),
                        ("x-amz-security-token", "b"),
                    ],
                ),
                "InvalidToken",
            ),
            (
                request(
                    "GET",
                    "/b/k?X-Amz-Security-Token=b",
                    &[("authorization", V4), ("x-amz-security-token", "a")],
                ),
                "InvalidToken",
            ),
        ];
        for (req, expected) in refused {
            let shown = format!("{} {}", req.method(), req.uri());
            assert_eq!(code(session_token(&req)), expected, "{shown}");
        }
    }

    #[test]
    fn errors_have_the_s3_xml_shape() {
        let response = error_response(&invalid_token());
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/xml");
    }
}
