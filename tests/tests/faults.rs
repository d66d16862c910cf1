//! Fault injection with real network and storage faults, beyond `cache.rs`:
//! delays within and beyond `CACHE_TIMEOUT_MS`, every proxy fault toggled
//! while one container keeps serving (the cache dies and comes back, the
//! breaker opens, stops waiting, closes again), storage fault kinds, and a
//! real Redis server killed and restarted on the same port mid-test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::backends::{ALL_BACKENDS, memory, no_memo, seeded};
use integration_tests::containers::{Container, container_with, test_cache_config};
use integration_tests::events::{Req, Source};
use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::probe_store::{ProbeStore, StoreFault, probed};
use integration_tests::upstash::{self, ServeOptions, pttl, unique_prefix};
use integration_tests::{assert_error, json_body, latest, symbol_info, x_cache};
use lambda_http::{Body, Response};
use object_store::{ObjectStoreExt, PutPayload};
use shared::cache::CacheConfig;
use shared::handlers::{self, LATEST_PRICE, RECENT_DATA};
use shared::service::StockDataService;
use shared::storage::{StockStore, StorageLocation, StoreOptions, layout};
use shared::symbol::Symbol;

fn breaker_config(prefix: &str) -> CacheConfig {
    let mut config = test_cache_config(prefix);
    config.breaker_failures = 3;
    config.breaker_cooldown = Duration::from_millis(400);
    config
}

#[tokio::test]
async fn delay_within_the_timeout_still_hits_and_beyond_it_answers_from_storage() {
    let server = upstash::start().await;
    let data = memory("delay").await;
    let prefix = unique_prefix("delay");
    let proxy = FaultProxy::start(server.addr()).await;
    let timeout = Duration::from_millis(300);
    let c = container_with(
        &proxy.url(),
        upstash::TEST_TOKEN,
        timeout,
        data.store(StoreOptions::default()),
        breaker_config(&prefix),
    );
    assert_eq!(x_cache(&latest(&c, "AAPL").await), "MISS");

    proxy.set(Fault::Delay(Duration::from_millis(60)));
    for _ in 0..3 {
        let response = latest(&c, "AAPL").await;
        assert_eq!(
            x_cache(&response),
            "HIT",
            "a delay within CACHE_TIMEOUT_MS is only slower"
        );
    }
    assert_eq!(c.cache().breaker_state().as_str(), "closed");

    proxy.set(Fault::Delay(Duration::from_millis(800)));
    for _ in 0..5 {
        let started = Instant::now();
        let response = latest(&c, "AAPL").await;
        assert_eq!(response.status(), 200);
        assert_eq!(json_body(&response)["date"], "2013-03-01");
        assert!(
            started.elapsed() < timeout * 3 + Duration::from_millis(500),
            "a slow cache costs at most the timeout: {:?}",
            started.elapsed()
        );
    }
    assert_eq!(c.cache().breaker_state().as_str(), "open");
}

/// One container, every fault in turn; the cache dies and comes back each time.
#[tokio::test]
async fn every_fault_toggled_on_one_container_opens_then_closes_the_breaker() {
    let server = upstash::start().await;
    let data = memory("toggle").await;
    let store = data.store(StoreOptions::default());
    let prefix = unique_prefix("toggle");
    let config = breaker_config(&prefix);
    let proxy = FaultProxy::start(server.addr()).await;
    let c = container_with(
        &proxy.url(),
        upstash::TEST_TOKEN,
        Duration::from_millis(200),
        store.clone(),
        config.clone(),
    );
    assert_eq!(x_cache(&latest(&c, "AAPL").await), "MISS");
    let faults = [
        Fault::Refuse,
        Fault::Blackhole,
        Fault::Delay(Duration::from_millis(700)),
        Fault::CutMidResponse,
        Fault::Garbage,
        Fault::Http500,
    ];
    let mut requests = 0;
    for fault in faults {
        proxy.set(Fault::Pass);
        assert_eq!(
            x_cache(&latest(&c, "AAPL").await),
            "HIT",
            "{fault:?}: healthy before"
        );
        proxy.set(fault);
        requests += breaker_opens_while_storage_answers(&c, &config, fault).await;
        requests += open_breaker_sends_nothing_and_waits_on_nothing(&c, &proxy, fault).await;
        // The cache comes back: after the cooldown one probe closes the breaker.
        proxy.set(Fault::Pass);
        tokio::time::sleep(config.breaker_cooldown + Duration::from_millis(50)).await;
        let response = latest(&c, "AAPL").await;
        requests += 1;
        assert_eq!(x_cache(&response), "HIT", "{fault:?}: hits resume");
        assert_eq!(c.cache().breaker_state().as_str(), "closed");
    }
    println!(
        "faults: {} fault modes toggled on one container, {requests} requests, all 200",
        faults.len()
    );
}

