//! Per-invocation CloudWatch Embedded Metric Format (EMF) lines on stdout.
//!
//! One JSON line per invocation; CloudWatch turns it into metrics under
//! `METRICS_NAMESPACE` (default `StockApi`) with the dimension `Function`:
//! `CacheHit`, `CacheL1Hit`, `CacheMiss`, `CacheStale`, `CacheBypass`,
//! `CacheError` (count), `CacheLatency`, `StorageLatency` (ms) and
//! `BreakerOpen` (1 when this container's breaker is open).

use std::time::Instant;

use lambda_http::{Body, Response};
use serde_json::json;

use crate::cache::BreakerState;
use crate::cache_status::CacheStatus;
use crate::service::StockDataService;

/// Counters at the start of an invocation.
#[derive(Debug)]
pub struct Invocation {
    started: Instant,
    cache_micros: u64,
    storage_micros: u64,
    failures: u64,
}

impl Invocation {
    /// Starts measuring one invocation of `service`.
    pub fn begin(service: &StockDataService) -> Self {
        let cache = service.cache();
        Invocation {
            started: Instant::now(),
            cache_micros: cache.map_or(0, |c| c.busy_micros()),
            storage_micros: service.store().busy_micros(),
            failures: cache.map_or(0, |c| c.failures()),
        }
    }

    /// The EMF line for this invocation, ending now.
    pub fn emf_line(
        &self,
        service: &StockDataService,
        namespace: &str,
        function: &str,
        response: &Response<Body>,
    ) -> String {
        let cache = service.cache();
        let outcome = response.extensions().get::<CacheStatus>().copied();
        let count = |status: CacheStatus| u8::from(outcome == Some(status));
        let ms = |micros: u64| (micros as f64 / 10.0).round() / 100.0;
        let cache_ms = ms(cache
            .map_or(0, |c| c.busy_micros())
            .saturating_sub(self.cache_micros));
        let storage_ms = ms(service
            .store()
            .busy_micros()
            .saturating_sub(self.storage_micros));
        let errors = cache
            .map_or(0, |c| c.failures())
            .saturating_sub(self.failures);
        let breaker_open = cache.is_some_and(|c| c.breaker_state() == BreakerState::Open);
        let metric = |name: &str, unit: &str| json!({"Name": name, "Unit": unit});
        json!({
            "_aws": {
                "Timestamp": crate::cache::now_ms(),
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Function"]],
                    "Metrics": [
                        metric("CacheHit", "Count"),
                        metric("CacheL1Hit", "Count"),
                        metric("CacheMiss", "Count"),
                        metric("CacheStale", "Count"),
                        metric("CacheBypass", "Count"),
                        metric("CacheError", "Count"),
                        metric("CacheLatency", "Milliseconds"),
                        metric("StorageLatency", "Milliseconds"),
                        metric("BreakerOpen", "Count"),
                    ],
                }],
            },
            "Function": function,
            "CacheHit": count(CacheStatus::Hit),
            "CacheL1Hit": count(CacheStatus::L1),
            "CacheMiss": count(CacheStatus::Miss),
            "CacheStale": count(CacheStatus::Stale),
            "CacheBypass": count(CacheStatus::Bypass),
            "CacheError": errors,
            "CacheLatency": cache_ms,
            "StorageLatency": storage_ms,
            "BreakerOpen": u8::from(breaker_open),
            "Status": response.status().as_u16(),
            "DurationMs": ms(self.started.elapsed().as_micros() as u64),
        })
        .to_string()
    }
}
