//! Read-through caching against the real Redis through upstash-local.

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::backends::{TestStore, memory, no_memo, remembering};
use integration_tests::containers::{Container, container, container_with, test_cache_config};
use integration_tests::events::{Req, Source};
use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::upstash::{
    self, SilentListener, pttl, redis_keys, refused_addr, unique_prefix,
};
use integration_tests::{assert_error, json_body, latest, x_cache};
use object_store::ObjectStoreExt;
use shared::handlers::{self, LATEST_PRICE, RECENT_DATA, SYMBOL_INFO, SYMBOLS};
use shared::storage::{StockStore, layout};
use shared::symbol::Symbol;

#[tokio::test]
async fn miss_then_hit_then_l1_with_exact_request_counts() {
    let server = upstash::start().await;
    let data = memory("flow").await;
    let store = data.store(no_memo());
    let prefix = unique_prefix("flow");
    let c = container(&server.url(), store.clone(), test_cache_config(&prefix));

    let (reads, rest) = (store.reads(), c.client.requests_sent());
    let server_before = server.stats().requests;
    let miss = latest(&c, "AAPL").await;
    assert_eq!(miss.status(), 200);
    assert_eq!(x_cache(&miss), "MISS");
    assert_eq!(
        c.client.requests_sent() - rest,
        3,
        "miss: GET, SET NX lock, pipeline(SET value, release lock)"
    );
    assert_eq!(
        server.stats().requests - server_before,
        3,
        "the server saw the same three"
    );
    assert!(
        store.reads() - reads <= 2,
        "miss: at most two storage reads"
    );
    assert_eq!(miss.headers()["cache-control"], "public, max-age=300");

    let (reads, rest) = (store.reads(), c.client.requests_sent());
    let server_before = server.stats().requests;
    let hit = latest(&c, "aapl").await;
    assert_eq!(x_cache(&hit), "HIT");
    assert_eq!(
        c.client.requests_sent() - rest,
        1,
        "hit: exactly one REST request"
    );
    assert_eq!(server.stats().requests - server_before, 1);
    assert_eq!(store.reads() - reads, 0, "hit: no storage read");
    assert_eq!(
        json_body(&hit),
        json_body(&miss),
        "a hit answers what the miss answered"
    );
    assert_eq!(hit.headers()["etag"], miss.headers()["etag"]);

    // With L1 on, a hot key costs no round trip at all.
    let mut config = test_cache_config(&prefix);
    config.l1_ttl = Duration::from_secs(5);
    let warm = container(&server.url(), store.clone(), config);
    assert_eq!(x_cache(&latest(&warm, "AAPL").await), "HIT");
    let rest = warm.client.requests_sent();
    let l1 = latest(&warm, "AAPL").await;
    assert_eq!(x_cache(&l1), "L1");
    assert_eq!(
        warm.client.requests_sent() - rest,
        0,
        "L1 hit: no REST request"
    );
    assert_eq!(json_body(&l1), json_body(&miss));

    // Every key written is under the prefix: the value; the lock was
    // released, and the counters stay in the container until a flush is due.
    assert_eq!(
        redis_keys(&prefix).await,
        vec![format!("{prefix}price:latest:AAPL")]
    );
    let ttl = pttl(&format!("{prefix}price:latest:AAPL")).await;
    assert!(
        ttl > 300_000 && ttl <= 600_000,
        "kept for fresh TTL + grace, got {ttl} ms"
    );
}

