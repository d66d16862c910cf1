//! Start-up of a function container: logging, config, clients — once, before `run`.

use std::sync::Arc;

use crate::cache::ReadThrough;
use crate::config::{Config, ConfigError};
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

/// Installs the tracing subscriber (JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`).
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}

/// Builds the service from `config`: storage, and the cache when configured and enabled.
pub fn build_service(config: &Config) -> Result<StockDataService, StartupError> {
    let location = StorageLocation::parse(&config.storage_url)?;
    let store = Arc::new(StockStore::new(location, config.store.clone()));
    let cache = match (&config.upstash, config.cache.enabled) {
        (Some(upstash), true) => {
            let client = UpstashClient::new(upstash)?;
            Some(Arc::new(ReadThrough::new(client, config.cache.clone())))
        }
        _ => None,
    };
    Ok(StockDataService::new(store, cache, config.cache.clone()))
}

/// Reads the environment and builds the service; logs one clear line on failure.
pub fn service_from_env() -> Result<StockDataService, StartupError> {
    let result = Config::from_env()
        .map_err(StartupError::from)
        .and_then(|config| {
            let service = build_service(&config)?;
            tracing::info!(
                storage = %config.storage_url,
                cache = service.cache().is_some(),
                "function initialised"
            );
            Ok(service)
        });
    if let Err(error) = &result {
        tracing::error!(error = %error, "start-up failed");
    }
    result
}
