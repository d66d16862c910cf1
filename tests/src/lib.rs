//! Support code for the integration tests in `tests/tests/`.

pub mod backends;
pub mod containers;
pub mod dataset;
pub mod dispatch;
pub mod events;
pub mod fault_proxy;
pub mod gcs;
pub mod probe_store;
pub mod upstash;

use lambda_http::{Body, Response};
use serde_json::Value;

/// The body of `response` as JSON (panics with the body when it is not JSON).
pub fn json_body(response: &Response<Body>) -> Value {
    let text = match response.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Body::Empty => String::new(),
        _ => String::new(),
    };
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text:?}"))
}

/// Asserts `response` is the JSON error `code` with `status`.
pub fn assert_error(response: &Response<Body>, status: u16, code: &str) {
    let body = json_body(response);
    assert_eq!(response.status().as_u16(), status, "status of {body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(response.headers()["content-type"], "application/json");
}

/// `GET /v1/stocks/{symbol}/latest` through `container`'s handler (HTTP API event).
pub async fn latest(container: &containers::Container, symbol: &str) -> Response<Body> {
    let request = events::Req::get(
        shared::handlers::LATEST_PRICE.template,
        &format!("/v1/stocks/{symbol}/latest"),
    )
    .request(events::Source::HttpApi);
    shared::handlers::latest_price(&container.service, request).await
}

/// The `X-Cache` header of `response`.
pub fn x_cache(response: &Response<Body>) -> String {
    response.headers()["x-cache"].to_str().unwrap().to_string()
}
