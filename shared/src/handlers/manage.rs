//! The management endpoints: clear, stats, warm. All but `GET /v1/cache/stats`
//! (when `CACHE_STATS_PUBLIC=true`) need the admin token.

use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use super::{
    CACHE_CLEAR_ALL, CACHE_CLEAR_SYMBOL, CACHE_STATS, CACHE_STATS_RESET, CACHE_WARM, match_route,
};
use crate::admin::{AdminConfig, WarmConfig};
use crate::cache::{ReadThrough, manage};
use crate::http::ApiError;
use crate::http::request::symbol_param;
use crate::http::response::{error_response, json_status};
use crate::service::StockDataService;
use crate::warmer::{self, WarmError};

/// Handles `POST /v1/cache/clear/{symbol}` and `POST /v1/cache/clear`.
pub async fn cache_clear(
    service: &StockDataService,
    admin: &AdminConfig,
    request: Request,
) -> Response<Body> {
    answer(async {
        let (route, params) = match_route(&[CACHE_CLEAR_SYMBOL, CACHE_CLEAR_ALL], &request)?;
        admin.authorize(&request)?;
        if route.template == CACHE_CLEAR_SYMBOL.template {
            let symbol = symbol_param(&params)?;
            let cache = enabled(service)?;
            let deleted = manage::clear_symbol(cache, &symbol).await.map_err(cache_failed)?;
            tracing::info!(symbol = %symbol, keys_deleted = deleted, "cache cleared for one symbol");
            Ok(json!({"status": "cleared", "symbol": symbol.as_str(), "keys_deleted": deleted}))
        } else {
            // `/v1/cache/clear/` is a symbol route with an empty symbol (say, an
            // unset shell variable), never "clear everything".
            if request.uri().path().ends_with('/') || request.raw_http_path().ends_with('/') {
                return Err(ApiError::invalid_symbol());
            }
            let cache = enabled(service)?;
            let deleted = manage::clear_all(cache).await.map_err(cache_failed)?;
            tracing::info!(keys_deleted = deleted, "cache cleared under the prefix");
            Ok(json!({"status": "cleared", "keys_deleted": deleted}))
        }
    })
    .await
}

/// Handles `GET /v1/cache/stats` and `POST /v1/cache/stats/reset`.
pub async fn cache_stats(
    service: &StockDataService,
    admin: &AdminConfig,
    request: Request,
) -> Response<Body> {
    answer(async {
        let (route, _) = match_route(&[CACHE_STATS, CACHE_STATS_RESET], &request)?;
        if route.template == CACHE_STATS.template {
            if !admin.stats_public {
                admin.authorize(&request)?;
            }
            let report = manage::stats_report(service.cache().map(|c| c.as_ref())).await;
            serde_json::to_value(report)
                .map_err(|_| ApiError::cache_unavailable("stats could not be encoded"))
        } else {
            admin.authorize(&request)?;
            let cache = enabled(service)?;
            let since = manage::reset_stats(cache).await.map_err(cache_failed)?;
            tracing::info!(since = %since, "cache statistics reset");
            Ok(json!({"status": "reset", "since": since}))
        }
    })
    .await
}

/// Handles `POST /v1/cache/warm` and scheduled (EventBridge) or direct invocations.
///
/// A direct invocation reaches the function as a pass-through event (it is
/// not an HTTP request) and needs no token: only principals allowed to
/// invoke the function (IAM) can send one.
pub async fn cache_warm(
    service: &StockDataService,
    admin: &AdminConfig,
    warm: &WarmConfig,
    request: Request,
) -> Response<Body> {
    let caller = Caller::of(&request);
    answer(async {
        if caller.is_http()? {
            match_route(&[CACHE_WARM], &request)?;
            admin.authorize(&request)?;
        }
        match warmer::warm(service, warm).await {
            Ok(report) => serde_json::to_value(report)
                .map_err(|_| ApiError::cache_unavailable("report could not be encoded")),
            Err(WarmError::Disabled) => Err(ApiError::cache_unavailable("the cache is disabled")),
            Err(WarmError::Cache(error)) => Err(cache_failed(error)),
        }
    })
    .await
}

/// Who sent a request to a function that also takes direct invocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Caller {
    /// An HTTP request (API Gateway, Function URL, cargo lambda watch).
    Http,
    /// A direct invocation (EventBridge, S3, `aws lambda invoke`): only
    /// principals allowed to invoke the function (IAM) can send one, so it
    /// needs no token.
    Direct,
    /// An HTTP event lambda_http could not parse (e.g. a control character
    /// in a header) and passed through: an HTTP request that must never
    /// skip the token check.
    UnparsedHttp,
}

impl Caller {
    /// Classifies `request`.
    pub(super) fn of(request: &Request) -> Self {
        let pass_through = matches!(
            request.request_context_ref(),
            Some(RequestContext::PassThrough)
        );
        match (pass_through, pass_through && is_http_event(request.body())) {
            (false, _) => Caller::Http,
            (true, false) => Caller::Direct,
            (true, true) => Caller::UnparsedHttp,
        }
    }

    /// True for HTTP (route and token checks follow), false for a direct
    /// invocation; 401 for an unparsed HTTP event.
    pub(super) fn is_http(self) -> Result<bool, ApiError> {
        match self {
            Caller::Http => Ok(true),
            Caller::Direct => Ok(false),
            Caller::UnparsedHttp => Err(ApiError::unauthorized()),
        }
    }
}

/// A request body as JSON (`null` when empty or not JSON).
pub(super) fn body_json(body: &Body) -> serde_json::Value {
    match body {
        Body::Text(text) => serde_json::from_str(text).unwrap_or_default(),
        Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}

/// True when a pass-through body is an API Gateway / Function URL event.
fn is_http_event(body: &Body) -> bool {
    let value = body_json(body);
    [
        "requestContext",
        "httpMethod",
        "rawPath",
        "routeKey",
        "headers",
    ]
    .iter()
    .any(|key| value.get(key).is_some())
}

pub(super) fn enabled(service: &StockDataService) -> Result<&ReadThrough, ApiError> {
    service
        .cache()
        .map(|c| c.as_ref())
        .ok_or_else(|| ApiError::cache_unavailable("the cache is disabled"))
}

pub(super) fn cache_failed(error: crate::upstash::UpstashError) -> ApiError {
    tracing::error!(
        error_kind = error.kind(),
        "management call to the cache failed"
    );
    ApiError::cache_unavailable(format!("the cache did not answer ({})", error.kind()))
}

pub(super) async fn answer(
    work: impl std::future::Future<Output = Result<serde_json::Value, ApiError>>,
) -> Response<Body> {
    match work.await {
        Ok(body) => json_status(StatusCode::OK, body.to_string()),
        Err(error) => error_response(&error),
    }
}
