//! The Upstash REST client: one pooled HTTP client, JSON bodies, base64 replies.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::Value;

use super::{Command, Reply, UpstashConfig, UpstashError};

/// Response header carrying the read-your-writes token; sent back as is.
pub(crate) const SYNC_TOKEN_HEADER: &str = "upstash-sync-token";
/// Request header asking for base64-encoded strings in results.
const ENCODING_HEADER: &str = "upstash-encoding";
/// How long an idle keep-alive connection stays in the pool.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A client for the Upstash REST API. Cheap to clone (an `Arc` inside);
/// build it once per process and share it.
#[derive(Clone)]
pub struct UpstashClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Base URL without trailing slash.
    base: String,
    pipeline_url: String,
    multi_exec_url: String,
    /// `Bearer <token>`, marked sensitive.
    auth: HeaderValue,
    timeout: Duration,
    sync_token: Mutex<Option<HeaderValue>>,
    requests: AtomicU64,
}

impl fmt::Debug for UpstashClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstashClient")
            .field("url", &self.inner.base)
            .field("token", &"***")
            .field("timeout", &self.inner.timeout)
            .field("requests_sent", &self.requests_sent())
            .finish()
    }
}

/// Which endpoint a request goes to.
#[derive(Clone, Copy)]
enum Endpoint {
    Command,
    Pipeline,
    MultiExec,
}

impl UpstashClient {
    /// Builds the client and its single `reqwest::Client` (keep-alive pool,
    /// total per-request timeout and connect timeout = `config.timeout`).
    ///
    /// Installs rustls' ring crypto provider as the process default if none
    /// is installed yet.
    pub fn new(config: &UpstashConfig) -> Result<Self, UpstashError> {
        crate::tls::install_crypto_provider();
        let base = config.url.trim_end_matches('/').to_owned();
        url::Url::parse(&base).map_err(|_| UpstashError::Build("invalid URL".into()))?;
        let mut auth = HeaderValue::try_from(format!("Bearer {}", config.token.expose()))
            .map_err(|_| UpstashError::Build("token is not a valid header value".into()))?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| UpstashError::Build(e.without_url().to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                pipeline_url: format!("{base}/pipeline"),
                multi_exec_url: format!("{base}/multi-exec"),
                base,
                auth,
                timeout: config.timeout,
                sync_token: Mutex::new(None),
                requests: AtomicU64::new(0),
            }),
        })
    }

    /// Runs one command (`POST /`).
    pub async fn command(&self, cmd: &Command) -> Result<Reply, UpstashError> {
        let body = Bytes::from(cmd.to_json());
        let (status, bytes) = self
            .send(Endpoint::Command, body, cmd.is_read_only())
            .await?;
        check_status(status, &bytes)?;
        let value = parse_json(&bytes)?;
        entry_to_result(value)
    }

    /// Runs commands in one `POST /pipeline` request (in order, not atomic).
    ///
    /// The outer `Err` means the whole request failed; each inner `Err` is
    /// the failure of one command (the others still ran). Retried once on a
    /// connection reset only when every command is read-only.
    pub async fn pipeline(
        &self,
        cmds: &[Command],
    ) -> Result<Vec<Result<Reply, UpstashError>>, UpstashError> {
        self.batch(Endpoint::Pipeline, cmds).await
    }

    /// Runs commands as one MULTI/EXEC transaction (`POST /multi-exec`).
    ///
    /// A transaction discarded as a whole (e.g. a syntax error) is the outer
    /// `Err(UpstashError::Command(..))`; runtime errors of single commands
    /// are inner `Err`s. Never retried.
    pub async fn transaction(
        &self,
        cmds: &[Command],
    ) -> Result<Vec<Result<Reply, UpstashError>>, UpstashError> {
        self.batch(Endpoint::MultiExec, cmds).await
    }

    /// Number of REST requests sent by this client (and its clones),
    /// retries included.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The base URL requests go to.
    pub fn url(&self) -> &str {
        &self.inner.base
    }

    /// The last `upstash-sync-token` received, if any (sent back on every
    /// later request for read-your-writes consistency).
    pub fn sync_token(&self) -> Option<String> {
        self.lock_sync_token()
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    async fn batch(
        &self,
        endpoint: Endpoint,
        cmds: &[Command],
    ) -> Result<Vec<Result<Reply, UpstashError>>, UpstashError> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        let body = serde_json::to_vec(cmds).map_err(|e| UpstashError::Decode(e.to_string()))?;
        let retryable =
            matches!(endpoint, Endpoint::Pipeline) && cmds.iter().all(Command::is_read_only);
        let (status, bytes) = self.send(endpoint, Bytes::from(body), retryable).await?;
        check_status(status, &bytes)?;
        let Value::Array(entries) = parse_json(&bytes)? else {
            return Err(UpstashError::Decode("expected a JSON array".into()));
        };
        if entries.len() != cmds.len() {
            return Err(UpstashError::Decode(format!(
                "expected {} results, got {}",
                cmds.len(),
                entries.len()
            )));
        }
        Ok(entries.into_iter().map(entry_to_result).collect())
    }

    fn lock_sync_token(&self) -> std::sync::MutexGuard<'_, Option<HeaderValue>> {
        self.inner
            .sync_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends one POST, retrying once on a connection reset when `retryable`,
    /// within a single overall deadline of `timeout`.
    async fn send(
        &self,
        endpoint: Endpoint,
        body: Bytes,
        retryable: bool,
    ) -> Result<(StatusCode, Bytes), UpstashError> {
        let inner = &*self.inner;
        let url = match endpoint {
            Endpoint::Command => &inner.base,
            Endpoint::Pipeline => &inner.pipeline_url,
            Endpoint::MultiExec => &inner.multi_exec_url,
        };
        let deadline = Instant::now() + inner.timeout;
        let mut retried = false;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(UpstashError::Timeout);
            }
            let mut req = inner
                .http
                .post(url.as_str())
                .timeout(remaining)
                .header(AUTHORIZATION, inner.auth.clone())
                .header(CONTENT_TYPE, "application/json")
                .header(ENCODING_HEADER, "base64")
                .body(body.clone());
            if let Some(token) = self.lock_sync_token().clone() {
                req = req.header(SYNC_TOKEN_HEADER, token);
            }
            inner.requests.fetch_add(1, Ordering::Relaxed);
            match req.send().await {
                Ok(resp) => {
                    if let Some(token) = resp.headers().get(SYNC_TOKEN_HEADER) {
                        *self.lock_sync_token() = Some(token.clone());
                    }
                    let status = resp.status();
                    let bytes = resp.bytes().await.map_err(map_reqwest_error)?;
                    return Ok((status, bytes));
                }
                Err(e) if retryable && !retried && is_connection_reset(&e) => {
                    tracing::debug!("upstash: connection reset, retrying read once");
                    retried = true;
                }
                Err(e) => return Err(map_reqwest_error(e)),
            }
        }
    }
}