#[tokio::test]
async fn every_read_endpoint_is_cached_and_recent_windows_share_one_key() {
    let server = upstash::start().await;
    let data = memory("endpoints").await;
    let store = data.store(no_memo());
    let prefix = unique_prefix("endpoints");
    let c = container(&server.url(), store.clone(), test_cache_config(&prefix));

    let recent = |days: &str| {
        Req::get(RECENT_DATA.template, "/v1/stocks/AAPL/recent")
            .query(days)
            .request(Source::HttpApi)
    };
    let r30 = handlers::recent_data(&c.service, recent("days=30")).await;
    assert_eq!(x_cache(&r30), "MISS");
    let reads = store.reads();
    let r7 = handlers::recent_data(&c.service, recent("days=7")).await;
    let r365 = handlers::recent_data(&c.service, recent("days=365")).await;
    assert_eq!(
        (x_cache(&r7), x_cache(&r365)),
        ("HIT".into(), "HIT".into()),
        "every days value hits the one window key"
    );
    assert_eq!(store.reads(), reads);
    assert_eq!(json_body(&r7)["days"], 7);
    assert_eq!(json_body(&r7)["data_points"][0]["date"], "2013-02-22");
    assert_eq!(json_body(&r30)["data_points"][0]["date"], "2013-01-30");
    // A window beyond the cached one is read from storage and says so.
    let long = handlers::recent_data(&c.service, recent("days=1000")).await;
    assert_eq!(x_cache(&long), "BYPASS");
    assert_eq!(json_body(&long)["data_points"][0]["date"], "2011-11-01");

    let list = || Req::get(SYMBOLS.template, "/v1/symbols").request(Source::HttpApi);
    assert_eq!(
        x_cache(&handlers::symbols(&c.service, list()).await),
        "MISS"
    );
    assert_eq!(x_cache(&handlers::symbols(&c.service, list()).await), "HIT");
    let info = || Req::get(SYMBOL_INFO.template, "/v1/symbols/FB").request(Source::HttpApi);
    assert_eq!(
        x_cache(&handlers::symbol_info(&c.service, info()).await),
        "MISS"
    );
    let hit = handlers::symbol_info(&c.service, info()).await;
    assert_eq!(x_cache(&hit), "HIT");
    assert_eq!(json_body(&hit)["name"], "Meta Platforms, Inc.");

    // 304 on a hit with a matching If-None-Match.
    let etag = hit.headers()["etag"].to_str().unwrap().to_string();
    let req = Req::get(SYMBOL_INFO.template, "/v1/symbols/FB")
        .header("If-None-Match", &etag)
        .request(Source::HttpApi);
    let not_modified = handlers::symbol_info(&c.service, req).await;
    assert_eq!(not_modified.status(), 304);
    assert_eq!(x_cache(&not_modified), "HIT");

    let keys: Vec<String> = redis_keys(&prefix)
        .await
        .into_iter()
        .filter(|k| !k.contains(":stats:"))
        .collect();
    assert_eq!(
        keys,
        vec![
            format!("{prefix}data:recent:AAPL"),
            format!("{prefix}symbol:info:FB"),
            format!("{prefix}symbols:list"),
        ]
    );
}

#[tokio::test]
async fn values_go_stale_then_expire() {
    let server = upstash::start().await;
    let data = memory("ttl").await;
    let store = data.store(no_memo());
    let prefix = unique_prefix("ttl");
    let mut config = test_cache_config(&prefix);
    config.ttl_latest_price = Duration::from_secs(1);
    config.stale_grace = Some(Duration::from_secs(1));
    let c = container(&server.url(), store.clone(), config.clone());

    assert_eq!(x_cache(&latest(&c, "AAPL").await), "MISS");
    assert_eq!(x_cache(&latest(&c, "AAPL").await), "HIT");
    let key = format!("{prefix}price:latest:AAPL");
    assert!(pttl(&key).await <= 2000);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Stale: this caller wins the lock and refreshes from storage.
    let reads = store.reads();
    let refreshed = latest(&c, "AAPL").await;
    assert_eq!(x_cache(&refreshed), "MISS");
    assert!(store.reads() > reads);
    assert_eq!(x_cache(&latest(&c, "AAPL").await), "HIT");
    // Untouched for longer than fresh + grace: gone from Redis.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(pttl(&key).await, -2, "expired out of Redis");
    assert_eq!(x_cache(&latest(&c, "AAPL").await), "MISS");
}

