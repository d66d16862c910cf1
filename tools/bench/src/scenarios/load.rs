//! seed-load, zipf and on-vs-off: many requests over many containers.

use serde_json::json;

use crate::Options;
use crate::bill::usd_per_million_requests;
use crate::harness::{
    Counters, Endpoint, Env, Job, Outcome, fmt_statuses, hit_rate, latencies, run_all, statuses,
    zipf_jobs,
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

/// 1. seed-load: rounds × popular symbols of latest price, all at once, cold then warm.
pub async fn seed_load(env: &Env, opts: &Options) -> Section {
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
    let before = Counters::snapshot(env, &nodes);
    let (cold, cold_wall) = run_all(env, &nodes, &jobs, "seed cold").await;
    let mid = Counters::snapshot(env, &nodes);
    let (warm, warm_wall) = run_all(env, &nodes, &jobs, "seed warm").await;
    let after = Counters::snapshot(env, &nodes);
    let (c1, c2) = (mid.since(before), after.since(mid));
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
        latency_row("cold cache", &cold, cold_wall),
        latency_row("warmed cache", &warm, warm_wall),
    ];
    let mut md = format!(
        "## seed-load\n\n{} rounds × {} popular symbols of `latest`, all {} requests queued at once over {} containers.\n\n",
        opts.seed_rounds,
        popular,
        jobs.len(),
        opts.containers
    );
    md.push_str(&table(&headers, &rows));
    md.push_str(&format!(
        "\nStorage reads: cold {} (manifest + partition per container on first use), warm {}. REST requests: cold {}, warm {}. Errors: {}.\n",
        c1.storage_reads,
        c2.storage_reads,
        c1.rest_requests,
        c2.rest_requests,
        cold.iter().chain(&warm).filter(|o| !o.is_ok()).count()
    ));
    Section {
        name: "seed-load",
        markdown: md,
        json: json!({
            "containers": opts.containers,
            "rounds": opts.seed_rounds,
            "symbols": popular,
            "cold": phase_json(&cold, cold_wall, c1),
            "warm": phase_json(&warm, warm_wall, c2),
        }),
    }
}

/// 2. zipf: hit rate and cost per request after a warm-up pass.
pub async fn zipf(env: &Env, opts: &Options, series: &mut Series) -> Section {
    let config = Env::production_config(&env.fresh_prefix("zipf"));
    let nodes = env.containers(opts.containers, &config);
    let n_symbols = opts.zipf_symbols.min(env.symbols.len());
    let warmup = zipf_jobs(opts.zipf_requests, n_symbols, opts.zipf_s, opts.seed);
    let measured = zipf_jobs(opts.zipf_requests, n_symbols, opts.zipf_s, opts.seed + 1);
    let before = Counters::snapshot(env, &nodes);
    let (warm, warm_wall) = run_all(env, &nodes, &warmup, "zipf warm-up").await;
    let mid = Counters::snapshot(env, &nodes);
    let (out, wall) = run_all(env, &nodes, &measured, "zipf").await;
    let after = Counters::snapshot(env, &nodes);
    let (cw, c) = (mid.since(before), after.since(mid));
    let n = out.len() as f64;
    let rest_per = c.rest_requests as f64 / n;
    let cmds_per = c.redis_commands as f64 / n;
    let reads_per = c.storage_reads as f64 / n;
    let bill = usd_per_million_requests(cmds_per);
    let hr = hit_rate(&out);
    let errors = out.iter().filter(|o| !o.is_ok()).count();
    let s = Summary::of(&latencies(&out));
    series.add("cache on, Zipf workload (warm)", latencies(&out));
    let by_endpoint: Vec<(&str, f64)> = [("latest", 0u8), ("recent", 1), ("info", 2)]
        .iter()
        .map(|&(name, tag)| {
            let of: Vec<Outcome> = out
                .iter()
                .filter(|o| {
                    tag == match o.job.endpoint {
                        Endpoint::Latest => 0,
                        Endpoint::Recent(_) => 1,
                        Endpoint::Info => 2,
                    }
                })
                .cloned()
                .collect();
            (name, hit_rate(&of))
        })
        .collect();
    let distinct: std::collections::HashSet<usize> = measured.iter().map(|j| j.symbol).collect();
    let mut md = format!(
        "## zipf\n\n{} requests over {} symbols, Zipf(s = {}) popularity ({} distinct symbols drawn), latest 60% / recent 30% (days 1..=365) / info 10%, {} containers; measured after a warm-up pass of {} requests (warm-up: {:.2} s, hit rate {}).\n\n",
        out.len(),
        n_symbols,
        opts.zipf_s,
        distinct.len(),
        opts.containers,
        warm.len(),
        warm_wall.as_secs_f64(),
        fmt_pct(hit_rate(&warm)),
    );
    let rows = vec![
        vec![
            "hit rate (L1 + HIT + STALE)".into(),
            fmt_pct(hr),
            "≥ 95% (plan: ≥ 80%)".into(),
            if hr >= 0.95 {
                "met".into()
            } else if hr >= 0.80 {
                "plan bar met, 95% **NOT met**".into()
            } else {
                verdict(false).into()
            },
        ],
        vec![
            "x-cache".into(),
            fmt_statuses(&statuses(&out)),
            String::new(),
            String::new(),
        ],
        vec![
            "hit rate by endpoint".into(),
            by_endpoint
                .iter()
                .map(|(k, v)| format!("{k} {}", fmt_pct(*v)))
                .collect::<Vec<_>>()
                .join(", "),
            String::new(),
            String::new(),
        ],
        vec![
            "REST requests / request".into(),
            format!("{rest_per:.3}"),
            String::new(),
            String::new(),
        ],
        vec![
            "Redis commands / request".into(),
            format!("{cmds_per:.3}"),
            String::new(),
            String::new(),
        ],
        vec![
            "storage reads / request".into(),
            format!("{reads_per:.4}"),
            String::new(),
            String::new(),
        ],
        vec![
            "Upstash bill / 1M API requests".into(),
            format!("${bill:.2}"),
            "$0.20 per 100K commands".into(),
            String::new(),
        ],
        vec![
            "latency p50 / p95 / p99".into(),
            format!("{} / {} / {}", fmt_us(s.p50), fmt_us(s.p95), fmt_us(s.p99)),
            String::new(),
            String::new(),
        ],
        vec![
            "wall time, throughput".into(),
            format!(
                "{:.2} s, {:.0} req/s",
                wall.as_secs_f64(),
                n / wall.as_secs_f64()
            ),
            String::new(),
            String::new(),
        ],
        vec![
            "errors (non-2xx)".into(),
            errors.to_string(),
            "0".into(),
            verdict(errors == 0).into(),
        ],
    ];
    md.push_str(&table(&["metric", "value", "target", "verdict"], &rows));
    md.push_str(&format!(
        "\nWarm-up pass: {} REST requests, {} Redis commands, {} storage reads.\n",
        cw.rest_requests, cw.redis_commands, cw.storage_reads
    ));
    Section {
        name: "zipf",
        markdown: md,
        json: json!({
            "containers": opts.containers,
            "symbols": n_symbols,
            "s": opts.zipf_s,
            "distinct_symbols": distinct.len(),
            "warmup": phase_json(&warm, warm_wall, cw),
            "measured": phase_json(&out, wall, c),
            "rest_requests_per_request": rest_per,
            "redis_commands_per_request": cmds_per,
            "storage_reads_per_request": reads_per,
            "usd_per_million_requests": bill,
            "hit_rate_by_endpoint": by_endpoint.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "hit_rate_target": 0.95,
            "hit_rate_met": hr >= 0.95,
        }),
    }
}

