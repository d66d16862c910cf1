//! stampede: K containers ask for one cold key at once, then once it is stale;
//! compared with a plain cache-aside (GET, on nil read storage and SET).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use shared::upstash::Command;
use tokio::sync::Barrier;

use crate::Options;
use crate::harness::{Endpoint, Env, Job, Node, Outcome, cache_header, fmt_statuses, statuses};
use crate::report::{Section, table, verdict};
use crate::stats::{Summary, fmt_us};

async fn storm(env: &Env, nodes: &[Arc<Node>], job: Job) -> (Vec<Outcome>, u64) {
    let before: u64 = nodes.iter().map(|n| n.store.reads()).sum();
    let barrier = Arc::new(Barrier::new(nodes.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for node in nodes {
        let (node, barrier, request) = (node.clone(), barrier.clone(), env.request(job));
        tasks.spawn(async move {
            barrier.wait().await;
            let t = std::time::Instant::now();
            let response = node.handle(job.endpoint, request).await;
            Outcome {
                job,
                latency: t.elapsed(),
                started: Duration::ZERO,
                status: response.status().as_u16(),
                cache: cache_header(&response),
                breaker_open: false,
            }
        });
    }
    let mut out = Vec::new();
    while let Some(o) = tasks.join_next().await {
        out.push(o.expect("task"));
    }
    let after: u64 = nodes.iter().map(|n| n.store.reads()).sum();
    (out, after - before)
}

/// Plain cache-aside: GET; on nil read storage and `SET key value PX ttl`.
async fn cache_aside_storm(nodes: &[Arc<Node>], env: &Env, key: &str, ttl: Duration) -> u64 {
    let before: u64 = nodes.iter().map(|n| n.store.reads()).sum();
    let barrier = Arc::new(Barrier::new(nodes.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for node in nodes {
        let (node, barrier, key) = (node.clone(), barrier.clone(), key.to_string());
        let symbol = env.symbols[0].clone();
        tasks.spawn(async move {
            barrier.wait().await;
            let client = node.client.as_ref().expect("client");
            let cached = client.command(&Command::new("GET").arg(key.as_str())).await;
            if matches!(cached, Ok(ref r) if !r.is_nil()) {
                return;
            }
            if let Ok(value) = node.store.latest_price(&symbol).await {
                let body = serde_json::to_string(&value).unwrap_or_default();
                let _ = client
                    .command(
                        &Command::new("SET")
                            .arg(key.as_str())
                            .arg(body.as_str())
                            .arg("PX")
                            .arg(ttl.as_millis() as u64),
                    )
                    .await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let after: u64 = nodes.iter().map(|n| n.store.reads()).sum();
    after - before
}

/// Storage reads of each storm, read-through and plain cache-aside.
struct Storms {
    cold: Vec<Outcome>,
    cold_reads: u64,
    stale: Vec<Outcome>,
    stale_reads: u64,
    naive_cold: u64,
    naive_expired: u64,
}

/// 5. stampede.
pub(crate) async fn stampede(env: &Env, opts: &Options) -> Section {
    let prefix = env.fresh_prefix("stampede");
    let mut config = Env::production_config(&prefix);
    let fresh = Duration::from_secs(1);
    config.ttl_latest_price = fresh;
    config.stale_grace = Some(Duration::from_secs(60));
    let k = opts.containers;
    let nodes = env.containers(k, &config);
    // Warm containers: the manifest is already in memory, so every storage
    // read counted below is a partition read for the stampeding key.
    for node in &nodes {
        let _ = node.store.manifest().await;
    }
    let wait = fresh + Duration::from_millis(500);
    let storms = run_storms(env, &nodes, &prefix, fresh, wait).await;
    report(env, k, fresh, wait, &storms)
}

/// A cold storm and a stale one through the handlers, then the same two
/// with plain cache-aside; `wait` between the storms of each pair.
async fn run_storms(
    env: &Env,
    nodes: &[Arc<Node>],
    prefix: &str,
    fresh: Duration,
    wait: Duration,
) -> Storms {
    let job = Job {
        endpoint: Endpoint::Latest,
        symbol: 0,
    };
    let (cold, cold_reads) = storm(env, nodes, job).await;
    tokio::time::sleep(wait).await;
    let (stale, stale_reads) = storm(env, nodes, job).await;

    let naive_key = format!("{prefix}naive:latest:{}", env.symbols[0]);
    let naive_cold = cache_aside_storm(nodes, env, &naive_key, fresh).await;
    tokio::time::sleep(wait).await;
    let naive_expired = cache_aside_storm(nodes, env, &naive_key, fresh).await;
    Storms {
        cold,
        cold_reads,
        stale,
        stale_reads,
        naive_cold,
        naive_expired,
    }
}

fn report(env: &Env, k: usize, fresh: Duration, wait: Duration, s: &Storms) -> Section {
    let errors = s.cold.iter().chain(&s.stale).filter(|o| !o.is_ok()).count();
    let sc = Summary::of(&s.cold.iter().map(|o| o.latency).collect::<Vec<_>>());
    let ss = Summary::of(&s.stale.iter().map(|o| o.latency).collect::<Vec<_>>());
    let mut md = format!(
        "## stampede\n\n{k} containers (manifest already in memory) request `latest` of {} at the same instant (a barrier). Fresh TTL {} s, stale grace 60 s; the second storm comes {} ms later, when the value is stale. The cache-aside column runs the same storms with plain `GET` → on nil read storage → `SET PX` through the same clients.\n\n",
        env.symbols[0],
        fresh.as_secs(),
        wait.as_millis()
    );
    let headers = [
        "storm",
        "storage reads (read-through)",
        "target",
        "verdict",
        "plain cache-aside reads",
        "x-cache",
        "p50",
        "max",
    ];
    let rows = [
        storm_row("cold key", (s.cold_reads, 2), s.naive_cold, &s.cold, &sc),
        storm_row(
            "stale key",
            (s.stale_reads, 1),
            s.naive_expired,
            &s.stale,
            &ss,
        ),
    ];
    md.push_str(&table(&headers, &rows));
    md.push_str(&format!("\nErrors: {errors}.\n"));
    let (cold_reads, stale_reads) = (s.cold_reads, s.stale_reads);
    Section {
        name: "stampede",
        markdown: md,
        json: json!({
            "containers": k,
            "cold": {"storage_reads": cold_reads, "statuses": statuses(&s.cold), "latency": sc.to_json(), "target": 2, "met": cold_reads <= 2},
            "stale": {"storage_reads": stale_reads, "statuses": statuses(&s.stale), "latency": ss.to_json(), "target": 1, "met": stale_reads <= 1},
            "cache_aside": {"cold_reads": s.naive_cold, "expired_reads": s.naive_expired},
            "errors": errors,
        }),
    }
}

/// One storm's row: `(reads, target)` of the read-through cache.
fn storm_row(
    label: &str,
    (reads, target): (u64, u64),
    naive: u64,
    out: &[Outcome],
    latency: &Summary,
) -> Vec<String> {
    vec![
        label.into(),
        reads.to_string(),
        format!("≤ {target}"),
        verdict(reads <= target).into(),
        naive.to_string(),
        fmt_statuses(&statuses(out)),
        fmt_us(latency.p50),
        fmt_us(latency.max),
    ]
}