#[tokio::test]
async fn unknown_symbols_cost_one_request_and_no_key_and_errors_are_never_cached() {
    let server = upstash::start().await;
    let data = memory("unknown").await;
    let memo = remembering();
    let prefix = unique_prefix("unknown");
    let warm_store = data.store(memo.clone());
    let warm = container(
        &server.url(),
        warm_store.clone(),
        test_cache_config(&prefix),
    );
    assert_eq!(latest(&warm, "AAPL").await.status(), 200);
    let keys_before = redis_keys(&prefix).await;

    // A warm container answers from the manifest it holds: one REST request
    // (the MGET that also tells it the manifest is current), no storage
    // read, no key.
    let (reads, rest) = (warm_store.reads(), warm.client.requests_sent());
    for n in 0..200 {
        assert_error(
            &latest(&warm, &format!("ZZ{n:04}")).await,
            404,
            "symbol_not_found",
        );
    }
    assert_eq!(warm.client.requests_sent() - rest, 200, "one request each");
    assert_eq!(warm_store.reads(), reads, "no storage read");
    assert_eq!(redis_keys(&prefix).await, keys_before, "no key written");

    // A cold container reads the manifest once, then the same.
    let cold_store = data.store(memo);
    let cold = container(
        &server.url(),
        cold_store.clone(),
        test_cache_config(&prefix),
    );
    let rest = cold.client.requests_sent();
    assert_error(&latest(&cold, "ZZZZ").await, 404, "symbol_not_found");
    assert_eq!(cold.client.requests_sent() - rest, 1);
    assert_eq!(cold_store.reads(), 1, "the manifest, once");
    assert_eq!(redis_keys(&prefix).await, keys_before);

    // Without a remembered manifest (MANIFEST_TTL_S=0) the lock winner's
    // read finds out: still no key left behind.
    let store = data.store(no_memo());
    let c = container(&server.url(), store.clone(), test_cache_config(&prefix));
    assert_error(&latest(&c, "ZZZZ").await, 404, "symbol_not_found");
    assert_error(&latest(&c, "ZZZZ").await, 404, "symbol_not_found");
    assert_eq!(redis_keys(&prefix).await, keys_before);

    // A storage error is not cached: GHOST is listed but has no data.
    assert_error(&latest(&c, "GHOST").await, 502, "storage_unavailable");
    assert_error(&latest(&c, "GHOST").await, 502, "storage_unavailable");
    assert_eq!(
        pttl(&format!("{prefix}price:latest:GHOST")).await,
        -2,
        "errors are never cached"
    );
    assert!(
        redis_keys(&format!("{prefix}lock:")).await.is_empty(),
        "locks are released after a failed load"
    );
    // Invalid input never reaches the cache.
    let rest = c.client.requests_sent();
    assert_error(&latest(&c, "A*").await, 400, "invalid_symbol");
    assert_eq!(c.client.requests_sent(), rest);
}

#[tokio::test]
async fn rollback_switch_makes_zero_cache_calls() {
    let server = upstash::start().await;
    let data = memory("disabled").await;
    let prefix = unique_prefix("disabled");
    let url = server.url();
    let env = move |name: &str| -> Option<String> {
        match name {
            "STORAGE_URL" => Some("memory://".into()),
            "UPSTASH_REDIS_REST_URL" => Some(url.clone()),
            "UPSTASH_REDIS_REST_TOKEN" => Some(upstash::TEST_TOKEN.into()),
            "CACHE_ENABLED" => Some("false".into()),
            "CACHE_KEY_PREFIX" => Some(prefix.clone()),
            _ => None,
        }
    };
    let config = shared::config::Config::from_lookup(env).unwrap();
    assert!(!config.cache.enabled);
    let built = shared::runtime::build_service(&config).unwrap();
    assert!(
        built.cache().is_none(),
        "CACHE_ENABLED=false builds no cache"
    );
    // The same service shape over the seeded data.
    let service =
        shared::service::StockDataService::wire(data.store(no_memo()), None, config.cache.clone());
    let before = server.stats().requests;
    for _ in 0..3 {
        let req =
            Req::get(LATEST_PRICE.template, "/v1/stocks/AAPL/latest").request(Source::HttpApi);
        let response = handlers::latest_price(&service, req).await;
        assert_eq!(response.status(), 200);
        assert_eq!(x_cache(&response), "BYPASS");
    }
    assert_eq!(server.stats().requests, before, "no REST request at all");
}

