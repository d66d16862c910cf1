//! The API contract through every event source and every storage backend
//! (no cache): the conformance suite of the foundation.

use std::time::Duration;

use integration_tests::backends::{ALL_BACKENDS, BackendKind, no_memo, seeded};
use integration_tests::events::{ALL_SOURCES, Req, Source};
use integration_tests::{assert_error, json_body};
use shared::cache::CacheConfig;
use shared::handlers::{self, LATEST_PRICE, RECENT_DATA, SYMBOL_INFO, SYMBOLS};
use shared::service::StockDataService;
use shared::storage::StoreOptions;

fn service(store: std::sync::Arc<shared::storage::StockStore>) -> StockDataService {
    StockDataService::wire(store, None, CacheConfig::default())
}

async fn for_each_backend(test: &str, mut check: impl AsyncFnMut(BackendKind, StockDataService)) {
    let mut ran = Vec::new();
    for kind in ALL_BACKENDS {
        let Some(store) = seeded(kind, test).await else {
            continue;
        };
        check(kind, service(store.store(no_memo()))).await;
        ran.push(kind);
    }
    println!("{test}: ran on {ran:?}");
    assert!(ran.len() >= 2, "file and memory backends always run");
}

#[tokio::test]
async fn latest_price_contract_from_every_source_and_backend() {
    for_each_backend("latest", async |kind, service| {
        for source in ALL_SOURCES {
            let req = Req::get(LATEST_PRICE.template, "/v1/stocks/aapl/latest").request(source);
            let response = handlers::latest_price(&service, req).await;
            assert_eq!(response.status(), 200, "{kind:?} {source:?}");
            assert_eq!(response.headers()["content-type"], "application/json");
            assert_eq!(response.headers()["x-cache"], "BYPASS");
            assert!(response.headers().contains_key("etag"));
            let body = json_body(&response);
            assert_eq!(body["symbol"], "AAPL", "{kind:?} {source:?}");
            assert_eq!(body["date"], "2013-03-01");
            let close = body["close"].as_f64().unwrap();
            assert_eq!(body["change"].as_f64().unwrap(), 0.5);
            let expected_pct = ((0.5 / (close - 0.5)) * 100.0 * 100.0).round() / 100.0;
            assert_eq!(body["change_percent"].as_f64().unwrap(), expected_pct);
            for field in ["open", "high", "low", "close", "volume"] {
                assert!(body[field].is_number(), "{field} in {body}");
            }
            assert_eq!(body.as_object().unwrap().len(), 9, "{body}");
        }
    })
    .await;
}

#[tokio::test]
async fn first_day_has_null_change() {
    for_each_backend("first-day", async |_, service| {
        let req = Req::get(LATEST_PRICE.template, "/v1/stocks/FB/latest").request(Source::HttpApi);
        let body = json_body(&handlers::latest_price(&service, req).await);
        assert_eq!(body["date"], "2012-05-18");
        assert!(
            body["change"].is_null() && body["change_percent"].is_null(),
            "{body}"
        );
    })
    .await;
}

#[tokio::test]
async fn latest_uses_previous_partition_close_across_a_year_boundary() {
    for_each_backend("year-boundary", async |_, service| {
        // BRK.B's first bar of 2013 has no earlier bar; its later ones do.
        let req =
            Req::get(LATEST_PRICE.template, "/v1/stocks/brk.b/latest").request(Source::FunctionUrl);
        let body = json_body(&handlers::latest_price(&service, req).await);
        assert_eq!(body["symbol"], "BRK.B");
        assert_eq!(body["date"], "2013-01-10");
        assert_eq!(body["change"].as_f64(), Some(0.5));
    })
    .await;
}