/// Maps non-2xx statuses to errors: 401 → Unauthorized, 400 with
/// `{"error":msg}` → Command(msg), anything else → Http(status).
fn check_status(status: StatusCode, body: &[u8]) -> Result<(), UpstashError> {
    if status.is_success() {
        return Ok(());
    }
    if status == StatusCode::UNAUTHORIZED {
        return Err(UpstashError::Unauthorized);
    }
    if status == StatusCode::BAD_REQUEST
        && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body)
        && let Some(Value::String(msg)) = map.get("error")
    {
        return Err(UpstashError::Command(msg.clone()));
    }
    Err(UpstashError::Http(status.as_u16()))
}

fn parse_json(body: &[u8]) -> Result<Value, UpstashError> {
    serde_json::from_slice(body).map_err(|e| UpstashError::Decode(format!("invalid JSON: {e}")))
}

/// Turns `{"result": X}` into `Ok(Reply)` and `{"error": msg}` into
/// `Err(Command(msg))`.
fn entry_to_result(entry: Value) -> Result<Reply, UpstashError> {
    let Value::Object(mut map) = entry else {
        return Err(UpstashError::Decode("expected a JSON object".into()));
    };
    if let Some(err) = map.remove("error") {
        return Err(UpstashError::Command(match err {
            Value::String(s) => s,
            other => other.to_string(),
        }));
    }
    match map.remove("result") {
        Some(result) => Reply::from_base64_json(result),
        None => Err(UpstashError::Decode("missing \"result\"".into())),
    }
}

fn map_reqwest_error(e: reqwest::Error) -> UpstashError {
    if e.is_timeout() {
        UpstashError::Timeout
    } else if e.is_builder() {
        UpstashError::Build(e.without_url().to_string())
    } else if e.is_decode() {
        UpstashError::Decode(e.without_url().to_string())
    } else {
        // Connect failures and connections lost mid-request.
        UpstashError::Connect
    }
}

