//! traffic: real traffic rates replayed in compressed time.
//!
//! Time is scaled by a factor k: every duration of the cache policy that is
//! measured against the traffic (TTLs, stale grace, L1 TTL, breaker
//! cooldown, stats flush interval, the store's manifest memo, the fleet's
//! idle timeout, the warmer's schedule) is divided by k and arrivals come k
//! times faster, so Redis expiry (real time) sees the same number of
//! requests per TTL as at the simulated rate. Durations measured against an
//! operation's own latency (refresh lock lifetime, lock-loser wait, client
//! and storage timeouts) are not scaled: storage still takes 50 ms real per
//! GET, and a lock shorter than a storage read would drop every refresh.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::admin::WarmConfig;
use shared::cache::CacheConfig;
use shared::storage::{StockStore, StoreOptions};

use crate::Options;
use crate::bill::usd_per_million_requests;
use crate::harness::{
    Endpoint, Env, Job, Node, Outcome, cache_header, fmt_statuses, hit_rate, latencies, statuses,
};
use crate::proxy::{CountingProxy, Traffic};
use crate::report::Section;
use crate::report::table;
use crate::stats::{Summary, fmt_pct, fmt_us};
use crate::zipf::{Rng, Zipf, range_inclusive};

/// One run: a rate, a time factor, a simulated window, cache on or off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Plan {
    /// Simulated requests per second.
    pub rate: f64,
    /// Time compression factor.
    pub k: f64,
    /// Simulated window, seconds.
    pub sim_secs: f64,
}

/// The cache policy of production (`CacheConfig::default()`) with keys under
/// `prefix` and every traffic-clock duration divided by `k`.
pub(crate) fn scaled_config(prefix: &str, k: f64) -> CacheConfig {
    let d = CacheConfig::default();
    let s = |x: Duration| x.div_f64(k);
    CacheConfig {
        key_prefix: prefix.to_string(),
        ttl_latest_price: s(d.ttl_latest_price),
        ttl_recent_data: s(d.ttl_recent_data),
        ttl_symbol_list: s(d.ttl_symbol_list),
        ttl_symbol_info: s(d.ttl_symbol_info),
        stale_grace: d.stale_grace.map(s),
        l1_ttl: s(d.l1_ttl),
        breaker_cooldown: s(d.breaker_cooldown),
        stats_flush_interval: s(d.stats_flush_interval),
        // XFetch refreshes early by delta × beta × ln(1/u), delta being the
        // real (unscaled) recompute time: beta / k keeps that head start the
        // same fraction of the (scaled) TTL as in production.
        xfetch_beta: d.xfetch_beta / k,
        // Not scaled (see the module doc): lock_ttl, miss_wait, miss_wait_polls.
        ..d
    }
}

/// The store options of production with the manifest memo divided by `k`.
pub(crate) fn scaled_store(k: f64) -> StoreOptions {
    let d = StoreOptions::default();
    StoreOptions {
        manifest_ttl: d.manifest_ttl.div_f64(k),
        ..d
    }
}

/// A request at simulated time `at` (seconds from the start).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arrival {
    pub at: f64,
    pub job: Job,
}

/// Poisson arrivals at `rate`/s for `secs` simulated seconds; Zipf(`s`)
/// symbols over `symbols` ranks; the symbol list with probability
/// `list_share`, the rest latest 60% / recent 30% (days 1..=365) / info 10%.
pub(crate) fn arrivals(
    rate: f64,
    secs: f64,
    symbols: usize,
    s: f64,
    list_share: f64,
    seed: u64,
) -> Vec<Arrival> {
    let zipf = Zipf::new(symbols, s);
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut t = 0.0;
    loop {
        t += -(1.0 - rng.next_f64()).ln() / rate;
        if t >= secs {
            break;
        }
        let symbol = zipf.sample(&mut rng);
        let pick = rng.next_f64();
        let endpoint = if pick < list_share {
            Endpoint::Symbols
        } else {
            let rest = (pick - list_share) / (1.0 - list_share);
            if rest < 0.6 {
                Endpoint::Latest
            } else if rest < 0.9 {
                Endpoint::Recent(range_inclusive(&mut rng, 1, 365))
            } else {
                Endpoint::Info
            }
        };
        out.push(Arrival {
            at: t,
            job: Job { endpoint, symbol },
        });
    }
    out
}

/// One container of the fleet.
struct Slot {
    node: Arc<Node>,
    /// Simulated start of its last request.
    sim_start: f64,
    /// Real start of its last request.
    real_start: Instant,
    /// Latency of its last request in ns + 1 (0 while it runs).
    done: Arc<AtomicU64>,
}

