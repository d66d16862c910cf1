//! Starting, observing and stopping the server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::backend::Backend;

/// Upstash's default request size limit (10 MB).
pub(crate) const DEFAULT_MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// How to run the server.
#[derive(Clone)]
pub struct ServeOptions {
    /// Address to listen on; port 0 picks an ephemeral port.
    pub listen: SocketAddr,
    /// Redis URL, e.g. `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// The token clients must present.
    pub token: String,
    /// Request body limit in bytes (default 10 MB, like Upstash).
    pub max_request_bytes: usize,
    /// Number of multiplexed Redis connections (default 4).
    pub redis_connections: usize,
}

impl ServeOptions {
    /// Options with the default size limit and pool size.
    pub fn new(listen: SocketAddr, redis_url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            listen,
            redis_url: redis_url.into(),
            token: token.into(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            redis_connections: 4,
        }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("listen", &self.listen)
            .field("redis_url", &self.redis_url)
            .field("token", &"***")
            .field("max_request_bytes", &self.max_request_bytes)
            .field("redis_connections", &self.redis_connections)
            .finish()
    }
}

/// Why the server could not start.
#[derive(Debug)]
pub enum ServeError {
    /// Binding the listen address failed.
    Bind(std::io::Error),
    /// Connecting to Redis failed.
    Redis(redis::RedisError),
    /// The token is empty.
    EmptyToken,
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bind(e) => write!(f, "cannot bind listen address: {e}"),
            Self::Redis(e) => write!(f, "cannot connect to Redis: {e}"),
            Self::EmptyToken => f.write_str("a non-empty token is required"),
        }
    }
}

impl std::error::Error for ServeError {}

/// Counters of a running server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// HTTP requests received (any path, status or method).
    pub requests: u64,
    /// Redis commands executed; commands inside pipelines and transactions
    /// count individually (MULTI/EXEC themselves do not).
    pub redis_commands: u64,
    /// Requests that carried an `upstash-sync-token` header.
    pub sync_tokens_received: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub redis_commands: Arc<AtomicU64>,
    pub sync_tokens_received: AtomicU64,
    sync_token_seq: AtomicU64,
    last_sync_token: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn next_sync_token(&self) -> u64 {
        self.sync_token_seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn set_last_sync_token(&self, token: String) {
        *self
            .last_sync_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token);
    }
}

pub(crate) struct State {
    pub backend: Backend,
    pub token: String,
    pub max_request_bytes: usize,
    pub stats: Counters,
}

/// A running server; stops on drop or [`ServerHandle::shutdown`].
pub struct ServerHandle {
    addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl ServerHandle {
    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the value for `UPSTASH_REDIS_REST_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let c = &self.state.stats;
        Stats {
            requests: c.requests.load(Ordering::Relaxed),
            redis_commands: c.redis_commands.load(Ordering::Relaxed),
            sync_tokens_received: c.sync_tokens_received.load(Ordering::Relaxed),
        }
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        let c = &self.state.stats;
        c.requests.store(0, Ordering::Relaxed);
        c.redis_commands.store(0, Ordering::Relaxed);
        c.sync_tokens_received.store(0, Ordering::Relaxed);
        *c.last_sync_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The last `upstash-sync-token` a client sent, if any.
    pub fn last_sync_token_received(&self) -> Option<String> {
        self.state
            .stats
            .last_sync_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Stops accepting, closes open connections and waits for the accept loop.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Connects to Redis, binds `options.listen` and serves in background tasks
/// on the current Tokio runtime.
pub async fn serve(options: ServeOptions) -> Result<ServerHandle, ServeError> {
    if options.token.is_empty() {
        return Err(ServeError::EmptyToken);
    }
    let counters = Counters::default();
    let backend = Backend::connect(
        &options.redis_url,
        options.redis_connections,
        counters.redis_commands.clone(),
    )
    .await
    .map_err(ServeError::Redis)?;
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(ServeError::Bind)?;
    let addr = listener.local_addr().map_err(ServeError::Bind)?;
    let state = Arc::new(State {
        backend,
        token: options.token,
        max_request_bytes: options.max_request_bytes,
        stats: counters,
    });
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, state.clone(), stopped));
    Ok(ServerHandle {
        addr,
        state,
        stop,
        task: Some(task),
    })
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, mut stopped: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors or similar: back off briefly.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(crate::http::handle(req, state).await) }
                    });
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while conns.try_join_next().is_some() {}
            }
        }
    }
    // Dropping the JoinSet aborts the open connections.
    conns.shutdown().await;
}
