//! `upstash-local`: run an Upstash-compatible REST server over a real Redis.
//!
//! ```text
//! upstash-local --listen 127.0.0.1:8079 --redis redis://127.0.0.1:6379 --token TOKEN
//! ```
//! Each flag falls back to `UPSTASH_LOCAL_LISTEN`, `REDIS_URL`,
//! `UPSTASH_REDIS_REST_TOKEN`. `--max-request-bytes N` sets the body limit.

use std::net::SocketAddr;
use std::process::ExitCode;

use upstash_local::{ServeOptions, serve};

const USAGE: &str =
    "usage: upstash-local [--listen ADDR] [--redis URL] [--token TOKEN] [--max-request-bytes N]
  --listen             default $UPSTASH_LOCAL_LISTEN or 127.0.0.1:8079
  --redis              default $REDIS_URL or redis://127.0.0.1:6379
  --token              default $UPSTASH_REDIS_REST_TOKEN (required)
  --max-request-bytes  default 10485760";

fn parse_args() -> Result<ServeOptions, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut listen = env("UPSTASH_LOCAL_LISTEN").unwrap_or_else(|| "127.0.0.1:8079".into());
    let mut redis = env("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let mut token = env("UPSTASH_REDIS_REST_TOKEN");
    let mut max_bytes = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (flag.clone(), None),
        };
        if name == "-h" || name == "--help" {
            return Err(String::new());
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{name} needs a value")),
        };
        match name.as_str() {
            "--listen" => listen = value,
            "--redis" => redis = value,
            "--token" => token = Some(value),
            "--max-request-bytes" => {
                max_bytes = Some(
                    value
                        .parse()
                        .map_err(|_| "--max-request-bytes must be a number")?,
                )
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let listen: SocketAddr = listen
        .parse()
        .map_err(|_| format!("invalid listen address {listen:?}"))?;
    let token = token.ok_or("a token is required: --token or UPSTASH_REDIS_REST_TOKEN")?;
    let mut options = ServeOptions::new(listen, redis, token);
    if let Some(n) = max_bytes {
        options.max_request_bytes = n;
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("upstash-local: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let redis = options.redis_url.clone();
    let handle = match serve(options).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("upstash-local: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "upstash-local listening on {} (redis {redis})",
        handle.url()
    );
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    ExitCode::SUCCESS
}
