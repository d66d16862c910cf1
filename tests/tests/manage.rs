//! Management endpoints, global stats, warming and admin auth — real Redis through upstash-local.

use std::time::Duration;

use integration_tests::admin::{ADMIN_TOKEN, admin, admin_post, bearer};
use integration_tests::backends::{memory, no_memo};
use integration_tests::containers::{Container, container, test_cache_config};
use integration_tests::dispatch::Functions;
use integration_tests::events::{Req, Source};
use integration_tests::upstash::{self, ServerHandle, redis_keys, unique_prefix};
use integration_tests::{assert_error, json_body, latest, recent, symbol_info};
use lambda_http::{Body, Response};
use serde_json::Value;
use shared::admin::{AdminConfig, WarmConfig};
use shared::cache::CacheConfig;
use shared::handlers::{
    self, CACHE_CLEAR_ALL, CACHE_CLEAR_SYMBOL, CACHE_STATS, CACHE_STATS_RESET, CACHE_WARM,
};
use shared::http::Route;
use shared::symbol::Symbol;

/// Reads `symbol`'s latest price, recent data and info: three cached values.
async fn touch_symbol(c: &Container, symbol: &str) {
    for response in [
        latest(c, symbol).await,
        recent(c, symbol).await,
        symbol_info(c, symbol).await,
    ] {
        assert_eq!(response.status(), 200);
    }
}

async fn exists(key: &str) -> bool {
    let mut conn = upstash::redis_conn().await;
    let n: i64 = redis::cmd("EXISTS")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    n == 1
}

