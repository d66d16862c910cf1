//! The service layer: the one place where the cache wraps every storage read.

mod refresh;
mod window;

pub use refresh::UpdateReport;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use serde::Serialize;

use crate::cache::{CacheConfig, Envelope, KeySpace, LoadFailure, Lookup, ReadThrough, now_ms};
use crate::cache_status::CacheStatus;
use crate::models::RecentData;
use crate::storage::{StockStore, StorageError};
use crate::symbol::Symbol;
use crate::upstash::UpstashClient;

/// A successful body and the metadata that becomes its headers.
#[derive(Clone, Debug)]
pub struct JsonBody {
    /// Serialized JSON.
    pub body: String,
    /// Cache outcome.
    pub cache: CacheStatus,
    /// Seconds the data stays fresh (`Cache-Control: max-age`).
    pub max_age: u64,
}

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

impl LoadFailure for StorageError {
    fn is_not_found(&self) -> bool {
        StorageError::is_not_found(self)
    }

    fn kind(&self) -> &'static str {
        StorageError::kind(self)
    }
}

/// One cacheable value: what it is, where it is cached, how long it stays fresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheItem {
    /// `price:latest:{SYMBOL}`.
    LatestPrice(Symbol),
    /// `data:recent:{SYMBOL}`: the window of `CACHE_RECENT_WINDOW_DAYS`.
    RecentWindow(Symbol),
    /// `symbol:info:{SYMBOL}`.
    SymbolInfo(Symbol),
    /// `symbols:list`.
    SymbolList,
}

impl CacheItem {
    /// Its cache key.
    pub fn key(&self, keys: &KeySpace) -> String {
        match self {
            CacheItem::LatestPrice(s) => keys.latest_price(s),
            CacheItem::RecentWindow(s) => keys.recent_data(s),
            CacheItem::SymbolInfo(s) => keys.symbol_info(s),
            CacheItem::SymbolList => keys.symbol_list(),
        }
    }

    /// Its fresh TTL.
    pub fn ttl(&self, policy: &CacheConfig) -> Duration {
        match self {
            CacheItem::LatestPrice(_) => policy.ttl_latest_price,
            CacheItem::RecentWindow(_) => policy.ttl_recent_data,
            CacheItem::SymbolInfo(_) => policy.ttl_symbol_info,
            CacheItem::SymbolList => policy.ttl_symbol_list,
        }
    }

    /// The symbol it belongs to, if any.
    pub fn symbol(&self) -> Option<&Symbol> {
        match self {
            CacheItem::LatestPrice(s) | CacheItem::RecentWindow(s) | CacheItem::SymbolInfo(s) => {
                Some(s)
            }
            CacheItem::SymbolList => None,
        }
    }