/// Under `fault`, every request is answered from storage while the breaker
/// counts failures; it opens within `breaker_failures` requests. Returns
/// the requests sent.
async fn breaker_opens_while_storage_answers(
    c: &Container,
    config: &CacheConfig,
    fault: Fault,
) -> usize {
    let mut until_open = 0;
    while c.cache().breaker_state().as_str() != "open" {
        let response = latest(c, "AAPL").await;
        assert_eq!(response.status(), 200, "{fault:?}");
        assert_eq!(json_body(&response)["date"], "2013-03-01");
        until_open += 1;
        assert!(
            until_open <= config.breaker_failures,
            "{fault:?}: breaker still {} after {until_open} requests",
            c.cache().breaker_state().as_str()
        );
    }
    until_open as usize
}

/// With the breaker open, ten requests are answered from storage (`BYPASS`)
/// with no cache call, no connection to the proxy and no wait. Returns the
/// requests sent.
async fn open_breaker_sends_nothing_and_waits_on_nothing(
    c: &Container,
    proxy: &FaultProxy,
    fault: Fault,
) -> usize {
    let (sent, connections) = (c.client.requests_sent(), proxy.connections());
    let started = Instant::now();
    for _ in 0..10 {
        let response = latest(c, "AAPL").await;
        assert_eq!(
            (response.status().as_u16(), x_cache(&response)),
            (200, "BYPASS".into()),
            "{fault:?}"
        );
    }
    assert_eq!(c.client.requests_sent(), sent, "{fault:?}: no cache call");
    assert_eq!(proxy.connections(), connections, "{fault:?}: no connection");
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "{fault:?}: open breaker waits on nothing ({:?})",
        started.elapsed()
    );
    10
}

