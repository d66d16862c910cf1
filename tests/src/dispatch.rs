//! Calls the handler that serves a route, as the function binaries do, and
//! the route lists tests derive from `shared::handlers::ROUTES`.

use lambda_http::{Body, Request, Response};
use shared::admin::{AdminConfig, WarmConfig};
use shared::handlers::{self, ROUTES};
use shared::http::Route;
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
    /// Functions with `admin`'s management settings and default warmer settings.
    pub fn with_admin(admin: AdminConfig) -> Self {
        Functions {
            admin,
            ..Functions::default()
        }
    }

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

/// Where the management (admin) routes live.
pub const MANAGEMENT_PREFIX: &str = "/v1/cache";

/// True for a management route: one under [`MANAGEMENT_PREFIX`], guarded by the admin token.
pub fn is_management(route: &Route) -> bool {
    route.template.starts_with(MANAGEMENT_PREFIX)
}

/// Every management route of `ROUTES` with its function, in table order.
pub fn management_routes() -> impl Iterator<Item = (&'static str, Route)> {
    ROUTES
        .iter()
        .copied()
        .filter(|(_, route)| is_management(route))
}

/// Every route of `ROUTES` whose path holds a `{symbol}`, with its function.
pub fn symbol_routes() -> impl Iterator<Item = (&'static str, Route)> {
    ROUTES
        .iter()
        .copied()
        .filter(|(_, route)| route.template.contains("{symbol}"))
}

/// `template` with `{symbol}` filled with `symbol` (panics on any other placeholder).
pub fn fill(template: &str, symbol: &str) -> String {
    assert!(
        !template.replace("{symbol}", "").contains('{'),
        "{template}: a placeholder other than {{symbol}}"
    );
    template.replace("{symbol}", symbol)
}

/// A path that `template` matches: `{symbol}` is `AAPL`, a symbol of the test data set.
pub fn concrete_path(template: &str) -> String {
    fill(template, "AAPL")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use shared::cache::CacheConfig;
    use shared::storage::{StockStore, StorageLocation, StoreOptions};

    use super::*;
    use crate::admin::{admin, admin_call};
    use crate::events::Source;

    fn service() -> StockDataService {
        let location = StorageLocation::from_store(Arc::new(InMemory::new()), "data/v1").unwrap();
        let store = Arc::new(StockStore::new(location, StoreOptions::default()));
        StockDataService::wire(store, None, CacheConfig::default())
    }

    /// Status and error code (empty for a success) of `response`.
    fn outcome(response: &Response<Body>) -> (u16, String) {
        let body = crate::json_body(response);
        let code = body["error"]["code"].as_str().unwrap_or_default();
        (response.status().as_u16(), code.to_string())
    }

    /// Every function named in `ROUTES` is dispatchable, its handler serves
    /// each of its routes (no 404/405 from route matching), and no other
    /// function's handler serves them. Function URL events carry no path
    /// parameters, so handlers match on the path alone.
    #[tokio::test]
    async fn every_function_in_routes_is_dispatched_to_the_handler_of_its_routes() {
        let service = service();
        let functions = Functions::with_admin(admin());
        for (function, route) in ROUTES {
            let req = admin_call(route);
            let response = functions
                .call(&service, function, req.request(Source::FunctionUrl))
                .await;
            let (status, code) = outcome(&response);
            assert!(
                code != "not_found" && code != "method_not_allowed",
                "{function} does not serve {} {}: {status} {code}",
                route.method,
                route.template
            );
            for (other, _) in ROUTES.iter().filter(|(other, _)| other != function) {
                let response = functions
                    .call(&service, other, req.request(Source::FunctionUrl))
                    .await;
                assert_eq!(
                    outcome(&response),
                    (404, "not_found".to_string()),
                    "{other} answers {} {}",
                    route.method,
                    route.template
                );
            }
        }
    }

    #[test]
    fn concrete_paths_fill_every_template() {
        for (_, route) in ROUTES {
            let path = concrete_path(route.template);
            assert!(path.starts_with("/v1/") && !path.contains('{'), "{path}");
        }
        assert_eq!(
            concrete_path("/v1/stocks/{symbol}/latest"),
            "/v1/stocks/AAPL/latest"
        );
    }
}
