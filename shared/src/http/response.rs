//! JSON responses with the API's caching headers.

use lambda_http::{Body, Response, http::HeaderValue};

use super::ApiError;

/// How a response was produced by the cache layer (the `X-Cache` header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from Redis, fresh.
    Hit,
    /// Served from this container's in-process cache.
    L1,
    /// Not cached: read from storage (and stored).
    Miss,
    /// Served from Redis past its fresh TTL (refresh under way or storage failing).
    Stale,
    /// The cache was not used (disabled, broken, or not applicable).
    Bypass,
}

impl CacheStatus {
    /// The `X-Cache` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::L1 => "L1",
            CacheStatus::Miss => "MISS",
            CacheStatus::Stale => "STALE",
            CacheStatus::Bypass => "BYPASS",
        }
    }
}

/// A successful body and the metadata that becomes its headers.
#[derive(Clone, Debug)]
pub struct JsonBody {
    /// Serialized JSON.
    pub body: String,
    /// Cache outcome.
    pub cache: CacheStatus,
    /// Seconds the data stays fresh (`Cache-Control: max-age`).
    pub max_age: u64,
}

/// A strong ETag of `body`: 64-bit FNV-1a, hex, quoted.
pub fn etag_of(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in body {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

/// True when an `If-None-Match` value names `etag` (or is `*`).
pub fn if_none_match_hits(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate == etag || candidate.strip_prefix("W/") == Some(etag)
    })
}

/// 200 with `body`, or 304 without one when `if_none_match` names its ETag.
pub fn ok_json(json: JsonBody, if_none_match: Option<&str>) -> Response<Body> {
    let etag = etag_of(json.body.as_bytes());
    let not_modified = if_none_match.is_some_and(|h| if_none_match_hits(h, &etag));
    let (status, body) = if not_modified {
        (304, Body::Empty)
    } else {
        (200, Body::Text(json.body))
    };
    let mut response = Response::new(body);
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(status).unwrap_or_default();
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
pub fn json_status(status: u16, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(status).unwrap_or_default();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

/// The JSON error response of `error`.
pub fn error_response(error: &ApiError) -> Response<Body> {
    let mut response = json_status(error.status, error.body());
    if error.status == 405 {
        let allowed = error.message.rsplit("use ").next().unwrap_or("GET");
        if let Ok(value) = HeaderValue::from_str(allowed) {
            response.headers_mut().insert("allow", value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

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
