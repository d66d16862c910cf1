//! The import tells the cache: it invalidates exactly what it changed, in
//! one REST request, through the same key definitions as the functions,
//! and writes the new values of what was cached and popular (refresh on
//! update); an unreachable cache leaves the data written and exits with
//! status 3.
//! Real Redis through upstash-local, the real `stockdata` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use integration_tests::containers::{Container, container, test_cache_config};
use integration_tests::events::{Req, Source};
use integration_tests::upstash::{
    self, TEST_TOKEN, live_value, redis_keys, refused_addr, unique_prefix,
};
use integration_tests::{json_body, latest, x_cache};
use shared::handlers::{self, SYMBOLS};
use shared::storage::{StockStore, StorageLocation, StoreOptions};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of `sample-data/` in a temp folder.
fn sample_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-data"),
        &root,
    );
    (dir, root)
}

fn import(root: &Path, csv: &str, env: &[(&str, String)]) -> Output {
    let input = root.parent().unwrap().join("delta.csv");
    std::fs::write(&input, csv).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_stockdata"));
    command
        .arg("import")
        .arg("--input")
        .arg(&input)
        .arg("--to")
        .arg(root)
        .env_remove("UPSTASH_REDIS_URL");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn reader(url: &str, root: &Path, prefix: &str) -> Container {
    let location = StorageLocation::parse(root.to_str().unwrap()).unwrap();
    let options = StoreOptions {
        timeout: Duration::from_secs(5),
        manifest_ttl: Duration::from_secs(60),
    };
    container(
        url,
        Arc::new(StockStore::new(location, options)),
        test_cache_config(prefix),
    )
}

async fn list(c: &Container) -> serde_json::Value {
    let req = Req::get(SYMBOLS.template, "/v1/symbols").request(Source::HttpApi);
    json_body(&handlers::symbols(&c.service, req).await)
}

const DELTA: &str =
    "Ticker,Date,Open,High,Low,Close,Volume\nAAPL,2013-03-04,427.8,428.2,419.0,420.05,20910000\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_invalidates_exactly_what_it_changed() {
    let server = upstash::start().await;
    let prefix = unique_prefix("import-invalidates");
    let (_dir, root) = sample_copy();
    let c = reader(&server.url(), &root, &prefix);
    for symbol in ["AAPL", "MSFT"] {
        assert_eq!(latest(&c, symbol).await.status(), 200);
    }
    assert_eq!(list(&c).await["count"], 5);
    let env = [
        ("UPSTASH_REDIS_REST_URL", server.url()),
        ("UPSTASH_REDIS_REST_TOKEN", TEST_TOKEN.to_string()),
        ("CACHE_KEY_PREFIX", prefix.clone()),
        ("CACHE_REFRESH_TOP_N", "0".to_string()),
    ];
    let requests = server.stats().requests;

    let out = import(&root, DELTA, &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "cache:       invalidated 1 symbols (1 keys deleted); refreshed 0 cached values \
             with the new data (0 not cached, 0 failed); 1 REST requests"
        ),
        "{stdout}"
    );
    assert_eq!(server.stats().requests - requests, 1, "one REST request");
    assert!(
        redis_keys(&format!("{prefix}price:latest:AAPL"))
            .await
            .is_empty()
    );
    assert_eq!(
        redis_keys(&format!("{prefix}price:latest:MSFT"))
            .await
            .len(),
        1,
        "untouched"
    );
    assert_eq!(
        redis_keys(&format!("{prefix}symbols:list")).await.len(),
        1,
        "same symbols"
    );

    let aapl = latest(&c, "AAPL").await;
    assert_eq!(x_cache(&aapl), "MISS");
    assert_eq!(json_body(&aapl)["close"], 420.05);
    assert_eq!(json_body(&aapl)["date"], "2013-03-04");
    assert_eq!(x_cache(&latest(&c, "MSFT").await), "HIT");

    // A new symbol changes the symbol list: it is invalidated too.
    let out = import(
        &root,
        "Ticker,Date,Open,High,Low,Close,Volume\nNEWCO,2013-03-04,10,11,9,10.5,1000\n",
        &env,
    );
    assert!(out.status.success());
    assert!(
        redis_keys(&format!("{prefix}symbols:list"))
            .await
            .is_empty()
    );
    assert_eq!(list(&c).await["count"], 6);
    assert_eq!(
        live_value(&prefix, &format!("{prefix}price:latest:MSFT"))
            .await
            .map(|v| v.body.contains("\"symbol\":\"MSFT\"")),
        Some(true),
        "untouched and still served"
    );
    assert_eq!(latest(&c, "NEWCO").await.status(), 200);

    // The same file again changes nothing and sends nothing.
    let requests = server.stats().requests;
    let out = import(&root, DELTA, &env);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing changed, nothing invalidated"));
    assert_eq!(server.stats().requests, requests);
}

/// Refresh on update: the touched values that were cached and are among
/// the most requested hold the new data after the import; the first
/// request after it is a hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refreshes_what_was_cached_and_popular() {
    let server = upstash::start().await;
    let prefix = unique_prefix("import-refreshes");
    let (_dir, root) = sample_copy();
    let c = reader(&server.url(), &root, &prefix);
    for symbol in ["AAPL", "MSFT"] {
        assert_eq!(x_cache(&latest(&c, symbol).await), "MISS");
    }
    assert_eq!(list(&c).await["count"], 5);
    c.cache().flush_stats().await.unwrap();
    let env = [
        ("UPSTASH_REDIS_REST_URL", server.url()),
        ("UPSTASH_REDIS_REST_TOKEN", TEST_TOKEN.to_string()),
        ("CACHE_KEY_PREFIX", prefix.clone()),
    ];
    let requests = server.stats().requests;

    let out = import(&root, DELTA, &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // AAPL's latest price was cached; its recent window and info were not.
    assert!(
        stdout.contains(
            "invalidated 1 symbols (0 keys deleted); refreshed 1 cached values \
             with the new data (2 not cached, 0 failed); 3 REST requests"
        ),
        "{stdout}"
    );
    // The ranking, the invalidation, one pipeline of SET … XX.
    assert_eq!(server.stats().requests - requests, 3);

    let aapl = latest(&c, "AAPL").await;
    assert_eq!(x_cache(&aapl), "HIT", "the first request after the update");
    assert_eq!(json_body(&aapl)["close"], 420.05);
    assert_eq!(json_body(&aapl)["date"], "2013-03-04");
    assert!(
        redis_keys(&format!("{prefix}data:recent:AAPL"))
            .await
            .is_empty(),
        "what was not cached is not written"
    );
    assert_eq!(x_cache(&latest(&c, "MSFT").await), "HIT", "untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cache_keeps_the_data_and_says_what_stays_stale() {
    let refused = refused_addr().await;
    let (_dir, root) = sample_copy();
    let env = [
        ("UPSTASH_REDIS_REST_URL", format!("http://{refused}")),
        ("UPSTASH_REDIS_REST_TOKEN", TEST_TOKEN.to_string()),
    ];
    let out = import(&root, DELTA, &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    // Symbol info: 21600 s fresh + 21600 s grace, plus 5 s of L1.
    assert!(
        stderr.contains("for up to 43205 s: AAPL"),
        "names the stale symbols and the bound: {stderr}"
    );
    assert!(!stderr.contains(TEST_TOKEN), "no secret in the message");
    let manifest = std::fs::read_to_string(root.join("symbols.json")).unwrap();
    assert!(manifest.contains("2013-03-04"), "the data stays written");
}