#[tokio::test]
async fn recent_data_windows() {
    for_each_backend("recent", async |kind, service| {
        for source in ALL_SOURCES {
            let req = Req::get(RECENT_DATA.template, "/v1/stocks/AAPL/recent").request(source);
            let response = handlers::recent_data(&service, req).await;
            assert_eq!(response.status(), 200, "{kind:?} {source:?}");
            let body = json_body(&response);
            assert_eq!(body["days"], 30);
            let dates: Vec<&str> = body["data_points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["date"].as_str().unwrap())
                .collect();
            assert_eq!(dates.first(), Some(&"2013-01-30"), "{kind:?} {source:?}");
            assert_eq!(dates.last(), Some(&"2013-03-01"));
            assert!(dates.windows(2).all(|w| w[0] < w[1]), "ascending");
            let point = &body["data_points"][0];
            let mut fields: Vec<&str> = point
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            fields.sort();
            assert_eq!(fields, ["close", "date", "high", "low", "open", "volume"]);
        }
        // A window crossing the year boundary reads two partitions.
        let req = Req::get(RECENT_DATA.template, "/v1/stocks/AAPL/recent")
            .query("days=90")
            .request(Source::HttpApi);
        let body = json_body(&handlers::recent_data(&service, req).await);
        assert_eq!(body["data_points"][0]["date"], "2012-12-03");
        // The whole history.
        let req = Req::get(RECENT_DATA.template, "/v1/stocks/AAPL/recent")
            .query("days=3650")
            .request(Source::RestApi);
        let body = json_body(&handlers::recent_data(&service, req).await);
        assert_eq!(body["days"], 3650);
        assert_eq!(body["data_points"][0]["date"], "2011-11-01");
    })
    .await;
}

#[tokio::test]
async fn symbols_and_symbol_info() {
    for_each_backend("symbols", async |kind, service| {
        for source in ALL_SOURCES {
            let req = Req::get(SYMBOLS.template, "/v1/symbols").request(source);
            let response = handlers::symbols(&service, req).await;
            assert_eq!(response.status(), 200, "{kind:?} {source:?}");
            let body = json_body(&response);
            assert_eq!(
                body["symbols"],
                serde_json::json!(["AAPL", "BRK.B", "BROKEN", "FB", "GHOST"])
            );
            assert_eq!(body["count"], 5);

            let req = Req::get(SYMBOL_INFO.template, "/v1/symbols/aapl").request(source);
            let response = handlers::symbol_info(&service, req).await;
            assert_eq!(response.status(), 200, "{kind:?} {source:?}");
            let body = json_body(&response);
            assert_eq!(body["symbol"], "AAPL");
            assert_eq!(body["name"], "Apple Inc.");
            assert_eq!(body["exchange"], "NASDAQ");
            assert_eq!(body["currency"], "USD");
            assert_eq!(body["first_date"], "2011-11-01");
            assert_eq!(body["last_date"], "2013-03-01");
            let expected = integration_tests::dataset::bars("2011-11-01", "2013-03-01").len();
            assert_eq!(body["data_points"], expected);
        }
    })
    .await;
}

#[tokio::test]
async fn bad_input_gets_json_errors_from_every_source() {
    for_each_backend("errors", async |_, service| {
        for source in ALL_SOURCES {
            for bad in [
                "A*B",
                "..%2F..%2Fetc",
                "%20AAPL",
                "ABCDEFGHIJKLMNOPQ",
                "A%0D%0AB",
                "%CE%91APL",
                "-AAPL",
            ] {
                let req = Req::get(LATEST_PRICE.template, &format!("/v1/stocks/{bad}/latest"))
                    .request(source);
                assert_error(
                    &handlers::latest_price(&service, req).await,
                    400,
                    "invalid_symbol",
                );
            }
            let req = Req::get(LATEST_PRICE.template, "/v1/stocks/ZZZZ/latest").request(source);
            assert_error(
                &handlers::latest_price(&service, req).await,
                404,
                "symbol_not_found",
            );
            let req = Req::get(SYMBOL_INFO.template, "/v1/symbols/ZZZZ").request(source);
            assert_error(
                &handlers::symbol_info(&service, req).await,
                404,
                "symbol_not_found",
            );
            for days in [
                "days=0",
                "days=-1",
                "days=3651",
                "days=1.5",
                "days=1e3",
                "days=abc",
                "days=",
                "days=7&days=8",
            ] {
                let req = Req::get(RECENT_DATA.template, "/v1/stocks/AAPL/recent")
                    .query(days)
                    .request(source);
                let response = handlers::recent_data(&service, req).await;
                assert_error(&response, 400, "invalid_parameter");
            }
            let req = Req::get(LATEST_PRICE.template, "/v1/stocks/AAPL/latest")
                .method("POST")
                .request(source);
            let response = handlers::latest_price(&service, req).await;
            assert_error(&response, 405, "method_not_allowed");
            assert_eq!(response.headers()["allow"], "GET");
            // Storage inconsistencies: listed without data, corrupt partition.
            for sym in ["GHOST", "BROKEN"] {
                let req = Req::get(LATEST_PRICE.template, &format!("/v1/stocks/{sym}/latest"))
                    .request(source);
                assert_error(
                    &handlers::latest_price(&service, req).await,
                    502,
                    "storage_unavailable",
                );
            }
        }
        // A path no route serves (Function URLs deliver any path).
        let req =
            Req::get(LATEST_PRICE.template, "/v1/stocks/AAPL/oldest").request(Source::FunctionUrl);
        assert_error(
            &handlers::latest_price(&service, req).await,
            404,
            "not_found",
        );
        let req = Req::get(SYMBOLS.template, "/v2/symbols").request(Source::FunctionUrl);
        assert_error(&handlers::symbols(&service, req).await, 404, "not_found");
    })
    .await;
}

#[tokio::test]
async fn etag_and_if_none_match() {
    for_each_backend("etag", async |_, service| {
        let req = Req::get(SYMBOLS.template, "/v1/symbols").request(Source::HttpApi);
        let first = handlers::symbols(&service, req).await;
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        let req = Req::get(SYMBOLS.template, "/v1/symbols")
            .header("If-None-Match", &etag)
            .request(Source::HttpApi);
        let second = handlers::symbols(&service, req).await;
        assert_eq!(second.status(), 304);
        assert!(matches!(second.body(), lambda_http::Body::Empty));
        let req = Req::get(SYMBOLS.template, "/v1/symbols")
            .header("If-None-Match", "\"nope\"")
            .request(Source::HttpApi);
        assert_eq!(handlers::symbols(&service, req).await.status(), 200);
    })
    .await;
}

#[tokio::test]
async fn reads_are_bounded_whatever_the_history() {
    for_each_backend("reads", async |kind, service| {
        let store = service.store().clone();
        let before = store.reads();
        let req =
            Req::get(LATEST_PRICE.template, "/v1/stocks/AAPL/latest").request(Source::HttpApi);
        assert_eq!(handlers::latest_price(&service, req).await.status(), 200);
        assert_eq!(
            store.reads() - before,
            2,
            "{kind:?}: manifest + one partition"
        );
        let before = store.reads();
        let req = Req::get(RECENT_DATA.template, "/v1/stocks/AAPL/recent")
            .query("days=365")
            .request(Source::HttpApi);
        assert_eq!(handlers::recent_data(&service, req).await.status(), 200);
        assert!(
            store.reads() - before <= 3,
            "{kind:?}: manifest + at most two partitions"
        );
    })
    .await;
}

#[tokio::test]
async fn slow_storage_fails_within_the_timeout() {
    let mut ran = Vec::new();
    for kind in ALL_BACKENDS {
        let Some(test_store) = seeded(kind, "slow").await else {
            continue;
        };
        let throttled = object_store::throttle::ThrottledStore::new(
            test_store.location.store.clone(),
            object_store::throttle::ThrottleConfig {
                wait_get_per_call: Duration::from_secs(5),
                ..Default::default()
            },
        );
        let location = shared::storage::StorageLocation {
            store: std::sync::Arc::new(throttled),
            ..test_store.location.clone()
        };
        let store = std::sync::Arc::new(shared::storage::StockStore::new(
            location,
            StoreOptions {
                timeout: Duration::from_millis(200),
                manifest_ttl: Duration::ZERO,
            },
        ));
        let service = service(store);
        let started = std::time::Instant::now();
        let req =
            Req::get(LATEST_PRICE.template, "/v1/stocks/AAPL/latest").request(Source::HttpApi);
        assert_error(
            &handlers::latest_price(&service, req).await,
            502,
            "storage_unavailable",
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{kind:?}: bounded by STORAGE_TIMEOUT_MS"
        );
        ran.push(kind);
    }
    println!("slow storage: {ran:?}");
    assert!(ran.len() >= 2, "file and memory backends always run");
}
