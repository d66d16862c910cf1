//! Real object_store backends for the storage conformance suite: a temp
//! folder (`file://`), process memory (`memory://`), S3 served by moto's
//! server on loopback (`s3://`) and Google Cloud Storage served by
//! fake-gcs-server on loopback (`gs://`, see [`crate::gcs`]). Every storage
//! test runs against each.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use shared::storage::{Backend, StockStore, StorageLocation, StoreOptions};

use crate::gcs::FakeGcs;

/// A backend kind under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// `file://` in a temp dir.
    File,
    /// `memory://`.
    Memory,
    /// `s3://` against moto_server.
    S3,
    /// `gs://` against fake-gcs-server (read path; data is uploaded with
    /// the emulator's own API, see [`crate::gcs`]).
    Gcs,
}

/// Every backend kind.
pub const ALL_BACKENDS: [BackendKind; 4] = [
    BackendKind::File,
    BackendKind::Memory,
    BackendKind::S3,
    BackendKind::Gcs,
];

/// A seeded store plus what keeps it alive.
pub struct TestStore {
    /// The location holding the data set.
    pub location: StorageLocation,
    _dir: Option<tempfile::TempDir>,
    /// For `gs://`: the emulator and the bucket.
    gcs: Option<(FakeGcs, String)>,
}

impl TestStore {
    /// A `StockStore` over this location with `options`.
    pub fn store(&self, options: StoreOptions) -> Arc<StockStore> {
        Arc::new(StockStore::new(self.location.clone(), options))
    }

    /// Writes `bytes` at `path` (a full path, prefix included) the way test
    /// data gets into this backend: object_store's `put` for file, memory and
    /// S3; the emulator's upload API for `gs://`.
    pub async fn put_raw(&self, path: &Path, bytes: Bytes) {
        match &self.gcs {
            Some((emulator, bucket)) => emulator.upload(bucket, path.as_ref(), bytes).await,
            None => {
                self.location
                    .store
                    .put(path, PutPayload::from(bytes))
                    .await
                    .expect("put test object");
            }
        }
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

/// An empty location of `kind` (None when its emulator, moto_server or
/// fake-gcs-server, is not available: it prints why and the caller skips).
pub async fn empty(kind: BackendKind, test: &str) -> Option<TestStore> {
    match kind {
        BackendKind::File => {
            let dir = tempfile::tempdir().expect("temp dir");
            let location = StorageLocation::parse(&format!("file://{}", dir.path().display()))
                .expect("file location");
            Some(TestStore {
                location,
                _dir: Some(dir),
                gcs: None,
            })
        }
        BackendKind::Memory => Some(TestStore {
            location: StorageLocation::from_store(Arc::new(InMemory::new()), "data/v1").unwrap(),
            _dir: None,
            gcs: None,
        }),
        BackendKind::S3 => s3(test).await,
        BackendKind::Gcs => gcs(test).await,
    }
}

/// A location of `kind` holding [`crate::dataset::seed`]'s data set.
///
/// For `gs://` the data set is written to a memory store by the same
/// [`crate::dataset::seed`], then every object is uploaded to a fresh bucket
/// with the emulator's own upload API (object_store's GCS upload is not
/// accepted by the emulator; [`crate::gcs::UploadProxy`] tests that path).
pub async fn seeded(kind: BackendKind, test: &str) -> Option<TestStore> {
    let store = empty(kind, test).await?;
    match &store.gcs {
        Some((emulator, bucket)) => {
            let staging = StorageLocation::from_store(
                Arc::new(InMemory::new()),
                store.location.prefix.as_ref(),
            )
            .unwrap();
            crate::dataset::seed(&staging).await;
            let copied = emulator.copy_all(staging.store.as_ref(), bucket).await;
            assert!(copied > 0, "the data set has objects");
        }
        None => crate::dataset::seed(&store.location).await,
    }
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

/// A `gs://{bucket}/data/v1` location over a fresh bucket of the emulator,
/// read through object_store's GCS client at `base_url` (the emulator
/// itself, or an [`crate::gcs::UploadProxy`] in front of it).
pub fn gcs_location(base_url: &str, bucket: &str) -> StorageLocation {
    StorageLocation {
        backend: Backend::Gcs,
        store: Arc::new(crate::gcs::store(base_url, bucket)),
        prefix: Path::from("data/v1"),
        bucket: Some(bucket.to_string()),
        local_root: None,
    }
}

async fn gcs(test: &str) -> Option<TestStore> {
    let emulator = FakeGcs::reachable(test).await?;
    let bucket = crate::gcs::bucket_name(test);
    emulator.create_bucket(&bucket).await;
    Some(TestStore {
        location: gcs_location(&emulator.endpoint, &bucket),
        _dir: None,
        gcs: Some((emulator, bucket)),
    })
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
    let bucket = crate::gcs::bucket_name(test);
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
        gcs: None,
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
