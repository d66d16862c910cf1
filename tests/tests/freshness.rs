//! Freshness after updates, against the real Redis through upstash-local:
//! no stale sets (a storage read paused across an invalidation never leaves
//! a value that a reader would serve), no resurrection from a remembered
//! manifest, staleness bounded by `CACHE_L1_TTL_S` in every container,
//! untouched symbols stay cached, what one invalidation costs, and refresh
//! on update: the first request after an update is a hit with the new
//! data, and neither a slow refresh nor a slow update ever puts older data
//! over newer.

use std::sync::Arc;
use std::time::Duration;

use integration_tests::admin::{admin, admin_post};
use integration_tests::backends::{memory, remembering};
use integration_tests::containers::{Container, container, test_cache_config};
use integration_tests::dataset::{add_symbol, append_bar, bars};
use integration_tests::events::Source;
use integration_tests::probe_store::probed;
use integration_tests::upstash::{self, live_value, unique_prefix};
use integration_tests::{json_body, latest, symbol_info, symbol_list, x_cache};
use lambda_http::{Body, Response};
use shared::admin::WarmConfig;
use shared::cache::invalidate::invalidate;
use shared::cache::{CacheConfig, Invalidation};
use shared::handlers;
use shared::models::DailyBar;
use shared::storage::{StockStore, StorageLocation};
use shared::symbol::Symbol;

/// The close of the bar every update appends to AAPL.
const NEW_CLOSE: f64 = 999.5;

fn new_bar() -> DailyBar {
    bar_closing("2013-03-04", NEW_CLOSE)
}

fn bar_closing(date: &str, close: f64) -> DailyBar {
    DailyBar {
        date: date.parse().unwrap(),
        open: close - 9.5,
        high: close + 1.5,
        low: close - 10.5,
        close,
        volume: 4242,
    }
}

/// A container with its own storage reader (own manifest memory) over
/// `location`: containers remember the manifest, as in production (60 s).
fn own_container(url: &str, location: &StorageLocation, config: CacheConfig) -> Container {
    let store = Arc::new(StockStore::new(location.clone(), remembering()));
    container(url, store, config)
}

fn close_of(response: &Response<Body>) -> f64 {
    json_body(response)["close"].as_f64().unwrap_or(f64::NAN)
}

/// The ways an update reaches the cache.
#[derive(Clone, Copy, Debug)]
enum Invalidator {
    /// `POST /v1/cache/clear/AAPL`.
    ClearSymbol,
    /// `POST /v1/cache/clear`.
    ClearAll,
    /// What `stockdata import` does after it wrote (`apply_update`:
    /// invalidation and refresh on update).
    Import,
    /// `POST /v1/cache/invalidate` naming the changed object.
    InvalidateRoute,
    /// An S3 "Object Created" event from EventBridge to `cache-invalidate`.
    S3Event,
}

const INVALIDATORS: [Invalidator; 5] = [
    Invalidator::ClearSymbol,
    Invalidator::ClearAll,
    Invalidator::Import,
    Invalidator::InvalidateRoute,
    Invalidator::S3Event,
];

