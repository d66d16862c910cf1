//! Independent service instances, each like one Lambda container: its own
//! Upstash client, L1 and breaker, no shared memory except the storage
//! handle passed in (so tests can count storage reads).

use std::sync::Arc;
use std::time::Duration;

use shared::cache::{CacheConfig, ReadThrough};
use shared::secret::Secret;
use shared::service::StockDataService;
use shared::storage::StockStore;
use shared::upstash::{UpstashClient, UpstashConfig};

use crate::upstash::TEST_TOKEN;

/// One simulated container.
pub struct Container {
    /// The service its handlers use.
    pub service: StockDataService,
    /// Its Upstash client (count its REST requests with `requests_sent`).
    pub client: UpstashClient,
}

impl Container {
    /// The container's read-through cache.
    pub fn cache(&self) -> &Arc<ReadThrough> {
        self.service.cache().expect("cache enabled")
    }
}

/// Cache settings for tests: keys under `prefix`, L1 off (so every read
/// reaches Redis unless a test turns it on), short waits.
pub fn test_cache_config(prefix: &str) -> CacheConfig {
    CacheConfig {
        key_prefix: prefix.to_string(),
        l1_ttl: Duration::ZERO,
        xfetch_beta: 0.0,
        breaker_cooldown: Duration::from_secs(1),
        ..CacheConfig::default()
    }
}

/// A container talking to `url` with `token`, reading `store`.
pub fn container_with(
    url: &str,
    token: &str,
    timeout: Duration,
    store: Arc<StockStore>,
    config: CacheConfig,
) -> Container {
    shared::tls::install_crypto_provider();
    let client = UpstashClient::new(&UpstashConfig {
        url: url.to_string(),
        token: Secret::from(token.to_string()),
        timeout,
    })
    .expect("client");
    Container {
        service: StockDataService::wire(store, Some(client.clone()), config),
        client,
    }
}

/// A container for the test server at `url` (test token, 500 ms timeout).
pub fn container(url: &str, store: Arc<StockStore>, config: CacheConfig) -> Container {
    container_with(url, TEST_TOKEN, Duration::from_millis(500), store, config)
}
