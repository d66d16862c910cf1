//! cache-down: the cache refuses connections, never answers, or answers
//! HTTP 500 (a fault proxy in front of upstash-local). Production client
//! timeout and breaker settings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::fault_proxy::{Fault, FaultProxy};
use serde_json::json;

use crate::Options;
use crate::harness::{Env, Node, Outcome, cache_header, statuses, zipf_jobs};
use crate::report::{Section, table, verdict};
use crate::stats::{Summary, fmt_us};

/// Runs `nodes` back to back for `duration`, each serving one request at a time.
async fn run_for(env: &Env, nodes: &[Arc<Node>], duration: Duration, seed: u64) -> Vec<Outcome> {
    let start = Instant::now();
    let n_symbols = env.symbols.len();
    let loops = nodes.iter().enumerate().map(|(i, node)| {
        let jobs = zipf_jobs(20_000, n_symbols, 1.0, seed + i as u64);
        async move {
            let mut out = Vec::new();
            for job in jobs {
                if start.elapsed() >= duration {
                    break;
                }
                let request = env.request(job);
                let breaker_open = node.breaker_open();
                let t = Instant::now();
                let response = node.handle(job.endpoint, request).await;
                out.push(Outcome {
                    job,
                    latency: t.elapsed(),
                    started: t - start,
                    status: response.status().as_u16(),
                    cache: cache_header(&response),
                    breaker_open,
                });
            }
            out
        }
    });
    futures::future::join_all(loops)
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn lat(outcomes: &[&Outcome]) -> Summary {
    Summary::of(&outcomes.iter().map(|o| o.latency).collect::<Vec<_>>())
}

/// The fault modes, in run order.
const MODES: [(&str, Fault); 4] = [
    ("healthy (proxy passes)", Fault::Pass),
    ("refused (connection reset)", Fault::Refuse),
    ("never answers (blackhole)", Fault::Blackhole),
    ("HTTP 500", Fault::Http500),
];

/// What one fault mode did.
struct Mode {
    label: &'static str,
    fault: Fault,
    out: Vec<Outcome>,
    containers: usize,
    open_at_end: usize,
}

impl Mode {
    fn errors(&self) -> usize {
        self.out.iter().filter(|o| !o.is_ok()).count()
    }

    /// Latency in the first second, with the breaker closed, with it open.
    fn summaries(&self) -> (Summary, Summary, Summary) {
        let out = &self.out;
        let first: Vec<&Outcome> = out
            .iter()
            .filter(|o| o.started < Duration::from_secs(1))
            .collect();
        let closed: Vec<&Outcome> = out.iter().filter(|o| !o.breaker_open).collect();
        let open: Vec<&Outcome> = out.iter().filter(|o| o.breaker_open).collect();
        (lat(&first), lat(&closed), lat(&open))
    }
}

/// 6. cache-down.
pub(crate) async fn cache_down(env: &Env, opts: &Options) -> Section {
    let proxy = FaultProxy::start(env.server.addr()).await;
    let timeout = Duration::from_millis(shared::upstash::DEFAULT_TIMEOUT_MS);
    let mut modes = Vec::new();
    for (i, mode) in MODES.into_iter().enumerate() {
        proxy.set(mode.1);
        let seed = opts.seed + 100 * i as u64;
        modes.push(run_mode(env, opts, &proxy.url(), timeout, mode, seed).await);
    }
    report(opts, timeout, &modes)
}

/// Fresh containers behind the proxy serve the Zipf mix for `--down-seconds`.
async fn run_mode(
    env: &Env,
    opts: &Options,
    url: &str,
    timeout: Duration,
    (label, fault): (&'static str, Fault),
    seed: u64,
) -> Mode {
    let duration = Duration::from_secs_f64(opts.down_seconds);
    let config = Env::production_config(&env.fresh_prefix("down"));
    let nodes: Vec<Arc<Node>> = (0..opts.down_containers)
        .map(|_| Arc::new(env.container_at(url, timeout, &config)))
        .collect();
    for node in &nodes {
        let _ = node.store.manifest().await;
    }
    let bar = env.bar(1, label);
    let out = run_for(env, &nodes, duration, seed).await;
    bar.finish_and_clear();
    Mode {
        label,
        fault,
        out,
        containers: nodes.len(),
        open_at_end: nodes.iter().filter(|n| n.breaker_open()).count(),
    }
}

fn mode_row(mode: &Mode) -> Vec<String> {
    let (sf, sc, so) = mode.summaries();
    let errors = mode.errors();
    let pair = |s: &Summary| {
        if s.n == 0 {
            "–".to_string()
        } else {
            format!("{} / {}", fmt_us(s.p50), fmt_us(s.p99))
        }
    };
    vec![
        mode.label.to_string(),
        mode.out.len().to_string(),
        errors.to_string(),
        if mode.fault == Fault::Pass {
            String::new()
        } else {
            verdict(errors == 0).to_string()
        },
        pair(&sf),
        format!("{} ({})", pair(&sc), sc.n),
        format!("{} ({})", pair(&so), so.n),
        format!("{}/{}", mode.open_at_end, mode.containers),
    ]
}

fn mode_json(mode: &Mode) -> serde_json::Value {
    let (sf, sc, so) = mode.summaries();
    json!({
        "mode": mode.label,
        "requests": mode.out.len(),
        "errors": mode.errors(),
        "statuses": statuses(&mode.out),
        "first_second": sf.to_json(),
        "breaker_closed": sc.to_json(),
        "breaker_open": so.to_json(),
        "breakers_open_at_end": mode.open_at_end,
    })
}

fn report(opts: &Options, timeout: Duration, modes: &[Mode]) -> Section {
    let all_ok = modes
        .iter()
        .filter(|m| m.fault != Fault::Pass)
        .all(|m| m.errors() == 0);
    let mut md = format!(
        "## cache-down\n\n{} containers serve the Zipf mix back to back for {:.1} s per mode, through a TCP fault proxy in front of upstash-local. Production settings: client timeout {} ms, breaker opens after 5 consecutive failures for 30 s. Latency cells are p50 / p99 (count).\n\n",
        opts.down_containers,
        opts.down_seconds,
        timeout.as_millis()
    );
    let headers = [
        "cache",
        "requests",
        "errors",
        "errors target 0",
        "first 1 s",
        "breaker closed",
        "breaker open",
        "breakers open at end",
    ];
    let rows: Vec<Vec<String>> = modes.iter().map(mode_row).collect();
    md.push_str(&table(&headers, &rows));
    md.push_str(&format!(
        "\nWith the breaker open, a request costs what storage costs ({} ms simulated per GET); before it opens, each request also pays one failed cache call (up to the {} ms timeout).\n",
        opts.storage_latency_ms,
        timeout.as_millis()
    ));
    Section {
        name: "cache-down",
        markdown: md,
        json: json!({
            "containers": opts.down_containers,
            "seconds_per_mode": opts.down_seconds,
            "timeout_ms": timeout.as_millis() as u64,
            "modes": modes.iter().map(mode_json).collect::<Vec<_>>(),
            "zero_errors_met": all_ok,
        }),
    }
}
