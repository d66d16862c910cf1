//! Real object_store backends for the storage conformance suite: a temp
//! folder (`file://`), process memory (`memory://`) and S3 served by moto's
//! server on loopback (`s3://`). Every storage test runs against each.

use std::sync::Arc;
use std::time::Duration;

use object_store::memory::InMemory;
use shared::storage::{StockStore, StorageLocation, StoreOptions};

/// A backend kind under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// `file://` in a temp dir.
    File,
    /// `memory://`.
    Memory,
    /// `s3://` against moto_server.
    S3,
}

/// Every backend kind.
pub const ALL_BACKENDS: [BackendKind; 3] =
    [BackendKind::File, BackendKind::Memory, BackendKind::S3];

/// A seeded store plus what keeps it alive.
pub struct TestStore {
    /// The location holding the data set.
    pub location: StorageLocation,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// A `StockStore` over this location with `options`.
    pub fn store(&self, options: StoreOptions) -> Arc<StockStore> {
        Arc::new(StockStore::new(self.location.clone(), options))
    }
}

/// Default moto endpoint (the test script starts moto_server here).
pub const DEFAULT_MOTO_ENDPOINT: &str = "http://127.0.0.1:5057";

/// `MOTO_ENDPOINT` or [`DEFAULT_MOTO_ENDPOINT`].
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_MOTO_ENDPOINT.into())
}

/// An empty location of `kind` (None when the S3 emulator is not available:
/// the caller prints why and skips).
pub async fn empty(kind: BackendKind, test: &str) -> Option<TestStore> {
    match kind {
        BackendKind::File => {
            let dir = tempfile::tempdir().expect("temp dir");
            let location = StorageLocation::parse(&format!("file://{}", dir.path().display()))
                .expect("file location");
            Some(TestStore {
                location,
                _dir: Some(dir),
            })
        }
        BackendKind::Memory => Some(TestStore {
            location: StorageLocation::from_store(Arc::new(InMemory::new()), "data/v1").unwrap(),
            _dir: None,
        }),
        BackendKind::S3 => s3(test).await,
    }
}

/// A location of `kind` holding [`crate::dataset::seed`]'s data set.
pub async fn seeded(kind: BackendKind, test: &str) -> Option<TestStore> {
    let store = empty(kind, test).await?;
    crate::dataset::seed(&store.location).await;
    Some(store)
}

/// The seeded data set in process memory (prefix `data/v1`): always available.
pub async fn memory(test: &str) -> TestStore {
    seeded(BackendKind::Memory, test)
        .await
        .expect("the memory backend is always available")
}

/// Store options that never remember the manifest (every read sees storage
/// as it is now), with a 5 s storage timeout.
pub fn no_memo() -> StoreOptions {
    StoreOptions {
        timeout: Duration::from_secs(5),
        manifest_ttl: Duration::ZERO,
    }
}

/// Store options that remember the manifest for 60 s, as in production,
/// with a 5 s storage timeout.
pub fn remembering() -> StoreOptions {
    StoreOptions {
        manifest_ttl: Duration::from_secs(60),
        ..no_memo()
    }
}

async fn s3(test: &str) -> Option<TestStore> {
    let endpoint = moto_endpoint();
    if !moto_reachable(&endpoint).await {
        eprintln!(
            "SKIPPED s3 backend for {test}: no S3 emulator at {endpoint}. \
             Install it with `pip install 'moto[server]'` and run `moto_server -H 127.0.0.1 -p 5057` \
             (scripts/test does both)."
        );
        return None;
    }
    let bucket = format!(
        "it-{}",
        crate::upstash::unique_prefix(test)
            .replace([':', '_'], "-")
            .to_ascii_lowercase()
    );
    let bucket: String = bucket
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(60)
        .collect();
    let bucket = bucket.trim_end_matches('-').to_string();
    shared::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let created = http
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create bucket on moto");
    assert!(
        created.status().is_success(),
        "moto CreateBucket: {}",
        created.status()
    );
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_bucket_name(&bucket)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .expect("S3 store");
    Some(TestStore {
        location: StorageLocation::from_store(Arc::new(store), "data/v1").unwrap(),
        _dir: None,
    })
}

/// True when something answers HTTP at `endpoint`.
pub async fn moto_reachable(endpoint: &str) -> bool {
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    matches!(
        tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(addr)
        )
        .await,
        Ok(Ok(_))
    )
}