#[tokio::test]
async fn storage_faults_answer_stale_or_a_json_error_in_bounded_time_and_never_cache_it() {
    let server = upstash::start().await;
    let data = memory("storage-faults").await;
    let (probe, location) = probed(&data.location);
    let store = Arc::new(StockStore::new(
        location,
        StoreOptions {
            timeout: Duration::from_millis(300),
            ..no_memo()
        },
    ));
    let prefix = unique_prefix("storage-faults");
    let mut config = test_cache_config(&prefix);
    config.ttl_latest_price = Duration::from_secs(1);
    config.ttl_symbol_info = Duration::from_secs(1);
    config.stale_grace = Some(Duration::from_secs(60));
    let c = container_with(
        &server.url(),
        upstash::TEST_TOKEN,
        Duration::from_millis(500),
        store.clone(),
        config,
    );
    // Cache AAPL's latest price and FB's info, then let them go stale.
    let fresh = latest(&c, "AAPL").await;
    assert_eq!(x_cache(&fresh), "MISS");
    assert_eq!(symbol_info(&c, "FB").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let mut kinds = 0;
    for fault in [StoreFault::Error, StoreFault::Slow(Duration::from_secs(5))] {
        kinds += 1;
        probe.set_fault(fault);
        failing_reads_answer_stale_values_else_a_502(&c, &prefix, &fresh, fault).await;
    }
    probe.set_fault(StoreFault::Pass);

    kinds += bad_data_answers_an_uncached_502(&c, &data.location, &prefix).await;
    // An unknown symbol is still a plain 404 while storage misbehaves elsewhere.
    let response = latest(&c, "NOPE").await;
    assert_error(&response, 404, "symbol_not_found");
    println!("faults: {kinds} storage fault kinds, every answer stale or a JSON error");
    assert!(probe.calls() > 0);
}

/// While every storage read fails with `fault`: cached values (AAPL's latest
/// price, FB's info, both stale) are served within a bounded time; anything
/// not cached is a 502 JSON error within a bounded time, and nothing is stored.
async fn failing_reads_answer_stale_values_else_a_502(
    c: &Container,
    prefix: &str,
    fresh: &Response<Body>,
    fault: StoreFault,
) {
    let started = Instant::now();
    let stale = latest(c, "AAPL").await;
    assert!(started.elapsed() < Duration::from_secs(2), "{fault:?}");
    assert_eq!(
        (stale.status().as_u16(), x_cache(&stale)),
        (200, "STALE".into()),
        "{fault:?}"
    );
    assert_eq!(json_body(&stale), json_body(fresh));
    let stale = symbol_info(c, "FB").await;
    assert_eq!(x_cache(&stale), "STALE", "{fault:?}");
    for symbol in ["BRK.B", "FB"] {
        let started = Instant::now();
        assert_error(&latest(c, symbol).await, 502, "storage_unavailable");
        assert!(started.elapsed() < Duration::from_secs(2), "{fault:?}");
        assert_eq!(pttl(&format!("{prefix}price:latest:{symbol}")).await, -2);
    }
    let started = Instant::now();
    let req = Req::get(RECENT_DATA.template, "/v1/stocks/AAPL/recent")
        .query("days=1000")
        .request(Source::HttpApi);
    assert_error(
        &handlers::recent_data(&c.service, req).await,
        502,
        "storage_unavailable",
    );
    assert!(started.elapsed() < Duration::from_secs(2), "{fault:?}");
}

/// Bad data: a corrupt partition, a manifest entry without data, a missing
/// partition, a partition holding another symbol's data. Each is a 502,
/// never cached. Returns the kinds tried.
async fn bad_data_answers_an_uncached_502(
    c: &Container,
    location: &StorageLocation,
    prefix: &str,
) -> usize {
    let mut kinds = 0;
    let brk = Symbol::parse("BRK.B").unwrap();
    location
        .store
        .put(
            &layout::partition_path(&location.prefix, &brk, 2013),
            PutPayload::from_static(b"{\"symbol\":\"BRK.B\",\"data_points\":[{\"date\":"),
        )
        .await
        .unwrap();
    for symbol in ["BRK.B", "GHOST", "BROKEN"] {
        kinds += 1;
        for _ in 0..2 {
            assert_error(&latest(c, symbol).await, 502, "storage_unavailable");
        }
        assert_eq!(
            pttl(&format!("{prefix}price:latest:{symbol}")).await,
            -2,
            "{symbol}: an error is never cached"
        );
    }
    // A partition that holds another symbol's data.
    kinds += 1;
    let fb = layout::partition_path(&location.prefix, &Symbol::parse("FB").unwrap(), 2012);
    let aapl_2012 = layout::partition_path(&location.prefix, &Symbol::parse("AAPL").unwrap(), 2012);
    let other = location.store.get(&aapl_2012).await.unwrap();
    location
        .store
        .put(&fb, PutPayload::from(other.bytes().await.unwrap()))
        .await
        .unwrap();
    assert_error(&latest(c, "FB").await, 502, "storage_unavailable");
    kinds
}

/// Every storage fault kind on every backend (`gs://` included), no cache:
/// the same answers everywhere. A missing object, corrupt JSON, another
/// symbol's data, a backend error and a read slower than `STORAGE_TIMEOUT_MS`
/// are each a 502 `storage_unavailable` in bounded time; an unknown symbol
/// stays a 404 and healthy symbols keep answering 200.
#[tokio::test]
async fn storage_fault_kinds_answer_alike_on_every_backend() {
    let mut ran = Vec::new();
    for kind in ALL_BACKENDS {
        let Some(data) = seeded(kind, "fault-kinds").await else {
            continue;
        };
        let probe = ProbeStore::new(data.location.store.clone());
        let location = StorageLocation {
            store: probe.clone(),
            ..data.location.clone()
        };
        let store = Arc::new(StockStore::new(
            location,
            StoreOptions {
                timeout: Duration::from_millis(300),
                manifest_ttl: Duration::ZERO,
            },
        ));
        let service = StockDataService::wire(store, None, CacheConfig::default());
        let latest = async |symbol: &str| {
            let req = Req::get(
                LATEST_PRICE.template,
                &format!("/v1/stocks/{symbol}/latest"),
            )
            .request(Source::HttpApi);
            handlers::latest_price(&service, req).await
        };
        let ok = latest("AAPL").await;
        assert_eq!(ok.status(), 200, "{kind:?}: healthy first");
        assert_eq!(json_body(&ok)["date"], "2013-03-01", "{kind:?}");

        // Missing object (GHOST is listed without partitions), corrupt JSON
        // (BROKEN as seeded; BRK.B's partition cut mid-document).
        let brk = layout::partition_path(
            &data.location.prefix,
            &Symbol::parse("BRK.B").unwrap(),
            2013,
        );
        data.put_raw(
            &brk,
            bytes::Bytes::from_static(b"{\"symbol\":\"BRK.B\",\"data_points\":[{\"date\":"),
        )
        .await;
        for symbol in ["GHOST", "BROKEN", "BRK.B"] {
            assert_error(&latest(symbol).await, 502, "storage_unavailable");
        }
        // Foreign data: FB's partition holds AAPL's.
        let fb = layout::partition_path(&data.location.prefix, &Symbol::parse("FB").unwrap(), 2012);
        let aapl_2012 =
            layout::partition_path(&data.location.prefix, &Symbol::parse("AAPL").unwrap(), 2012);
        let other = data
            .location
            .store
            .get(&aapl_2012)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        data.put_raw(&fb, other).await;
        assert_error(&latest("FB").await, 502, "storage_unavailable");
        assert_eq!(
            latest("AAPL").await.status(),
            200,
            "{kind:?}: others unaffected"
        );

        // A failing backend, and one slower than the storage timeout.
        for fault in [StoreFault::Error, StoreFault::Slow(Duration::from_secs(5))] {
            probe.set_fault(fault);
            let started = Instant::now();
            assert_error(&latest("AAPL").await, 502, "storage_unavailable");
            let req =
                Req::get(RECENT_DATA.template, "/v1/stocks/AAPL/recent").request(Source::HttpApi);
            assert_error(
                &handlers::recent_data(&service, req).await,
                502,
                "storage_unavailable",
            );
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{kind:?} {fault:?}: {:?}",
                started.elapsed()
            );
        }
        probe.set_fault(StoreFault::Pass);
        assert_error(&latest("NOPE").await, 404, "symbol_not_found");
        assert_eq!(latest("AAPL").await.status(), 200, "{kind:?}: recovers");
        ran.push(kind);
    }
    println!("faults: storage fault kinds on {ran:?}");
    assert!(ran.len() >= 2, "file and memory backends always run");
}