/// `true` when the connection was closed or reset before any response
/// (typically a pooled keep-alive connection the server already closed).
fn is_connection_reset(e: &reqwest::Error) -> bool {
    if e.is_timeout() || e.is_builder() || e.is_connect() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        let text = err.to_string();
        if text.contains("connection closed before message completed")
            || text.contains("connection reset")
        {
            return true;
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const TOKEN: &str = "unit-test-secret-token-9f8e7d";

    fn config(url: String, ms: u64) -> UpstashConfig {
        UpstashConfig {
            url,
            token: Secret::from(TOKEN.to_string()),
            timeout: Duration::from_millis(ms),
        }
    }

    #[test]
    fn status_mapping() {
        assert_eq!(
            check_status(StatusCode::UNAUTHORIZED, b"{}"),
            Err(UpstashError::Unauthorized)
        );
        assert_eq!(
            check_status(StatusCode::BAD_REQUEST, br#"{"error":"ERR boom"}"#),
            Err(UpstashError::Command("ERR boom".into()))
        );
        assert_eq!(
            check_status(StatusCode::BAD_REQUEST, b"nope"),
            Err(UpstashError::Http(400))
        );
        assert_eq!(
            check_status(StatusCode::INTERNAL_SERVER_ERROR, br#"{"error":"x"}"#),
            Err(UpstashError::Http(500))
        );
        assert_eq!(check_status(StatusCode::OK, b""), Ok(()));
    }

    #[test]
    fn entries() {
        assert_eq!(
            entry_to_result(json!({"result": "YQ=="})),
            Ok(Reply::Bytes(Bytes::from_static(b"a")))
        );
        assert_eq!(
            entry_to_result(json!({"error": "ERR x"})),
            Err(UpstashError::Command("ERR x".into()))
        );
        assert!(matches!(
            entry_to_result(json!({})),
            Err(UpstashError::Decode(_))
        ));
        assert!(matches!(
            entry_to_result(json!([1])),
            Err(UpstashError::Decode(_))
        ));
    }

    #[test]
    fn debug_hides_token() {
        let client = UpstashClient::new(&config("http://127.0.0.1:1".into(), 50)).unwrap();
        let dbg = format!("{client:?}");
        assert!(!dbg.contains(TOKEN), "{dbg}");
        assert!(dbg.contains("127.0.0.1:1"));
    }

    #[test]
    fn invalid_url_is_build_error() {
        let err = UpstashClient::new(&config("::not a url".into(), 50)).unwrap_err();
        assert_eq!(err.kind(), "build");
    }

    /// A one-shot HTTP server answering each connection with `responses[i]`
    /// and recording the request heads.
    async fn fake_server(
        responses: Vec<&'static str>,
    ) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for response in responses {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 65536];
                let n = sock.read(&mut buf).await.unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                if response.is_empty() {
                    // Close without answering: a connection reset for the client.
                    drop(sock);
                    continue;
                }
                sock.write_all(response.as_bytes()).await.unwrap();
                sock.shutdown().await.ok();
            }
            seen
        });
        (url, task)
    }

    const OK_GET: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nupstash-sync-token: tok-7\r\nconnection: close\r\ncontent-length: 17\r\n\r\n{\"result\":\"YQ==\"}";

    #[tokio::test]
    async fn sends_headers_and_remembers_sync_token() {
        let (url, task) = fake_server(vec![OK_GET, OK_GET]).await;
        let client = UpstashClient::new(&config(url, 2000)).unwrap();
        let cmd = Command::new("GET").arg("k");
        assert_eq!(
            client.command(&cmd).await.unwrap(),
            Reply::Bytes(Bytes::from_static(b"a"))
        );
        assert_eq!(client.sync_token().as_deref(), Some("tok-7"));
        client.command(&cmd).await.unwrap();
        let seen = task.await.unwrap();
        let first = seen[0].to_ascii_lowercase();
        assert!(first.starts_with("post / http/1.1"), "{first}");
        assert!(first.contains(&format!(
            "authorization: bearer {}",
            TOKEN.to_ascii_lowercase()
        )));
        assert!(first.contains("upstash-encoding: base64"));
        assert!(!first.contains("upstash-sync-token"));
        assert!(first.ends_with(r#"["get","k"]"#), "{first}");
        assert!(
            seen[1]
                .to_ascii_lowercase()
                .contains("upstash-sync-token: tok-7")
        );
        assert_eq!(client.requests_sent(), 2);
    }

    #[tokio::test]
    async fn read_is_retried_once_after_reset() {
        let (url, task) = fake_server(vec!["", OK_GET]).await;
        let client = UpstashClient::new(&config(url, 2000)).unwrap();
        let reply = client.command(&Command::new("GET").arg("k")).await;
        assert_eq!(reply, Ok(Reply::Bytes(Bytes::from_static(b"a"))));
        assert_eq!(client.requests_sent(), 2);
        assert_eq!(task.await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn write_is_not_retried_after_reset() {
        let (url, task) = fake_server(vec![""]).await;
        let client = UpstashClient::new(&config(url, 2000)).unwrap();
        let reply = client.command(&Command::new("SET").arg("k").arg("v")).await;
        assert_eq!(reply, Err(UpstashError::Connect));
        assert_eq!(client.requests_sent(), 1);
        assert_eq!(task.await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn pipeline_with_a_write_is_not_retried() {
        let (url, task) = fake_server(vec![""]).await;
        let client = UpstashClient::new(&config(url, 2000)).unwrap();
        let cmds = [Command::new("GET").arg("a"), Command::new("INCR").arg("b")];
        assert_eq!(client.pipeline(&cmds).await, Err(UpstashError::Connect));
        assert_eq!(client.requests_sent(), 1);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn empty_batches_send_nothing() {
        let client = UpstashClient::new(&config("http://127.0.0.1:1".into(), 50)).unwrap();
        assert_eq!(client.pipeline(&[]).await, Ok(vec![]));
        assert_eq!(client.transaction(&[]).await, Ok(vec![]));
        assert_eq!(client.requests_sent(), 0);
    }
}
