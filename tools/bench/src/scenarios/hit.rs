//! hit-overhead: the handler on a Redis HIT vs a bare client GET of the same
//! key, interleaved; and the handler on an L1 hit.

use std::time::{Duration, Instant};

use serde_json::json;
use shared::upstash::{Command, UpstashClient};

use crate::Options;
use crate::harness::{Endpoint, Env, Job, Node, cache_header};
use crate::report::{Section, Series, table, verdict};
use crate::stats::{Summary, fmt_us, ratio};

/// A HIT may cost at most this much more than a bare GET of its value, at p50 (issue 19 §5).
const HIT_TARGET: f64 = 1.1;

/// The timings of every loop, and the responses that were not what the loop expects.
struct Samples {
    handler: Vec<Duration>,
    bare: Vec<Duration>,
    l1: Vec<Duration>,
    miss: Vec<Duration>,
    off: Vec<Duration>,
    /// The other read endpoints: each HIT and a bare GET of the key it reads.
    endpoints: Vec<EndpointSamples>,
    /// A bare copy of the latest price HIT's lookup command.
    lookup: Vec<Duration>,
    /// The service's latest price on a HIT (no HTTP request or response),
    /// and a bare lookup interleaved with it.
    service: Vec<Duration>,
    service_lookup: Vec<Duration>,
    not_hit: usize,
    not_l1: usize,
    not_miss: usize,
    bare_errors: usize,
}

/// 4. hit-overhead.
pub(crate) async fn hit_overhead(env: &Env, opts: &Options, series: &mut Series) -> Section {
    let prefix = env.fresh_prefix("hit");
    let job = Job {
        endpoint: Endpoint::Latest,
        symbol: 0,
    };
    let n = opts.hit_iterations;
    let warmup = (n / 10).max(50);

    // Redis HIT: L1 off, everything else production.
    let mut config = Env::production_config(&prefix);
    config.l1_ttl = Duration::ZERO;
    let node = env.container(&config);
    let first = node.handle(job.endpoint, env.request(job)).await;
    let key = node
        .cache()
        .expect("cache on")
        .keys()
        .latest_price(&env.symbols[0]);
    let client = node.client.clone().expect("client");
    let (handler, bare, lookup, not_hit, bare_errors) =
        hit_loop(env, &node, &client, key.as_str(), job, (warmup, n)).await;
    let (l1, not_l1) = l1_loop(env, &prefix, job, (warmup, n)).await;
    // MISS (the key deleted before each request, not timed) and cache disabled:
    // both read storage (simulated latency), so fewer iterations.
    let slow_n = (n / 20).max(20);
    let (miss, not_miss) = miss_loop(env, &node, &client, key.as_str(), job, slow_n).await;
    let off = cache_off_loop(env, &prefix, job, slow_n).await;
    let endpoints = endpoint_loops(env, &node, &client, (warmup, n)).await;
    let (service, service_lookup) = service_loop(env, &node, &client, &key, (warmup, n)).await;
    let not_hit_elsewhere: usize = endpoints.iter().map(|e| e.not_hit).sum();
    let samples = Samples {
        endpoints,
        lookup,
        service,
        service_lookup,
        handler,
        bare,
        l1,
        miss,
        off,
        not_hit: not_hit + not_hit_elsewhere,
        not_l1,
        not_miss,
        bare_errors,
    };
    series.add("handler, Redis HIT (L1 off)", samples.handler.clone());
    series.add("bare client GET", samples.bare.clone());
    series.add("handler, L1 hit", samples.l1.clone());
    report(env, (warmup, n), &cache_header(&first), &samples)
}

