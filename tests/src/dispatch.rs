//! Calls the handler that serves a route, as the function binaries do.

use lambda_http::{Body, Request, Response};
use shared::admin::{AdminConfig, WarmConfig};
use shared::handlers::{self, ROUTES};
use shared::service::StockDataService;

/// What a function container holds besides the service.
#[derive(Clone, Debug, Default)]
pub struct Functions {
    /// Management-route settings.
    pub admin: AdminConfig,
    /// Warmer settings.
    pub warm: WarmConfig,
}

impl Functions {
    /// Handles `request` with the function named `function` (a name in `ROUTES`).
    pub async fn call(
        &self,
        service: &StockDataService,
        function: &str,
        request: Request,
    ) -> Response<Body> {
        match function {
            "latest-price" => handlers::latest_price(service, request).await,
            "recent-data" => handlers::recent_data(service, request).await,
            "symbols" => handlers::symbols(service, request).await,
            "symbol-info" => handlers::symbol_info(service, request).await,
            "cache-clear" => handlers::cache_clear(service, &self.admin, request).await,
            "cache-stats" => handlers::cache_stats(service, &self.admin, request).await,
            "cache-warmer" => handlers::cache_warm(service, &self.admin, &self.warm, request).await,
            "cache-invalidate" => handlers::cache_invalidate(service, &self.admin, request).await,
            other => panic!("no function {other}"),
        }
    }

    /// Handles `request` with the function that serves `template` in `ROUTES`.
    pub async fn route(
        &self,
        service: &StockDataService,
        template: &str,
        request: Request,
    ) -> Response<Body> {
        let function = function_of(template);
        self.call(service, function, request).await
    }
}

/// The function serving `template` (panics when no route has it).
pub fn function_of(template: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|(_, route)| route.template == template)
        .map(|(function, _)| *function)
        .unwrap_or_else(|| panic!("no route {template}"))
}
