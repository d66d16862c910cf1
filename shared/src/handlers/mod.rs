//! The request handlers, one per endpoint. Function binaries call these;
//! tests call them in-process with events from every source.

mod invalidate;
mod manage;
mod read;

use lambda_http::{Body, Request, Response};

pub use invalidate::cache_invalidate;
pub use manage::{cache_clear, cache_stats, cache_warm};
pub use read::{latest_price, recent_data, symbol_info, symbols};

use crate::error_chain::Chain;
use crate::http::response::{error_response, ok_json};
use crate::http::{ApiError, Route};
use crate::service::{JsonBody, ServiceError};

/// `GET /v1/stocks/{symbol}/latest`.
pub const LATEST_PRICE: Route = Route {
    template: "/v1/stocks/{symbol}/latest",
    method: "GET",
};
/// `GET /v1/stocks/{symbol}/recent`.
pub const RECENT_DATA: Route = Route {
    template: "/v1/stocks/{symbol}/recent",
    method: "GET",
};
/// `GET /v1/symbols`.
pub const SYMBOLS: Route = Route {
    template: "/v1/symbols",
    method: "GET",
};
/// `GET /v1/symbols/{symbol}`.
pub const SYMBOL_INFO: Route = Route {
    template: "/v1/symbols/{symbol}",
    method: "GET",
};

/// `POST /v1/cache/clear/{symbol}` (admin).
pub const CACHE_CLEAR_SYMBOL: Route = Route {
    template: "/v1/cache/clear/{symbol}",
    method: "POST",
};
/// `POST /v1/cache/clear` (admin).
pub const CACHE_CLEAR_ALL: Route = Route {
    template: "/v1/cache/clear",
    method: "POST",
};
/// `GET /v1/cache/stats` (admin unless `CACHE_STATS_PUBLIC=true`).
pub const CACHE_STATS: Route = Route {
    template: "/v1/cache/stats",
    method: "GET",
};
/// `POST /v1/cache/stats/reset` (admin).
pub const CACHE_STATS_RESET: Route = Route {
    template: "/v1/cache/stats/reset",
    method: "POST",
};
/// `POST /v1/cache/invalidate` (admin): `{"symbols":[…]}` and/or `{"objects":[…]}`.
pub const CACHE_INVALIDATE: Route = Route {
    template: "/v1/cache/invalidate",
    method: "POST",
};
/// `POST /v1/cache/warm` (admin).
pub const CACHE_WARM: Route = Route {
    template: "/v1/cache/warm",
    method: "POST",
};

/// Every HTTP route of the API and the function that serves it: the one
/// route table that `Cargo.toml`'s watch router, `template.yaml` and
/// `openapi.yaml` must agree with (a test checks it).
pub const ROUTES: &[(&str, Route)] = &[
    ("latest-price", LATEST_PRICE),
    ("recent-data", RECENT_DATA),
    ("symbols", SYMBOLS),
    ("symbol-info", SYMBOL_INFO),
    ("cache-clear", CACHE_CLEAR_SYMBOL),
    ("cache-clear", CACHE_CLEAR_ALL),
    ("cache-stats", CACHE_STATS),
    ("cache-stats", CACHE_STATS_RESET),
    ("cache-warmer", CACHE_WARM),
    ("cache-invalidate", CACHE_INVALIDATE),
];

/// Maps a service error to its API error, logging failures (not 404s).
pub fn api_error(error: &ServiceError) -> ApiError {
    match error {
        ServiceError::NotFound(symbol) => ApiError::symbol_not_found(symbol),
        ServiceError::Storage(storage) => {
            tracing::error!(error_kind = storage.kind(), error = %Chain(storage), "storage read failed");
            ApiError::storage_unavailable()
        }
    }
}

/// A route's path parameters by name.
pub type PathParams = Vec<(&'static str, String)>;

/// Matches `request` against `routes`: the route whose path fits, or 404
/// `not_found`; 405 when the path fits but the method does not.
pub fn match_route(routes: &[Route], request: &Request) -> Result<(Route, PathParams), ApiError> {
    let mut wrong_method = None;
    for route in routes {
        match route.matches(request) {
            Ok(params) => return Ok((*route, params)),
            Err(error) if error.allow.is_some() => wrong_method = Some(error),
            Err(_) => {}
        }
    }
    Err(wrong_method.unwrap_or_else(ApiError::not_found))
}

async fn respond(
    request: &Request,
    work: impl std::future::Future<Output = Result<JsonBody, ApiError>>,
) -> Response<Body> {
    match work.await {
        Ok(json) => {
            let if_none_match = request
                .headers()
                .get("if-none-match")
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= 8192);
            ok_json(json, if_none_match)
        }
        Err(error) => error_response(&error),
    }
}