/// `SET key value` in the test Redis, behind the REST layer.
async fn set_key(key: &str, value: impl redis::ToRedisArgs) {
    let mut conn = upstash::redis_conn().await;
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// `DEL key` in the test Redis.
async fn del_key(key: &str) {
    let mut conn = upstash::redis_conn().await;
    let _: () = redis::cmd("DEL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

async fn clear(c: &Container, path: &str, auth: Option<&str>) -> Response<Body> {
    let route = if path == "/v1/cache/clear" {
        CACHE_CLEAR_ALL
    } else {
        CACHE_CLEAR_SYMBOL
    };
    let mut req = Req::get(route.template, path).method("POST");
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    handlers::cache_clear(&c.service, &admin(), req.request(Source::HttpApi)).await
}

/// The test Redis through upstash-local, the seeded data set and a cache
/// prefix of this test's own, so tests can build containers over them.
struct Fixture {
    server: ServerHandle,
    data: integration_tests::backends::TestStore,
    prefix: String,
}

impl Fixture {
    async fn new(test: &str) -> Self {
        Fixture {
            server: upstash::start().await,
            data: memory(test).await,
            prefix: unique_prefix(test),
        }
    }

    /// A container with `config` (keys under the fixture's prefix).
    fn container_with(&self, config: CacheConfig) -> Container {
        container(&self.server.url(), self.data.store(no_memo()), config)
    }

    /// A container with the test cache settings.
    fn container(&self) -> Container {
        self.container_with(test_cache_config(&self.prefix))
    }
}

#[tokio::test]
async fn clear_one_symbol_removes_only_its_keys_in_one_request() {
    let f = Fixture::new("clear-one").await;
    let mut config = test_cache_config(&f.prefix);
    config.l1_ttl = Duration::from_secs(5);
    let c = f.container_with(config);
    touch_symbol(&c, "AAPL").await;
    touch_symbol(&c, "FB").await;
    assert!(c.cache().l1_len() >= 6);

    clearing_aapl_deletes_its_keys_and_keeps_fb(&c, &f.prefix).await;
    // This container's L1 dropped AAPL: the next read goes to Redis (a miss now).
    assert_eq!(latest(&c, "AAPL").await.headers()["x-cache"], "MISS");

    // An empty symbol (trailing slash) is not "clear everything".
    clear_is_rejected_before_any_cache_call(&c, "/v1/cache/clear/").await;
    assert!(exists(&format!("{}price:latest:FB", f.prefix)).await);
    // Invalid symbol: 400 before any cache call.
    clear_is_rejected_before_any_cache_call(&c, "/v1/cache/clear/A*").await;
}

/// `POST /v1/cache/clear/aapl` deletes AAPL's three keys in one REST request, FB's stay.
async fn clearing_aapl_deletes_its_keys_and_keeps_fb(c: &Container, prefix: &str) {
    let sent = c.client.requests_sent();
    let response = clear(c, "/v1/cache/clear/aapl", Some(&bearer())).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_body(&response),
        serde_json::json!({"status": "cleared", "symbol": "AAPL", "keys_deleted": 3})
    );
    assert_eq!(c.client.requests_sent() - sent, 1, "one REST request");
    for key in ["price:latest:AAPL", "data:recent:AAPL", "symbol:info:AAPL"] {
        assert!(!exists(&format!("{prefix}{key}")).await, "{key} deleted");
    }
    for key in ["price:latest:FB", "data:recent:FB", "symbol:info:FB"] {
        assert!(exists(&format!("{prefix}{key}")).await, "{key} kept");
    }
}

/// Clearing `path` is a 400 `invalid_symbol` that sends nothing to the cache.
async fn clear_is_rejected_before_any_cache_call(c: &Container, path: &str) {
    let sent = c.client.requests_sent();
    let response = clear(c, path, Some(&bearer())).await;
    assert_error(&response, 400, "invalid_symbol");
    assert_eq!(c.client.requests_sent(), sent, "{path}");
}

#[tokio::test]
async fn clear_all_deletes_only_keys_under_the_prefix() {
    let f = Fixture::new("clear-all").await;
    let prefix = &f.prefix;
    let c = f.container();
    touch_symbol(&c, "AAPL").await;
    touch_symbol(&c, "BRK.B").await;
    let outside = format!("{}outside", unique_prefix("clear-all-neighbour"));
    set_key(&outside, "keep me").await;
    // Many keys, so the SCAN loop runs more than one batch.
    for i in 0..1200 {
        set_key(&format!("{prefix}filler:{i}"), i).await;
    }
    let before = redis_keys(prefix).await;

    let response = clear(&c, "/v1/cache/clear", Some(&bearer())).await;
    assert_eq!(response.status(), 200);
    let body = json_body(&response);
    assert_eq!(body["status"], "cleared");
    assert_eq!(body["keys_deleted"], before.len() as u64, "{body}");
    assert_eq!(
        redis_keys(prefix).await,
        [
            format!("{prefix}data:generation"),
            format!("{prefix}gen:epoch")
        ],
        "only the new data generation and epoch are left"
    );
    assert!(exists(&outside).await, "keys outside the prefix survive");
    del_key(&outside).await;
}

/// `GET /v1/cache/stats` with the admin token, served by `c`.
async fn stats(c: &Container) -> Response<Body> {
    let req = Req::get(CACHE_STATS.template, "/v1/cache/stats")
        .header("Authorization", &bearer())
        .request(Source::HttpApi);
    handlers::cache_stats(&c.service, &admin(), req).await
}

/// `POST /v1/cache/stats/reset` with the admin token, served by `c`.
async fn reset_stats(c: &Container) -> Response<Body> {
    let req = admin_post(CACHE_STATS_RESET.template, "/v1/cache/stats/reset");
    handlers::cache_stats(&c.service, &admin(), req.request(Source::HttpApi)).await
}

#[tokio::test]
async fn global_stats_add_up_across_containers() {
    let f = Fixture::new("stats").await;
    let mut config = test_cache_config(&f.prefix);
    config.stats_flush_requests = 2;
    let store = f.data.store(no_memo());
    let containers: Vec<Container> = (0..3)
        .map(|_| container(&f.server.url(), store.clone(), config.clone()))
        .collect();
    scripted_traffic(&containers).await;
    // Containers 0 and 1 flush their remainder; container 2's remainder is flushed by the stats call it serves.
    for c in &containers[..2] {
        c.cache().flush_stats().await.unwrap();
    }
    let response = stats(&containers[2]).await;
    assert_eq!(response.status(), 200);
    assert_stats_of_the_scripted_traffic(&json_body(&response));

    // Reset (admin): counters back to zero, a new `since`; counters of
    // earlier versions (one key each) are deleted too.
    let mut conn = upstash::redis_conn().await;
    let legacy = format!("{}stats:hits", f.prefix);
    let _: () = redis::cmd("SET")
        .arg(&legacy)
        .arg(5)
        .query_async(&mut conn)
        .await
        .unwrap();
    let response = reset_stats(&containers[0]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(&response)["status"], "reset");
    let stats = json_body(&stats(&containers[0]).await);
    assert_eq!(
        (stats["hits"].as_u64(), stats["misses"].as_u64()),
        (Some(0), Some(0)),
        "{stats}"
    );
    assert!(stats["popular"].as_array().unwrap().is_empty());
    assert!(stats["hit_rate"].is_null());
    assert!(stats["by_kind"]["latest"]["hit_rate"].is_null(), "{stats}");
    let exists: u64 = redis::cmd("EXISTS")
        .arg(&legacy)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0, "the legacy counter was deleted");
}

/// Scripted mix over three containers: 2 misses (AAPL, FB), 8 hits; the unknown ZZZZ is not counted.
async fn scripted_traffic(containers: &[Container]) {
    let cache_status =
        async |c: &Container, symbol: &str| integration_tests::x_cache(&latest(c, symbol).await);
    assert_eq!(cache_status(&containers[0], "AAPL").await, "MISS");
    for _ in 0..4 {
        assert_eq!(cache_status(&containers[0], "AAPL").await, "HIT");
    }
    for _ in 0..3 {
        assert_eq!(cache_status(&containers[1], "AAPL").await, "HIT");
    }
    assert_eq!(cache_status(&containers[1], "FB").await, "MISS");
    assert_eq!(latest(&containers[2], "ZZZZ").await.status(), 404);
    assert_eq!(cache_status(&containers[2], "FB").await, "HIT");
    assert_eq!(latest(&containers[2], "ZZZZ").await.status(), 404);
}

/// What the stats report after [`scripted_traffic`], every container flushed.
fn assert_stats_of_the_scripted_traffic(stats: &Value) {
    assert_eq!(stats["enabled"], true);
    assert_eq!(stats["connected"], true);
    assert_eq!(stats["circuit"], "closed");
    assert!(stats["ping_ms"].as_f64().is_some());
    assert_eq!(
        (stats["hits"].as_u64(), stats["misses"].as_u64()),
        (Some(8), Some(2)),
        "{stats}"
    );
    assert_eq!(stats["stale"], 0);
    assert_eq!(stats["errors"], 0);
    assert_eq!(stats["hit_rate"], 0.8);
    assert_eq!(
        stats["by_kind"]["latest"],
        serde_json::json!({"hits": 8, "misses": 2, "stale": 0, "hit_rate": 0.8}),
        "the scripted traffic asks for latest prices only: {stats}"
    );
    for kind in ["recent", "list", "info"] {
        assert_eq!(
            stats["by_kind"][kind],
            serde_json::json!({"hits": 0, "misses": 0, "stale": 0, "hit_rate": null}),
            "{kind}: {stats}"
        );
    }
    assert_eq!(
        stats["popular"][0],
        serde_json::json!({"symbol": "AAPL", "requests": 8})
    );
    assert_eq!(
        stats["popular"][1],
        serde_json::json!({"symbol": "FB", "requests": 2})
    );
    assert_eq!(
        stats["popular"].as_array().unwrap().len(),
        2,
        "unknown symbols are not ranked: {stats}"
    );
    assert!(
        stats["since"].as_str().is_some_and(|s| s.ends_with('Z')),
        "{stats}"
    );
    assert!(stats["memory_used"].as_u64().is_some_and(|m| m > 0));
    // value keys: AAPL, FB (never one for ZZZZ); plus stats counters and popularity.
    assert!(stats["keys"].as_u64().is_some_and(|k| k >= 3), "{stats}");
    assert_eq!(stats["keys_estimated"], false);
}

#[tokio::test]
async fn the_popularity_ranking_keeps_the_1000_most_requested_symbols() {
    let f = Fixture::new("ranking-cap").await;
    let c = f.container();
    // 1,100 symbols, 50 per flush: the first 100 requested once, the rest twice.
    for batch in 0..22 {
        for i in batch * 50..(batch + 1) * 50 {
            for _ in 0..(1 + u32::from(i >= 100)) {
                c.cache().note_symbol(&format!("S{i:04}"));
            }
        }
        c.cache().flush_stats().await.unwrap();
    }
    let mut conn = upstash::redis_conn().await;
    let ranking = format!("{}stats:popular", f.prefix);
    let kept: Vec<String> = redis::cmd("ZRANGE")
        .arg(&ranking)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1000);
    assert!(
        kept.iter().all(|s| s.as_str() >= "S0100"),
        "the least requested were dropped: {:?}",
        &kept[..5]
    );
    assert!(
        redis_keys(&format!("{}stats:scratch:", f.prefix))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_hit_costs_one_request_even_when_it_flushes_counters() {
    let f = Fixture::new("flush-on-hit").await;
    let mut config = test_cache_config(&f.prefix);
    config.stats_flush_requests = 1;
    let c = f.container_with(config);
    assert_eq!(latest(&c, "AAPL").await.headers()["x-cache"], "MISS");
    let mut flushed = false;
    for _ in 0..4 {
        let (sent, commands) = (c.client.requests_sent(), f.server.stats().redis_commands);
        assert_eq!(latest(&c, "AAPL").await.headers()["x-cache"], "HIT");
        assert_eq!(
            c.client.requests_sent() - sent,
            1,
            "a hit is one REST request"
        );
        flushed |= f.server.stats().redis_commands - commands > 1;
    }
    assert!(flushed, "counters rode along inside a hit's request");
    let mut conn = upstash::redis_conn().await;
    let [hits]: [i64; 1] = redis::cmd("BITFIELD_RO")
        .arg(format!("{}stats:counters", f.prefix))
        .arg("GET")
        .arg("i64")
        .arg("#0")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(hits >= 3, "hits flushed: {hits}");
    let scratch: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}stats:scratch:*", f.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        scratch.is_empty(),
        "popularity scratch keys are deleted: {scratch:?}"
    );
}

