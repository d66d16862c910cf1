//! The `gs://` write path (our writer, `stockdata import`'s `merge_import`,
//! conditional writes) and real network slowness, against fake-gcs-server.
//!
//! Writes go through [`UploadProxy`], the test-only translation of
//! object_store's XML-API upload into the emulator's multipart upload (see
//! `tests/src/gcs.rs` for exactly what that proves and what it does not).
//! Reads always go straight to the emulator. Skips, with a message, when the
//! emulator is not running (`scripts/test` starts it).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use integration_tests::backends::gcs_location;
use integration_tests::events::{Req, Source};
use integration_tests::gcs::{FakeGcs, UploadProxy, bucket_name};
use integration_tests::{assert_error, dataset, json_body};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use shared::cache::CacheConfig;
use shared::handlers::{self, LATEST_PRICE, SYMBOLS};
use shared::service::StockDataService;
use shared::storage::{
    MergeOptions, StockStore, StorageLocation, StoreOptions, SymbolUpdate, merge_import,
};
use shared::symbol::Symbol;

fn service(location: StorageLocation, timeout: Duration) -> StockDataService {
    let store = StockStore::new(
        location,
        StoreOptions {
            timeout,
            manifest_ttl: Duration::ZERO,
        },
    );
    StockDataService::wire(Arc::new(store), None, CacheConfig::default())
}

async fn latest(
    service: &StockDataService,
    symbol: &str,
) -> lambda_http::Response<lambda_http::Body> {
    let req = Req::get(
        LATEST_PRICE.template,
        &format!("/v1/stocks/{symbol}/latest"),
    )
    .request(Source::HttpApi);
    handlers::latest_price(service, req).await
}

/// An emulator bucket, a proxied (writable) location and a direct (read) one.
async fn setup(
    test: &str,
) -> Option<(
    FakeGcs,
    String,
    UploadProxy,
    StorageLocation,
    StorageLocation,
)> {
    let emulator = FakeGcs::reachable(test).await?;
    let bucket = bucket_name(test);
    emulator.create_bucket(&bucket).await;
    let proxy = UploadProxy::start(&emulator.endpoint).await;
    let write = gcs_location(&proxy.url(), &bucket);
    let read = gcs_location(&emulator.endpoint, &bucket);
    Some((emulator, bucket, proxy, write, read))
}

fn update(symbol: &str, from: &str, to: &str) -> SymbolUpdate {
    SymbolUpdate {
        symbol: Symbol::parse(symbol).unwrap(),
        bars: dataset::bars(from, to),
        metadata: None,
    }
}

#[tokio::test]
async fn writer_and_merge_import_write_gs_and_the_api_reads_it() {
    let Some((_emulator, _bucket, proxy, write, read)) = setup("gcs-write").await else {
        return;
    };
    // The whole test data set through DatasetWriter (plain overwrites).
    dataset::seed(&write).await;
    let uploads = proxy.counters.uploads.load(Ordering::SeqCst);
    assert!(uploads >= 5, "partitions and manifest uploaded: {uploads}");
    let api = service(read.clone(), Duration::from_secs(5));
    let body = json_body(&latest(&api, "AAPL").await);
    assert_eq!(body["date"], "2013-03-01", "{body}");

    // `stockdata import`'s merge: conditional writes of partitions and manifest.
    let report = merge_import(
        &write,
        vec![
            update("AAPL", "2013-03-04", "2013-03-05"),
            update("NEWX", "2013-01-02", "2013-01-03"),
        ],
        &MergeOptions::default(),
    )
    .await
    .expect("merge on gs://");
    assert!(report.manifest_written);
    assert_eq!(report.rows_inserted, 4);
    assert!(
        proxy.counters.conditional.load(Ordering::SeqCst) >= 3,
        "merge_import writes conditionally on gs://"
    );
    assert_eq!(proxy.counters.precondition_failed.load(Ordering::SeqCst), 0);
    let body = json_body(&latest(&api, "AAPL").await);
    assert_eq!(body["date"], "2013-03-05", "{body}");
    assert_eq!(
        body["change"].as_f64(),
        Some(0.5),
        "previous close relinked"
    );
    let req = Req::get(SYMBOLS.template, "/v1/symbols").request(Source::HttpApi);
    let body = json_body(&handlers::symbols(&api, req).await);
    assert_eq!(
        body["symbols"],
        serde_json::json!(["AAPL", "BRK.B", "BROKEN", "FB", "GHOST", "NEWX"])
    );
}

