//! Management endpoints, global stats, warming and admin auth — real Redis through upstash-local.

use std::time::Duration;

use integration_tests::backends::{BackendKind, TestStore, seeded};
use integration_tests::containers::{Container, container, test_cache_config};
use integration_tests::events::{Req, Source};
use integration_tests::upstash::{self, unique_prefix};
use integration_tests::{assert_error, json_body};
use lambda_http::{Body, Response};
use shared::admin::{AdminConfig, WarmConfig};
use shared::cache::CacheConfig;
use shared::handlers::{
    self, CACHE_CLEAR_ALL, CACHE_CLEAR_SYMBOL, CACHE_STATS, CACHE_STATS_RESET, CACHE_WARM,
    LATEST_PRICE, RECENT_DATA, SYMBOL_INFO,
};
use shared::secret::Secret;
use shared::storage::StoreOptions;
use shared::symbol::Symbol;

const ADMIN: &str = "admin-token-for-tests-7f3a9c";

fn admin() -> AdminConfig {
    AdminConfig {
        token: Some(Secret::from(ADMIN)),
        stats_public: false,
    }
}

fn bearer() -> String {
    format!("Bearer {ADMIN}")
}

async fn data(test: &str) -> TestStore {
    seeded(BackendKind::Memory, test)
        .await
        .expect("memory backend")
}

fn no_memo() -> StoreOptions {
    StoreOptions {
        timeout: Duration::from_secs(5),
        manifest_ttl: Duration::ZERO,
    }
}

