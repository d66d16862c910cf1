//! The read endpoints.

use lambda_http::{Body, Request, Response};

use super::{LATEST_PRICE, RECENT_DATA, SYMBOL_INFO, SYMBOLS, api_error, respond};
use crate::http::request::{days_param, symbol_param};
use crate::service::StockDataService;

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