impl Slot {
    /// When (simulated) its last request ends: start + its real latency;
    /// while it still runs, start + max(elapsed, storage latency).
    fn sim_end(&self, storage: Duration) -> f64 {
        let done = self.done.load(Ordering::Acquire);
        let latency = if done == 0 {
            self.real_start.elapsed().max(storage)
        } else {
            Duration::from_nanos(done - 1)
        };
        self.sim_start + latency.as_secs_f64()
    }
}

/// What one run measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunResult {
    pub plan: Option<Plan>,
    pub cache_on: bool,
    pub requests: usize,
    pub real_secs: f64,
    pub max_lag_ms: f64,
    pub hit: f64,
    pub hit_top100: f64,
    pub statuses: BTreeMap<String, u64>,
    pub errors: usize,
    pub latency: Summary,
    /// Storage reads of the API containers.
    pub reads: u64,
    /// Storage reads of the warmer.
    pub warm_reads: u64,
    /// Through the read containers' proxy (flushes included, split out).
    pub read: Traffic,
    /// Through the warmer's proxy.
    pub warm: Traffic,
    /// upstash-local's own count over the run (check: read + warmer).
    pub server_commands: u64,
    /// Commands the scripts ran inside Redis (`INFO commandstats` delta
    /// minus what the proxies saw); `None` when Redis was not this run's
    /// alone (its script count disagrees with the proxies').
    pub script_calls: Option<u64>,
    pub containers_mean: f64,
    pub containers_peak: usize,
    pub busy_peak: usize,
    pub cold_starts: usize,
    pub warm_runs: usize,
    pub warm_skipped: usize,
    pub warm_failed: usize,
    /// |warmer's top 50 ∩ true top 50|, and how many the ranking held.
    pub overlap: Option<(usize, usize)>,
}

impl RunResult {
    fn per(&self, x: u64) -> f64 {
        x as f64 / self.requests.max(1) as f64
    }
    /// Commands sent per request (a script counted once).
    pub(crate) fn sent_per(&self) -> f64 {
        self.per(self.read.commands + self.warm.commands)
    }
    /// Billed commands per request by purpose, the commands scripts run
    /// included (as Upstash's own cost tables count a script); `None` when
    /// those are unknown (Redis was shared).
    pub(crate) fn split(&self) -> Option<Split> {
        let inside = self.script_calls?;
        // The warmer's one script reads the generation and writes each
        // value: one command per key it is given.
        let warmer_inside = self.warm.script_keys.min(inside);
        let read = &self.read;
        Some(Split {
            lookups: self.per(read.commands - read.flush_commands - read.miss_commands),
            misses: self.per(read.miss_commands + inside - warmer_inside),
            flush: self.per(read.flush_commands),
            warmer: self.per(self.warm.commands + warmer_inside),
        })
    }
    /// Billed commands per request (sent ones when the scripts' are unknown).
    pub(crate) fn billed_per(&self) -> f64 {
        self.split().map_or_else(|| self.sent_per(), |s| s.total())
    }
    /// $ per million API requests for [`RunResult::billed_per`].
    pub(crate) fn bill(&self) -> f64 {
        usd_per_million_requests(self.billed_per())
    }
    /// $ per million API requests if a script were billed as one command.
    pub(crate) fn bill_scripts_as_one(&self) -> f64 {
        usd_per_million_requests(self.sent_per())
    }
    /// Share of the billed commands that are statistics flushes.
    pub(crate) fn flush_share(&self) -> f64 {
        self.per(self.read.flush_commands) / self.billed_per().max(f64::MIN_POSITIVE)
    }
    fn json(&self) -> Value {
        let split = self.split();
        let plan = self.plan.unwrap_or(Plan {
            rate: 0.0,
            k: 1.0,
            sim_secs: 0.0,
        });
        json!({
            "rate": plan.rate, "k": plan.k, "sim_secs": plan.sim_secs,
            "cache": if self.cache_on { "on" } else { "off" },
            "requests": self.requests, "real_secs": self.real_secs,
            "max_dispatch_lag_ms": self.max_lag_ms,
            "hit_rate": self.hit, "hit_rate_top100": self.hit_top100,
            "statuses": self.statuses, "errors": self.errors,
            "latency": self.latency.to_json(),
            "storage_reads_per_request": self.per(self.reads),
            "warmer_storage_reads_per_request": self.per(self.warm_reads),
            "rest_requests_per_request": {"read": self.per(self.read.requests), "read_with_flush": self.per(self.read.flush_requests), "warmer": self.per(self.warm.requests)},
            "redis_commands_per_request": {
                "sent": self.sent_per(),
                "inside_scripts": self.script_calls.map(|c| self.per(c)),
                "billed": self.billed_per(),
                "lookups": split.map(|s| s.lookups), "misses": split.map(|s| s.misses),
                "flush": split.map(|s| s.flush), "warmer": split.map(|s| s.warmer),
            },
            "flush_share_of_billed": self.flush_share(),
            "upstash_local_commands": self.server_commands,
            "usd_per_million_requests": self.bill(),
            "usd_per_million_requests_scripts_as_one": self.bill_scripts_as_one(),
            "containers": {"mean": self.containers_mean, "peak": self.containers_peak, "peak_busy": self.busy_peak, "cold_starts": self.cold_starts},
            "warmer": {"runs": self.warm_runs, "skipped_still_running": self.warm_skipped, "failed_runs": self.warm_failed},
            "top50_overlap": self.overlap.map(|(a, b)| json!({"overlap": a, "ranked": b})),
        })
    }
}

