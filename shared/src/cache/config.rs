//! Cache policy settings (`CACHE_*`).

use std::time::Duration;

use crate::settings::{ConfigError, parse_bool, parse_f64, parse_u64};

/// Every setting of the read-through cache.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheConfig {
    /// `CACHE_ENABLED` (default true): the rollback switch. False makes zero cache calls.
    pub enabled: bool,
    /// `CACHE_KEY_PREFIX` (default `stocks:v1:`): every key the project writes starts with it.
    pub key_prefix: String,
    /// `CACHE_TTL_LATEST_PRICE` (default 300 s).
    pub ttl_latest_price: Duration,
    /// `CACHE_TTL_RECENT_DATA` (default 3600 s).
    pub ttl_recent_data: Duration,
    /// `CACHE_TTL_SYMBOL_LIST` (default 21600 s).
    pub ttl_symbol_list: Duration,
    /// `CACHE_TTL_SYMBOL_INFO` (default 21600 s).
    pub ttl_symbol_info: Duration,
    /// `CACHE_STALE_GRACE_S`: how long a value stays in Redis after it stops
    /// being fresh. `None` (the default) means "equal to the fresh TTL".
    pub stale_grace: Option<Duration>,
    /// `CACHE_XFETCH_BETA` (default 1.0): eagerness of probabilistic early refresh (0 disables).
    pub xfetch_beta: f64,
    /// `CACHE_RECENT_WINDOW_DAYS` (default 365): the window cached per symbol.
    pub recent_window_days: u32,
    /// `CACHE_L1_MAX_ENTRIES` (default 1000).
    pub l1_max_entries: usize,
    /// `CACHE_L1_TTL_S` (default 5; 0 disables the in-process cache).
    pub l1_ttl: Duration,
    /// `CACHE_BREAKER_FAILURES` (default 5): consecutive failures that open the breaker.
    pub breaker_failures: u32,
    /// `CACHE_BREAKER_COOLDOWN_S` (default 30): how long the breaker stays open.
    pub breaker_cooldown: Duration,
    /// `CACHE_LOCK_TTL_MS` (default 5000): lifetime of a refresh lock.
    pub lock_ttl: Duration,
    /// `CACHE_MISS_WAIT_POLLS` (default 3) × `CACHE_MISS_WAIT_MS` (default 50):
    /// how long a miss that lost the lock waits for the winner's value.
    pub miss_wait_polls: u32,
    /// See [`CacheConfig::miss_wait_polls`].
    pub miss_wait: Duration,
    /// `CACHE_STATS_FLUSH_S` (default 60): a container flushes its counters at least this often (when it serves requests).
    pub stats_flush_interval: Duration,
    /// `CACHE_STATS_FLUSH_REQUESTS` (default 100): ... or after this many requests; the most a dying container loses.
    pub stats_flush_requests: u64,
    /// `CACHE_REFRESH_TOP_N` (default 1000, at most the popularity ranking's
    /// 1,000; 0 turns it off): refresh on update. An update writes the new
    /// values of the touched symbols among this many most requested, where
    /// they were cached, instead of only invalidating them.
    pub refresh_top_n: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            key_prefix: "stocks:v1:".into(),
            ttl_latest_price: Duration::from_secs(300),
            ttl_recent_data: Duration::from_secs(3600),
            ttl_symbol_list: Duration::from_secs(21600),
            ttl_symbol_info: Duration::from_secs(21600),
            stale_grace: None,
            xfetch_beta: 1.0,
            recent_window_days: 365,
            l1_max_entries: 1000,
            l1_ttl: Duration::from_secs(5),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
            lock_ttl: Duration::from_millis(5000),
            miss_wait_polls: 3,
            miss_wait: Duration::from_millis(50),
            stats_flush_interval: Duration::from_secs(60),
            stats_flush_requests: 100,
            refresh_top_n: 1000,
        }
    }
}

/// Reads one kind of setting through a lookup, each variable named once.
struct Settings<'a, L> {
    lookup: &'a L,
}

impl<L: Fn(&str) -> Option<String>> Settings<'_, L> {
    /// Seconds in `0..=max`, `default` when unset.
    fn secs(
        &self,
        name: &'static str,
        default: Duration,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        parse_u64(self.lookup, name, default.as_secs(), 0..=max).map(Duration::from_secs)
    }

    /// Milliseconds in `range`, `default` when unset.
    fn millis(
        &self,
        name: &'static str,
        default: Duration,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        parse_u64(self.lookup, name, default.as_millis() as u64, range).map(Duration::from_millis)
    }

    /// A fresh TTL: 1 s to 30 days.
    fn ttl(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        let value = self.secs(name, default, 30 * 86_400)?;
        if value.is_zero() {
            return Err(ConfigError::Invalid {
                name,
                reason: "must be at least 1 second".into(),
            });
        }
        Ok(value)
    }

    /// A count in `range`, `default` when unset.
    fn count(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        parse_u64(self.lookup, name, default, range)
    }

    /// `CACHE_ENABLED`: unset means "on exactly when Upstash is configured".
    fn enabled(&self, upstash_configured: bool) -> Result<bool, ConfigError> {
        match parse_bool(self.lookup, "CACHE_ENABLED")? {
            Some(true) if !upstash_configured => Err(ConfigError::Invalid {
                name: "CACHE_ENABLED",
                reason: "is true but UPSTASH_REDIS_REST_URL is not set".into(),
            }),
            Some(flag) => Ok(flag),
            None => Ok(upstash_configured),
        }
    }

    /// `CACHE_STALE_GRACE_S`: unset means "equal to the fresh TTL".
    fn stale_grace(&self) -> Result<Option<Duration>, ConfigError> {
        match (self.lookup)("CACHE_STALE_GRACE_S").filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(_) => self
                .secs("CACHE_STALE_GRACE_S", Duration::ZERO, 7 * 86_400)
                .map(Some),
        }
    }
}

