//! `cache-invalidate` on the S3 change events of `tests/data/` (EventBridge
//! "Object Created" / "Object Deleted", a classic S3 notification with
//! URL-encoded keys): the objects' symbols are invalidated, keys outside
//! the data set are ignored and listed, other buckets change nothing.
//! Real Redis through upstash-local.

use std::sync::Arc;
use std::time::Duration;

use integration_tests::admin::admin;
use integration_tests::backends::memory;
use integration_tests::containers::{Container, container, container_with, test_cache_config};
use integration_tests::upstash::{self, live_value, redis_keys, refused_addr, unique_prefix};
use integration_tests::{assert_error, json_body, latest, symbol_info, symbol_list};
use lambda_http::Request;
use shared::handlers;
use shared::storage::{StockStore, StorageLocation, StoreOptions};

fn fixture(name: &str) -> Request {
    let path = format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lambda_http::request::from_str(&text).unwrap()
}

/// The seeded data set (prefix `data/v1`) as the bucket `stock-data`.
async fn data_bucket() -> StorageLocation {
    let data = memory("events").await;
    let mut location = data.location.clone();
    location.bucket = Some("stock-data".into());
    location
}

fn store(location: &StorageLocation) -> Arc<StockStore> {
    Arc::new(StockStore::new(location.clone(), StoreOptions::default()))
}

/// Caches BRK.B's and FB's latest price, FB's info and the symbol list.
async fn warm(c: &Container) {
    for symbol in ["BRK.B", "FB"] {
        assert_eq!(latest(c, symbol).await.status(), 200);
    }
    assert_eq!(symbol_info(c, "FB").await.status(), 200);
    assert_eq!(symbol_list(c).await.status(), 200);
}

/// True when a reader would serve the value at `key` (see [`live_value`]).
async fn cached(prefix: &str, key: &str) -> bool {
    live_value(prefix, &format!("{prefix}{key}"))
        .await
        .is_some()
}

#[tokio::test]
async fn s3_events_invalidate_the_symbols_of_changed_objects() {
    let server = upstash::start().await;
    let location = data_bucket().await;
    let prefix = unique_prefix("events");
    let c = container(&server.url(), store(&location), test_cache_config(&prefix));
    for (name, symbols, manifest, ignored) in [
        (
            "s3_eventbridge_object_created.json",
            &["BRK.B"][..],
            false,
            &[][..],
        ),
        (
            "s3_notification.json",
            &["BRK.B"][..],
            false,
            &[
                "data/v1/notes/read me!.txt",
                "data/v1/daily/bad*symbol/2013.json",
            ][..],
        ),
        ("s3_eventbridge_object_deleted.json", &[][..], true, &[][..]),
    ] {
        warm(&c).await;
        let response = handlers::cache_invalidate(&c.service, &admin(), fixture(name)).await;
        let body = json_body(&response);
        assert_eq!(response.status(), 200, "{name}: {body}");
        assert_eq!(body["status"], "invalidated", "{name}: {body}");
        assert_eq!(body["symbols"], serde_json::json!(symbols), "{name}");
        assert_eq!(body["symbol_list"], manifest, "{name}");
        assert_eq!(body["ignored"], serde_json::json!(ignored), "{name}");
        assert_eq!(
            cached(&prefix, "price:latest:BRK.B").await,
            symbols.is_empty(),
            "{name}: BRK.B"
        );
        assert!(
            cached(&prefix, "price:latest:FB").await,
            "{name}: FB untouched"
        );
        assert_eq!(cached(&prefix, "symbol:info:FB").await, !manifest, "{name}");
        // The list was cached: a change of the manifest writes it anew
        // (refresh on update); nothing was flushed to the ranking, so no
        // symbol's values are refreshed.
        assert!(cached(&prefix, "symbols:list").await, "{name}");
        assert_eq!(body["values_refreshed"], u64::from(manifest), "{name}");
    }
}

#[tokio::test]
async fn events_of_other_buckets_or_sources_change_nothing() {
    let server = upstash::start().await;
    let location = data_bucket().await;
    let prefix = unique_prefix("other-bucket");
    let c = container(&server.url(), store(&location), test_cache_config(&prefix));
    warm(&c).await;
    let keys = redis_keys(&prefix).await;
    let sent = c.client.requests_sent();
    let other_bucket = include_str!("../data/s3_eventbridge_object_created.json")
        .replace("\"stock-data\"", "\"someone-elses-bucket\"");
    let schedule = include_str!("../data/eventbridge_schedule.json");
    for event in [other_bucket.as_str(), schedule, r#"{"Records":[]}"#] {
        let request = lambda_http::request::from_str(event).unwrap();
        let response = handlers::cache_invalidate(&c.service, &admin(), request).await;
        assert_eq!(response.status(), 200, "{}", json_body(&response));
        assert_ne!(json_body(&response)["status"], "invalidated");
    }
    assert_eq!(c.client.requests_sent(), sent, "no request to the cache");
    assert_eq!(redis_keys(&prefix).await, keys);
}

#[tokio::test]
async fn an_unreachable_cache_fails_the_invocation_so_lambda_retries_it() {
    let location = data_bucket().await;
    let refused = refused_addr().await;
    let c = container_with(
        &format!("http://{refused}"),
        upstash::TEST_TOKEN,
        Duration::from_millis(200),
        store(&location),
        test_cache_config(&unique_prefix("refused")),
    );
    let response = handlers::cache_invalidate(
        &c.service,
        &admin(),
        fixture("s3_eventbridge_object_created.json"),
    )
    .await;
    // runtime::serve turns a 5xx answer to a direct invocation into a failed invocation.
    assert_error(&response, 503, "cache_unavailable");
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_a_400_not_a_failure() {
    let server = upstash::start().await;
    let location = data_bucket().await;
    let c = container(
        &server.url(),
        store(&location),
        test_cache_config(&unique_prefix("binary-body")),
    );
    let request: Request = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/v1/cache/invalidate")
        .header("authorization", integration_tests::admin::bearer())
        .header("content-type", "application/json")
        .body(lambda_http::Body::Binary(vec![0xff, b'*', 0x1a]))
        .unwrap();
    let sent = c.client.requests_sent();
    let response = handlers::cache_invalidate(&c.service, &admin(), request).await;
    assert_error(&response, 400, "invalid_parameter");
    assert_eq!(c.client.requests_sent(), sent, "nothing reached the cache");
}