async fn touch_symbol(c: &Container, symbol: &str) {
    for response in [
        handlers::latest_price(
            &c.service,
            Req::get(
                LATEST_PRICE.template,
                &format!("/v1/stocks/{symbol}/latest"),
            )
            .request(Source::HttpApi),
        )
        .await,
        handlers::recent_data(
            &c.service,
            Req::get(RECENT_DATA.template, &format!("/v1/stocks/{symbol}/recent"))
                .request(Source::HttpApi),
        )
        .await,
        handlers::symbol_info(
            &c.service,
            Req::get(SYMBOL_INFO.template, &format!("/v1/symbols/{symbol}"))
                .request(Source::HttpApi),
        )
        .await,
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

#[tokio::test]
async fn clear_one_symbol_removes_only_its_keys_in_one_request() {
    let server = upstash::start().await;
    let data = data("clear-one").await;
    let prefix = unique_prefix("clear-one");
    let mut config = test_cache_config(&prefix);
    config.l1_ttl = Duration::from_secs(5);
    let c = container(&server.url(), data.store(no_memo()), config);
    touch_symbol(&c, "AAPL").await;
    touch_symbol(&c, "FB").await;
    assert!(c.cache().l1_len() >= 6);

    let sent = c.client.requests_sent();
    let response = clear(&c, "/v1/cache/clear/aapl", Some(&bearer())).await;
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
    // This container's L1 dropped AAPL: the next read goes to Redis (a miss now).
    let response = handlers::latest_price(
        &c.service,
        Req::get(LATEST_PRICE.template, "/v1/stocks/AAPL/latest").request(Source::HttpApi),
    )
    .await;
    assert_eq!(response.headers()["x-cache"], "MISS");

    // An empty symbol (trailing slash) is not "clear everything".
    let sent = c.client.requests_sent();
    let response = clear(&c, "/v1/cache/clear/", Some(&bearer())).await;
    assert_error(&response, 400, "invalid_symbol");
    assert_eq!(c.client.requests_sent(), sent);
    assert!(exists(&format!("{prefix}price:latest:FB")).await);

    // Invalid symbol: 400 before any cache call.
    let sent = c.client.requests_sent();
    let response = clear(&c, "/v1/cache/clear/A*", Some(&bearer())).await;
    assert_error(&response, 400, "invalid_symbol");
    assert_eq!(c.client.requests_sent(), sent);
}

#[tokio::test]
async fn clear_all_deletes_only_keys_under_the_prefix() {
    let server = upstash::start().await;
    let data = data("clear-all").await;
    let prefix = unique_prefix("clear-all");
    let c = container(
        &server.url(),
        data.store(no_memo()),
        test_cache_config(&prefix),
    );
    touch_symbol(&c, "AAPL").await;
    touch_symbol(&c, "BRK.B").await;
    let outside = format!("{}outside", unique_prefix("clear-all-neighbour"));
    let mut conn = upstash::redis_conn().await;
    let _: () = redis::cmd("SET")
        .arg(&outside)
        .arg("keep me")
        .query_async(&mut conn)
        .await
        .unwrap();
    // Many keys, so the SCAN loop runs more than one batch.
    for i in 0..1200 {
        let _: () = redis::cmd("SET")
            .arg(format!("{prefix}filler:{i}"))
            .arg(i)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let mut before: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    before.sort();

    let response = clear(&c, "/v1/cache/clear", Some(&bearer())).await;
    assert_eq!(response.status(), 200);
    let body = json_body(&response);
    assert_eq!(body["status"], "cleared");
    assert_eq!(body["keys_deleted"], before.len() as u64, "{body}");
    let after: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        after,
        [format!("{prefix}data:generation")],
        "only the new data generation is left"
    );
    assert!(exists(&outside).await, "keys outside the prefix survive");
    let _: () = redis::cmd("DEL")
        .arg(&outside)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn global_stats_add_up_across_containers() {
    let server = upstash::start().await;
    let data = data("stats").await;
    let prefix = unique_prefix("stats");
    let store = data.store(no_memo());
    let mut config = test_cache_config(&prefix);
    config.stats_flush_requests = 2;
    let containers: Vec<Container> = (0..3)
        .map(|_| container(&server.url(), store.clone(), config.clone()))
        .collect();
    let latest = |c: &Container, s: &str| {
        let req = Req::get(LATEST_PRICE.template, &format!("/v1/stocks/{s}/latest"))
            .request(Source::HttpApi);
        let service = c.service.clone();
        async move { handlers::latest_price(&service, req).await }
    };
    // Scripted mix: 2 misses (AAPL, FB), 8 hits; the unknown ZZZZ is not counted.
    assert_eq!(
        latest(&containers[0], "AAPL").await.headers()["x-cache"],
        "MISS"
    );
    for _ in 0..4 {
        assert_eq!(
            latest(&containers[0], "AAPL").await.headers()["x-cache"],
            "HIT"
        );
    }
    for _ in 0..3 {
        assert_eq!(
            latest(&containers[1], "AAPL").await.headers()["x-cache"],
            "HIT"
        );
    }
    assert_eq!(
        latest(&containers[1], "FB").await.headers()["x-cache"],
        "MISS"
    );
    assert_eq!(latest(&containers[2], "ZZZZ").await.status(), 404);
    assert_eq!(
        latest(&containers[2], "FB").await.headers()["x-cache"],
        "HIT"
    );
    assert_eq!(latest(&containers[2], "ZZZZ").await.status(), 404);
    // Containers 0 and 1 flush their remainder; container 2's remainder is flushed by the stats call it serves.
    for c in &containers[..2] {
        c.cache().flush_stats().await.unwrap();
    }
    let req = Req::get(CACHE_STATS.template, "/v1/cache/stats")
        .header("Authorization", &bearer())
        .request(Source::HttpApi);
    let response = handlers::cache_stats(&containers[2].service, &admin(), req).await;
    assert_eq!(response.status(), 200);
    let stats = json_body(&response);
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

    // Reset (admin): counters back to zero, a new `since`.
    let req = Req::get(CACHE_STATS_RESET.template, "/v1/cache/stats/reset")
        .method("POST")
        .header("Authorization", &bearer())
        .request(Source::HttpApi);
    let response = handlers::cache_stats(&containers[0].service, &admin(), req).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(&response)["status"], "reset");
    let req = Req::get(CACHE_STATS.template, "/v1/cache/stats")
        .header("Authorization", &bearer())
        .request(Source::HttpApi);
    let stats = json_body(&handlers::cache_stats(&containers[0].service, &admin(), req).await);
    assert_eq!(
        (stats["hits"].as_u64(), stats["misses"].as_u64()),
        (Some(0), Some(0)),
        "{stats}"
    );
    assert!(stats["popular"].as_array().unwrap().is_empty());
    assert!(stats["hit_rate"].is_null());
}

#[tokio::test]
async fn a_hit_costs_one_request_even_when_it_flushes_counters() {
    let server = upstash::start().await;
    let data = data("flush-on-hit").await;
    let prefix = unique_prefix("flush-on-hit");
    let mut config = test_cache_config(&prefix);
    config.stats_flush_requests = 1;
    let c = container(&server.url(), data.store(no_memo()), config);
    let latest = || {
        handlers::latest_price(
            &c.service,
            Req::get(LATEST_PRICE.template, "/v1/stocks/AAPL/latest").request(Source::HttpApi),
        )
    };
    assert_eq!(latest().await.headers()["x-cache"], "MISS");
    let mut flushed = false;
    for _ in 0..4 {
        let (sent, commands) = (c.client.requests_sent(), server.stats().redis_commands);
        assert_eq!(latest().await.headers()["x-cache"], "HIT");
        assert_eq!(
            c.client.requests_sent() - sent,
            1,
            "a hit is one REST request"
        );
        flushed |= server.stats().redis_commands - commands > 1;
    }
    assert!(flushed, "counters rode along inside a hit's request");
    let mut conn = upstash::redis_conn().await;
    let hits: i64 = redis::cmd("GET")
        .arg(format!("{prefix}stats:hits"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(hits >= 3, "hits flushed: {hits}");
}

async fn warm_via_http(c: &Container, warm: &WarmConfig) -> Response<Body> {
    let req = Req::get(CACHE_WARM.template, "/v1/cache/warm")
        .method("POST")
        .header("Authorization", &bearer())
        .request(Source::HttpApi);
    handlers::cache_warm(&c.service, &admin(), warm, req).await
}

#[tokio::test]
async fn warmer_fills_skips_fresh_values_and_survives_failures() {
    let server = upstash::start().await;
    let data = data("warm").await;
    let prefix = unique_prefix("warm");
    let store = data.store(no_memo());
    let c = container(&server.url(), store.clone(), test_cache_config(&prefix));
    // BRK.B becomes popular.
    for _ in 0..3 {
        touch_symbol(&c, "BRK.B").await;
    }
    c.cache().flush_stats().await.unwrap();
    let _ = handlers::cache_clear(
        &c.service,
        &admin(),
        Req::get(CACHE_CLEAR_SYMBOL.template, "/v1/cache/clear/BRK.B")
            .method("POST")
            .header("Authorization", &bearer())
            .request(Source::HttpApi),
    )
    .await;
    let warm = WarmConfig {
        symbols: ["AAPL", "FB", "GHOST"]
            .iter()
            .map(|s| Symbol::parse(s).unwrap())
            .collect(),
        top_n: 5,
        concurrency: 4,
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
    let hit = handlers::latest_price(
        &c.service,
        Req::get(LATEST_PRICE.template, "/v1/stocks/AAPL/latest").request(Source::HttpApi),
    )
    .await;
    assert_eq!(hit.headers()["x-cache"], "HIT");

    // Again within the fresh TTL: metadata check only, no storage read for the fresh ones.
    let reads = store.reads();
    let report = json_body(&warm_via_http(&c, &warm).await);
    assert_eq!(report["skipped"], 3, "{report}");
    assert_eq!(report["warmed"], 0, "{report}");
    // Only GHOST's two failing items are read again (manifest + missing partition each);
    // its symbol info succeeded the first time and is fresh.
    assert_eq!(store.reads() - reads, 4);
}

#[tokio::test]
async fn warmer_pipelines_large_batches_and_answers_scheduled_events() {
    let server = upstash::start().await;
    let data = data("warm-many").await;
    let writer = shared::storage::DatasetWriter::new(data.location.clone());
    let mut manifest: shared::models::Manifest = serde_json::from_slice(
        &object_store::ObjectStoreExt::get(
            &*data.location.store,
            &shared::storage::layout::manifest_path(&data.location.prefix),
        )
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap(),
    )
    .unwrap();
    let mut symbols = Vec::new();
    for i in 0..40 {
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
    let prefix = unique_prefix("warm-many");
    let c = container(
        &server.url(),
        data.store(no_memo()),
        test_cache_config(&prefix),
    );
    let warm = WarmConfig {
        symbols,
        top_n: 0,
        concurrency: 8,
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

#[tokio::test]
async fn admin_auth_in_every_case() {
    let server = upstash::start().await;
    let data = data("auth").await;
    let prefix = unique_prefix("auth");
    let c = container(
        &server.url(),
        data.store(no_memo()),
        test_cache_config(&prefix),
    );
    let warm = WarmConfig::default();
    let truncated = format!("Bearer {}", &ADMIN[..ADMIN.len() - 2]);
    let upper = format!("Bearer {}", ADMIN.to_uppercase());
    let wrong = "Bearer not-the-token-at-all-0000".to_string();
    let calls: Vec<(&str, &str, &'static str)> = vec![
        ("POST", "/v1/cache/clear/AAPL", CACHE_CLEAR_SYMBOL.template),
        ("POST", "/v1/cache/clear", CACHE_CLEAR_ALL.template),
        ("GET", "/v1/cache/stats", CACHE_STATS.template),
        ("POST", "/v1/cache/stats/reset", CACHE_STATS_RESET.template),
        ("POST", "/v1/cache/warm", CACHE_WARM.template),
    ];
    let call = |admin: AdminConfig,
                method: &str,
                path: &str,
                route: &'static str,
                auth: Option<String>| {
        let mut req = Req::get(route, path).method(method);
        if let Some(auth) = auth {
            req = req.header("Authorization", &auth);
        }
        let request = req.request(Source::HttpApi);
        let service = c.service.clone();
        let warm = warm.clone();
        async move {
            match route {
                r if r == CACHE_CLEAR_SYMBOL.template || r == CACHE_CLEAR_ALL.template => {
                    handlers::cache_clear(&service, &admin, request).await
                }
                r if r == CACHE_WARM.template => {
                    handlers::cache_warm(&service, &admin, &warm, request).await
                }
                _ => handlers::cache_stats(&service, &admin, request).await,
            }
        }
    };
    for (method, path, route) in &calls {
        for auth in [
            None,
            Some(String::new()),
            Some(wrong.clone()),
            Some(truncated.clone()),
            Some(upper.clone()),
            Some(ADMIN.to_string()),
        ] {
            let response = call(admin(), method, path, route, auth).await;
            assert_error(&response, 401, "unauthorized");
        }
        let response = call(AdminConfig::default(), method, path, route, Some(bearer())).await;
        assert_error(&response, 403, "admin_disabled");
        let response = call(admin(), method, path, route, Some(bearer())).await;
        assert_eq!(response.status(), 200, "{method} {path}");
    }
    // Stats may be public; reset never is.
    let public = AdminConfig {
        stats_public: true,
        ..admin()
    };
    assert_eq!(
        call(
            public.clone(),
            "GET",
            "/v1/cache/stats",
            CACHE_STATS.template,
            None
        )
        .await
        .status(),
        200
    );
    assert_error(
        &call(
            public,
            "POST",
            "/v1/cache/stats/reset",
            CACHE_STATS_RESET.template,
            None,
        )
        .await,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn management_without_a_cache() {
    let data = data("no-cache").await;
    let service =
        shared::service::StockDataService::new(data.store(no_memo()), None, CacheConfig::default());
    let req = Req::get(CACHE_CLEAR_ALL.template, "/v1/cache/clear")
        .method("POST")
        .header("Authorization", &bearer())
        .request(Source::HttpApi);
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
    let req = Req::get(CACHE_WARM.template, "/v1/cache/warm")
        .method("POST")
        .header("Authorization", &bearer())
        .request(Source::HttpApi);
    assert_error(
        &handlers::cache_warm(&service, &admin(), &WarmConfig::default(), req).await,
        503,
        "cache_unavailable",
    );
}

#[tokio::test]
async fn emf_line_per_invocation() {
    let server = upstash::start().await;
    let data = data("emf").await;
    let prefix = unique_prefix("emf");
    let c = container(
        &server.url(),
        data.store(no_memo()),
        test_cache_config(&prefix),
    );
    let mut lines = Vec::new();
    for _ in 0..2 {
        let invocation = shared::metrics::Invocation::begin(&c.service);
        let response = handlers::latest_price(
            &c.service,
            Req::get(LATEST_PRICE.template, "/v1/stocks/AAPL/latest").request(Source::HttpApi),
        )
        .await;
        let line: serde_json::Value = serde_json::from_str(&invocation.emf_line(
            &c.service,
            "StockApi",
            "latest-price",
            &response,
        ))
        .unwrap();
        lines.push(line);
    }
    let (miss, hit) = (&lines[0], &lines[1]);
    assert_eq!(
        miss["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "StockApi"
    );
    assert_eq!(
        miss["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Function"]])
    );
    assert_eq!(miss["Function"], "latest-price");
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
}
