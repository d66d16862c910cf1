//! After an import wrote: tell the cache, when one is configured.
//!
//! The settings are the functions' own (`UPSTASH_REDIS_REST_URL`,
//! `UPSTASH_REDIS_REST_TOKEN`, `CACHE_KEY_PREFIX`, the `CACHE_TTL_*`
//! values, `CACHE_REFRESH_TOP_N`), and the keys come from the same place in
//! `shared` the functions use ([`StockDataService::apply_update`]). One
//! invalidation is one REST request per 1,000 symbols: it replaces the
//! touched generations and deletes the touched symbols' values, so no
//! container serves data read before the import after it (see
//! `shared::cache::tag`); then the touched popular values that were cached
//! are written anew (refresh on update), so their next read is a hit.

use std::sync::Arc;
use std::time::Duration;

use shared::cache::{CacheConfig, Invalidation};
use shared::config::{Config, ConfigError};
use shared::service::{StockDataService, UpdateReport};
use shared::storage::{StockStore, StorageLocation};
use shared::upstash::{UpstashClient, UpstashError};

/// The tool waits at least this long for each request (an import may run
/// far from the Upstash region; the functions' 100 ms default is for reads).
const MIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts of one invalidation (it is idempotent: a retry replaces the
/// generation again and deletes what is left).
const ATTEMPTS: u32 = 3;

/// What happened to the cache after a write.
#[derive(Debug)]
pub enum CacheSync {
    /// No `UPSTASH_REDIS_REST_URL`, or `CACHE_ENABLED=false`: nothing to tell.
    NotConfigured,
    /// Nothing changed, so nothing was invalidated.
    NothingChanged,
    /// The affected keys are invalidated (and the popular cached ones refreshed).
    Invalidated(UpdateReport),
    /// The cache could not be told: values may stay stale for up to `stale_for`.
    Failed {
        /// Why.
        error: UpstashError,
        /// The longest a reader may still see data from before the import.
        stale_for: Duration,
    },
}

/// The cache settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CacheSettingsError {
    /// A variable is missing or invalid.
    #[error("cache settings")]
    Config(#[source] ConfigError),
    /// `--to` is not a storage location.
    #[error("storage location")]
    Location(#[source] shared::storage::LocationError),
}

/// Invalidates `what` in the cache configured by `lookup` (the environment).
/// `storage_url` stands in for `STORAGE_URL`, which the tool takes as `--to`.
pub async fn after_write(
    lookup: impl Fn(&str) -> Option<String>,
    storage_url: &str,
    what: &Invalidation,
) -> Result<CacheSync, CacheSettingsError> {
    let location = StorageLocation::parse(storage_url).map_err(CacheSettingsError::Location)?;
    after_write_to(lookup, location, what).await
}

/// [`after_write`] for a data set already opened at `location` (the
/// refresh reads the new values from it).
pub async fn after_write_to(
    lookup: impl Fn(&str) -> Option<String>,
    location: StorageLocation,
    what: &Invalidation,
) -> Result<CacheSync, CacheSettingsError> {
    // The location is given; STORAGE_URL is only required to be set.
    let config = Config::from_lookup(|name| match name {
        "STORAGE_URL" => Some("memory://".into()),
        other => lookup(other),
    })
    .map_err(CacheSettingsError::Config)?;
    let Some(mut upstash) = config.upstash.filter(|_| config.cache.enabled) else {
        return Ok(CacheSync::NotConfigured);
    };
    if what.is_empty() {
        return Ok(CacheSync::NothingChanged);
    }
    upstash.timeout = upstash.timeout.max(MIN_TIMEOUT);
    let stale_for = staleness_bound(&config.cache, config.store.manifest_ttl, what);
    let client = match UpstashClient::new(&upstash) {
        Ok(client) => client,
        Err(error) => return Ok(CacheSync::Failed { error, stale_for }),
    };
    let store = Arc::new(StockStore::new(location, config.store.clone()));
    let service = StockDataService::wire(store, Some(client), config.cache);
    let mut last_error = None;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        }
        match service.apply_update(what).await {
            Ok(Some(done)) => return Ok(CacheSync::Invalidated(done)),
            Ok(None) => return Ok(CacheSync::NotConfigured),
            Err(error) => last_error = Some(error),
        }
    }
    let error = last_error.unwrap_or(UpstashError::Decode("no attempt was made".into()));
    Ok(CacheSync::Failed { error, stale_for })
}

/// How long readers may still see pre-import data when the cache was not
/// told: the longest retention (fresh TTL + stale grace) of an affected
/// value, or the time a container keeps its manifest, plus the L1 time.
pub fn staleness_bound(
    cache: &CacheConfig,
    manifest_ttl: Duration,
    what: &Invalidation,
) -> Duration {
    let mut ttls = Vec::new();
    if !what.symbols.is_empty() {
        ttls.extend([
            cache.ttl_latest_price,
            cache.ttl_recent_data,
            cache.ttl_symbol_info,
        ]);
    }
    if what.all_symbol_info {
        ttls.push(cache.ttl_symbol_info);
    }
    if what.symbol_list {
        ttls.push(cache.ttl_symbol_list);
    }
    let longest = ttls
        .into_iter()
        .map(|ttl| cache.retention(ttl))
        .max()
        .unwrap_or_default();
    longest.max(manifest_ttl) + cache.l1_ttl
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use shared::symbol::Symbol;

    use super::*;

    #[test]
    fn staleness_bound_is_the_longest_affected_retention_plus_l1() {
        let cache = CacheConfig::default();
        let aapl = Invalidation::symbol(Symbol::parse("AAPL").unwrap());
        // Symbol info: 6 h fresh + 6 h grace, plus 5 s of L1.
        assert_eq!(
            staleness_bound(&cache, Duration::from_secs(60), &aapl),
            Duration::from_secs(43_200 + 5)
        );
        let short = CacheConfig {
            ttl_latest_price: Duration::from_secs(10),
            ttl_recent_data: Duration::from_secs(10),
            ttl_symbol_info: Duration::from_secs(20),
            stale_grace: Some(Duration::from_secs(1)),
            l1_ttl: Duration::ZERO,
            ..CacheConfig::default()
        };
        assert_eq!(
            staleness_bound(&short, Duration::from_secs(60), &aapl),
            Duration::from_secs(60),
            "a container's remembered manifest can outlive short TTLs"
        );
        let list_only = Invalidation {
            symbols: BTreeSet::new(),
            symbol_list: true,
            all_symbol_info: false,
        };
        assert_eq!(
            staleness_bound(&short, Duration::ZERO, &list_only),
            short.retention(short.ttl_symbol_list)
        );
    }
}
