//! Starting upstash-local for tests, plus helpers: unique key prefixes, a
//! listener that never answers, a refused port, a cuttable Redis proxy.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shared::secret::Secret;
use shared::upstash::UpstashConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
pub use upstash_local::{ServeOptions, ServerHandle, Stats};

/// The token every test server accepts.
pub const TEST_TOKEN: &str = "it-token-4f1c2b7a9d0e";

/// `REDIS_URL` or `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

/// Options for an in-process server on an ephemeral port against [`redis_url`].
pub fn options() -> ServeOptions {
    ServeOptions::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        redis_url(),
        TEST_TOKEN,
    )
}

/// Starts upstash-local in-process with default options.
pub async fn start() -> ServerHandle {
    start_with(options()).await
}

/// Starts upstash-local in-process with the given options.
pub async fn start_with(options: ServeOptions) -> ServerHandle {
    upstash_local::serve(options).await.unwrap_or_else(|e| {
        panic!(
            "cannot start upstash-local (is Redis at {} up?): {e}",
            redis_url()
        )
    })
}

/// A key prefix unique to this test, process and call, so parallel tests
/// (and repeated runs) never collide. Never FLUSHDB.
pub fn unique_prefix(test: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "it:{test}:{}:{nanos}:{}:",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// A client config for `server` with the test token.
pub fn client_config(server: &ServerHandle, timeout: Duration) -> UpstashConfig {
    UpstashConfig {
        url: server.url(),
        token: Secret::from(TEST_TOKEN.to_string()),
        timeout,
    }
}

/// A direct Redis connection, to write raw bytes behind the REST layer.
pub async fn redis_conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("REDIS_URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis")
}

/// A TCP listener that accepts connections and never answers. Sockets stay
/// open until the handle is dropped.
pub struct SilentListener {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SilentListener {
    /// Binds an ephemeral port and starts accepting.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                held.push(sock);
            }
        });
        Self { addr, task }
    }
}

impl Drop for SilentListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An address where nothing listens (bound once, then released).
pub async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr")
}

/// A TCP proxy in front of Redis that can be cut (all connections dropped,
/// new ones refused) and restored, to simulate losing Redis.
pub struct RedisProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RedisProxy {
    /// Starts a proxy to the Redis of [`redis_url`].
    pub async fn start() -> Self {
        let target = redis_target();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (up, mut up_rx) = watch::channel(true);
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    changed = up_rx.changed() => {
                        if changed.is_err() { break; }
                        if !*up_rx.borrow() { conns.abort_all(); }
                    }
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { continue };
                        if !*up_rx.borrow() { drop(client); continue; }
                        let target = target.clone();
                        conns.spawn(async move {
                            if let Ok(mut server) = TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        });
                    }
                }
            }
        });
        Self { addr, up, task }
    }

    /// `redis://ADDR` of the proxy.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Drops every proxied connection and refuses new ones.
    pub fn cut(&self) {
        let _ = self.up.send(false);
    }

    /// Accepts and forwards connections again.
    pub fn restore(&self) {
        let _ = self.up.send(true);
    }
}

impl Drop for RedisProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `host:port` of [`redis_url`].
fn redis_target() -> String {
    let url = redis_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or("127.0.0.1:6379");
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    }
}

/// Every key under `prefix` in the test Redis, sorted (`KEYS`: tests only).
pub async fn redis_keys(prefix: &str) -> Vec<String> {
    let mut conn = redis_conn().await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    keys.sort();
    keys
}

/// `PTTL key` in the test Redis (-2: no such key).
pub async fn pttl(key: &str) -> i64 {
    let mut conn = redis_conn().await;
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("PTTL")
}

/// The value at `key` (under `prefix`) when a reader would serve it:
/// present, decodable and tagged with the current generations (see
/// `shared::cache::tag`). A value read before an update is `None` even
/// while it is still in Redis.
pub async fn live_value(prefix: &str, key: &str) -> Option<shared::cache::Envelope> {
    let scopes = shared::cache::KeySpace::new(prefix).scopes_of(key);
    assert!(
        !scopes.is_empty(),
        "{key} is not a value key under {prefix}"
    );
    let mut mget = redis::cmd("MGET");
    mget.arg(key).arg(&scopes);
    let replies: Vec<Option<String>> = mget
        .query_async(&mut redis_conn().await)
        .await
        .expect("MGET");
    let entry = shared::cache::Envelope::decode(replies[0].as_ref()?.as_bytes()).ok()?;
    let tag = replies[1..]
        .iter()
        .map(|token| token.clone().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/");
    (entry.tag == tag).then_some(entry)
}
