//! Round-trip latency of a GET through the `shared` Upstash client and
//! upstash-local (in-process server, real Redis).
//!
//! ```text
//! cargo run --release -p upstash-local --example rtt [-- N [VALUE_BYTES]]
//! ```
//! Prints the median and p99 of N (default 2000) sequential GETs of a value
//! of VALUE_BYTES (default 64) bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shared::secret::Secret;
use shared::upstash::{Command, UpstashClient, UpstashConfig};
use upstash_local::{ServeOptions, serve};

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let size: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let token = "rtt-token";
    let server = serve(ServeOptions::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        redis,
        token,
    ))
    .await
    .expect("start upstash-local");
    let client = UpstashClient::new(&UpstashConfig {
        url: server.url(),
        token: Secret::from(token.to_string()),
        timeout: Duration::from_secs(2),
    })
    .expect("client");
    let key = format!("rtt:{}", std::process::id());
    client
        .command(
            &Command::new("SET")
                .arg(&key)
                .arg("x".repeat(size))
                .arg("EX")
                .arg(60),
        )
        .await
        .expect("SET");
    let get = Command::new("GET").arg(&key);
    for _ in 0..100 {
        client.command(&get).await.expect("warm-up GET");
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        client.command(&get).await.expect("GET");
        samples.push(started.elapsed());
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "{n} GETs of {size} B via client → upstash-local → Redis: median {:.1} µs, p99 {:.1} µs",
        pct(0.5).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6
    );
    println!("REST requests: {}", client.requests_sent());
}