/// Billed commands per API request, by purpose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Split {
    /// The `MGET` of value and generation every cache read past L1 starts with.
    pub lookups: f64,
    /// What a miss adds: the lock, the store script and the commands it
    /// runs, waits for another container's value, lock releases.
    pub misses: f64,
    /// Statistics flushes.
    pub flush: f64,
    /// The warmer: its reads of the ranking and of TTLs, its write script
    /// and the commands it runs.
    pub warmer: f64,
}

impl Split {
    pub(crate) fn total(&self) -> f64 {
        self.lookups + self.misses + self.flush + self.warmer
    }
}

/// Knobs of the traffic model (from the CLI).
#[derive(Clone, Debug)]
pub(crate) struct Model {
    pub symbols: usize,
    pub s: f64,
    pub list_share: f64,
    pub idle_timeout_s: f64,
    pub warm_every_s: f64,
    pub storage_latency: Duration,
    pub seed: u64,
}

impl Model {
    /// The model the `--traffic-*` options describe.
    pub(crate) fn of(opts: &Options) -> Self {
        Model {
            symbols: opts.traffic_symbols,
            s: opts.traffic_s,
            list_share: opts.traffic_list_share,
            idle_timeout_s: opts.traffic_idle_timeout_s,
            warm_every_s: opts.traffic_warm_every_s,
            storage_latency: Duration::from_millis(opts.storage_latency_ms),
            seed: opts.seed,
        }
    }
}

/// Replays one plan with the cache on or off.
pub(crate) async fn run_plan(env: &Env, model: &Model, plan: Plan, cache_on: bool) -> RunResult {
    replay(env, model, plan, cache_on, None).await.0
}

/// Counters read at the start of every simulated minute of a replay.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MinuteMark {
    /// Storage reads of the API containers so far.
    pub reads: u64,
    /// Commands through the read containers' proxy so far.
    pub commands: u64,
}

/// What a replay with an update in it saw over time.
pub(crate) struct Timeline {
    /// Counters at the start of each simulated minute (index = minute).
    pub marks: Vec<MinuteMark>,
    /// Every request's outcome (`started` is real time from the start).
    pub outcomes: Vec<Outcome>,
    /// The update's own result.
    pub update: super::storm::UpdateDone,
}