#[tokio::test]
async fn conditional_writes_are_enforced_by_the_emulator() {
    let Some((emulator, bucket, proxy, write, _read)) = setup("gcs-conditional").await else {
        return;
    };
    let path = Path::from("data/v1/symbols.json");
    let store = write.store.clone();
    let create = PutOptions::from(PutMode::Create);
    let created = store
        .put_opts(
            &path,
            PutPayload::from_static(b"{\"symbols\":[]}"),
            create.clone(),
        )
        .await
        .expect("create a new object");
    let generation = emulator.generation(&bucket, &path).await;
    assert!(generation.is_some());
    assert_eq!(
        created.version, generation,
        "x-goog-generation of the write"
    );
    // Create over an existing object.
    let again = store
        .put_opts(&path, PutPayload::from_static(b"{}"), create)
        .await
        .unwrap_err();
    assert!(
        matches!(again, object_store::Error::AlreadyExists { .. }),
        "{again}"
    );
    // Update against the version just read succeeds; against an old one fails.
    let read = store.get(&path).await.unwrap();
    let current = UpdateVersion {
        e_tag: read.meta.e_tag.clone(),
        version: read.meta.version.clone(),
    };
    assert_eq!(current.version, generation, "reads see the generation");
    let updated = store
        .put_opts(
            &path,
            PutPayload::from_static(b"{\"symbols\":[1]}"),
            PutOptions::from(PutMode::Update(current.clone())),
        )
        .await
        .expect("update at the current generation");
    assert_ne!(updated.version, current.version);
    let stale = store
        .put_opts(
            &path,
            PutPayload::from_static(b"{\"symbols\":[2]}"),
            PutOptions::from(PutMode::Update(current)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(stale, object_store::Error::Precondition { .. }),
        "{stale}"
    );
    assert_eq!(proxy.counters.precondition_failed.load(Ordering::SeqCst), 2);
    let bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(
        &bytes[..],
        b"{\"symbols\":[1]}",
        "the stale write left no trace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_imports_on_gs_keep_both_imports() {
    let Some((_emulator, _bucket, proxy, write, read)) = setup("gcs-race").await else {
        return;
    };
    dataset::seed(&write).await;
    let options = MergeOptions {
        concurrency: 4,
        max_attempts: 10,
    };
    let mut conflicts = 0;
    let mut rounds = 0;
    for round in 0..10u32 {
        rounds += 1;
        // Each round appends one bar per import, on disjoint new dates.
        let day = |offset: u32| format!("2013-04-{:02}", 1 + round * 2 + offset);
        let (a_day, b_day) = (day(0), day(1));
        let a = vec![
            update("AAPL", &a_day, &a_day),
            update(&format!("NEWA{round}"), "2013-01-02", "2013-01-02"),
        ];
        let b = vec![
            update("BRK.B", &b_day, &b_day),
            update(&format!("NEWB{round}"), "2013-01-02", "2013-01-02"),
        ];
        let (ra, rb) = tokio::join!(
            merge_import(&write, a, &options),
            merge_import(&write, b, &options)
        );
        let (ra, rb) = (ra.expect("import a"), rb.expect("import b"));
        if ra.manifest_attempts + rb.manifest_attempts > 2 {
            conflicts += 1;
        }
        let manifest = dataset::read_manifest(&read).await;
        let names: Vec<&str> = manifest.symbols.iter().map(|s| s.symbol.as_str()).collect();
        for symbol in [format!("NEWA{round}"), format!("NEWB{round}")] {
            assert!(names.contains(&symbol.as_str()), "round {round}: {names:?}");
        }
        let entry = |s: &str| manifest.symbols.iter().find(|e| e.symbol == s).unwrap();
        assert_eq!(entry("AAPL").last_date.to_string(), a_day, "round {round}");
        assert_eq!(entry("BRK.B").last_date.to_string(), b_day, "round {round}");
        if conflicts > 0 {
            break;
        }
    }
    println!(
        "gcs race: {rounds} rounds, {conflicts} with a manifest conflict, {} uploads refused with 412",
        proxy.counters.precondition_failed.load(Ordering::SeqCst)
    );
    assert!(
        conflicts > 0,
        "the imports never conflicted on the manifest: the test proves nothing"
    );
}

#[tokio::test]
async fn slow_gcs_network_fails_within_the_timeout_then_recovers() {
    let Some((_emulator, _bucket, proxy, write, _read)) = setup("gcs-slow").await else {
        return;
    };
    dataset::seed(&write).await;
    // Reads through the proxy (which only forwards them), delayed on the wire.
    let api = service(write, Duration::from_millis(300));
    assert_eq!(latest(&api, "AAPL").await.status(), 200);
    proxy.set_delay(Duration::from_secs(3));
    let started = Instant::now();
    assert_error(&latest(&api, "AAPL").await, 502, "storage_unavailable");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "bounded by STORAGE_TIMEOUT_MS: {:?}",
        started.elapsed()
    );
    proxy.set_delay(Duration::ZERO);
    assert_eq!(latest(&api, "AAPL").await.status(), 200);
}