async fn throttled_store(data: &TestStore, latency: Duration) -> Arc<StockStore> {
    let throttled = object_store::throttle::ThrottledStore::new(
        data.location.store.clone(),
        object_store::throttle::ThrottleConfig {
            wait_get_per_call: latency,
            ..Default::default()
        },
    );
    let location = shared::storage::StorageLocation::from_store(
        Arc::new(throttled),
        data.location.prefix.as_ref(),
    )
    .unwrap();
    Arc::new(StockStore::new(location, no_memo()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_of_independent_containers_reads_storage_at_most_twice() {
    const K: usize = 24;
    let server = upstash::start().await;
    let data = memory("stampede").await;
    let store = throttled_store(&data, Duration::from_millis(50)).await;
    let prefix = unique_prefix("stampede");
    let mut config = test_cache_config(&prefix);
    config.ttl_symbol_info = Duration::from_secs(1);
    config.stale_grace = Some(Duration::from_secs(30));
    let containers: Vec<Arc<Container>> = (0..K)
        .map(|_| {
            Arc::new(container_with(
                &server.url(),
                upstash::TEST_TOKEN,
                Duration::from_secs(2),
                store.clone(),
                config.clone(),
            ))
        })
        .collect();
    let info = |c: Arc<Container>| async move {
        let req = Req::get(SYMBOL_INFO.template, "/v1/symbols/AAPL").request(Source::HttpApi);
        handlers::symbol_info(&c.service, req).await
    };

    // Cold key: one reader per load of the manifest.
    let before = store.reads();
    let responses = futures::future::join_all(containers.iter().cloned().map(info)).await;
    assert!(
        responses.iter().all(|r| r.status() == 200),
        "every caller answered"
    );
    let cold_reads = store.reads() - before;
    assert!(
        cold_reads <= 2,
        "cold stampede of {K}: {cold_reads} storage reads (plain cache-aside: {K})"
    );

    // Stale key: one refresh, everyone else served at once.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = store.reads();
    let responses = futures::future::join_all(containers.iter().cloned().map(info)).await;
    assert!(responses.iter().all(|r| r.status() == 200));
    let stale_reads = store.reads() - before;
    assert!(
        stale_reads <= 1,
        "stale stampede of {K}: {stale_reads} storage reads"
    );
    let statuses: Vec<String> = responses.iter().map(x_cache).collect();
    assert!(
        statuses.iter().filter(|s| *s == "STALE").count() >= K - 2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| *s == "MISS").count(),
        stale_reads as usize,
        "{statuses:?}"
    );
}

async fn assert_answers_from_storage(c: &Container, what: &str) {
    for _ in 0..3 {
        let response = latest(c, "AAPL").await;
        assert_eq!(response.status(), 200, "{what}");
        assert_eq!(x_cache(&response), "BYPASS", "{what}");
        assert_eq!(json_body(&response)["date"], "2013-03-01", "{what}");
    }
}

#[tokio::test]
async fn every_cache_failure_is_answered_from_storage() {
    let server = upstash::start().await;
    let data = memory("faults").await;
    let store = data.store(no_memo());
    let prefix = unique_prefix("faults");
    let timeout = Duration::from_millis(150);
    let config = test_cache_config(&prefix);

    let refused = refused_addr().await;
    let c = container_with(
        &format!("http://{refused}"),
        upstash::TEST_TOKEN,
        timeout,
        store.clone(),
        config.clone(),
    );
    assert_answers_from_storage(&c, "refused port").await;

    let silent = SilentListener::start().await;
    let c = container_with(
        &format!("http://{}", silent.addr),
        upstash::TEST_TOKEN,
        timeout,
        store.clone(),
        config.clone(),
    );
    let started = Instant::now();
    assert_answers_from_storage(&c, "listener that never answers").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "each wait is bounded by CACHE_TIMEOUT_MS"
    );

    let c = container_with(
        &server.url(),
        "wrong-token",
        timeout,
        store.clone(),
        config.clone(),
    );
    assert_answers_from_storage(&c, "401 wrong token").await;

    let proxy = FaultProxy::start(server.addr()).await;
    for fault in [
        Fault::Http500,
        Fault::Garbage,
        Fault::CutMidResponse,
        Fault::Refuse,
    ] {
        proxy.set(fault);
        let c = container_with(
            &proxy.url(),
            upstash::TEST_TOKEN,
            timeout,
            store.clone(),
            config.clone(),
        );
        assert_answers_from_storage(&c, &format!("{fault:?}")).await;
    }
    assert!(
        redis_keys(&prefix).await.is_empty(),
        "nothing reached Redis through the faults"
    );
}

/// Values that are not exactly what the cache wrote: garbage, a value of an
/// earlier version, a valid header over a cut body, over a foreign body of
/// the same length.
fn corrupt_values(valid: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let text = String::from_utf8(valid.to_vec()).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    let foreign: String = body.chars().rev().collect();
    vec![
        ("garbage", b"\xff\x00 not an envelope".to_vec()),
        (
            "earlier version",
            format!("v1|1|300000|1|V\n{body}").into_bytes(),
        ),
        ("cut body", valid[..valid.len() - 3].to_vec()),
        ("foreign body", format!("{header}\n{foreign}").into_bytes()),
    ]
}

#[tokio::test]
async fn corrupt_stored_value_is_served_from_storage_and_overwritten() {
    let server = upstash::start().await;
    let data = memory("corrupt").await;
    let store = data.store(no_memo());
    let prefix = unique_prefix("corrupt");
    let c = container(&server.url(), store.clone(), test_cache_config(&prefix));
    let mut conn = upstash::redis_conn().await;
    let reader = conn.clone();
    let get = |key: String| {
        let mut conn = reader.clone();
        async move {
            let value: Vec<u8> = redis::cmd("GET")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
            value
        }
    };
    let info = |symbol: &str| {
        Req::get(SYMBOL_INFO.template, &format!("/v1/symbols/{symbol}")).request(Source::HttpApi)
    };
    // A good value of each kind, to corrupt.
    assert_eq!(x_cache(&latest(&c, "AAPL").await), "MISS");
    assert_eq!(
        x_cache(&handlers::symbol_info(&c.service, info("AAPL")).await),
        "MISS"
    );
    let latest_key = format!("{prefix}price:latest:AAPL");
    let info_key = format!("{prefix}symbol:info:AAPL");
    let good_latest = get(latest_key.clone()).await;
    let good_info = get(info_key.clone()).await;
    let expected_latest = json_body(&latest(&c, "AAPL").await);

    for (case, bad) in corrupt_values(&good_latest) {
        let _: () = redis::cmd("SET")
            .arg(&latest_key)
            .arg(bad.as_slice())
            .query_async(&mut conn)
            .await
            .unwrap();
        let response = latest(&c, "AAPL").await;
        assert_eq!(response.status(), 200, "{case}");
        assert_eq!(x_cache(&response), "MISS", "{case}: never served as a hit");
        assert_eq!(json_body(&response), expected_latest, "{case}");
        assert!(
            get(latest_key.clone()).await.starts_with(b"v3|"),
            "{case}: overwritten"
        );
        assert_eq!(x_cache(&latest(&c, "AAPL").await), "HIT", "{case}");
    }
    for (case, bad) in corrupt_values(&good_info) {
        let _: () = redis::cmd("SET")
            .arg(&info_key)
            .arg(bad.as_slice())
            .query_async(&mut conn)
            .await
            .unwrap();
        let response = handlers::symbol_info(&c.service, info("AAPL")).await;
        assert_eq!(
            (response.status().as_u16(), x_cache(&response).as_str()),
            (200, "MISS"),
            "{case}"
        );
        assert_eq!(json_body(&response)["symbol"], "AAPL", "{case}");
    }
}

#[tokio::test]
async fn breaker_opens_skips_probes_and_recovers_without_restart() {
    let server = upstash::start().await;
    let data = memory("breaker").await;
    let store = data.store(no_memo());
    let prefix = unique_prefix("breaker");
    let mut config = test_cache_config(&prefix);
    config.breaker_failures = 3;
    config.breaker_cooldown = Duration::from_millis(800);
    let proxy = FaultProxy::start(server.addr()).await;
    let c = container_with(
        &proxy.url(),
        upstash::TEST_TOKEN,
        Duration::from_millis(100),
        store.clone(),
        config,
    );

    assert_eq!(x_cache(&latest(&c, "AAPL").await), "MISS");
    assert_eq!(x_cache(&latest(&c, "AAPL").await), "HIT");
    proxy.set(Fault::Blackhole);
    for _ in 0..3 {
        assert_eq!(latest(&c, "AAPL").await.status(), 200);
    }
    assert_eq!(c.cache().breaker_state().as_str(), "open");
    // Open: requests no longer wait on the dead cache.
    let sent = c.client.requests_sent();
    let started = Instant::now();
    for _ in 0..5 {
        let response = latest(&c, "AAPL").await;
        assert_eq!(
            (response.status().as_u16(), x_cache(&response)),
            (200, "BYPASS".to_string())
        );
    }
    assert_eq!(c.client.requests_sent(), sent, "no cache call while open");
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "no waiting on the cache while open"
    );

    // The cache comes back; after the cooldown one probe closes the breaker and hits resume.
    proxy.set(Fault::Pass);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(c.cache().breaker_state().as_str(), "half_open");
    assert_eq!(
        x_cache(&latest(&c, "AAPL").await),
        "HIT",
        "the probe succeeds"
    );
    assert_eq!(c.cache().breaker_state().as_str(), "closed");
    assert_eq!(x_cache(&latest(&c, "AAPL").await), "HIT");
}

