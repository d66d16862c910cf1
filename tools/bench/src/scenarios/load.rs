//! seed-load, zipf and on-vs-off: many requests over many containers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use shared::cache::CacheConfig;

use crate::Options;
use crate::bill::usd_per_million_requests;
use crate::harness::{
    Counters, Endpoint, Env, Job, Node, Outcome, fmt_statuses, hit_rate, latencies, run_all,
    statuses, zipf_jobs,
};
use crate::report::{Section, Series, table, verdict};
use crate::stats::{Summary, fmt_pct, fmt_us, ratio};

fn latency_row(label: &str, outcomes: &[Outcome], wall: std::time::Duration) -> Vec<String> {
    let s = Summary::of(&latencies(outcomes));
    vec![
        label.to_string(),
        outcomes.len().to_string(),
        format!("{:.2} s", wall.as_secs_f64()),
        fmt_us(s.mean),
        fmt_us(s.p50),
        fmt_us(s.p95),
        fmt_us(s.p99),
        fmt_pct(hit_rate(outcomes)),
        fmt_statuses(&statuses(outcomes)),
    ]
}

fn phase_json(
    outcomes: &[Outcome],
    wall: std::time::Duration,
    counters: Counters,
) -> serde_json::Value {
    let errors = outcomes.iter().filter(|o| !o.is_ok()).count();
    json!({
        "requests": outcomes.len(),
        "wall_s": wall.as_secs_f64(),
        "latency": Summary::of(&latencies(outcomes)).to_json(),
        "hit_rate": hit_rate(outcomes),
        "statuses": statuses(outcomes),
        "errors": errors,
        "rest_requests": counters.rest_requests,
        "redis_commands": counters.redis_commands,
        "storage_reads": counters.storage_reads,
    })
}

/// One measured pass: what every request saw, the wall time, the counters it moved.
struct Pass {
    out: Vec<Outcome>,
    wall: Duration,
    counters: Counters,
}

impl Pass {
    fn json(&self) -> serde_json::Value {
        phase_json(&self.out, self.wall, self.counters)
    }
}

/// Runs `first` then `second` over `nodes`, counting each pass on its own.
async fn two_passes(
    env: &Env,
    nodes: &[Arc<Node>],
    (first, first_label): (&[Job], &str),
    (second, second_label): (&[Job], &str),
) -> (Pass, Pass) {
    let before = Counters::snapshot(env, nodes);
    let (out1, wall1) = run_all(env, nodes, first, first_label).await;
    let mid = Counters::snapshot(env, nodes);
    let (out2, wall2) = run_all(env, nodes, second, second_label).await;
    let after = Counters::snapshot(env, nodes);
    let pass1 = Pass {
        out: out1,
        wall: wall1,
        counters: mid.since(before),
    };
    let pass2 = Pass {
        out: out2,
        wall: wall2,
        counters: after.since(mid),
    };
    (pass1, pass2)
}

/// 1. seed-load: rounds × popular symbols of latest price, all at once, cold then warm.
pub(crate) async fn seed_load(env: &Env, opts: &Options) -> Section {
    let config = Env::production_config(&env.fresh_prefix("seed"));
    let nodes = env.containers(opts.containers, &config);
    let popular = opts.seed_symbols.min(env.symbols.len());
    let jobs: Vec<Job> = (0..opts.seed_rounds)
        .flat_map(|_| {
            (0..popular).map(|symbol| Job {
                endpoint: Endpoint::Latest,
                symbol,
            })
        })
        .collect();
    let (cold, warm) = two_passes(env, &nodes, (&jobs, "seed cold"), (&jobs, "seed warm")).await;
    seed_load_report(opts, popular, jobs.len(), &cold, &warm)
}