async fn warm_via_http(c: &Container, warm: &WarmConfig) -> Response<Body> {
    let req = admin_post(CACHE_WARM.template, "/v1/cache/warm").request(Source::HttpApi);
    handlers::cache_warm(&c.service, &admin(), warm, req).await
}

#[tokio::test]
async fn warmer_fills_skips_fresh_values_and_survives_failures() {
    let f = Fixture::new("warm").await;
    let store = f.data.store(no_memo());
    let c = container(&f.server.url(), store.clone(), test_cache_config(&f.prefix));
    make_popular_but_not_cached(&c, "BRK.B").await;
    let warm = WarmConfig {
        symbols: ["AAPL", "FB", "GHOST"]
            .iter()
            .map(|s| Symbol::parse(s).unwrap())
            .collect(),
        top_n: 5,
        concurrency: 4,
        // Every TTL here (300 s and up) outlives a 1 s schedule: a second run skips them.
        every: Duration::from_secs(1),
    };

    let (sent, reads) = (c.client.requests_sent(), store.reads());
    let response = warm_via_http(&c, &warm).await;
    assert_eq!(response.status(), 200);
    let report = json_body(&response);
    assert_eq!(
        report["warmed"], 4,
        "AAPL, FB, BRK.B and the symbol list: {report}"
    );
    assert_eq!(report["failed"], serde_json::json!(["GHOST"]), "{report}");
    assert!(report["duration_ms"].is_u64());
    assert_eq!(
        c.client.requests_sent() - sent,
        3,
        "ZREVRANGE, one PTTL pipeline, one SET pipeline"
    );
    assert!(store.reads() > reads);
    assert_warmed_keys_and_no_failure_cached(&f.prefix).await;
    assert_eq!(latest(&c, "AAPL").await.headers()["x-cache"], "HIT");

    // Again within the fresh TTL: metadata check only, no storage read for the fresh ones.
    let reads = store.reads();
    let report = json_body(&warm_via_http(&c, &warm).await);
    assert_eq!(report["skipped"], 3, "{report}");
    assert_eq!(report["warmed"], 0, "{report}");
    // Only GHOST's two failing items are read again (manifest + missing partition each);
    // its symbol info succeeded the first time and is fresh.
    assert_eq!(store.reads() - reads, 4);

    // On the production schedule (every 300 s), a 300 s latest price is
    // warmed again on every run: it would stop being fresh before the next
    // one. The 3,600 s windows and 21,600 s infos are not.
    let production = WarmConfig {
        every: Duration::from_secs(300),
        ..warm.clone()
    };
    let reads = store.reads();
    let report = json_body(&warm_via_http(&c, &production).await);
    assert_eq!(report["failed"], serde_json::json!(["GHOST"]), "{report}");
    assert_eq!(
        report["warmed"], 3,
        "AAPL, FB and BRK.B (their latest prices): {report}"
    );
    // Three latest prices (manifest + partition each: no manifest memory
    // here) and GHOST's two failures.
    assert_eq!(store.reads() - reads, 3 * 2 + 4);
}

