//! Configuration from the environment, read once per container.

use std::time::Duration;

use crate::cache::CacheConfig;
use crate::storage::StoreOptions;
use crate::upstash::UpstashConfig;

/// A setting is missing or invalid. The message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{0} is not set: {1}")]
    Missing(&'static str, &'static str),
    /// A variable holds a value that cannot be used.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

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
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

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

/// Reads an unsigned integer variable with a default and an allowed range.
pub fn parse_u64(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = lookup(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(default);
    };
    let value: u64 = raw.trim().parse().map_err(|_| ConfigError::Invalid {
        name,
        reason: format!("{raw:?} is not a non-negative integer"),
    })?;
    if !range.contains(&value) {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("{value} is outside {}..={}", range.start(), range.end()),
        });
    }
    Ok(value)
}

/// Reads a boolean variable (`true/false/1/0/yes/no/on/off`).
pub fn parse_bool(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<bool>, ConfigError> {
    let Some(raw) = lookup(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(Some(true)),
        "false" | "0" | "no" | "off" => Ok(Some(false)),
        _ => Err(ConfigError::Invalid {
            name,
            reason: format!("{raw:?} is not a boolean (true/false)"),
        }),
    }
}

/// Reads a float variable with a default.
pub fn parse_f64(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
) -> Result<f64, ConfigError> {
    let Some(raw) = lookup(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(default);
    };
    match raw.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(ConfigError::Invalid {
            name,
            reason: format!("{raw:?} is not a non-negative number"),
        }),
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