/// [`run_plan`], with `update` started at its simulated time (in its own
/// task, beside the traffic) and the per-minute counters it needs.
pub(crate) async fn replay(
    env: &Env,
    model: &Model,
    plan: Plan,
    cache_on: bool,
    update: Option<&super::storm::Update>,
) -> (RunResult, Option<Timeline>) {
    let symbols = model.symbols.min(env.symbols.len());
    let seed = model.seed ^ (plan.rate as u64).wrapping_mul(0x9E37_79B9);
    let jobs = arrivals(
        plan.rate,
        plan.sim_secs,
        symbols,
        model.s,
        model.list_share,
        seed,
    );
    let what = format!("traffic-{}-{}", plan.rate, plan.k);
    let prefix = env.fresh_prefix(&what);
    let config = scaled_config(&prefix, plan.k);
    let store_options = scaled_store(plan.k);
    let timeout = Duration::from_millis(shared::upstash::DEFAULT_TIMEOUT_MS);
    let upstream = env.server.url();
    let read_proxy = CountingProxy::start(&upstream, &prefix)
        .await
        .expect("read-path proxy");
    let warm_proxy = CountingProxy::start(&upstream, &prefix)
        .await
        .expect("warmer proxy");
    let make_node = || -> Node {
        if cache_on {
            env.container_with(&read_proxy.url(), timeout, &config, store_options.clone())
        } else {
            let store = Arc::new(StockStore::new(env.location.clone(), store_options.clone()));
            Node {
                service: shared::service::StockDataService::wire(
                    store.clone(),
                    None,
                    config.clone(),
                ),
                client: None,
                store,
            }
        }
    };
    let warmer =
        Arc::new(env.container_with(&warm_proxy.url(), timeout, &config, store_options.clone()));
    // The warmer's schedule, on the traffic clock like every other duration.
    let warm_config = WarmConfig {
        every: Duration::from_secs_f64(model.warm_every_s / plan.k),
        ..WarmConfig::default()
    };
    let server_before = env.server.stats().redis_commands;
    let calls_before = command_calls(&env.redis_url).await;
    let k = plan.k;
    let idle_timeout = model.idle_timeout_s;
    let storage = model.storage_latency;
    let bar = env.bar(jobs.len() as u64, &what);
    let mut slots: Vec<Slot> = Vec::new();
    let mut stores: Vec<Arc<StockStore>> = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    let (mut cold, mut peak, mut busy_peak) = (0usize, 0usize, 0usize);
    let (mut area, mut last_t) = (0.0f64, 0.0f64);
    let mut max_lag = Duration::ZERO;
    let mut next_warm = 0.0f64;
    let mut warm_task: Option<tokio::task::JoinHandle<bool>> = None;
    let mut update_task: Option<tokio::task::JoinHandle<super::storm::UpdateDone>> = None;
    let mut marks: Vec<MinuteMark> = Vec::new();
    let (mut warm_runs, mut warm_skipped, mut warm_failed) = (0usize, 0usize, 0usize);
    let start = Instant::now();
    let tokio_start = tokio::time::Instant::now();
    for arrival in &jobs {
        let t = arrival.at;
        let target = tokio_start + Duration::from_secs_f64(t / k);
        tokio::time::sleep_until(target).await;
        max_lag = max_lag.max(tokio::time::Instant::now().saturating_duration_since(target));
        if let Some(update) = update {
            while (marks.len() as f64) * 60.0 <= t {
                marks.push(MinuteMark {
                    reads: stores.iter().map(|s| s.reads()).sum(),
                    commands: read_proxy.traffic().commands,
                });
            }
            if update_task.is_none() && t >= update.at_sim_s {
                let (update, location) = (update.clone(), env.location.clone());
                let symbols = env.symbols[..symbols].to_vec();
                let (url, prefix) = (env.server.url(), prefix.clone());
                update_task = Some(tokio::spawn(async move {
                    update.run(location, symbols, &url, &prefix, k, start).await
                }));
            }
        }
        // The warmer, on its schedule, in its own container.
        while cache_on && next_warm <= t {
            let running = warm_task.as_ref().is_some_and(|h| !h.is_finished());
            if running {
                warm_skipped += 1;
            } else {
                if let Some(h) = warm_task.take() {
                    warm_failed += usize::from(!h.await.unwrap_or(false));
                }
                let (node, warm_config) = (warmer.clone(), warm_config.clone());
                warm_runs += 1;
                warm_task = Some(tokio::spawn(async move {
                    shared::warmer::warm(&node.service, &warm_config)
                        .await
                        .is_ok()
                }));
            }
            next_warm += model.warm_every_s;
        }
        // Retire containers idle longer than the idle timeout.
        slots.retain(|s| s.sim_end(storage) + idle_timeout > t);
        area += slots.len() as f64 * (t - last_t);
        last_t = t;
        // An idle warm container (the most recently freed), else a cold one.
        let mut best: Option<(usize, f64)> = None;
        let mut busy = 0usize;
        for (i, s) in slots.iter().enumerate() {
            let end = s.sim_end(storage);
            if end <= t {
                if best.is_none_or(|(_, e)| end > e) {
                    best = Some((i, end));
                }
            } else {
                busy += 1;
            }
        }
        busy_peak = busy_peak.max(busy + 1);
        let index = match best {
            Some((i, _)) => i,
            None => {
                cold += 1;
                let node = Arc::new(make_node());
                stores.push(node.store.clone());
                slots.push(Slot {
                    node,
                    sim_start: t,
                    real_start: Instant::now(),
                    done: Arc::new(AtomicU64::new(1)),
                });
                slots.len() - 1
            }
        };
        peak = peak.max(slots.len());
        let slot = &mut slots[index];
        let done = Arc::new(AtomicU64::new(0));
        slot.sim_start = t;
        slot.real_start = Instant::now();
        slot.done = done.clone();
        let node = slot.node.clone();
        let job = arrival.job;
        let request = env.request(job);
        let bar = bar.clone();
        tasks.spawn(async move {
            let began = Instant::now();
            let response = node.handle(job.endpoint, request).await;
            let latency = began.elapsed();
            done.store(latency.as_nanos() as u64 + 1, Ordering::Release);
            bar.inc(1);
            Outcome {
                job,
                latency,
                started: began - start,
                status: response.status().as_u16(),
                cache: cache_header(&response),
                breaker_open: false,
            }
        });
    }
    area += slots.len() as f64 * (plan.sim_secs - last_t);
    let mut out = Vec::with_capacity(jobs.len());
    while let Some(done) = tasks.join_next().await {
        out.push(done.expect("request task"));
    }
    if let Some(h) = warm_task.take() {
        warm_failed += usize::from(!h.await.unwrap_or(false));
    }
    let update_done = match update_task.take() {
        Some(h) => Some(
            h.await
                .unwrap_or_else(|e| super::storm::UpdateDone::failed(e.to_string())),
        ),
        None => None,
    };
    let real_secs = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let calls_after = command_calls(&env.redis_url).await;
    let (read, warm) = (read_proxy.traffic(), warm_proxy.traffic());
    let script_calls = match (calls_before, calls_after) {
        (Some(before), Some(after)) => script_calls(&before, &after, &[read, warm]),
        _ => None,
    };
    let overlap = if cache_on {
        top50_overlap(env, &prefix, &jobs).await
    } else {
        None
    };
    let top: Vec<Outcome> = out
        .iter()
        .filter(|o| o.job.symbol < 100 && o.job.endpoint != Endpoint::Symbols)
        .cloned()
        .collect();
    let timeline = update_done.map(|update| Timeline {
        marks,
        outcomes: out.clone(),
        update,
    });
    let result = RunResult {
        plan: Some(plan),
        cache_on,
        requests: out.len(),
        real_secs,
        max_lag_ms: max_lag.as_secs_f64() * 1000.0,
        hit: hit_rate(&out),
        hit_top100: hit_rate(&top),
        statuses: statuses(&out),
        errors: out.iter().filter(|o| !o.is_ok()).count(),
        latency: Summary::of(&latencies(&out)),
        reads: stores.iter().map(|s| s.reads()).sum(),
        warm_reads: warmer.store.reads(),
        read,
        warm,
        server_commands: env.server.stats().redis_commands - server_before,
        script_calls,
        containers_mean: area / plan.sim_secs,
        containers_peak: peak,
        busy_peak,
        cold_starts: cold,
        warm_runs,
        warm_skipped,
        warm_failed,
        overlap,
    };
    (result, timeline)
}