/// Reads `symbol` often enough to rank it, flushes the counters, then clears its values.
async fn make_popular_but_not_cached(c: &Container, symbol: &str) {
    for _ in 0..3 {
        touch_symbol(c, symbol).await;
    }
    c.cache().flush_stats().await.unwrap();
    let _ = clear(c, &format!("/v1/cache/clear/{symbol}"), Some(&bearer())).await;
}

/// The configured symbols, the popular BRK.B and the list are cached; GHOST's failure is not.
async fn assert_warmed_keys_and_no_failure_cached(prefix: &str) {
    for key in [
        "price:latest:AAPL",
        "data:recent:FB",
        "symbol:info:BRK.B",
        "symbols:list",
    ] {
        assert!(exists(&format!("{prefix}{key}")).await, "{key} warmed");
    }
    assert!(
        !exists(&format!("{prefix}price:latest:GHOST")).await,
        "failures are not cached"
    );
}

/// Lists `n` more symbols (`W000`…) with three weeks of bars each, in one manifest write.
async fn list_more_symbols(location: &shared::storage::StorageLocation, n: usize) -> Vec<Symbol> {
    let writer = shared::storage::DatasetWriter::new(location.clone());
    let mut manifest = integration_tests::dataset::read_manifest(location).await;
    let mut symbols = Vec::new();
    for i in 0..n {
        let symbol = Symbol::parse(&format!("W{i:03}")).unwrap();
        let info = writer
            .write_symbol(shared::storage::SymbolSeries {
                symbol: symbol.clone(),
                name: symbol.to_string(),
                exchange: "TEST".into(),
                currency: "USD".into(),
                bars: integration_tests::dataset::bars("2012-12-20", "2013-01-10"),
            })
            .await
            .unwrap()
            .unwrap();
        manifest.symbols.push(info);
        symbols.push(symbol);
    }
    writer.write_manifest(manifest).await.unwrap();
    symbols
}