#[tokio::test]
async fn storage_failure_serves_stale_else_502() {
    let server = upstash::start().await;
    let data = memory("stale-if-error").await;
    let store = data.store(no_memo());
    let prefix = unique_prefix("stale-if-error");
    let mut config = test_cache_config(&prefix);
    config.ttl_latest_price = Duration::from_secs(1);
    config.stale_grace = Some(Duration::from_secs(60));
    let c = container(&server.url(), store.clone(), config);

    let fresh = latest(&c, "AAPL").await;
    assert_eq!(x_cache(&fresh), "MISS");
    // Storage loses AAPL's partition.
    let partition =
        layout::partition_path(&data.location.prefix, &Symbol::parse("AAPL").unwrap(), 2013);
    data.location.store.delete(&partition).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = latest(&c, "AAPL").await;
    assert_eq!(stale.status(), 200);
    assert_eq!(x_cache(&stale), "STALE");
    assert_eq!(stale.headers()["cache-control"], "public, max-age=0");
    assert_eq!(json_body(&stale), json_body(&fresh));
    // Without a cached value the same failure is a 502, and it is not cached.
    let partition = layout::partition_path(
        &data.location.prefix,
        &Symbol::parse("BRK.B").unwrap(),
        2013,
    );
    data.location.store.delete(&partition).await.unwrap();
    assert_error(&latest(&c, "BRK.B").await, 502, "storage_unavailable");
    assert_eq!(pttl(&format!("{prefix}price:latest:BRK.B")).await, -2);
}

#[tokio::test]
async fn xfetch_refreshes_a_fresh_value_early_when_due() {
    let server = upstash::start().await;
    let data = memory("xfetch").await;
    let store = throttled_store(&data, Duration::from_millis(20)).await;
    let prefix = unique_prefix("xfetch");
    let mut config = test_cache_config(&prefix);
    config.ttl_latest_price = Duration::from_secs(2);
    // δ ≈ 40 ms (two 20 ms reads) × β = 1e7: the early refresh is due on the first hit
    // unless rand > 0.99999.
    config.xfetch_beta = 1e7;
    let c = container(&server.url(), store.clone(), config.clone());
    assert_eq!(x_cache(&latest(&c, "AAPL").await), "MISS");
    let reads = store.reads();
    let early = latest(&c, "AAPL").await;
    assert_eq!(x_cache(&early), "MISS", "refreshed before expiry");
    assert!(store.reads() > reads);
    // β = 0 turns it off: a plain hit.
    config.xfetch_beta = 0.0;
    let plain = container(&server.url(), store.clone(), config);
    assert_eq!(x_cache(&latest(&plain, "AAPL").await), "HIT");
}