/// Commands Upstash does not bill (its pricing FAQ: AUTH, HELLO, SELECT,
/// COMMAND, CONFIG, INFO, PING, RESET, QUIT) or that only wrap others
/// (MULTI/EXEC; the proxies count the commands inside), and CLIENT
/// (connection set-up).
const UNBILLED: [&str; 12] = [
    "auth", "hello", "select", "command", "config", "info", "ping", "reset", "quit", "multi",
    "exec", "client",
];

/// Calls per command since Redis started (`INFO commandstats`; commands a
/// script runs are counted there too), or `None` when Redis cannot be asked.
async fn command_calls(redis_url: &str) -> Option<HashMap<String, u64>> {
    let client = redis::Client::open(redis_url).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .ok()?;
    Some(parse_commandstats(&info))
}

/// `cmdstat_get:calls=3,usec=…` lines as name → calls.
fn parse_commandstats(info: &str) -> HashMap<String, u64> {
    info.lines()
        .filter_map(|line| {
            let (name, fields) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_ascii_lowercase(), calls))
        })
        .collect()
}

/// Billable commands Redis ran between two snapshots, minus what the
/// proxies saw: the commands run inside scripts. `None` when the script
/// counts disagree (someone else used this Redis during the run).
fn script_calls(
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
    seen: &[Traffic],
) -> Option<u64> {
    let delta = |name: &str| {
        after
            .get(name)
            .copied()
            .unwrap_or(0)
            .saturating_sub(before.get(name).copied().unwrap_or(0))
    };
    let billed: u64 = after
        .keys()
        .filter(|name| !UNBILLED.contains(&name.split('|').next().unwrap_or(name)))
        .map(|name| delta(name))
        .sum();
    let top_level: u64 = seen.iter().map(|t| t.commands).sum();
    let scripts: u64 = seen.iter().map(|t| t.scripts).sum();
    (delta("eval") + delta("evalsha") == scripts && billed >= top_level).then(|| billed - top_level)
}

