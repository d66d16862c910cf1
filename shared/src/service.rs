//! The service layer: the one place where the cache wraps every storage read.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::cache::{CacheConfig, EntryKind, Lookup, ReadThrough};
use crate::http::{CacheStatus, JsonBody};
use crate::models::RecentData;
use crate::storage::{StockStore, StorageError};
use crate::symbol::Symbol;

/// A read failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The symbol does not exist (possibly known from a negative cache entry).
    #[error("symbol {0} not found")]
    NotFound(String),
    /// Storage failed and no stale value was available.
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for ServiceError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::SymbolNotFound(symbol) => ServiceError::NotFound(symbol),
            other => ServiceError::Storage(other),
        }
    }
}

/// Stock data reads, cached when a cache is configured and enabled.
#[derive(Debug, Clone)]
pub struct StockDataService {
    store: Arc<StockStore>,
    cache: Option<Arc<ReadThrough>>,
    policy: CacheConfig,
}

impl StockDataService {
    /// A service over `store`; `cache` is `None` when caching is off.
    pub fn new(
        store: Arc<StockStore>,
        cache: Option<Arc<ReadThrough>>,
        policy: CacheConfig,
    ) -> Self {
        StockDataService {
            store,
            cache,
            policy,
        }
    }

    /// The storage layer.
    pub fn store(&self) -> &Arc<StockStore> {
        &self.store
    }

    /// The cache, when enabled.
    pub fn cache(&self) -> Option<&Arc<ReadThrough>> {
        self.cache.as_ref()
    }

    /// The cache policy (TTLs, window).
    pub fn policy(&self) -> &CacheConfig {
        &self.policy
    }

    /// `GET /v1/stocks/{symbol}/latest`.
    pub async fn latest_price(&self, symbol: &Symbol) -> Result<JsonBody, ServiceError> {
        let key = self.cache.as_ref().map(|c| c.keys().latest_price(symbol));
        self.cached(key, self.policy.ttl_latest_price, || async {
            to_json(&self.store.latest_price(symbol).await?)
        })
        .await
    }

    /// `GET /v1/symbols/{symbol}`.
    pub async fn symbol_info(&self, symbol: &Symbol) -> Result<JsonBody, ServiceError> {
        let key = self.cache.as_ref().map(|c| c.keys().symbol_info(symbol));
        self.cached(key, self.policy.ttl_symbol_info, || async {
            to_json(&self.store.symbol_info(symbol).await?)
        })
        .await
    }

    /// `GET /v1/symbols`.
    pub async fn symbol_list(&self) -> Result<JsonBody, ServiceError> {
        let key = self.cache.as_ref().map(|c| c.keys().symbol_list());
        self.cached(key, self.policy.ttl_symbol_list, || async {
            to_json(&self.store.symbol_list().await?)
        })
        .await
    }

    /// `GET /v1/stocks/{symbol}/recent?days=N`.
    ///
    /// The cache holds one window of `recent_window_days` per symbol and
    /// every smaller `days` is sliced from it; a larger `days` reads storage.
    pub async fn recent(&self, symbol: &Symbol, days: u32) -> Result<JsonBody, ServiceError> {
        let window = self.policy.recent_window_days;
        if days > window {
            let data = self.store.recent(symbol, days).await?;
            return Ok(JsonBody {
                body: to_json(&data)?,
                cache: CacheStatus::Bypass,
                max_age: self.policy.ttl_recent_data.as_secs(),
            });
        }
        let key = self.cache.as_ref().map(|c| c.keys().recent_data(symbol));
        let full = self
            .cached(key, self.policy.ttl_recent_data, || async {
                to_json(&self.store.recent(symbol, window).await?)
            })
            .await?;
        if days == window {
            return Ok(full);
        }
        let data: RecentData = serde_json::from_str(&full.body).map_err(|e| {
            ServiceError::Storage(StorageError::Corrupt {
                path: "cached recent window".into(),
                reason: e.to_string(),
            })
        })?;
        Ok(JsonBody {
            body: to_json(&data.slice(days))?,
            ..full
        })
    }

    async fn cached<F, Fut>(
        &self,
        key: Option<String>,
        ttl: Duration,
        load: F,
    ) -> Result<JsonBody, ServiceError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<String, StorageError>>,
    {
        let (Some(cache), Some(key)) = (self.cache.as_ref(), key) else {
            let body = load().await?;
            return Ok(JsonBody {
                body,
                cache: CacheStatus::Bypass,
                max_age: ttl.as_secs(),
            });
        };
        let lookup: Lookup = cache.get_or_load(&key, ttl, load).await?;
        let max_age = match lookup.status {
            CacheStatus::Bypass | CacheStatus::Miss => ttl.as_secs(),
            _ => lookup.fresh_left_secs(),
        };
        match lookup.entry.kind {
            EntryKind::NotFound => Err(ServiceError::NotFound(symbol_of_key(&key))),
            EntryKind::Value => Ok(JsonBody {
                body: lookup.entry.body.clone(),
                cache: lookup.status,
                max_age,
            }),
        }
    }
}

fn symbol_of_key(key: &str) -> String {
    key.rsplit(':').next().unwrap_or_default().to_string()
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|e| StorageError::Corrupt {
        path: "response".into(),
        reason: e.to_string(),
    })
}