#[tokio::test]
async fn warmer_pipelines_large_batches_and_answers_scheduled_events() {
    let f = Fixture::new("warm-many").await;
    let symbols = list_more_symbols(&f.data.location, 40).await;
    let c = f.container();
    let warm = WarmConfig {
        symbols,
        top_n: 0,
        concurrency: 8,
        ..WarmConfig::default()
    };
    // A scheduled EventBridge event reaches the function as a pass-through request.
    let request =
        lambda_http::request::from_str(include_str!("../data/eventbridge_schedule.json")).unwrap();
    let sent = c.client.requests_sent();
    let response = handlers::cache_warm(&c.service, &admin(), &warm, request).await;
    assert_eq!(response.status(), 200);
    let report = json_body(&response);
    assert_eq!(report["warmed"], 41, "{report}");
    assert_eq!(report["failed"], serde_json::json!([]));
    // 121 keys: two PTTL pipelines and two SET pipelines (at most 100 commands each).
    assert_eq!(c.client.requests_sent() - sent, 4);
}

/// Calls `route` (its method, a concrete path) on `c` with `admin`'s
/// settings and `auth` as the `Authorization` header, through the function
/// that serves it. The body names a symbol, for `/v1/cache/invalidate`; the
/// other routes ignore it.
async fn manage_call(
    c: &Container,
    admin: AdminConfig,
    route: &Route,
    auth: Option<&str>,
) -> Response<Body> {
    let path = integration_tests::dispatch::concrete_path(route.template);
    let mut req = Req::get(route.template, &path)
        .method(route.method)
        .body(r#"{"symbols":["AAPL"]}"#);
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    Functions::with_admin(admin)
        .route(&c.service, route.template, req.request(Source::HttpApi))
        .await
}

#[tokio::test]
async fn admin_auth_in_every_case() {
    let f = Fixture::new("auth").await;
    let c = f.container();
    let truncated = format!("Bearer {}", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 2]);
    let upper = format!("Bearer {}", ADMIN_TOKEN.to_uppercase());
    let wrong = "Bearer not-the-token-at-all-0000".to_string();
    let bad_auths = [
        None,
        Some(String::new()),
        Some(wrong),
        Some(truncated),
        Some(upper),
        Some(ADMIN_TOKEN.to_string()),
    ];
    for (_, route) in integration_tests::dispatch::management_routes() {
        let what = format!("{} {}", route.method, route.template);
        for auth in &bad_auths {
            let response = manage_call(&c, admin(), &route, auth.as_deref()).await;
            assert_error(&response, 401, "unauthorized");
        }
        let response = manage_call(&c, AdminConfig::default(), &route, Some(&bearer())).await;
        assert_error(&response, 403, "admin_disabled");
        let response = manage_call(&c, admin(), &route, Some(&bearer())).await;
        assert_eq!(response.status(), 200, "{what}");
    }
    // Stats may be public; reset never is.
    let public = AdminConfig {
        stats_public: true,
        ..admin()
    };
    let response = manage_call(&c, public.clone(), &CACHE_STATS, None).await;
    assert_eq!(response.status(), 200);
    let response = manage_call(&c, public, &CACHE_STATS_RESET, None).await;
    assert_error(&response, 401, "unauthorized");
}