/// The handler on a Redis HIT, a bare GET of `key` and a bare copy of the
/// hit's lookup (`MGET key, its generation keys, data:generation`),
/// interleaved; `warmup` rounds, then `n` measured ones. Returns (handler
/// times, bare GET times, bare lookup times, responses not HIT, bare errors).
async fn hit_loop(
    env: &Env,
    node: &Node,
    client: &UpstashClient,
    key: &str,
    job: Job,
    (warmup, n): (usize, usize),
) -> (Vec<Duration>, Vec<Duration>, Vec<Duration>, usize, usize) {
    let get = Command::new("GET").arg(key);
    let keys = node.cache().map(|c| c.keys().clone());
    let lookup = Command::new("MGET")
        .arg(key)
        .args(keys.iter().flat_map(|k| k.scopes_of(key)))
        .args(keys.iter().map(|k| k.generation()));
    let mut lookups = Vec::with_capacity(n);
    let bar = env.bar((warmup + n) as u64, "hit-overhead");
    let mut handler = Vec::with_capacity(n);
    let mut bare = Vec::with_capacity(n);
    let mut not_hit = 0usize;
    let mut bare_errors = 0usize;
    let requests: Vec<_> = (0..warmup + n).map(|_| env.request(job)).collect();
    for (i, request) in requests.into_iter().enumerate() {
        // Alternate which goes first so neither always gets the warmer connection.
        let handler_first = i % 2 == 0;
        let mut bare_time = Duration::ZERO;
        if !handler_first {
            let t = Instant::now();
            bare_errors += usize::from(client.command(&get).await.is_err());
            bare_time = t.elapsed();
        }
        let t = Instant::now();
        let response = node.handle(job.endpoint, request).await;
        let handler_time = t.elapsed();
        if handler_first {
            let t = Instant::now();
            bare_errors += usize::from(client.command(&get).await.is_err());
            bare_time = t.elapsed();
        }
        let t = Instant::now();
        bare_errors += usize::from(client.command(&lookup).await.is_err());
        let lookup_time = t.elapsed();
        if i >= warmup {
            not_hit += usize::from(cache_header(&response) != "HIT");
            handler.push(handler_time);
            bare.push(bare_time);
            lookups.push(lookup_time);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    (handler, bare, lookups, not_hit, bare_errors)
}

/// One read endpoint's HIT and a bare GET of the key it reads.
struct EndpointSamples {
    label: &'static str,
    handler: Vec<Duration>,
    bare: Vec<Duration>,
    lookup: Vec<Duration>,
    not_hit: usize,
}

/// Every read endpoint but `latest` (the main loop): its handler on a Redis
/// HIT and a bare GET of the key it reads, interleaved.
async fn endpoint_loops(
    env: &Env,
    node: &Node,
    client: &UpstashClient,
    rounds: (usize, usize),
) -> Vec<EndpointSamples> {
    let Some(cache) = node.cache() else {
        return Vec::new();
    };
    let (keys, symbol) = (cache.keys(), &env.symbols[0]);
    let cases = [
        (
            "recent?days=30 (sliced from the cached 365-day window)",
            Endpoint::Recent(30),
            keys.recent_data(symbol),
        ),
        (
            "recent?days=365 (the whole cached window)",
            Endpoint::Recent(365),
            keys.recent_data(symbol),
        ),
        ("symbol info", Endpoint::Info, keys.symbol_info(symbol)),
        ("symbol list", Endpoint::Symbols, keys.symbol_list()),
    ];
    let mut out = Vec::new();
    for (label, endpoint, key) in cases {
        let job = Job {
            endpoint,
            symbol: 0,
        };
        let _ = node.handle(job.endpoint, env.request(job)).await;
        let (handler, bare, lookup, not_hit, _) =
            hit_loop(env, node, client, &key, job, rounds).await;
        out.push(EndpointSamples {
            label,
            handler,
            bare,
            lookup,
            not_hit,
        });
    }
    out
}

/// `StockDataService::latest_price` on a Redis HIT (the cache and service
/// layers without the HTTP request and response) and a bare copy of its
/// lookup, interleaved: where the handler's own time goes.
async fn service_loop(
    env: &Env,
    node: &Node,
    client: &UpstashClient,
    key: &str,
    (warmup, n): (usize, usize),
) -> (Vec<Duration>, Vec<Duration>) {
    let Some(cache) = node.cache() else {
        return (Vec::new(), Vec::new());
    };
    let lookup = Command::new("MGET")
        .arg(key)
        .args(cache.keys().scopes_of(key))
        .arg(cache.keys().generation());
    let symbol = &env.symbols[0];
    let (mut service, mut bare) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..warmup + n {
        let t = Instant::now();
        let answer = node.service.latest_price(symbol).await;
        let service_time = t.elapsed();
        let t = Instant::now();
        let _ = client.command(&lookup).await;
        let lookup_time = t.elapsed();
        if i >= warmup && answer.is_ok() {
            service.push(service_time);
            bare.push(lookup_time);
        }
    }
    (service, bare)
}

/// The handler on an L1 hit: production config (L1 on, 5 s).
/// Returns the measured times and the responses that were not `L1`.
async fn l1_loop(
    env: &Env,
    prefix: &str,
    job: Job,
    (warmup, n): (usize, usize),
) -> (Vec<Duration>, usize) {
    let l1_node = env.container(&Env::production_config(prefix));
    let _ = l1_node.handle(job.endpoint, env.request(job)).await;
    let requests: Vec<_> = (0..warmup + n).map(|_| env.request(job)).collect();
    let mut l1 = Vec::with_capacity(n);
    let mut not_l1 = 0usize;
    for (i, request) in requests.into_iter().enumerate() {
        let t = Instant::now();
        let response = l1_node.handle(job.endpoint, request).await;
        let elapsed = t.elapsed();
        if i >= warmup {
            not_l1 += usize::from(cache_header(&response) != "L1");
            l1.push(elapsed);
        }
    }
    (l1, not_l1)
}

/// The handler on a MISS: `key` unlinked (not timed) before each of `n` requests.
/// Returns the times and the responses that were not `MISS`.
async fn miss_loop(
    env: &Env,
    node: &Node,
    client: &UpstashClient,
    key: &str,
    job: Job,
    n: usize,
) -> (Vec<Duration>, usize) {
    let mut miss = Vec::with_capacity(n);
    let mut not_miss = 0usize;
    let unlink = Command::new("UNLINK").arg(key);
    for _ in 0..n {
        let _ = client.command(&unlink).await;
        let request = env.request(job);
        let t = Instant::now();
        let response = node.handle(job.endpoint, request).await;
        miss.push(t.elapsed());
        not_miss += usize::from(cache_header(&response) != "MISS");
    }
    (miss, not_miss)
}

/// The handler with the cache disabled, `n` times.
async fn cache_off_loop(env: &Env, prefix: &str, job: Job, n: usize) -> Vec<Duration> {
    let off_node = env.container_without_cache(&Env::production_config(prefix));
    let mut off = Vec::with_capacity(n);
    for _ in 0..n {
        let request = env.request(job);
        let t = Instant::now();
        let _ = off_node.handle(job.endpoint, request).await;
        off.push(t.elapsed());
    }
    off
}

fn report(env: &Env, (warmup, n): (usize, usize), first: &str, samples: &Samples) -> Section {
    let (sh, sb) = (Summary::of(&samples.handler), Summary::of(&samples.bare));
    let sl = Summary::of(&samples.l1);
    let (sm, so) = (Summary::of(&samples.miss), Summary::of(&samples.off));
    let r50 = ratio(sh.p50, sb.p50);
    let r99 = ratio(sh.p99, sb.p99);
    let mut md = format!(
        "## hit-overhead\n\nOne container, one key (`latest` of {}), {} interleaved iterations after {} warm-up ones. \"bare GET\" is `UpstashClient::command(GET key)` on the same client; the handler HIT adds request parsing, envelope decoding and the JSON response. First call: `{}`.\n\n",
        env.symbols[0], n, warmup, first
    );
    md.push_str(&paths_table(&sb, &sh, &sl, &sm, &so));
    md.push_str("\nEvery read endpoint of the same symbol, each a Redis HIT (L1 off) vs a bare GET of the key it reads and a bare copy of the hit's lookup (`MGET value, its generation keys, data:generation`: what the hit sends), interleaved the same way. HIT − lookup is the handler's own code (routing, decoding, checks, headers, ETag); lookup − GET is what the freshness check costs on the wire:\n\n");
    let latest = EndpointSamples {
        label: "latest price",
        handler: samples.handler.clone(),
        bare: samples.bare.clone(),
        lookup: samples.lookup.clone(),
        not_hit: 0,
    };
    let mut endpoint_rows = Vec::new();
    let mut endpoint_json = Vec::new();
    for e in std::iter::once(&latest).chain(&samples.endpoints) {
        let (h, b, l) = (
            Summary::of(&e.handler),
            Summary::of(&e.bare),
            Summary::of(&e.lookup),
        );
        let r = ratio(h.p50, b.p50);
        endpoint_rows.push(vec![
            e.label.to_string(),
            fmt_us(h.p50),
            fmt_us(l.p50),
            fmt_us(b.p50),
            format!("{r:.2}"),
            verdict(r <= HIT_TARGET).to_string(),
        ]);
        endpoint_json.push(json!({"endpoint": e.label, "hit": h.to_json(), "bare_get": b.to_json(), "bare_lookup": l.to_json(), "hit_over_get_p50": r, "met": r <= HIT_TARGET}));
    }
    md.push_str(&table(
        &[
            "endpoint",
            "HIT p50",
            "bare lookup p50",
            "bare GET p50",
            "HIT / GET",
            "≤ 1.1",
        ],
        &endpoint_rows,
    ));
    let (sv, svl) = (
        Summary::of(&samples.service),
        Summary::of(&samples.service_lookup),
    );
    md.push_str(&format!(
        "\nWhere the latest price's own time goes: `StockDataService::latest_price` on a HIT (cache and service layers, no HTTP request or response) p50 {} vs a bare lookup {} interleaved with it (+{}); the handler adds the HTTP layer (routing, parameters, response headers, ETag, dropping the request) on top.\n",
        fmt_us(sv.p50),
        fmt_us(svl.p50),
        fmt_us(sv.p50 - svl.p50)
    ));
    md.push('\n');
    md.push_str(&checks_table(&sh, &sb, &sl));
    let Samples {
        not_hit,
        not_l1,
        not_miss,
        bare_errors,
        ..
    } = samples;
    md.push_str(&format!(
        "\nResponses not `HIT` in the HIT loop: {not_hit}; not `L1` in the L1 loop: {not_l1}; not `MISS` in the MISS loop: {not_miss}; bare GET errors: {bare_errors}. MISS and cache-disabled rows read storage (simulated latency); a MISS costs 3 REST requests and 4 billed commands (the lookup's `MGET`, `SET lock NX`, `SET value`, `DEL lock`).\n"
    ));
    Section {
        name: "hit-overhead",
        markdown: md,
        json: json!({
            "iterations": n,
            "warmup": warmup,
            "bare_get": sb.to_json(),
            "handler_hit": sh.to_json(),
            "handler_l1": sl.to_json(),
            "handler_miss": sm.to_json(),
            "handler_cache_disabled": so.to_json(),
            "endpoints": endpoint_json,
            "service_latest_hit": sv.to_json(),
            "service_bare_lookup": svl.to_json(),
            "not_miss": not_miss,
            "hit_over_get_p50": r50,
            "hit_over_get_p99": r99,
            "hit_over_get_met": r50 <= HIT_TARGET,
            "l1_p50_met": sl.p50 < 50.0,
            "not_hit": not_hit,
            "not_l1": not_l1,
            "bare_errors": bare_errors,
        }),
    }
}

/// Latency of each path: bare GET, HIT, L1, MISS, cache disabled.
fn paths_table(sb: &Summary, sh: &Summary, sl: &Summary, sm: &Summary, so: &Summary) -> String {
    let row = |label: &str, s: &Summary| {
        vec![
            label.to_string(),
            s.n.to_string(),
            fmt_us(s.p50),
            fmt_us(s.p95),
            fmt_us(s.p99),
            fmt_us(s.mean),
        ]
    };
    table(
        &["path", "n", "p50", "p95", "p99", "mean"],
        &[
            row("bare client GET", sb),
            row("handler, Redis HIT (L1 off)", sh),
            row("handler, L1 hit", sl),
            row("handler, MISS (storage read, value stored)", sm),
            row("handler, cache disabled", so),
        ],
    )
}

/// HIT over GET at p50 and p99, the handler's overhead, L1 hit p50.
fn checks_table(sh: &Summary, sb: &Summary, sl: &Summary) -> String {
    let r50 = ratio(sh.p50, sb.p50);
    let r99 = ratio(sh.p99, sb.p99);
    let row = |cells: [&str; 4]| cells.map(str::to_string).to_vec();
    table(
        &["check", "value", "target", "verdict"],
        &[
            row([
                "HIT / GET at p50",
                &format!("{r50:.2}"),
                "≤ 1.1",
                verdict(r50 <= HIT_TARGET),
            ]),
            row([
                "HIT / GET at p99",
                &format!("{r99:.2}"),
                "≤ 1.2",
                verdict(r99 <= 1.2),
            ]),
            row([
                "handler overhead at p50 (HIT − GET)",
                &fmt_us(sh.p50 - sb.p50),
                "",
                "",
            ]),
            row([
                "L1 hit p50",
                &fmt_us(sl.p50),
                "< 50 µs",
                verdict(sl.p50 < 50.0),
            ]),
        ],
    )
}
