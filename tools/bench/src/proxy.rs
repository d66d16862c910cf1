//! A counting HTTP proxy in front of upstash-local: it reads every REST
//! request's JSON body, counts its Redis commands (each command of a
//! pipeline or transaction, as upstash-local's `redis_commands` does) and
//! which of them are cache-statistics flushes, then forwards it unchanged.
//!
//! The bench cannot see inside the cache's requests (flushes ride along in
//! the hit's or the miss's request), and upstash-local only counts commands
//! in total; this proxy splits them without touching `shared`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

/// Headers passed through in each direction.
const REQUEST_HEADERS: [&str; 4] = [
    "authorization",
    "content-type",
    "upstash-encoding",
    "upstash-sync-token",
];
const SYNC_TOKEN: &str = "upstash-sync-token";

/// What went through the proxy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Traffic {
    /// REST requests.
    pub requests: u64,
    /// Redis commands (every command of a pipeline or transaction; EVAL counts as one).
    pub commands: u64,
    /// Of those, statistics-flush commands: the writes to `{prefix}stats:`
    /// keys that `Pending::commands` in `shared/src/cache/stats.rs` sends
    /// (`BITFIELD`, `ZADD`, `ZUNIONSTORE`, `ZREMRANGEBYRANK`, `UNLINK`,
    /// `SET … NX`; the
    /// `INCRBY` / `ZINCRBY` of the earlier design too).
    pub flush_commands: u64,
    /// Of those, commands only a miss sends: the lock's `SET … NX`, a
    /// script (the store or the lock release), a `GET` while waiting for
    /// another container's value.
    pub miss_commands: u64,
    /// Of those, scripts (`EVAL` / `EVALSHA`): each also runs commands of
    /// its own that this proxy cannot see (counted from Redis instead).
    pub scripts: u64,
    /// The keys the scripts were given (their `numkeys`, summed).
    pub script_keys: u64,
    /// REST requests that carried at least one flush command.
    pub flush_requests: u64,
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    commands: AtomicU64,
    flush_commands: AtomicU64,
    flush_requests: AtomicU64,
    miss_commands: AtomicU64,
    scripts: AtomicU64,
    script_keys: AtomicU64,
}

struct State {
    upstream: String,
    key_prefix: String,
    http: reqwest::Client,
    counts: Counts,
}

/// A running proxy; stops when dropped.
pub(crate) struct CountingProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingProxy {
    /// Listens on 127.0.0.1 and forwards to `upstream` (`http://ADDR`);
    /// flush commands are those on keys under `{key_prefix}stats:`.
    pub(crate) async fn start(upstream: &str, key_prefix: &str) -> Result<Self, String> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        shared::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()
            .map_err(|e| e.to_string())?;
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            key_prefix: key_prefix.to_string(),
            http,
            counts: Counts::default(),
        });
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(CountingProxy { addr, state, task })
    }

    /// `http://ADDR`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of the counters.
    pub(crate) fn traffic(&self) -> Traffic {
        let c = &self.state.counts;
        Traffic {
            requests: c.requests.load(Ordering::Relaxed),
            commands: c.commands.load(Ordering::Relaxed),
            flush_commands: c.flush_commands.load(Ordering::Relaxed),
            flush_requests: c.flush_requests.load(Ordering::Relaxed),
            miss_commands: c.miss_commands.load(Ordering::Relaxed),
            scripts: c.scripts.load(Ordering::Relaxed),
            script_keys: c.script_keys.load(Ordering::Relaxed),
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(forward(req, &state).await) }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The commands of one REST request, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Classified {
    pub commands: u64,
    pub flush: u64,
    pub miss: u64,
    pub scripts: u64,
    pub script_keys: u64,
}

/// Counts the commands of `body` sent to `path`, for keys under `key_prefix`.
pub(crate) fn classify(path: &str, body: &[u8], key_prefix: &str) -> Classified {
    let stats_prefix = format!("{key_prefix}stats:");
    let lock_prefix = format!("{key_prefix}lock:");
    let generation = format!("{key_prefix}data:generation");
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
        return Classified::default();
    };
    let commands: Vec<&[Value]> = if path.ends_with("/pipeline") || path.ends_with("/multi-exec") {
        items
            .iter()
            .filter_map(|c| c.as_array().map(Vec::as_slice))
            .collect()
    } else {
        vec![items.as_slice()]
    };
    let count = |f: &dyn Fn(&[Value]) -> bool| commands.iter().filter(|c| f(c)).count() as u64;
    let name = |c: &[Value]| {
        c.first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase()
    };
    let is_script = |c: &[Value]| matches!(name(c).as_str(), "EVAL" | "EVALSHA");
    let numkeys = |c: &[Value]| match c.get(2) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    };
    Classified {
        commands: commands.len() as u64,
        flush: count(&|c| is_flush(c, &stats_prefix)),
        miss: count(&|c| {
            let key = c.get(1).and_then(Value::as_str).unwrap_or_default();
            let last = c.last().and_then(Value::as_str).unwrap_or_default();
            match name(c).as_str() {
                // The lock, the value's store (never a statistic: `SET since NX` is a flush).
                "SET" => !key.starts_with(&stats_prefix),
                "DEL" => key.starts_with(&lock_prefix),
                // A lookup ends with the data generation; a wait for the winner does not.
                "MGET" => last != generation,
                "GET" => !key.starts_with(&stats_prefix),
                "EVAL" | "EVALSHA" => true,
                _ => false,
            }
        }),
        scripts: count(&is_script),
        script_keys: commands
            .iter()
            .filter(|c| is_script(c))
            .map(|c| numkeys(c))
            .sum(),
    }
}