#[tokio::test]
async fn management_without_a_cache() {
    let data = memory("no-cache").await;
    let service = shared::service::StockDataService::wire(
        data.store(no_memo()),
        None,
        CacheConfig::default(),
    );
    let req = admin_post(CACHE_CLEAR_ALL.template, "/v1/cache/clear").request(Source::HttpApi);
    assert_error(
        &handlers::cache_clear(&service, &admin(), req).await,
        503,
        "cache_unavailable",
    );
    let req = Req::get(CACHE_STATS.template, "/v1/cache/stats")
        .header("Authorization", &bearer())
        .request(Source::HttpApi);
    let stats = json_body(&handlers::cache_stats(&service, &admin(), req).await);
    assert_eq!(
        (stats["enabled"].as_bool(), stats["connected"].as_bool()),
        (Some(false), Some(false))
    );
    let req = admin_post(CACHE_WARM.template, "/v1/cache/warm").request(Source::HttpApi);
    assert_error(
        &handlers::cache_warm(&service, &admin(), &WarmConfig::default(), req).await,
        503,
        "cache_unavailable",
    );
}

/// The EMF line of one `latest-price` invocation of AAPL on `c`, as JSON;
/// `cold` is the container's cold-start flag.
async fn emf_line_of_a_read(c: &Container, cold: &shared::metrics::ColdStart) -> Value {
    let invocation = shared::metrics::Invocation::begin(&c.service, cold.take());
    let response = latest(c, "AAPL").await;
    assert_eq!(response.status(), 200);
    serde_json::from_str(&invocation.emf_line(&c.service, "StockApi", "latest-price", &response))
        .unwrap()
}