/// |`ZREVRANGE {prefix}stats:popular 0 49` ∩ the 50 most requested symbols of `jobs`|.
async fn top50_overlap(env: &Env, prefix: &str, jobs: &[Arrival]) -> Option<(usize, usize)> {
    let client = redis::Client::open(env.redis_url.as_str()).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let ranked: Vec<String> = redis::cmd("ZREVRANGE")
        .arg(format!("{prefix}stats:popular"))
        .arg(0)
        .arg(49)
        .query_async(&mut conn)
        .await
        .ok()?;
    let truth: HashSet<String> = true_top(jobs, 50)
        .into_iter()
        .map(|i| env.symbols[i].as_str().to_string())
        .collect();
    let hits = ranked.iter().filter(|s| truth.contains(*s)).count();
    Some((hits, ranked.len()))
}

/// The `n` most requested symbol ranks of `jobs` (ties: lower rank first).
pub(crate) fn true_top(jobs: &[Arrival], n: usize) -> Vec<usize> {
    let mut counts: HashMap<usize, u64> = HashMap::new();
    for a in jobs.iter().filter(|a| a.job.endpoint != Endpoint::Symbols) {
        *counts.entry(a.job.symbol).or_insert(0) += 1;
    }
    let mut v: Vec<(usize, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().take(n).map(|(i, _)| i).collect()
}

fn fmt_window(secs: f64) -> String {
    if secs >= 3600.0 {
        format!("{:.1} h", secs / 3600.0)
    } else if secs >= 60.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{secs:.0} s")
    }
}

fn fmt_k(k: f64) -> String {
    if k.fract() == 0.0 {
        format!("{k:.0}")
    } else {
        format!("{k}")
    }
}

fn main_row(r: &RunResult) -> Vec<String> {
    let p = r.plan.expect("plan");
    let on = r.cache_on;
    let dash = || "–".to_string();
    vec![
        format!("{}", p.rate),
        if on { "on" } else { "off" }.into(),
        format!("{} / {}", fmt_window(p.sim_secs), fmt_k(p.k)),
        r.requests.to_string(),
        if on { fmt_pct(r.hit) } else { dash() },
        if on { fmt_pct(r.hit_top100) } else { dash() },
        fmt_statuses(&r.statuses),
        format!("{:.3} (+{:.3})", r.per(r.reads), r.per(r.warm_reads)),
        if on {
            format!(
                "{:.3} / {:.3}",
                r.per(r.read.requests),
                r.per(r.warm.requests)
            )
        } else {
            dash()
        },
        match (on, r.split()) {
            (true, Some(s)) => format!(
                "{:.3} / {:.3} / {:.3} / {:.3} = {:.3}",
                s.lookups,
                s.misses,
                s.flush,
                s.warmer,
                s.total()
            ),
            (true, None) => format!("{:.3} sent, script commands unknown", r.sent_per()),
            (false, _) => dash(),
        },
        if on { fmt_pct(r.flush_share()) } else { dash() },
        if on {
            format!("${:.2} (${:.2})", r.bill(), r.bill_scripts_as_one())
        } else {
            dash()
        },
        fmt_us(r.latency.p50),
        fmt_us(r.latency.p99),
        format!("{:.1} / {}", r.containers_mean, r.containers_peak),
        r.cold_starts.to_string(),
        format!("{:.1} s / {:.0} ms", r.real_secs, r.max_lag_ms),
    ]
}

/// The scenario: every plan with the cache on and off, then the k check.
pub(crate) async fn traffic(env: &Env, opts: &Options, series: &mut TrafficSeries) -> Section {
    let model = Model::of(opts);
    let plans = opts.traffic_plans();
    let mut results = Vec::new();
    for plan in &plans {
        let on = run_plan(env, &model, *plan, true).await;
        let off_plan = Plan {
            sim_secs: plan.sim_secs * opts.traffic_off_fraction,
            ..*plan
        };
        let off = run_plan(env, &model, off_plan, false).await;
        series.points.push((plan.rate, on.hit, on.bill()));
        results.push(on);
        results.push(off);
    }
    let mut checks = Vec::new();
    for &k in &opts.traffic_k_check {
        let base = plans
            .iter()
            .find(|p| p.rate == opts.traffic_k_check_rate)
            .copied();
        let sim_secs = base.map_or(1800.0, |p| p.sim_secs);
        let plan = Plan {
            rate: opts.traffic_k_check_rate,
            k,
            sim_secs,
        };
        // Reuse the main run when it is the same plan.
        if let Some(r) = results
            .iter()
            .find(|r| r.cache_on && r.plan == Some(plan))
            .cloned()
        {
            checks.push(r);
        } else {
            checks.push(run_plan(env, &model, plan, true).await);
        }
    }
    report(opts, &model, &results, &checks)
}