fn is_flush(command: &[Value], stats_prefix: &str) -> bool {
    let word = |i: usize| command.get(i).and_then(Value::as_str).unwrap_or_default();
    let name = word(0).to_ascii_uppercase();
    let on_stats = word(1).starts_with(stats_prefix);
    match name.as_str() {
        "INCRBY" | "ZINCRBY" | "BITFIELD" | "ZADD" | "ZUNIONSTORE" | "ZREMRANGEBYRANK"
        | "UNLINK" => on_stats,
        "SET" => {
            on_stats
                && word(1).ends_with("stats:since")
                && command
                    .iter()
                    .skip(3)
                    .any(|a| a.as_str().is_some_and(|s| s.eq_ignore_ascii_case("NX")))
        }
        _ => false,
    }
}

async fn forward(req: Request<hyper::body::Incoming>, state: &State) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let mut builder = state.http.post(format!("{}{path}", state.upstream));
    for name in REQUEST_HEADERS {
        if let Some(v) = req.headers().get(name) {
            builder = builder.header(name, v.as_bytes());
        }
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return status(StatusCode::BAD_REQUEST),
    };
    let seen = classify(&path, &body, &state.key_prefix);
    let c = &state.counts;
    c.requests.fetch_add(1, Ordering::Relaxed);
    c.commands.fetch_add(seen.commands, Ordering::Relaxed);
    c.flush_commands.fetch_add(seen.flush, Ordering::Relaxed);
    c.miss_commands.fetch_add(seen.miss, Ordering::Relaxed);
    c.scripts.fetch_add(seen.scripts, Ordering::Relaxed);
    c.script_keys.fetch_add(seen.script_keys, Ordering::Relaxed);
    if seen.flush > 0 {
        c.flush_requests.fetch_add(1, Ordering::Relaxed);
    }
    let Ok(resp) = builder.body(body).send().await else {
        return status(StatusCode::BAD_GATEWAY);
    };
    let code = resp.status().as_u16();
    let token = resp.headers().get(SYNC_TOKEN).cloned();
    let Ok(bytes) = resp.bytes().await else {
        return status(StatusCode::BAD_GATEWAY);
    };
    let mut out = Response::new(Full::new(bytes));
    *out.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
    out.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Some(token) = token
        && let Ok(v) = hyper::header::HeaderValue::from_bytes(token.as_bytes())
    {
        out.headers_mut().insert(SYNC_TOKEN, v);
    }
    out
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_commands_flushes_misses_and_scripts() {
        let p = "p:";
        let seen = |commands, flush, miss, scripts, script_keys| Classified {
            commands,
            flush,
            miss,
            scripts,
            script_keys,
        };
        assert_eq!(
            classify(
                "/",
                br#"["MGET","p:a","p:gen:sym:A","p:data:generation"]"#,
                p
            ),
            seen(1, 0, 0, 0, 0)
        );
        let pipe = br##"[["MGET","p:a","p:data:generation"],["BITFIELD","p:stats:counters","OVERFLOW","SAT","INCRBY","i64","#0",3],["ZADD","p:stats:scratch:1",2,"AAPL"],["ZUNIONSTORE","p:stats:popular",2,"p:stats:popular","p:stats:scratch:1"],["ZREMRANGEBYRANK","p:stats:popular",0,-1001],["UNLINK","p:stats:scratch:1"],["SET","p:stats:since","2026","NX"],["EVAL","s",3,"p:a","p:lock:a","p:g"]]"##;
        assert_eq!(classify("/pipeline", pipe, p), seen(8, 6, 1, 1, 3));
        assert_eq!(classify("/multi-exec", pipe, p), seen(8, 6, 1, 1, 3));
        // A miss: the lock, a wait for the winner's value, the store and the release.
        let miss = br#"[["SET","p:lock:a","1","NX","PX",5000],["MGET","p:a","p:gen:sym:A"],["SET","p:a","v","PX",600000],["DEL","p:lock:a"]]"#;
        assert_eq!(classify("/pipeline", miss, p), seen(4, 0, 4, 0, 0));
        // Scripts (none since 2026-12-06) are still counted.
        let script = br#"[["evalsha","abc","1","p:lock:a"]]"#;
        assert_eq!(classify("/pipeline", script, p), seen(1, 0, 1, 1, 1));
        // Other prefixes, reads of the statistics and a SET without NX are not flushes.
        let other = br#"[["INCRBY","q:stats:hits","1"],["SET","p:stats:since","x"],["ZREVRANGE","p:stats:popular",0,49]]"#;
        assert_eq!(classify("/pipeline", other, p), seen(3, 0, 0, 0, 0));
        assert_eq!(classify("/", b"not json", p), seen(0, 0, 0, 0, 0));
    }
}