/// Every metric the EMF directive declares, in order, each present as a number.
fn declared_metrics(line: &Value) -> Vec<String> {
    let names: Vec<String> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .expect("Metrics is an array")
        .iter()
        .map(|m| m["Name"].as_str().expect("metric name").to_owned())
        .collect();
    for name in &names {
        assert!(
            line[name].is_number(),
            "{name} is declared but not a number: {line}"
        );
    }
    names
}

#[tokio::test]
async fn emf_line_per_invocation() {
    let f = Fixture::new("emf").await;
    let c = f.container();
    let cold = shared::metrics::ColdStart::default();
    let miss = emf_line_of_a_read(&c, &cold).await;
    let hit = emf_line_of_a_read(&c, &cold).await;
    assert_eq!(
        miss["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "StockApi"
    );
    assert_eq!(
        miss["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Function"], ["Endpoint"]])
    );
    assert_eq!(
        declared_metrics(&miss),
        [
            "CacheHit",
            "CacheL1Hit",
            "CacheMiss",
            "CacheStale",
            "CacheBypass",
            "CacheError",
            "CacheLatency",
            "StorageLatency",
            "BreakerOpen",
            "ColdStart",
            "Status5xx"
        ]
    );
    assert_eq!(miss["Function"], "latest-price");
    assert_eq!(miss["Endpoint"], "latest");
    assert_eq!(
        (miss["CacheMiss"].as_u64(), miss["CacheHit"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        (hit["CacheMiss"].as_u64(), hit["CacheHit"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(miss["StorageLatency"].as_f64().is_some());
    assert_eq!(hit["StorageLatency"], 0.0, "a hit reads no storage");
    assert!(hit["CacheLatency"].as_f64().unwrap() > 0.0);
    assert_eq!(hit["CacheError"], 0);
    assert_eq!(hit["BreakerOpen"], 0);
    assert_eq!(
        (miss["ColdStart"].as_u64(), hit["ColdStart"].as_u64()),
        (Some(1), Some(0)),
        "only the container's first invocation is a cold start"
    );
    assert_eq!(
        (miss["Status5xx"].as_u64(), miss["Status"].as_u64()),
        (Some(0), Some(200))
    );
}

/// A management answer that is a 5xx (clear without a cache: 503) counts in
/// `Status5xx`, under the `management` endpoint kind.
#[tokio::test]
async fn emf_line_of_a_5xx() {
    let data = memory("emf-5xx").await;
    let service = shared::service::StockDataService::wire(
        data.store(no_memo()),
        None,
        CacheConfig::default(),
    );
    let invocation = shared::metrics::Invocation::begin(&service, false);
    let req = admin_post(CACHE_CLEAR_ALL.template, "/v1/cache/clear").request(Source::HttpApi);
    let response = handlers::cache_clear(&service, &admin(), req).await;
    assert_error(&response, 503, "cache_unavailable");
    let line: Value =
        serde_json::from_str(&invocation.emf_line(&service, "StockApi", "cache-clear", &response))
            .unwrap();
    assert_eq!(
        (line["Function"].as_str(), line["Endpoint"].as_str()),
        (Some("cache-clear"), Some("management"))
    );
    assert_eq!(
        (line["Status5xx"].as_u64(), line["Status"].as_u64()),
        (Some(1), Some(503))
    );
    assert_eq!(line["ColdStart"], 0);
    assert_eq!(declared_metrics(&line).len(), 11);
}
