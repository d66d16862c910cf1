//! JSON responses with the API's caching headers.

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};

use super::ApiError;
use crate::checksum::hash64;
use crate::service::JsonBody;

/// A strong ETag of `body`: its 64-bit XXH3, hex, quoted.
pub fn etag_of(body: &[u8]) -> String {
    format!("\"{:016x}\"", hash64(body))
}

/// True when an `If-None-Match` value names `etag` (or is `*`).
pub fn if_none_match_hits(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate == etag || candidate.strip_prefix("W/") == Some(etag)
    })
}

/// 200 with `body`, or 304 without one when `if_none_match` names its ETag.
/// The cache outcome also rides in the response's extensions, as data for
/// the per-invocation metrics.
pub fn ok_json(json: JsonBody, if_none_match: Option<&str>) -> Response<Body> {
    let etag = etag_of(json.body.as_bytes());
    let not_modified = if_none_match.is_some_and(|h| if_none_match_hits(h, &etag));
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, Body::Empty)
    } else {
        (StatusCode::OK, Body::Text(json.body))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.extensions_mut().insert(json.cache);
    let headers = response.headers_mut();
    if !not_modified {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    headers.insert("x-cache", HeaderValue::from_static(json.cache.as_str()));
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={}", json.max_age)) {
        headers.insert("cache-control", value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert("etag", value);
    }
    response
}

/// A JSON response with any status (management endpoints).
pub fn json_status(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

/// The JSON error response of `error` (with `Allow` for a 405).
pub fn error_response(error: &ApiError) -> Response<Body> {
    let mut response = json_status(error.status, error.body());
    if let Some(allowed) = error.allow {
        response
            .headers_mut()
            .insert("allow", HeaderValue::from_static(allowed));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_status::CacheStatus;

    #[test]
    fn etag_is_stable_and_matches() {
        let tag = etag_of(b"{\"a\":1}");
        assert_eq!(tag, etag_of(b"{\"a\":1}"));
        assert_ne!(tag, etag_of(b"{\"a\":2}"));
        assert!(if_none_match_hits(&tag, &tag));
        assert!(if_none_match_hits(&format!("\"x\", W/{tag}"), &tag));
        assert!(!if_none_match_hits("\"other\"", &tag));
    }

    #[test]
    fn not_modified_has_no_body() {
        let json = JsonBody {
            body: "{}".into(),
            cache: CacheStatus::Hit,
            max_age: 10,
        };
        let tag = etag_of(b"{}");
        let response = ok_json(json, Some(&tag));
        assert_eq!(response.status(), 304);
        assert!(matches!(response.body(), Body::Empty));
        assert_eq!(response.headers()["x-cache"], "HIT");
        assert_eq!(response.headers()["cache-control"], "public, max-age=10");
    }
}
