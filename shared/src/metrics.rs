//! Per-invocation CloudWatch Embedded Metric Format (EMF) lines on stdout.
//!
//! One JSON line per invocation; CloudWatch turns it into metrics under
//! `METRICS_NAMESPACE` (default `StockApi`): `CacheHit`, `CacheL1Hit`,
//! `CacheMiss`, `CacheStale`, `CacheBypass`, `CacheError` (counts),
//! `CacheLatency`, `StorageLatency` (ms), `BreakerOpen` (1 when this
//! container's breaker is open), `ColdStart` (1 on a container's first
//! invocation) and `Status5xx` (1 when the response is a 5xx).
//!
//! Every metric is published under two dimension sets: `Function` (the
//! function's name) and `Endpoint` (its kind, [`endpoint_kind`]: `latest`,
//! `recent`, `list`, `info` or `management`), so per-kind numbers, and the
//! four management functions together, need no metric math. Nothing here
//! sends a Redis command.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use lambda_http::{Body, Response};
use serde_json::json;

use crate::cache::BreakerState;
use crate::cache_status::CacheStatus;
use crate::service::StockDataService;

/// The metrics of every EMF line, in order: (name, CloudWatch unit).
pub const METRICS: [(&str, &str); 11] = [
    ("CacheHit", "Count"),
    ("CacheL1Hit", "Count"),
    ("CacheMiss", "Count"),
    ("CacheStale", "Count"),
    ("CacheBypass", "Count"),
    ("CacheError", "Count"),
    ("CacheLatency", "Milliseconds"),
    ("StorageLatency", "Milliseconds"),
    ("BreakerOpen", "Count"),
    ("ColdStart", "Count"),
    ("Status5xx", "Count"),
];

/// The `Endpoint` dimension of a function: the kind of request it serves.
///
/// `latest-price` → `latest`, `recent-data` → `recent`, `symbols` → `list`,
/// `symbol-info` → `info`; `cache-clear`, `cache-stats`, `cache-warmer` and
/// `cache-invalidate` → `management`; any other name → `other`.
pub fn endpoint_kind(function: &str) -> &'static str {
    match function {
        "latest-price" => "latest",
        "recent-data" => "recent",
        "symbols" => "list",
        "symbol-info" => "info",
        "cache-clear" | "cache-stats" | "cache-warmer" | "cache-invalidate" => "management",
        _ => "other",
    }
}

/// Whether a container has served an invocation yet; one per container
/// (held by [`crate::runtime::serve`]).
#[derive(Debug, Default)]
pub struct ColdStart {
    served: AtomicBool,
}

impl ColdStart {
    /// `true` the first time it is called, `false` afterwards.
    pub fn take(&self) -> bool {
        !self.served.swap(true, Ordering::Relaxed)
    }
}

/// Counters at the start of an invocation.
#[derive(Debug)]
pub struct Invocation {
    started: Instant,
    cold_start: bool,
    cache_micros: u64,
    storage_micros: u64,
    failures: u64,
}

impl Invocation {
    /// Starts measuring one invocation of `service`; `cold_start` is
    /// [`ColdStart::take`] of the container.
    pub fn begin(service: &StockDataService, cold_start: bool) -> Self {
        let cache = service.cache();
        Invocation {
            started: Instant::now(),
            cold_start,
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
        json!({
            "_aws": {
                "Timestamp": crate::cache::now_ms(),
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Function"], ["Endpoint"]],
                    "Metrics": METRICS
                        .iter()
                        .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
                        .collect::<Vec<_>>(),
                }],
            },
            "Function": function,
            "Endpoint": endpoint_kind(function),
            "CacheHit": count(CacheStatus::Hit),
            "CacheL1Hit": count(CacheStatus::L1),
            "CacheMiss": count(CacheStatus::Miss),
            "CacheStale": count(CacheStatus::Stale),
            "CacheBypass": count(CacheStatus::Bypass),
            "CacheError": errors,
            "CacheLatency": cache_ms,
            "StorageLatency": storage_ms,
            "BreakerOpen": u8::from(breaker_open),
            "ColdStart": u8::from(self.cold_start),
            "Status5xx": u8::from(response.status().is_server_error()),
            "Status": response.status().as_u16(),
            "DurationMs": ms(self.started.elapsed().as_micros() as u64),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_has_its_kind() {
        let kinds: Vec<_> = [
            "latest-price",
            "recent-data",
            "symbols",
            "symbol-info",
            "cache-clear",
            "cache-stats",
            "cache-warmer",
            "cache-invalidate",
            "something-new",
        ]
        .into_iter()
        .map(endpoint_kind)
        .collect();
        assert_eq!(
            kinds,
            [
                "latest",
                "recent",
                "list",
                "info",
                "management",
                "management",
                "management",
                "management",
                "other"
            ]
        );
    }

    /// The dashboard of `template.yaml` is JSON once its `${...}` are
    /// substituted, and graphs only metrics and dimension values the EMF
    /// lines publish.
    #[test]
    fn the_dashboard_graphs_only_what_the_lines_publish() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let template = std::fs::read_to_string(path).unwrap();
        let start = template
            .find("DashboardBody:\n        Fn::Sub: |\n")
            .expect("template.yaml has a DashboardBody built with Fn::Sub: |");
        let body: String = template[start..]
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with("          ") || line.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
            .replace("${CacheErrorAlarmThreshold}", "10");
        let body: serde_json::Value = serde_json::from_str(&body).expect("the body is JSON");
        let mut graphed = 0;
        for widget in body["widgets"].as_array().unwrap() {
            let Some(metrics) = widget["properties"]["metrics"].as_array() else {
                continue;
            };
            for metric in metrics {
                if metric[0].is_object() {
                    continue; // a metric-math expression
                }
                assert_eq!(metric[0], "${MetricsNamespace}", "{metric}");
                let name = metric[1].as_str().unwrap();
                assert!(METRICS.iter().any(|(n, _)| *n == name), "{name}");
                let (dimension, value) = (metric[2].as_str().unwrap(), metric[3].as_str().unwrap());
                match dimension {
                    "Function" => assert_ne!(endpoint_kind(value), "other", "{value}"),
                    "Endpoint" => assert!(
                        ["latest", "recent", "list", "info", "management"].contains(&value),
                        "{value}"
                    ),
                    _ => panic!("unknown dimension {dimension}"),
                }
                graphed += 1;
            }
        }
        assert!(graphed > 0, "the dashboard graphs no metric");
    }

    #[test]
    fn only_the_first_invocation_is_a_cold_start() {
        let container = ColdStart::default();
        assert!(container.take());
        assert!(!container.take());
        assert!(!container.take());
        assert!(ColdStart::default().take(), "a new container starts cold");
    }
}