    /// The three per-symbol items of `symbol`.
    pub fn of_symbol(symbol: &Symbol) -> [CacheItem; 3] {
        [
            CacheItem::LatestPrice(symbol.clone()),
            CacheItem::RecentWindow(symbol.clone()),
            CacheItem::SymbolInfo(symbol.clone()),
        ]
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
    /// The one wiring of a container's service graph, used by the
    /// functions ([`crate::runtime::build_service`]), the tests and the
    /// bench: `store`, and, given a client, the read-through cache over it,
    /// which shares the store's data generation (see [`crate::generation`]).
    /// `None` turns caching off.
    pub fn wire(
        store: Arc<StockStore>,
        client: Option<UpstashClient>,
        policy: CacheConfig,
    ) -> Self {
        let cache = client.map(|client| {
            Arc::new(ReadThrough::new(
                client,
                policy.clone(),
                store.generation().clone(),
            ))
        });
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

    /// Reads `item` from storage as its JSON body (no cache).
    pub async fn load(&self, item: &CacheItem) -> Result<String, StorageError> {
        match item {
            CacheItem::LatestPrice(s) => to_json(&self.store.latest_price(s).await?),
            CacheItem::RecentWindow(s) => {
                to_json(&self.store.recent(s, self.policy.recent_window_days).await?)
            }
            CacheItem::SymbolInfo(s) => to_json(&self.store.symbol_info(s).await?),
            CacheItem::SymbolList => to_json(&self.store.symbol_list().await?),
        }
    }

    /// Reads `items` from storage, `concurrency` at a time, each as the
    /// cache entry it becomes: fresh from now for its TTL, carrying its tag
    /// (the generations read before this storage read). For the warmer and
    /// refresh on update; results in completion order.
    pub(crate) async fn load_tagged(
        &self,
        items: Vec<(CacheItem, String)>,
        concurrency: usize,
    ) -> Vec<(CacheItem, Result<Envelope, StorageError>)> {
        futures::stream::iter(items.into_iter().map(|(item, tag)| async move {
            let started = Instant::now();
            let loaded = self.load(&item).await.map(|body| Envelope {
                stored_at_ms: now_ms(),
                fresh_ttl: item.ttl(&self.policy),
                delta: started.elapsed(),
                body,
                tag,
            });
            (item, loaded)
        }))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
    }

    /// `GET /v1/stocks/{symbol}/latest`.
    pub async fn latest_price(&self, symbol: &Symbol) -> Result<JsonBody, ServiceError> {
        self.cached(CacheItem::LatestPrice(symbol.clone())).await
    }

    /// `GET /v1/symbols/{symbol}`.
    pub async fn symbol_info(&self, symbol: &Symbol) -> Result<JsonBody, ServiceError> {
        self.cached(CacheItem::SymbolInfo(symbol.clone())).await
    }

    /// `GET /v1/symbols`.
    pub async fn symbol_list(&self) -> Result<JsonBody, ServiceError> {
        self.cached(CacheItem::SymbolList).await
    }

    /// `GET /v1/stocks/{symbol}/recent?days=N`.
    ///
    /// The cache holds one window of `recent_window_days` per symbol and
    /// every smaller `days` is sliced from it; a larger `days` reads storage.
    pub async fn recent(&self, symbol: &Symbol, days: u32) -> Result<JsonBody, ServiceError> {
        let window = self.policy.recent_window_days;
        if days > window {
            let data = self.store.recent(symbol, days).await?;
            if let Some(cache) = &self.cache {
                cache.note_symbol(symbol.as_str());
            }
            return Ok(JsonBody {
                body: to_json(&data)?,
                cache: CacheStatus::Bypass,
                max_age: self.policy.ttl_recent_data.as_secs(),
            });
        }
        let full = self.cached(CacheItem::RecentWindow(symbol.clone())).await?;
        if days == window {
            return Ok(full);
        }
        if let Some(body) = window::slice_serialized(&full.body, days) {
            return Ok(JsonBody { body, ..full });
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

    async fn cached(&self, item: CacheItem) -> Result<JsonBody, ServiceError> {
        let ttl = item.ttl(&self.policy);
        let Some(cache) = self.cache.as_ref() else {
            let body = self.load(&item).await?;
            return Ok(JsonBody {
                body,
                cache: CacheStatus::Bypass,
                max_age: ttl.as_secs(),
            });
        };
        let key = item.key(cache.keys());
        let check = || self.exists(&item);
        let lookup: Lookup = cache
            .get_or_load(&key, ttl, check, || self.load(&item))
            .await?;
        let max_age = match lookup.status {
            CacheStatus::Bypass | CacheStatus::Miss => ttl.as_secs(),
            _ => lookup.fresh_left_secs(),
        };
        // Popularity counts symbols that exist, so bogus symbols cannot crowd the warmer's top N.
        if let Some(symbol) = item.symbol() {
            cache.note_symbol(symbol.as_str());
        }
        Ok(JsonBody {
            body: lookup.entry.body.clone(),
            cache: lookup.status,
            max_age,
        })
    }

    /// `Err(SymbolNotFound)` when `item`'s symbol is not in the manifest.
    /// Uses the manifest this container remembers when it is still current
    /// (see [`crate::generation`]): an unknown symbol costs no storage read
    /// and writes no cache key.
    async fn exists(&self, item: &CacheItem) -> Result<(), StorageError> {
        match item.symbol() {
            Some(symbol) => self.store.check_listed(symbol).await,
            None => Ok(()),
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(StorageError::Encode)
}