/// A second, real redis-server on a port of our own, killed and restarted mid-test.
struct RedisServer {
    port: u16,
    child: Option<tokio::process::Child>,
}

impl RedisServer {
    async fn start(port: u16) -> Option<Self> {
        let child = tokio::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        let server = RedisServer {
            port,
            child: Some(child),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM first (a clean shutdown), SIGKILL if it lingers.
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            if tokio::time::timeout(Duration::from_secs(3), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}

async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_on_the_same_port_cache_recovers() {
    let port = free_port().await;
    let Some(mut redis) = RedisServer::start(port).await else {
        eprintln!("SKIPPED: redis-server could not be started on port {port}");
        return;
    };
    let server = upstash::start_with(ServeOptions::new(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        format!("redis://127.0.0.1:{}", redis.port),
        upstash::TEST_TOKEN,
    ))
    .await;
    let data = memory("redis-restart").await;
    let prefix = unique_prefix("redis-restart");
    let config = breaker_config(&prefix);
    let c = container_with(
        &server.url(),
        upstash::TEST_TOKEN,
        Duration::from_millis(300),
        data.store(StoreOptions::default()),
        config.clone(),
    );
    assert_eq!(x_cache(&latest(&c, "AAPL").await), "MISS");
    assert_eq!(x_cache(&latest(&c, "AAPL").await), "HIT");

    redis.kill().await;
    let mut served = storage_answers_while_redis_is_down(&c).await;
    assert_eq!(c.cache().breaker_state().as_str(), "open");

    let mut redis = RedisServer::start(port)
        .await
        .expect("redis-server restarts on the same port");
    let started = Instant::now();
    let seen = answers_until_a_hit(&c, Duration::from_secs(10)).await;
    served += seen.len();
    // The restarted server is empty (no persistence): a MISS refills it, then hits resume.
    assert_eq!(
        seen.last().map(String::as_str),
        Some("HIT"),
        "hits resume after the restart: {seen:?}"
    );
    assert!(seen.contains(&"MISS".to_string()), "{seen:?}");
    assert_eq!(c.cache().breaker_state().as_str(), "closed");
    println!(
        "faults: redis-server on :{port} killed and restarted, {served} requests all 200, recovered after {:?}",
        started.elapsed()
    );
    redis.kill().await;
}

/// Ten requests with Redis gone: each answered from storage. Returns the requests sent.
async fn storage_answers_while_redis_is_down(c: &Container) -> usize {
    for _ in 0..10 {
        let response = latest(c, "AAPL").await;
        assert_eq!(response.status(), 200, "Redis down: storage answers");
        assert_eq!(json_body(&response)["date"], "2013-03-01");
    }
    10
}

/// Requests every 100 ms, each answered 200, until one is a hit or `limit`
/// has passed: the `X-Cache` of each, in order.
async fn answers_until_a_hit(c: &Container, limit: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut seen = Vec::new();
    while started.elapsed() < limit {
        let response = latest(c, "AAPL").await;
        assert_eq!(response.status(), 200);
        let status = x_cache(&response);
        seen.push(status.clone());
        if status == "HIT" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}