impl Invalidator {
    /// Runs the invalidation of AAPL's update through `operator`'s handlers.
    async fn run(self, operator: &Container, prefix: &str) {
        let service = &operator.service;
        let response = match self {
            Invalidator::ClearSymbol => {
                let req = admin_post("/v1/cache/clear/{symbol}", "/v1/cache/clear/AAPL");
                handlers::cache_clear(service, &admin(), req.request(Source::HttpApi)).await
            }
            Invalidator::ClearAll => {
                let req = admin_post("/v1/cache/clear", "/v1/cache/clear");
                handlers::cache_clear(service, &admin(), req.request(Source::HttpApi)).await
            }
            Invalidator::Import => {
                let what = Invalidation::symbol(Symbol::parse("AAPL").unwrap());
                operator.service.apply_update(&what).await.unwrap();
                return;
            }
            Invalidator::InvalidateRoute => {
                let body = format!(r#"{{"objects":["{prefix}/daily/AAPL/2013.json"]}}"#);
                let req = admin_post("/v1/cache/invalidate", "/v1/cache/invalidate").body(&body);
                handlers::cache_invalidate(service, &admin(), req.request(Source::HttpApi)).await
            }
            Invalidator::S3Event => {
                let event = serde_json::json!({
                    "version": "0",
                    "source": "aws.s3",
                    "detail-type": "Object Created",
                    "detail": {
                        "bucket": {"name": "stock-data"},
                        "object": {"key": format!("{prefix}/daily/AAPL/2013.json")}
                    }
                });
                let request = lambda_http::request::from_str(&event.to_string()).unwrap();
                handlers::cache_invalidate(service, &admin(), request).await
            }
        };
        assert_eq!(response.status(), 200, "{self:?}: {}", json_body(&response));
    }
}

/// The read whose storage access is paused.
#[derive(Clone, Copy, Debug)]
enum PausedRead {
    /// A miss: the lock winner reads storage.
    Miss,
    /// A stale value: the lock winner refreshes it.
    StaleRefresh,
    /// The warmer reads storage for a missing value.
    Warmer,
}

const PAUSED_READS: [PausedRead; 3] = [
    PausedRead::Miss,
    PausedRead::StaleRefresh,
    PausedRead::Warmer,
];

/// Pauses a storage read of AAPL, updates AAPL in storage and invalidates
/// while it is paused, resumes: nothing read before the update may be
/// cached, and the next request reads the new data.
async fn paused_read_across_invalidation(read: PausedRead, invalidator: Invalidator) {
    let server = upstash::start().await;
    let data = memory("paused").await;
    let prefix = unique_prefix("paused");
    let (probe, probed) = probed(&data.location);
    let mut config = test_cache_config(&prefix);
    config.ttl_latest_price = Duration::from_secs(1);
    config.stale_grace = Some(Duration::from_secs(60));
    let reader = Arc::new(own_container(&server.url(), &probed, config.clone()));
    let operator = own_container(&server.url(), &data.location, config);
    let what = format!("{read:?} × {invalidator:?}");

    // Old data in the reader's memory (manifest) and, for a stale refresh,
    // in Redis; AAPL among the most requested, so updates refresh it.
    assert_eq!(latest(&reader, "AAPL").await.status(), 200, "{what}");
    reader.cache().flush_stats().await.unwrap();
    let key = format!("{prefix}price:latest:AAPL");
    if !matches!(read, PausedRead::StaleRefresh) {
        let mut conn = upstash::redis_conn().await;
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
    } else {
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }

    probe.pause_reads_of("daily/AAPL/");
    let paused = {
        let reader = reader.clone();
        tokio::spawn(async move {
            match read {
                PausedRead::Warmer => {
                    let warm = WarmConfig {
                        symbols: vec![Symbol::parse("AAPL").unwrap()],
                        top_n: 0,
                        concurrency: 4,
                        ..WarmConfig::default()
                    };
                    let req = lambda_http::request::from_str(r#"{"source":"aws.events"}"#).unwrap();
                    handlers::cache_warm(&reader.service, &admin(), &warm, req)
                        .await
                        .status()
                }
                _ => latest(&reader, "AAPL").await.status(),
            }
        })
    };
    probe.wait_until_held(1).await;
    append_bar(&data.location, "AAPL", new_bar()).await;
    invalidator
        .run(&operator, data.location.prefix.as_ref())
        .await;
    probe.resume();
    assert_eq!(
        paused.await.unwrap(),
        200,
        "{what}: the paused read answered"
    );

    assert!(
        live_value(&prefix, &key).await.is_none(),
        "{what}: a value read before the update was cached after it"
    );
    let next = latest(&reader, "AAPL").await;
    assert_eq!(x_cache(&next), "MISS", "{what}");
    assert_eq!(
        close_of(&next),
        NEW_CLOSE,
        "{what}: the next request reads the update"
    );
    assert_eq!(x_cache(&latest(&reader, "AAPL").await), "HIT", "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_read_paused_across_an_invalidation_caches_old_data() {
    for read in PAUSED_READS {
        for invalidator in INVALIDATORS {
            paused_read_across_invalidation(read, invalidator).await;
        }
    }
}

/// Two warm containers, an update with a new symbol, the import's
/// invalidation: after `CACHE_L1_TTL_S` every container answers the new
/// latest price, info, list and the new symbol; untouched symbols stay cached.
async fn every_container_sees_the_update(l1_ttl: Duration) {
    let server = upstash::start().await;
    let data = memory("two-containers").await;
    let prefix = unique_prefix("two-containers");
    let mut config = test_cache_config(&prefix);
    config.l1_ttl = l1_ttl;
    let a = own_container(&server.url(), &data.location, config.clone());
    let b = own_container(&server.url(), &data.location, config.clone());
    for c in [&a, &b] {
        assert_eq!(latest(c, "AAPL").await.status(), 200);
        assert_eq!(latest(c, "FB").await.status(), 200);
        assert_eq!(symbol_info(c, "AAPL").await.status(), 200);
        assert_eq!(symbol_list(c).await.status(), 200);
        assert_eq!(latest(c, "NEWCO").await.status(), 404, "not listed yet");
        assert_eq!(symbol_info(c, "NEWCO").await.status(), 404);
    }

    append_bar(&data.location, "AAPL", new_bar()).await;
    add_symbol(&data.location, "NEWCO", bars("2013-02-25", "2013-03-01")).await;
    let what = Invalidation {
        symbols: ["AAPL", "NEWCO"].map(|s| Symbol::parse(s).unwrap()).into(),
        symbol_list: true,
        all_symbol_info: false,
    };
    let sent = a.client.requests_sent();
    let done = invalidate(a.cache(), &what).await.unwrap();
    assert_eq!(done.requests, 1, "one invalidation, one REST request");
    assert_eq!(a.client.requests_sent() - sent, 1);

    // Values a container holds in L1 may be served until their L1 time is up.
    tokio::time::sleep(l1_ttl + Duration::from_millis(20)).await;
    for (name, c) in [("a", &a), ("b", &b)] {
        assert_eq!(close_of(&latest(c, "AAPL").await), NEW_CLOSE, "{name}");
        let aapl = json_body(&symbol_info(c, "AAPL").await);
        assert_eq!(aapl["last_date"], "2013-03-04", "{name}: {aapl}");
        assert_eq!(latest(c, "NEWCO").await.status(), 200, "{name}: new symbol");
        assert_eq!(symbol_info(c, "NEWCO").await.status(), 200, "{name}");
        let symbols = json_body(&symbol_list(c).await);
        assert!(
            symbols["symbols"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "NEWCO"),
            "{name}: {symbols}"
        );
        let fb = latest(c, "FB").await;
        assert_ne!(
            x_cache(&fb),
            "MISS",
            "{name}: FB was not touched and stays cached"
        );
    }
}

#[tokio::test]
async fn every_container_serves_the_update_after_the_l1_ttl() {
    every_container_sees_the_update(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn without_l1_every_container_serves_the_update_at_once() {
    every_container_sees_the_update(Duration::ZERO).await;
}

/// Refresh on update against a newer update: the first update's storage
/// read returns before the second update writes, and its write lands after
/// the second update's refresh. Readers get the newer data (a hit right
/// after the second update), never the older; the older write costs one miss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_refresh_on_update_never_puts_older_data_over_a_newer_update() {
    let server = upstash::start().await;
    let data = memory("slow-update").await;
    let prefix = unique_prefix("slow-update");
    let config = test_cache_config(&prefix);
    let (probe, probed) = probed(&data.location);
    let reader = own_container(&server.url(), &data.location, config.clone());
    let slow = Arc::new(own_container(&server.url(), &probed, config.clone()));
    let fast = own_container(&server.url(), &data.location, config);
    assert_eq!(x_cache(&latest(&reader, "AAPL").await), "MISS");
    reader.cache().flush_stats().await.unwrap();
    let aapl = Invalidation::symbol(Symbol::parse("AAPL").unwrap());

    // The first update: a bar, then its refresh, whose reads of AAPL's
    // 2013 partition (latest price and recent window) read, then wait.
    append_bar(&data.location, "AAPL", bar_closing("2013-03-04", 500.5)).await;
    probe.hold_results_of("daily/AAPL/2013");
    let first = {
        let (slow, aapl) = (slow.clone(), aapl.clone());
        tokio::spawn(async move { slow.service.apply_update(&aapl).await })
    };
    probe.wait_until_held(2).await;

    // The second update, whole, while the first holds older data.
    append_bar(&data.location, "AAPL", bar_closing("2013-03-05", 600.5)).await;
    let second = fast.service.apply_update(&aapl).await.unwrap().unwrap();
    assert_eq!(
        second.refreshed, 1,
        "the latest price was cached: {second:?}"
    );
    let after_second = latest(&reader, "AAPL").await;
    assert_eq!(
        x_cache(&after_second),
        "HIT",
        "refreshed by the second update"
    );
    assert_eq!(close_of(&after_second), 600.5);

    probe.resume();
    let first = first.await.unwrap().unwrap().unwrap();
    assert_eq!(first.refreshed, 1, "its SET … XX landed: {first:?}");
    assert!(
        live_value(&prefix, &format!("{prefix}price:latest:AAPL"))
            .await
            .is_none(),
        "the older write carries the first update's tokens: dead"
    );
    let next = latest(&reader, "AAPL").await;
    assert_eq!(close_of(&next), 600.5, "never the older update's data");
    assert_eq!(x_cache(&next), "MISS");
    assert_eq!(x_cache(&latest(&reader, "AAPL").await), "HIT");
}

/// Refresh on update, the common case: a popular value that was cached is
/// a hit with the new data right after the update, in every container,
/// with no storage read; an unpopular one is invalidated, not written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_update_popular_cached_values_are_hits_with_the_new_data() {
    let server = upstash::start().await;
    let data = memory("refresh").await;
    let prefix = unique_prefix("refresh");
    let mut config = test_cache_config(&prefix);
    config.refresh_top_n = 1;
    let (probe, probed) = probed(&data.location);
    let reader = own_container(&server.url(), &probed, config.clone());
    let operator = own_container(&server.url(), &data.location, config);
    for _ in 0..2 {
        latest(&reader, "AAPL").await;
    }
    assert_eq!(x_cache(&latest(&reader, "BRK.B").await), "MISS");
    reader.cache().flush_stats().await.unwrap();

    append_bar(&data.location, "AAPL", new_bar()).await;
    append_bar(&data.location, "BRK.B", bar_closing("2013-03-04", 77.5)).await;
    let what = Invalidation {
        symbols: ["AAPL", "BRK.B"].map(|s| Symbol::parse(s).unwrap()).into(),
        ..Invalidation::default()
    };
    let done = operator.service.apply_update(&what).await.unwrap().unwrap();
    assert_eq!(
        (done.refreshed, done.not_cached, done.failed),
        (1, 2, 0),
        "AAPL (the top 1): latest cached, recent and info not"
    );
    let reads = probe.paths().len();
    let aapl = latest(&reader, "AAPL").await;
    assert_eq!(x_cache(&aapl), "HIT");
    assert_eq!(close_of(&aapl), NEW_CLOSE);
    assert_eq!(probe.paths().len(), reads, "no storage read");
    let brk = latest(&reader, "BRK.B").await;
    assert_eq!(brk.status(), 200, "{}", json_body(&brk));
    assert_eq!(
        x_cache(&brk),
        "MISS",
        "BRK.B is not in the top 1: invalidated only"
    );
    assert_eq!(close_of(&brk), 77.5);
}
