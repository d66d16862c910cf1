//! `freshness`: how long after an import every container serves the new
//! latest price, and what one invalidation costs.
//!
//! K warm containers hold a symbol's latest price in L1 and Redis. The
//! update goes through the real import path: `merge_import` writes one new
//! bar, then `stockdata::cache_sync::after_write` (the tool's own
//! invalidation, with the functions' settings) tells the cache. From the
//! moment that returns (the import's exit), every container asks every
//! 20 ms until it answers the new close. Two times per container: when the
//! last request that still got the old price was sent (the staleness a
//! user can observe: any request sent later gets the new price), and when
//! the first new answer arrived (that request may have had to read
//! storage). Run with the production L1 (5 s) and with L1 off.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use serde_json::json;
use shared::cache::{CacheConfig, Invalidated, Invalidation};
use shared::models::DailyBar;
use shared::storage::{MergeOptions, SymbolUpdate, merge_import};
use stockdata::cache_sync::{self, CacheSync};

use crate::Options;
use crate::harness::{Endpoint, Env, Job, Node, TOKEN};
use crate::report::{Section, table, verdict};
use crate::stats::median;

/// Containers that must all see the update.
const CONTAINERS: usize = 10;
/// How often a container asks while it still answers the old price.
const POLL: Duration = Duration::from_millis(20);
/// Gives up after this long (a broken invalidation would be stale for TTL + grace).
const GIVE_UP: Duration = Duration::from_secs(30);
/// The 300 ms of Vercel's published on-demand revalidation, the yardstick.
const L1_OFF_TARGET: Duration = Duration::from_millis(300);

/// When one container stopped answering the old price, after the import's exit.
#[derive(Clone, Copy, Debug)]
struct Switch {
    /// The last request that got the old price was sent then (zero: none did).
    last_old_sent: Duration,
    /// The first answer with the new price arrived then.
    first_new_answered: Duration,
}

/// One run: the L1 setting, each container's switch, the invalidation's cost.
struct Run {
    l1: Duration,
    switches: Vec<Switch>,
    requests: u64,
    commands: u64,
    keys_deleted: u64,
}

/// Runs the scenario for the production L1 and for L1 off.
pub(crate) async fn freshness(env: &Env, _opts: &Options) -> Section {
    let mut runs = Vec::new();
    for (round, l1) in [Duration::from_secs(5), Duration::ZERO]
        .into_iter()
        .enumerate()
    {
        match one_run(env, round, l1).await {
            Ok(run) => runs.push(run),
            Err(error) => {
                return Section {
                    name: "freshness",
                    markdown: format!("## freshness\n\nFailed: {error}\n"),
                    json: json!({"error": error}),
                };
            }
        }
    }
    report(&runs)
}

async fn one_run(env: &Env, round: usize, l1: Duration) -> Result<Run, String> {
    let prefix = env.fresh_prefix("freshness");
    let config = CacheConfig {
        l1_ttl: l1,
        ..Env::production_config(&prefix)
    };
    let nodes: Vec<Arc<Node>> = env.containers(CONTAINERS, &config);
    // Symbol `round` (0, 1, …) so each run updates a symbol no earlier run touched.
    let job = Job {
        endpoint: Endpoint::Latest,
        symbol: round,
    };
    warm_up(env, &nodes, job).await?;
    let new_close = 10_000.0 + round as f64;
    let (done, commands_before) = import_one_bar(env, &prefix, round, new_close).await?;
    let exited = Instant::now();
    let commands = env.server.stats().redis_commands - commands_before;
    let waits = nodes
        .iter()
        .map(|node| until_new(env, node, job, new_close, exited));
    let switches = futures::future::join_all(waits)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Run {
        l1,
        switches,
        requests: done.requests,
        commands,
        keys_deleted: done.keys_deleted,
    })
}

/// Two requests per container, so each holds the price in L1 and Redis has it.
async fn warm_up(env: &Env, nodes: &[Arc<Node>], job: Job) -> Result<(), String> {
    for node in nodes {
        for _ in 0..2 {
            let response = node.handle(job.endpoint, env.request(job)).await;
            if response.status() != 200 {
                return Err(format!("warm-up answered {}", response.status()));
            }
        }
    }
    Ok(())
}

/// The import: one new bar closing at `close` for symbol `round`, then the
/// tool's invalidation. Returns what it did and upstash-local's Redis
/// command count from before the invalidation.
async fn import_one_bar(
    env: &Env,
    prefix: &str,
    round: usize,
    close: f64,
) -> Result<(Invalidated, u64), String> {
    let update = SymbolUpdate {
        symbol: env.symbols[round].clone(),
        bars: vec![next_bar(close)],
        metadata: None,
    };
    let merged = merge_import(&env.location, vec![update], &MergeOptions::default())
        .await
        .map_err(|e| format!("import: {e}"))?;
    let what = Invalidation {
        symbols: merged.touched.iter().cloned().collect(),
        symbol_list: merged.symbol_set_changed,
        all_symbol_info: false,
    };
    let commands_before = env.server.stats().redis_commands;
    let url = env.server.url();
    let lookup = |name: &str| match name {
        "UPSTASH_REDIS_REST_URL" => Some(url.clone()),
        "UPSTASH_REDIS_REST_TOKEN" => Some(TOKEN.to_string()),
        "CACHE_KEY_PREFIX" => Some(prefix.to_string()),
        _ => None,
    };
    let done = match cache_sync::after_write_to(lookup, env.location.clone(), &what).await {
        Ok(CacheSync::Invalidated(done)) => done.invalidated,
        other => return Err(format!("invalidation: {other:?}")),
    };
    Ok((done, commands_before))
}

