//! Start-up of a function container: logging, config, clients — once, before `run`.

use std::io::Write;
use std::sync::Arc;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};

use crate::admin::{AdminConfig, WarmConfig};
use crate::config::{Config, ConfigError};
use crate::error_chain::Chain;
use crate::metrics::{ColdStart, Invocation};
use crate::service::StockDataService;
use crate::storage::{LocationError, StockStore, StorageLocation};
use crate::upstash::{UpstashClient, UpstashError};

/// The container cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `STORAGE_URL` cannot be used.
    #[error(transparent)]
    Storage(#[from] LocationError),
    /// The Upstash client could not be built.
    #[error("the Upstash client could not be built: {0}")]
    Cache(#[from] UpstashError),
}

/// Everything a function holds for the life of its container.
#[derive(Debug, Clone)]
pub struct App {
    /// The function's name (EMF dimension), e.g. `latest-price`.
    pub function: &'static str,
    /// The data service (storage plus cache).
    pub service: StockDataService,
    /// Management-route settings.
    pub admin: AdminConfig,
    /// Warmer settings.
    pub warm: WarmConfig,
    /// `METRICS_NAMESPACE` (default `StockApi`); empty disables EMF lines.
    pub metrics_namespace: String,
}

/// Installs the tracing subscriber: JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON`,
/// level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `INFO` (a plain
/// level such as `debug`; per-module filters are not supported, which keeps
/// the regex engine out of every binary).
pub fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|v| v.trim().parse::<tracing::level_filters::LevelFilter>().ok())
        .unwrap_or(tracing::level_filters::LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_max_level(level);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Builds the service from `config`: storage, and the cache when configured and enabled.
pub fn build_service(config: &Config) -> Result<StockDataService, StartupError> {
    let location = StorageLocation::parse(&config.storage_url)?;
    let store = Arc::new(StockStore::new(location, config.store.clone()));
    let client = match (&config.upstash, config.cache.enabled) {
        (Some(upstash), true) => Some(UpstashClient::new(upstash)?),
        _ => None,
    };
    Ok(StockDataService::wire(store, client, config.cache.clone()))
}

/// Builds the whole [`App`] from settings read through `lookup`.
pub fn build_app(
    function: &'static str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<App, StartupError> {
    let config = Config::from_lookup(&lookup)?;
    let service = build_service(&config)?;
    Ok(App {
        function,
        service,
        admin: AdminConfig::from_lookup(&lookup)?,
        warm: WarmConfig::from_lookup(&lookup)?,
        metrics_namespace: lookup("METRICS_NAMESPACE").unwrap_or_else(|| "StockApi".into()),
    })
}

/// Reads the environment and builds the app; logs one clear line on failure.
pub fn start(function: &'static str) -> Result<App, StartupError> {
    init_tracing();
    match build_app(function, |name| std::env::var(name).ok()) {
        Ok(app) => {
            tracing::info!(
                function,
                cache = app.service.cache().is_some(),
                backend = ?app.service.store().location().backend,
                "function initialised"
            );
            Ok(app)
        }
        Err(error) => {
            tracing::error!(function, error = %Chain(&error), "start-up failed");
            Err(error)
        }
    }
}

/// A direct invocation (an EventBridge or S3 event, not HTTP) that failed
/// on a dependency: reported to Lambda as a failed invocation, so that
/// asynchronous events are retried instead of lost.
#[derive(Debug, thiserror::Error)]
#[error("direct invocation failed with status {0}")]
pub struct DirectInvocationFailed(u16);

/// Runs the Lambda loop: each request goes to `handler`, then one EMF line
/// is printed. A direct (pass-through) invocation answered with a 5xx is
/// returned to Lambda as an error ([`DirectInvocationFailed`]).
pub async fn serve<'a, F, Fut>(app: &'a App, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'a App, Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send + 'a,
{
    let handler = &handler;
    let cold_start = &ColdStart::default();
    lambda_http::run(service_fn(move |request: Request| async move {
        let invocation = Invocation::begin(&app.service, cold_start.take());
        let direct = matches!(
            request.request_context_ref(),
            Some(RequestContext::PassThrough)
        );
        let response = handler(app, request).await;
        if !app.metrics_namespace.is_empty() {
            let line = invocation.emf_line(
                &app.service,
                &app.metrics_namespace,
                app.function,
                &response,
            );
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }
        outcome(direct, response)
    }))
    .await
}

/// What an invocation returns to Lambda: the response, or, for a direct
/// invocation answered with a 5xx, an error (so an asynchronous event is retried).
fn outcome(direct: bool, response: Response<Body>) -> Result<Response<Body>, lambda_http::Error> {
    if direct && response.status().is_server_error() {
        return Err(Box::new(DirectInvocationFailed(response.status().as_u16())));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_with(pairs: &'static [(&'static str, &'static str)]) -> Result<App, StartupError> {
        build_app("test", move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn start_up_fails_with_one_message_naming_the_variable() {
        for (pairs, variable) in [
            (&[][..], "STORAGE_URL"),
            (&[("STORAGE_URL", "ftp://host/data")][..], "STORAGE_URL"),
            (
                &[("STORAGE_URL", "/no/such/folder/anywhere")][..],
                "STORAGE_URL",
            ),
            (
                &[
                    ("STORAGE_URL", "memory://"),
                    ("UPSTASH_REDIS_REST_URL", "http://127.0.0.1:1"),
                ][..],
                "UPSTASH_REDIS_REST_TOKEN",
            ),
            (
                &[("STORAGE_URL", "memory://"), ("CACHE_ENABLED", "maybe")][..],
                "CACHE_ENABLED",
            ),
            (
                &[("STORAGE_URL", "memory://"), ("CACHE_ADMIN_TOKEN", "short")][..],
                "CACHE_ADMIN_TOKEN",
            ),
            (
                &[("STORAGE_URL", "memory://"), ("WARM_TOP_N", "-1")][..],
                "WARM_TOP_N",
            ),
        ] {
            let message = app_with(pairs).unwrap_err().to_string();
            assert!(message.contains(variable), "{variable}: {message}");
        }
    }

    #[test]
    fn a_failed_direct_invocation_is_an_error_and_http_answers_are_not() {
        let answer = |status: u16| {
            let status = lambda_http::http::StatusCode::from_u16(status).unwrap();
            crate::http::response::json_status(status, "{}".into())
        };
        assert!(outcome(true, answer(503)).is_err());
        assert!(outcome(true, answer(200)).is_ok());
        assert!(outcome(true, answer(401)).is_ok());
        assert_eq!(outcome(false, answer(503)).unwrap().status(), 503);
    }

    #[test]
    fn cache_is_built_only_when_configured_and_enabled() {
        let off = app_with(&[("STORAGE_URL", "memory://")]).unwrap();
        assert!(off.service.cache().is_none());
        let on = app_with(&[
            ("STORAGE_URL", "memory://"),
            ("UPSTASH_REDIS_REST_URL", "http://127.0.0.1:8079"),
            ("UPSTASH_REDIS_REST_TOKEN", "token"),
        ])
        .unwrap();
        assert!(on.service.cache().is_some());
        assert_eq!(on.metrics_namespace, "StockApi");
        let rolled_back = app_with(&[
            ("STORAGE_URL", "memory://"),
            ("UPSTASH_REDIS_REST_URL", "http://127.0.0.1:8079"),
            ("UPSTASH_REDIS_REST_TOKEN", "token"),
            ("CACHE_ENABLED", "false"),
        ])
        .unwrap();
        assert!(rolled_back.service.cache().is_none());
    }
}