/// 3. on-vs-off: the same Zipf workload with the cache on (warm) and off.
pub async fn on_vs_off(env: &Env, opts: &Options, series: &mut Series) -> Section {
    let config = Env::production_config(&env.fresh_prefix("onoff"));
    let n_symbols = opts.zipf_symbols.min(env.symbols.len());
    let warmup = zipf_jobs(opts.onoff_requests, n_symbols, opts.zipf_s, opts.seed + 10);
    let measured = zipf_jobs(opts.onoff_requests, n_symbols, opts.zipf_s, opts.seed + 11);

    let on_nodes = env.containers(opts.containers, &config);
    let _ = run_all(env, &on_nodes, &warmup, "on warm-up").await;
    let b = Counters::snapshot(env, &on_nodes);
    let (on, on_wall) = run_all(env, &on_nodes, &measured, "cache on").await;
    let c_on = Counters::snapshot(env, &on_nodes).since(b);

    let off_nodes: Vec<_> = (0..opts.containers)
        .map(|_| std::sync::Arc::new(env.container_without_cache(&config)))
        .collect();
    // Warm each container's manifest, as a warm Lambda container would have it.
    for node in &off_nodes {
        let _ = node.store.manifest().await;
    }
    let b = Counters::snapshot(env, &off_nodes);
    let (off, off_wall) = run_all(env, &off_nodes, &measured, "cache off").await;
    let c_off = Counters::snapshot(env, &off_nodes).since(b);

    let s_on = Summary::of(&latencies(&on));
    let s_off = Summary::of(&latencies(&off));
    series.add("cache off (storage only)", latencies(&off));
    let row = |label: &str, s: &Summary, wall: std::time::Duration, c: Counters, o: &[Outcome]| {
        vec![
            label.to_string(),
            fmt_us(s.mean),
            fmt_us(s.p50),
            fmt_us(s.p95),
            fmt_us(s.p99),
            format!("{:.2} s", wall.as_secs_f64()),
            format!("{:.4}", c.storage_reads as f64 / o.len() as f64),
            o.iter().filter(|x| !x.is_ok()).count().to_string(),
        ]
    };
    let mut md = format!(
        "## on-vs-off\n\nThe same {} Zipf requests over {} containers, cache on (after a warm-up pass) vs `StockDataService::new(store, None, ..)` (manifest already in memory). Simulated storage latency {} ms per GET.\n\n",
        measured.len(),
        opts.containers,
        opts.storage_latency_ms
    );
    md.push_str(&table(
        &[
            "cache",
            "mean",
            "p50",
            "p95",
            "p99",
            "wall time",
            "storage reads / req",
            "errors",
        ],
        &[
            row("on", &s_on, on_wall, c_on, &on),
            row("off", &s_off, off_wall, c_off, &off),
        ],
    ));
    let r50 = ratio(s_off.p50, s_on.p50);
    let r99 = ratio(s_off.p99, s_on.p99);
    md.push_str(&format!(
        "\nOff / on: p50 × {r50:.1}, p99 × {r99:.1}, mean × {:.1}, wall time × {:.1}.\n",
        ratio(s_off.mean, s_on.mean),
        off_wall.as_secs_f64() / on_wall.as_secs_f64()
    ));
    Section {
        name: "on-vs-off",
        markdown: md,
        json: json!({
            "containers": opts.containers,
            "requests": measured.len(),
            "on": phase_json(&on, on_wall, c_on),
            "off": phase_json(&off, off_wall, c_off),
            "p50_ratio_off_over_on": r50,
            "p99_ratio_off_over_on": r99,
        }),
    }
}