fn seed_load_report(
    opts: &Options,
    popular: usize,
    requests: usize,
    cold: &Pass,
    warm: &Pass,
) -> Section {
    let headers = [
        "phase",
        "requests",
        "total time",
        "mean",
        "p50",
        "p95",
        "p99",
        "hit rate",
        "x-cache",
    ];
    let rows = vec![
        latency_row("cold cache", &cold.out, cold.wall),
        latency_row("warmed cache", &warm.out, warm.wall),
    ];
    let mut md = format!(
        "## seed-load\n\n{} rounds × {} popular symbols of `latest`, all {} requests queued at once over {} containers.\n\n",
        opts.seed_rounds, popular, requests, opts.containers
    );
    md.push_str(&table(&headers, &rows));
    md.push_str(&format!(
        "\nStorage reads: cold {} (manifest + partition per container on first use), warm {}. REST requests: cold {}, warm {}. Errors: {}.\n",
        cold.counters.storage_reads,
        warm.counters.storage_reads,
        cold.counters.rest_requests,
        warm.counters.rest_requests,
        cold.out.iter().chain(&warm.out).filter(|o| !o.is_ok()).count()
    ));
    Section {
        name: "seed-load",
        markdown: md,
        json: json!({
            "containers": opts.containers,
            "rounds": opts.seed_rounds,
            "symbols": popular,
            "cold": cold.json(),
            "warm": warm.json(),
        }),
    }
}

/// 2. zipf: hit rate and cost per request after a warm-up pass.
pub(crate) async fn zipf(env: &Env, opts: &Options, series: &mut Series) -> Section {
    let config = Env::production_config(&env.fresh_prefix("zipf"));
    let nodes = env.containers(opts.containers, &config);
    let n_symbols = opts.zipf_symbols.min(env.symbols.len());
    let warmup = zipf_jobs(opts.zipf_requests, n_symbols, opts.zipf_s, opts.seed);
    let measured = zipf_jobs(opts.zipf_requests, n_symbols, opts.zipf_s, opts.seed + 1);
    let (warm, pass) =
        two_passes(env, &nodes, (&warmup, "zipf warm-up"), (&measured, "zipf")).await;
    series.add("cache on, Zipf workload (warm)", latencies(&pass.out));
    let distinct: HashSet<usize> = measured.iter().map(|j| j.symbol).collect();
    let numbers = ZipfNumbers::of(&pass);
    let mut md = format!(
        "## zipf\n\n{} requests over {} symbols, Zipf(s = {}) popularity ({} distinct symbols drawn), latest 60% / recent 30% (days 1..=365) / info 10%, {} containers; measured after a warm-up pass of {} requests (warm-up: {:.2} s, hit rate {}).\n\n",
        pass.out.len(),
        n_symbols,
        opts.zipf_s,
        distinct.len(),
        opts.containers,
        warm.out.len(),
        warm.wall.as_secs_f64(),
        fmt_pct(hit_rate(&warm.out)),
    );
    md.push_str(&table(
        &["metric", "value", "target", "verdict"],
        &numbers.rows(&pass),
    ));
    let cw = warm.counters;
    md.push_str(&format!(
        "\nWarm-up pass: {} REST requests, {} Redis commands, {} storage reads.\n",
        cw.rest_requests, cw.redis_commands, cw.storage_reads
    ));
    let mut json = numbers.json();
    json["containers"] = json!(opts.containers);
    json["symbols"] = json!(n_symbols);
    json["s"] = json!(opts.zipf_s);
    json["distinct_symbols"] = json!(distinct.len());
    json["warmup"] = warm.json();
    json["measured"] = pass.json();
    Section {
        name: "zipf",
        markdown: md,
        json,
    }
}

/// What the measured zipf pass cost and how well the cache did.
struct ZipfNumbers {
    rest_per: f64,
    cmds_per: f64,
    reads_per: f64,
    bill: f64,
    hit_rate: f64,
    by_endpoint: Vec<(&'static str, f64)>,
    errors: usize,
    latency: Summary,
}

impl ZipfNumbers {
    fn of(pass: &Pass) -> Self {
        let (out, c) = (&pass.out, pass.counters);
        let n = out.len() as f64;
        let cmds_per = c.redis_commands as f64 / n;
        ZipfNumbers {
            rest_per: c.rest_requests as f64 / n,
            cmds_per,
            reads_per: c.storage_reads as f64 / n,
            bill: usd_per_million_requests(cmds_per),
            hit_rate: hit_rate(out),
            by_endpoint: hit_rate_by_endpoint(out),
            errors: out.iter().filter(|o| !o.is_ok()).count(),
            latency: Summary::of(&latencies(out)),
        }
    }