/// The bar after the synthetic data's last day.
fn next_bar(close: f64) -> DailyBar {
    let (y, m, d) = crate::harness::LAST_DAY;
    let last = NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    let mut date = last.succ_opt().unwrap_or(last);
    while date.weekday().number_from_monday() > 5 {
        date = date.succ_opt().unwrap_or(date);
    }
    DailyBar {
        date,
        open: close,
        high: close + 1.0,
        low: close - 1.0,
        close,
        volume: 1,
    }
}

/// Asks `node` every [`POLL`] until it answers `close`.
async fn until_new(
    env: &Env,
    node: &Node,
    job: Job,
    close: f64,
    since: Instant,
) -> Result<Switch, String> {
    let mut last_old_sent = Duration::ZERO;
    loop {
        let sent = since.elapsed();
        let response = node.handle(job.endpoint, env.request(job)).await;
        let body: serde_json::Value = match response.body() {
            lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        if body["close"].as_f64() == Some(close) {
            return Ok(Switch {
                last_old_sent,
                first_new_answered: since.elapsed(),
            });
        }
        last_old_sent = sent;
        if since.elapsed() > GIVE_UP {
            return Err(format!("still stale after {GIVE_UP:?}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

const INTRO: &str = "\
    warm containers hold a symbol's latest price (L1 and Redis). A one-bar \
    import (`merge_import`, then the import tool's invalidation) updates it; from the \
    invalidation's return (the import's exit) every container asks every";

const EXPLANATION: &str = "\
    *Last old answer sent*: the latest time, after the exit, a request was sent that still \
    got the old price (any later request got the new one): the staleness a user can see, \
    bounded by `CACHE_L1_TTL_S`. *First new answer*: when each container's first new \
    answer arrived (it may include a storage read: 50 ms simulated per GET). The target is \
    on the first with L1 on, on the second with L1 off (300 ms, Vercel's published \
    on-demand revalidation time). Before this change a stale value lived up to TTL + \
    stale grace (600 s for the latest price).";

fn report(runs: &[Run]) -> Section {
    let rows: Vec<Vec<String>> = runs.iter().map(|run| run.row()).collect();
    let json_runs: Vec<serde_json::Value> = runs.iter().map(|run| run.json()).collect();
    let headers = [
        "CACHE_L1_TTL_S",
        "containers",
        "last old answer sent (max)",
        "first new answer p50 / max",
        "target",
        "REST requests per invalidation",
        "Redis commands",
        "keys deleted",
    ];
    let markdown = format!(
        "## freshness\n\n{CONTAINERS} {INTRO} {} ms. {EXPLANATION}\n\n{}",
        POLL.as_millis(),
        table(&headers, &rows)
    );
    Section {
        name: "freshness",
        markdown,
        json: json!({ "runs": json_runs }),
    }
}

impl Run {
    fn last_old(&self) -> Vec<Duration> {
        self.switches.iter().map(|s| s.last_old_sent).collect()
    }

    fn first_new(&self) -> Vec<Duration> {
        self.switches.iter().map(|s| s.first_new_answered).collect()
    }

    /// The bound and whether it held. With L1 on, the bound is on the
    /// requests that can still get old data; with L1 off, on when every
    /// container has answered new data.
    fn target(&self) -> (Duration, bool) {
        let max = |v: Vec<Duration>| v.into_iter().max().unwrap_or_default();
        if self.l1.is_zero() {
            (L1_OFF_TARGET, max(self.first_new()) <= L1_OFF_TARGET)
        } else {
            (self.l1, max(self.last_old()) <= self.l1)
        }
    }

    fn row(&self) -> Vec<String> {
        let new = self.first_new();
        let max_old = self.last_old().into_iter().max().unwrap_or_default();
        let max_new = new.iter().max().copied().unwrap_or_default();
        let (target, met) = self.target();
        vec![
            format!("{} s", self.l1.as_secs()),
            CONTAINERS.to_string(),
            ms(max_old),
            format!("{} / {}", ms(median(&new).unwrap_or_default()), ms(max_new)),
            format!("≤ {}: {}", ms(target), verdict(met)),
            self.requests.to_string(),
            self.commands.to_string(),
            self.keys_deleted.to_string(),
        ]
    }

    fn json(&self) -> serde_json::Value {
        let millis = |v: Vec<Duration>| {
            v.iter()
                .map(|d| d.as_secs_f64() * 1000.0)
                .collect::<Vec<_>>()
        };
        let (target, met) = self.target();
        json!({
            "l1_ttl_s": self.l1.as_secs(),
            "containers": CONTAINERS,
            "last_old_sent_ms": millis(self.last_old()),
            "first_new_answered_ms": millis(self.first_new()),
            "target_ms": target.as_secs_f64() * 1000.0,
            "met": met,
            "invalidation_rest_requests": self.requests,
            "invalidation_redis_commands": self.commands,
            "keys_deleted": self.keys_deleted,
        })
    }
}