impl CacheConfig {
    /// Reads `CACHE_*` through `lookup`. `CACHE_ENABLED=true` without an
    /// Upstash URL is an error; unset, the cache is on exactly when Upstash is configured.
    pub fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
        upstash_configured: bool,
    ) -> Result<Self, ConfigError> {
        let d = CacheConfig::default();
        let read = Settings { lookup };
        let key_prefix = lookup("CACHE_KEY_PREFIX").unwrap_or(d.key_prefix.clone());
        validate_prefix(&key_prefix)?;
        Ok(CacheConfig {
            enabled: read.enabled(upstash_configured)?,
            key_prefix,
            ttl_latest_price: read.ttl("CACHE_TTL_LATEST_PRICE", d.ttl_latest_price)?,
            ttl_recent_data: read.ttl("CACHE_TTL_RECENT_DATA", d.ttl_recent_data)?,
            ttl_symbol_list: read.ttl("CACHE_TTL_SYMBOL_LIST", d.ttl_symbol_list)?,
            ttl_symbol_info: read.ttl("CACHE_TTL_SYMBOL_INFO", d.ttl_symbol_info)?,
            stale_grace: read.stale_grace()?,
            xfetch_beta: parse_f64(lookup, "CACHE_XFETCH_BETA", d.xfetch_beta)?,
            recent_window_days: read.count(
                "CACHE_RECENT_WINDOW_DAYS",
                u64::from(d.recent_window_days),
                1..=3650,
            )? as u32,
            l1_max_entries: read.count(
                "CACHE_L1_MAX_ENTRIES",
                d.l1_max_entries as u64,
                0..=1_000_000,
            )? as usize,
            l1_ttl: read.secs("CACHE_L1_TTL_S", d.l1_ttl, 3600)?,
            breaker_failures: read.count(
                "CACHE_BREAKER_FAILURES",
                u64::from(d.breaker_failures),
                1..=1000,
            )? as u32,
            breaker_cooldown: read.secs("CACHE_BREAKER_COOLDOWN_S", d.breaker_cooldown, 3600)?,
            lock_ttl: read.millis("CACHE_LOCK_TTL_MS", d.lock_ttl, 100..=60_000)?,
            miss_wait_polls: read.count(
                "CACHE_MISS_WAIT_POLLS",
                u64::from(d.miss_wait_polls),
                0..=10,
            )? as u32,
            miss_wait: read.millis("CACHE_MISS_WAIT_MS", d.miss_wait, 1..=1000)?,
            stats_flush_interval: read.secs("CACHE_STATS_FLUSH_S", d.stats_flush_interval, 3600)?,
            stats_flush_requests: read.count(
                "CACHE_STATS_FLUSH_REQUESTS",
                d.stats_flush_requests,
                1..=100_000,
            )?,
            refresh_top_n: read.count("CACHE_REFRESH_TOP_N", d.refresh_top_n as u64, 0..=1000)?
                as usize,
        })
    }

    /// How long a value with fresh TTL `fresh` stays in Redis (fresh + grace).
    pub fn retention(&self, fresh: Duration) -> Duration {
        fresh + self.stale_grace.unwrap_or(fresh)
    }
}

fn validate_prefix(prefix: &str) -> Result<(), ConfigError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 64
        && prefix
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'*' | b'?' | b'[' | b']' | b'\\'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            name: "CACHE_KEY_PREFIX",
            reason: "must be 1 to 64 printable ASCII characters without spaces or glob characters (* ? [ ] \\)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)], upstash: bool) -> Result<CacheConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CacheConfig::from_lookup(&|name: &str| map.get(name).cloned(), upstash)
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = read(&[], true).unwrap();
        assert!(config.enabled);
        assert_eq!(config.key_prefix, "stocks:v1:");
        assert_eq!(config.ttl_latest_price.as_secs(), 300);
        assert_eq!(config.ttl_recent_data.as_secs(), 3600);
        assert_eq!(config.ttl_symbol_list.as_secs(), 21600);
        assert_eq!(config.ttl_symbol_info.as_secs(), 21600);
        assert_eq!(config.retention(Duration::from_secs(300)).as_secs(), 600);
        assert_eq!(config.recent_window_days, 365);
        assert!(!read(&[], false).unwrap().enabled);
    }

    #[test]
    fn rollback_switch_and_errors() {
        assert!(!read(&[("CACHE_ENABLED", "false")], true).unwrap().enabled);
        let err = read(&[("CACHE_ENABLED", "true")], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("CACHE_ENABLED"), "{err}");
        let err = read(&[("CACHE_KEY_PREFIX", "a*b")], true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("CACHE_KEY_PREFIX"), "{err}");
        let err = read(&[("CACHE_TTL_LATEST_PRICE", "0")], true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("CACHE_TTL_LATEST_PRICE"), "{err}");
        let grace = read(&[("CACHE_STALE_GRACE_S", "7")], true).unwrap();
        assert_eq!(grace.retention(Duration::from_secs(300)).as_secs(), 307);
    }
}