    /// The metric / value / target / verdict table.
    fn rows(&self, pass: &Pass) -> Vec<Vec<String>> {
        let (hr, s) = (self.hit_rate, &self.latency);
        let n = pass.out.len() as f64;
        let wall = pass.wall.as_secs_f64();
        let by_endpoint = self
            .by_endpoint
            .iter()
            .map(|(k, v)| format!("{k} {}", fmt_pct(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        let hit_verdict = if hr >= 0.95 {
            "met"
        } else if hr >= 0.80 {
            "plan bar met, 95% **NOT met**"
        } else {
            verdict(false)
        };
        let latency = format!("{} / {} / {}", fmt_us(s.p50), fmt_us(s.p95), fmt_us(s.p99));
        vec![
            check(
                "hit rate (L1 + HIT + STALE)",
                fmt_pct(hr),
                "≥ 95% (plan: ≥ 80%)",
                hit_verdict,
            ),
            metric("x-cache", fmt_statuses(&statuses(&pass.out))),
            metric("hit rate by endpoint", by_endpoint),
            metric("REST requests / request", format!("{:.3}", self.rest_per)),
            metric("Redis commands / request", format!("{:.3}", self.cmds_per)),
            metric("storage reads / request", format!("{:.4}", self.reads_per)),
            check(
                "Upstash bill / 1M API requests",
                format!("${:.2}", self.bill),
                "$0.20 per 100K commands",
                "",
            ),
            metric("latency p50 / p95 / p99", latency),
            metric(
                "wall time, throughput",
                format!("{wall:.2} s, {:.0} req/s", n / wall),
            ),
            check(
                "errors (non-2xx)",
                self.errors.to_string(),
                "0",
                verdict(self.errors == 0),
            ),
        ]
    }

    /// The per-request numbers of the zipf JSON (the caller adds the setup).
    fn json(&self) -> serde_json::Value {
        json!({
            "rest_requests_per_request": self.rest_per,
            "redis_commands_per_request": self.cmds_per,
            "storage_reads_per_request": self.reads_per,
            "usd_per_million_requests": self.bill,
            "hit_rate_by_endpoint": self.by_endpoint.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "hit_rate_target": 0.95,
            "hit_rate_met": self.hit_rate >= 0.95,
        })
    }
}

/// A table row: metric, value, target, verdict.
fn check(metric: &str, value: String, target: &str, verdict: &str) -> Vec<String> {
    vec![metric.into(), value, target.into(), verdict.into()]
}

/// A table row without target or verdict.
fn metric(metric: &str, value: String) -> Vec<String> {
    check(metric, value, "", "")
}

/// Hit rate of each endpoint: latest, recent, info.
fn hit_rate_by_endpoint(out: &[Outcome]) -> Vec<(&'static str, f64)> {
    [("latest", 0u8), ("recent", 1), ("info", 2)]
        .iter()
        .map(|&(name, tag)| {
            let of: Vec<Outcome> = out
                .iter()
                .filter(|o| {
                    tag == match o.job.endpoint {
                        Endpoint::Latest => 0,
                        Endpoint::Recent(_) => 1,
                        Endpoint::Info => 2,
                        Endpoint::Symbols => 3,
                    }
                })
                .cloned()
                .collect();
            (name, hit_rate(&of))
        })
        .collect()
}

/// 3. on-vs-off: the same Zipf workload with the cache on (warm) and off.
pub(crate) async fn on_vs_off(env: &Env, opts: &Options, series: &mut Series) -> Section {
    let config = Env::production_config(&env.fresh_prefix("onoff"));
    let n_symbols = opts.zipf_symbols.min(env.symbols.len());
    let warmup = zipf_jobs(opts.onoff_requests, n_symbols, opts.zipf_s, opts.seed + 10);
    let measured = zipf_jobs(opts.onoff_requests, n_symbols, opts.zipf_s, opts.seed + 11);
    let on = cache_on_pass(env, opts, &config, &warmup, &measured).await;
    let off = cache_off_pass(env, opts, &config, &measured).await;
    series.add("cache off (storage only)", latencies(&off.out));
    on_vs_off_report(opts, measured.len(), &on, &off)
}

/// `measured` over warm containers with the cache on, after a `warmup` pass.
async fn cache_on_pass(
    env: &Env,
    opts: &Options,
    config: &CacheConfig,
    warmup: &[Job],
    measured: &[Job],
) -> Pass {
    let nodes = env.containers(opts.containers, config);
    let _ = run_all(env, &nodes, warmup, "on warm-up").await;
    let b = Counters::snapshot(env, &nodes);
    let (out, wall) = run_all(env, &nodes, measured, "cache on").await;
    let counters = Counters::snapshot(env, &nodes).since(b);
    Pass {
        out,
        wall,
        counters,
    }
}

/// `measured` over containers without a cache (manifest already in memory).
async fn cache_off_pass(env: &Env, opts: &Options, config: &CacheConfig, measured: &[Job]) -> Pass {
    let nodes: Vec<_> = (0..opts.containers)
        .map(|_| Arc::new(env.container_without_cache(config)))
        .collect();
    // Warm each container's manifest, as a warm Lambda container would have it.
    for node in &nodes {
        let _ = node.store.manifest().await;
    }
    let b = Counters::snapshot(env, &nodes);
    let (out, wall) = run_all(env, &nodes, measured, "cache off").await;
    let counters = Counters::snapshot(env, &nodes).since(b);
    Pass {
        out,
        wall,
        counters,
    }
}

fn on_vs_off_row(label: &str, pass: &Pass) -> Vec<String> {
    let s = Summary::of(&latencies(&pass.out));
    let o = &pass.out;
    vec![
        label.to_string(),
        fmt_us(s.mean),
        fmt_us(s.p50),
        fmt_us(s.p95),
        fmt_us(s.p99),
        format!("{:.2} s", pass.wall.as_secs_f64()),
        format!("{:.4}", pass.counters.storage_reads as f64 / o.len() as f64),
        o.iter().filter(|x| !x.is_ok()).count().to_string(),
    ]
}

fn on_vs_off_report(opts: &Options, requests: usize, on: &Pass, off: &Pass) -> Section {
    let s_on = Summary::of(&latencies(&on.out));
    let s_off = Summary::of(&latencies(&off.out));
    let mut md = format!(
        "## on-vs-off\n\nThe same {} Zipf requests over {} containers, cache on (after a warm-up pass) vs `StockDataService::wire(store, None, ..)` (manifest already in memory). Simulated storage latency {} ms per GET.\n\n",
        requests, opts.containers, opts.storage_latency_ms
    );
    let headers = [
        "cache",
        "mean",
        "p50",
        "p95",
        "p99",
        "wall time",
        "storage reads / req",
        "errors",
    ];
    let rows = [on_vs_off_row("on", on), on_vs_off_row("off", off)];
    md.push_str(&table(&headers, &rows));
    let r50 = ratio(s_off.p50, s_on.p50);
    let r99 = ratio(s_off.p99, s_on.p99);
    md.push_str(&format!(
        "\nOff / on: p50 × {r50:.1}, p99 × {r99:.1}, mean × {:.1}, wall time × {:.1}.\n",
        ratio(s_off.mean, s_on.mean),
        off.wall.as_secs_f64() / on.wall.as_secs_f64()
    ));
    Section {
        name: "on-vs-off",
        markdown: md,
        json: json!({
            "containers": opts.containers,
            "requests": requests,
            "on": on.json(),
            "off": off.json(),
            "p50_ratio_off_over_on": r50,
            "p99_ratio_off_over_on": r99,
        }),
    }
}
