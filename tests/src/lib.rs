//! Support code for the integration tests in `tests/tests/`.

pub mod admin;
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
use shared::handlers::{LATEST_PRICE, RECENT_DATA, SYMBOL_INFO, SYMBOLS};
use shared::http::Route;

/// The body of `response` as text (lossy for binary bodies; empty for none).
pub fn body_text(response: &Response<Body>) -> String {
    match response.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Body::Empty => String::new(),
        _ => String::new(),
    }
}

/// The body of `response` as JSON (panics with the body when it is not JSON).
pub fn json_body(response: &Response<Body>) -> Value {
    let text = body_text(response);
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

/// `GET path` of `route` through the function serving it, on `container`
/// (HTTP API event).
async fn read(container: &containers::Container, route: Route, path: &str) -> Response<Body> {
    let request = events::Req::get(route.template, path).request(events::Source::HttpApi);
    dispatch::Functions::default()
        .route(&container.service, route.template, request)
        .await
}

/// `GET /v1/stocks/{symbol}/latest` on `container`.
pub async fn latest(container: &containers::Container, symbol: &str) -> Response<Body> {
    read(
        container,
        LATEST_PRICE,
        &dispatch::fill(LATEST_PRICE.template, symbol),
    )
    .await
}

/// `GET /v1/stocks/{symbol}/recent` on `container`.
pub async fn recent(container: &containers::Container, symbol: &str) -> Response<Body> {
    read(
        container,
        RECENT_DATA,
        &dispatch::fill(RECENT_DATA.template, symbol),
    )
    .await
}

/// `GET /v1/symbols/{symbol}` on `container`.
pub async fn symbol_info(container: &containers::Container, symbol: &str) -> Response<Body> {
    read(
        container,
        SYMBOL_INFO,
        &dispatch::fill(SYMBOL_INFO.template, symbol),
    )
    .await
}

/// `GET /v1/symbols` on `container`.
pub async fn symbol_list(container: &containers::Container) -> Response<Body> {
    read(container, SYMBOLS, SYMBOLS.template).await
}

/// The `X-Cache` header of `response`.
pub fn x_cache(response: &Response<Body>) -> String {
    response.headers()["x-cache"].to_str().unwrap().to_string()
}
