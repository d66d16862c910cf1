//! The request handlers, one per endpoint. Function binaries call these;
//! tests call them in-process with events from every source.

use lambda_http::{Body, Request, Response};

use crate::http::request::{days_param, symbol_param};
use crate::http::response::{error_response, ok_json};
use crate::http::{ApiError, JsonBody, Route};
use crate::service::{ServiceError, StockDataService};

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
];

/// Handles `GET /v1/stocks/{symbol}/latest`.
pub async fn latest_price(service: &StockDataService, request: Request) -> Response<Body> {
    respond(&request, async {
        let params = LATEST_PRICE.matches(&request)?;
        let symbol = symbol_param(&params)?;
        service
            .latest_price(&symbol)
            .await
            .map_err(|e| api_error(&e))
    })
    .await
}

/// Handles `GET /v1/stocks/{symbol}/recent?days=N`.
pub async fn recent_data(service: &StockDataService, request: Request) -> Response<Body> {
    respond(&request, async {
        let params = RECENT_DATA.matches(&request)?;
        let symbol = symbol_param(&params)?;
        let days = days_param(&request)?;
        service
            .recent(&symbol, days)
            .await
            .map_err(|e| api_error(&e))
    })
    .await
}

/// Handles `GET /v1/symbols`.
pub async fn symbols(service: &StockDataService, request: Request) -> Response<Body> {
    respond(&request, async {
        SYMBOLS.matches(&request)?;
        service.symbol_list().await.map_err(|e| api_error(&e))
    })
    .await
}

/// Handles `GET /v1/symbols/{symbol}`.
pub async fn symbol_info(service: &StockDataService, request: Request) -> Response<Body> {
    respond(&request, async {
        let params = SYMBOL_INFO.matches(&request)?;
        let symbol = symbol_param(&params)?;
        service
            .symbol_info(&symbol)
            .await
            .map_err(|e| api_error(&e))
    })
    .await
}

/// Maps a service error to its API error, logging failures (not 404s).
pub fn api_error(error: &ServiceError) -> ApiError {
    match error {
        ServiceError::NotFound(symbol) => ApiError::symbol_not_found(symbol),
        ServiceError::Storage(storage) => {
            tracing::error!(error_kind = storage.kind(), error = %storage, "storage read failed");
            ApiError::storage_unavailable()
        }
    }
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
