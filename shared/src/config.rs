//! Configuration from the environment, read once per container.

use std::time::Duration;

use crate::cache::CacheConfig;
pub use crate::settings::ConfigError;
use crate::settings::parse_u64;
use crate::storage::StoreOptions;
use crate::upstash::UpstashConfig;

/// Everything a function needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `STORAGE_URL`: where the data set lives.
    pub storage_url: String,
    /// Storage read tuning (`STORAGE_TIMEOUT_MS`, `MANIFEST_TTL_S`).
    pub store: StoreOptions,
    /// Cache policy (`CACHE_*`).
    pub cache: CacheConfig,
    /// Upstash connection (`UPSTASH_REDIS_REST_*`), when configured.
    pub upstash: Option<UpstashConfig>,
}

impl Config {
    /// Reads settings through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let storage_url = lookup("STORAGE_URL")
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::Missing(
                "STORAGE_URL",
                "set it to a folder, file://, memory://, gs://bucket/prefix or s3://bucket/prefix",
            ))?;
        let store = StoreOptions {
            timeout: Duration::from_millis(parse_u64(
                &lookup,
                "STORAGE_TIMEOUT_MS",
                3000,
                1..=60_000,
            )?),
            manifest_ttl: Duration::from_secs(parse_u64(
                &lookup,
                "MANIFEST_TTL_S",
                60,
                0..=86_400,
            )?),
        };
        let upstash = UpstashConfig::from_lookup(&lookup).map_err(|e| ConfigError::Invalid {
            name: e.variable,
            reason: e.reason,
        })?;
        let cache = CacheConfig::from_lookup(&lookup, upstash.is_some())?;
        Ok(Config {
            storage_url,
            store,
            cache,
            upstash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn missing_storage_url_names_the_variable() {
        let err = Config::from_lookup(lookup(&[])).unwrap_err().to_string();
        assert!(err.contains("STORAGE_URL"), "{err}");
    }

    #[test]
    fn defaults_apply() {
        let config = Config::from_lookup(lookup(&[("STORAGE_URL", "memory://")])).unwrap();
        assert_eq!(config.store.timeout, Duration::from_millis(3000));
        assert_eq!(config.store.manifest_ttl, Duration::from_secs(60));
        assert!(config.upstash.is_none());
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        let err = Config::from_lookup(lookup(&[
            ("STORAGE_URL", "memory://"),
            ("STORAGE_TIMEOUT_MS", "soon"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("STORAGE_TIMEOUT_MS"), "{err}");
    }
}