/// Points of the traffic chart: (rate, hit rate, $ per 1M requests), cache on.
#[derive(Default)]
pub(crate) struct TrafficSeries {
    pub points: Vec<(f64, f64, f64)>,
}

fn report(opts: &Options, model: &Model, results: &[RunResult], checks: &[RunResult]) -> Section {
    let mut md = format!(
        "## traffic\n\nReal traffic rates replayed in compressed time (factor k; see the notes above the table in docs/bench.md). Poisson arrivals at R simulated requests/s over {} symbols with Zipf(s = {}) popularity; symbol list {:.1}% of requests, the rest latest 60% / recent 30% (days 1..=365) / info 10%. Lambda-like fleet: one request per container at a time, an idle warm container (most recently freed) or else a cold one (empty L1, no manifest), retired after {} s simulated idle. Warmer (`shared::warmer::warm`, `WarmConfig::default()`: top 50) every {} s simulated in its own container, skipped while the previous run still runs. Cache-off rows replay the first {:.0}% of the window. Storage {} ms real per GET (not scaled).\n\n",
        model.symbols,
        model.s,
        model.list_share * 100.0,
        model.idle_timeout_s,
        model.warm_every_s,
        opts.traffic_off_fraction * 100.0,
        opts.storage_latency_ms,
    );
    let headers = [
        "R (req/s)",
        "cache",
        "sim window / k",
        "requests",
        "hit rate",
        "top-100 hit",
        "x-cache",
        "storage reads / req (+ warmer)",
        "REST / req (read / warmer)",
        "billed commands / req (lookups / misses / stats flush / warmer = total)",
        "flush share",
        "$ / 1M req (scripts as 1 command)",
        "p50",
        "p99",
        "containers mean / peak",
        "cold starts",
        "real time / max lag",
    ];
    let rows: Vec<Vec<String>> = results.iter().map(main_row).collect();
    md.push_str(&table(&headers, &rows));
    md.push_str("\n| R | warmer runs (skipped) | failed | REST requests carrying a flush / req | upstash-local commands = read + warmer? | commands inside scripts (Redis `INFO commandstats`) | errors | peak busy containers |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for r in results.iter().filter(|r| r.cache_on) {
        let p = r.plan.expect("plan");
        md.push_str(&format!(
            "| {} | {} ({}) | {} | {:.3} | {} = {} + {}: {} | {} | {} | {} |\n",
            p.rate,
            r.warm_runs,
            r.warm_skipped,
            r.warm_failed,
            r.per(r.read.flush_requests),
            r.server_commands,
            r.read.commands,
            r.warm.commands,
            if r.server_commands == r.read.commands + r.warm.commands {
                "yes"
            } else {
                "**no**"
            },
            r.script_calls.map_or_else(
                || "unknown: Redis was shared".to_string(),
                |c| c.to_string()
            ),
            r.errors,
            r.busy_peak,
        ));
    }
    md.push_str(&format!(
        "\n### k-independence (R = {})\n\n| k | sim window | requests | hit rate | top-100 hit | REST / req | billed commands / req | $ / 1M req | containers mean / peak | cold starts | real time / max lag |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        opts.traffic_k_check_rate
    ));
    for r in checks {
        let p = r.plan.expect("plan");
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.3} | {:.3} | ${:.2} | {:.1} / {} | {} | {:.1} s / {:.0} ms |\n",
            fmt_k(p.k),
            fmt_window(p.sim_secs),
            r.requests,
            fmt_pct(r.hit),
            fmt_pct(r.hit_top100),
            r.per(r.read.requests + r.warm.requests),
            r.billed_per(),
            r.bill(),
            r.containers_mean,
            r.containers_peak,
            r.cold_starts,
            r.real_secs,
            r.max_lag_ms,
        ));
    }
    md.push_str("\n### Warmer top 50 vs true top 50\n\n`ZREVRANGE {prefix}stats:popular 0 49` read from Redis at the end of each cache-on run, against the 50 most requested symbols of that run's traffic.\n\n| R | k | overlap | symbols in the ranking |\n| --- | ---: | ---: | ---: |\n");
    for r in results.iter().chain(checks).filter(|r| r.cache_on) {
        let p = r.plan.expect("plan");
        let (a, b) = r.overlap.unwrap_or((0, 0));
        md.push_str(&format!(
            "| {} | {} | {a} / 50 | {b} |\n",
            p.rate,
            fmt_k(p.k)
        ));
    }
    Section {
        name: "traffic",
        markdown: md,
        json: json!({
            "symbols": model.symbols, "s": model.s, "list_share": model.list_share,
            "idle_timeout_s": model.idle_timeout_s, "warm_every_s": model.warm_every_s,
            "runs": results.iter().map(RunResult::json).collect::<Vec<_>>(),
            "k_check": checks.iter().map(RunResult::json).collect::<Vec<_>>(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billed_commands_split_by_purpose() {
        let mut r = RunResult {
            requests: 10,
            read: Traffic {
                commands: 20,
                flush_commands: 2,
                miss_commands: 6,
                scripts: 3,
                ..Traffic::default()
            },
            warm: Traffic {
                commands: 4,
                scripts: 1,
                script_keys: 5,
                ..Traffic::default()
            },
            ..RunResult::default()
        };
        assert_eq!(r.split(), None, "script commands unknown");
        assert_eq!(r.billed_per(), 2.4, "sent commands only");
        r.script_calls = Some(14);
        let split = r.split().unwrap();
        assert_eq!(split.lookups, 1.2);
        assert_eq!(
            split.misses, 1.5,
            "6 sent + 14 - 5 run by the warmer's script"
        );
        assert_eq!(split.flush, 0.2);
        assert_eq!(split.warmer, 0.9);
        assert!((r.billed_per() - 3.8).abs() < 1e-9);
        assert!((r.flush_share() - 0.2 / 3.8).abs() < 1e-9);
    }

    #[test]
    fn commands_inside_scripts_come_from_the_commandstats_delta() {
        let before = parse_commandstats(
            "# Commandstats\r\ncmdstat_get:calls=10,usec=5,usec_per_call=0.5,rejected_calls=0,failed_calls=0\r\ncmdstat_eval:calls=1,usec=9\r\ncmdstat_info:calls=4,usec=1\r\n",
        );
        assert_eq!(before.get("get"), Some(&10));
        let after = parse_commandstats(
            "cmdstat_get:calls=13,usec=5\ncmdstat_eval:calls=3,usec=9\ncmdstat_set:calls=2,usec=1\ncmdstat_info:calls=9,usec=1\ncmdstat_client|setname:calls=4,usec=1\n",
        );
        let seen = Traffic {
            requests: 3,
            commands: 3,
            scripts: 2,
            ..Traffic::default()
        };
        // 3 GET + 2 EVAL + 2 SET billed, 3 of them seen by the proxy; INFO and CLIENT not billed.
        assert_eq!(script_calls(&before, &after, &[seen]), Some(4));
        let other_client = Traffic { scripts: 1, ..seen };
        assert_eq!(
            script_calls(&before, &after, &[other_client]),
            None,
            "someone else's script ran: unknown"
        );
    }

    #[test]
    fn scaling_divides_traffic_durations_only() {
        let c = scaled_config("p:", 300.0);
        let d = CacheConfig::default();
        assert_eq!(c.ttl_latest_price, Duration::from_secs(1));
        assert_eq!(c.l1_ttl, d.l1_ttl.div_f64(300.0));
        assert_eq!(c.stats_flush_interval, Duration::from_millis(200));
        assert_eq!(c.lock_ttl, d.lock_ttl);
        assert_eq!(c.miss_wait, d.miss_wait);
        // Retention (PX) stays well above 1 ms for every kind.
        for ttl in [c.ttl_latest_price, c.ttl_recent_data, c.ttl_symbol_info] {
            assert!(c.retention(ttl) >= Duration::from_millis(1));
        }
        assert_eq!(c.retention(c.ttl_latest_price), Duration::from_secs(2));
        assert_eq!(scaled_store(60.0).manifest_ttl, Duration::from_secs(1));
    }

    #[test]
    fn arrivals_follow_rate_and_mix() {
        let a = arrivals(50.0, 2000.0, 5000, 1.1, 0.01, 7);
        let n = a.len() as f64;
        assert!((n / 100_000.0 - 1.0).abs() < 0.02, "{n}");
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
        let share =
            |f: fn(&Endpoint) -> bool| a.iter().filter(|x| f(&x.job.endpoint)).count() as f64 / n;
        assert!((share(|e| *e == Endpoint::Symbols) - 0.01).abs() < 0.002);
        assert!((share(|e| *e == Endpoint::Latest) - 0.594).abs() < 0.01);
        assert!((share(|e| matches!(e, Endpoint::Recent(_))) - 0.297).abs() < 0.01);
        assert_eq!(true_top(&a, 3), vec![0, 1, 2]);
    }
}
