//! storm: the daily update inside a steady traffic window (issue 19 §2–3).
//!
//! The traffic scenario's replay (real handlers, Lambda-like fleet, time
//! scaled by k) runs at one rate; after a warm-up that is not counted, a
//! one-day delta for every symbol goes through the real write path
//! (`merge_import`, then `stockdata::cache_sync::after_write_to`, the
//! tool's own cache step, with the functions' settings scaled by k). Per
//! simulated minute before and after it: hit rate, the API containers'
//! storage reads per second, p99 and Redis commands per request. Run twice
//! on the same plan: refresh on update off (`CACHE_REFRESH_TOP_N=0`: the
//! invalidation only) and on (the default top 1,000).

use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};
use shared::cache::{CacheConfig, Invalidation};
use shared::models::DailyBar;
use shared::storage::{MergeOptions, StorageLocation, SymbolUpdate, merge_import};
use shared::symbol::Symbol;
use stockdata::cache_sync::{self, CacheSync};

use super::traffic::{Model, Plan, RunResult, Timeline, replay};
use crate::Options;
use crate::harness::{Env, Outcome, TOKEN};
use crate::proxy::CountingProxy;
use crate::report::{Section, table};
use crate::stats::{Summary, fmt_pct};

/// The daily update of one run.
#[derive(Clone, Debug)]
pub(crate) struct Update {
    /// When it starts, simulated seconds from the start of the replay.
    pub at_sim_s: f64,
    /// The date of the new bar of every symbol.
    pub date: NaiveDate,
    /// `CACHE_REFRESH_TOP_N` of the tool (0: invalidation only).
    pub refresh_top_n: usize,
}

/// What the update did and when (real seconds from the replay's start).
#[derive(Clone, Debug)]
pub(crate) struct UpdateDone {
    pub started_s: f64,
    pub merged_s: f64,
    pub told_s: f64,
    pub partitions_written: usize,
    pub symbols: usize,
    /// The tool's cache step, or why it failed.
    pub cache: Result<shared::service::UpdateReport, String>,
    /// Redis commands the tool's cache step sent.
    pub commands: u64,
}

impl UpdateDone {
    /// An update that did not run to the end.
    pub(crate) fn failed(why: String) -> Self {
        UpdateDone {
            started_s: 0.0,
            merged_s: 0.0,
            told_s: 0.0,
            partitions_written: 0,
            symbols: 0,
            cache: Err(why),
            commands: 0,
        }
    }
}

impl Update {
    /// Merges a one-day delta for every symbol of `symbols`, then tells the
    /// cache as `stockdata import` does (settings scaled by `k`).
    pub(crate) async fn run(
        &self,
        location: StorageLocation,
        symbols: Vec<Symbol>,
        upstash_url: &str,
        prefix: &str,
        k: f64,
        start: Instant,
    ) -> UpdateDone {
        let started_s = start.elapsed().as_secs_f64();
        let updates: Vec<SymbolUpdate> = symbols
            .iter()
            .map(|symbol| SymbolUpdate {
                symbol: symbol.clone(),
                bars: vec![bar(self.date)],
                metadata: None,
            })
            .collect();
        let merged = match merge_import(&location, updates, &MergeOptions::default()).await {
            Ok(merged) => merged,
            Err(e) => return UpdateDone::failed(format!("merge: {e}")),
        };
        let merged_s = start.elapsed().as_secs_f64();
        let what = Invalidation {
            symbols: merged.touched.iter().cloned().collect(),
            symbol_list: merged.symbol_set_changed,
            all_symbol_info: false,
        };
        let proxy = match CountingProxy::start(upstash_url, prefix).await {
            Ok(proxy) => proxy,
            Err(e) => return UpdateDone::failed(format!("proxy: {e}")),
        };
        let settings = tool_settings(&proxy.url(), prefix, k, self.refresh_top_n);
        let lookup = |name: &str| {
            settings
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        let cache = match cache_sync::after_write_to(lookup, location, &what).await {
            Ok(CacheSync::Invalidated(report)) => Ok(report),
            other => Err(format!("{other:?}")),
        };
        UpdateDone {
            started_s,
            merged_s,
            told_s: start.elapsed().as_secs_f64(),
            partitions_written: merged.partitions_written.len(),
            symbols: merged.touched.len(),
            cache,
            commands: proxy.traffic().commands,
        }
    }
}

/// The tool's environment: the functions' cache settings, TTLs divided by `k`.
fn tool_settings(url: &str, prefix: &str, k: f64, top_n: usize) -> Vec<(&'static str, String)> {
    let d = CacheConfig::default();
    let secs = |t: Duration| (t.as_secs_f64() / k).round().max(1.0).to_string();
    vec![
        ("UPSTASH_REDIS_REST_URL", url.to_string()),
        ("UPSTASH_REDIS_REST_TOKEN", TOKEN.to_string()),
        ("CACHE_KEY_PREFIX", prefix.to_string()),
        ("CACHE_TTL_LATEST_PRICE", secs(d.ttl_latest_price)),
        ("CACHE_TTL_RECENT_DATA", secs(d.ttl_recent_data)),
        ("CACHE_TTL_SYMBOL_LIST", secs(d.ttl_symbol_list)),
        ("CACHE_TTL_SYMBOL_INFO", secs(d.ttl_symbol_info)),
        ("CACHE_REFRESH_TOP_N", top_n.to_string()),
    ]
}

/// The new bar every symbol gets.
fn bar(date: NaiveDate) -> DailyBar {
    DailyBar {
        date,
        open: 100.0,
        high: 101.0,
        low: 99.0,
        close: 100.5,
        volume: 1_000,
    }
}

/// The `n`-th weekday after the synthetic data's last day.
fn weekday_after_last(n: usize) -> NaiveDate {
    let (y, m, d) = crate::harness::LAST_DAY;
    let mut date = NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    let mut left = n;
    while left > 0 {
        date = date.succ_opt().unwrap_or(date);
        if date.weekday().number_from_monday() <= 5 {
            left -= 1;
        }
    }
    date
}

/// One simulated minute of a run.
#[derive(Clone, Copy, Debug, Default)]
struct Minute {
    requests: usize,
    hit: f64,
    reads_per_s: f64,
    p99_ms: f64,
    commands_per_request: f64,
}

/// Minutes `from..to` (simulated, from the start of the replay).
fn minutes(timeline: &Timeline, k: f64, from: usize, to: usize) -> Vec<Minute> {
    (from..to)
        .map(|m| {
            let in_minute: Vec<&Outcome> = timeline
                .outcomes
                .iter()
                .filter(|o| (o.started.as_secs_f64() * k / 60.0) as usize == m)
                .collect();
            let owned: Vec<Outcome> = in_minute.iter().map(|o| (*o).clone()).collect();
            let mark = |i: usize| timeline.marks.get(i).copied().unwrap_or_default();
            let (a, b) = (mark(m), mark(m + 1));
            let requests = owned.len().max(1) as f64;
            Minute {
                requests: owned.len(),
                hit: crate::harness::hit_rate(&owned),
                reads_per_s: b.reads.saturating_sub(a.reads) as f64 / 60.0,
                p99_ms: Summary::of(&crate::harness::latencies(&owned)).p99 / 1000.0,
                commands_per_request: b.commands.saturating_sub(a.commands) as f64 / requests,
            }
        })
        .collect()
}

/// The scenario: the same plan with refresh on update off, then on.
pub(crate) async fn storm(env: &Env, opts: &Options) -> Section {
    let model = Model::of(opts);
    let at = opts.storm_warmup_minutes * 60.0;
    let plan = Plan {
        rate: opts.storm_rate,
        k: opts.storm_k,
        sim_secs: at + opts.storm_after_minutes * 60.0,
    };
    let mut runs = Vec::new();
    for (n, top_n) in [0usize, 1000].into_iter().enumerate() {
        let update = Update {
            at_sim_s: at,
            date: weekday_after_last(n + 1),
            refresh_top_n: top_n,
        };
        let (result, timeline) = replay(env, &model, plan, true, Some(&update)).await;
        match timeline {
            Some(timeline) => runs.push((top_n, result, timeline)),
            None => {
                return Section {
                    name: "storm",
                    markdown: "## storm\n\nFailed: the update did not run\n".into(),
                    json: json!({"error": "the update did not run"}),
                };
            }
        }
    }
    report(opts, &model, plan, &runs)
}

fn report(
    opts: &Options,
    model: &Model,
    plan: Plan,
    runs: &[(usize, RunResult, Timeline)],
) -> Section {
    let k = plan.k;
    let at_min = opts.storm_warmup_minutes as usize;
    let from = at_min.saturating_sub(opts.storm_before_minutes as usize);
    // The last minute whose end was marked (a minute's counts need both ends).
    let marked = runs
        .iter()
        .map(|(_, _, t)| t.marks.len())
        .min()
        .unwrap_or(0);
    let to = ((plan.sim_secs / 60.0) as usize).min(marked.saturating_sub(1));
    let per_run: Vec<Vec<Minute>> = runs
        .iter()
        .map(|(_, _, t)| minutes(t, k, from, to))
        .collect();
    let mut md = format!(
        "## storm\n\nThe daily update after a warm-up (compare the minutes before it with the `steady` model at the same rate: a warm-up shorter than the info TTL is not a steady state by itself): R = {} requests/s simulated, k = {}, {} symbols Zipf(s = {}), the traffic scenario's fleet and mix. Warm-up {} min simulated (not counted before minute {}), then a one-day delta for every symbol through `merge_import` and the tool's cache step (`stockdata::cache_sync::after_write_to`, TTLs divided by k); {} min after. Storage {} ms real per GET. Run twice: refresh on update off (`CACHE_REFRESH_TOP_N=0`) and on (1,000).\n\n",
        plan.rate,
        k,
        model.symbols,
        model.s,
        opts.storm_warmup_minutes,
        from,
        opts.storm_after_minutes,
        model.storage_latency.as_millis(),
    );
    let mut update_rows = Vec::new();
    for (top_n, _, t) in runs {
        let u = &t.update;
        let sim = |real: f64| (real - u.started_s) * k;
        let (cache, refreshed) = match &u.cache {
            Ok(r) => (
                format!(
                    "{} requests, {} keys unlinked",
                    r.requests, r.invalidated.keys_deleted
                ),
                format!(
                    "{} ({} not cached, {} failed)",
                    r.refreshed, r.not_cached, r.failed
                ),
            ),
            Err(e) => (format!("failed: {e}"), "–".into()),
        };
        update_rows.push(vec![
            top_n.to_string(),
            u.symbols.to_string(),
            u.partitions_written.to_string(),
            format!("{:.0} s", sim(u.merged_s)),
            format!("{:.0} s", sim(u.told_s)),
            cache,
            refreshed,
            u.commands.to_string(),
        ]);
    }
    md.push_str(&table(
        &[
            "CACHE_REFRESH_TOP_N",
            "symbols",
            "partitions written",
            "merge done (sim, from start)",
            "cache told (sim)",
            "invalidation",
            "values refreshed",
            "tool's Redis commands",
        ],
        &update_rows,
    ));
    md.push_str(&format!("\nPer simulated minute (minute {at_min} is when the update starts; the cache is told when the merge ends, see above). Each cell: refresh off / on.\n\n"));
    let mut rows = Vec::new();
    for (i, m) in (from..to).enumerate() {
        let cell = |f: &dyn Fn(&Minute) -> String| {
            per_run
                .iter()
                .map(|r| r.get(i).map_or("–".into(), f))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        rows.push(vec![
            format!("{}", m as i64 - at_min as i64),
            cell(&|x| x.requests.to_string()),
            cell(&|x| fmt_pct(x.hit)),
            cell(&|x| format!("{:.1}", x.reads_per_s)),
            cell(&|x| format!("{:.0}", x.p99_ms)),
            cell(&|x| format!("{:.2}", x.commands_per_request)),
        ]);
    }
    md.push_str(&table(
        &[
            "minute",
            "requests",
            "hit rate",
            "storage reads/s",
            "p99 ms",
            "commands/request",
        ],
        &rows,
    ));
    let json_runs: Vec<Value> = runs
        .iter()
        .zip(&per_run)
        .map(|((top_n, result, t), mins)| {
            json!({
                "refresh_top_n": top_n,
                "requests": result.requests,
                "errors": result.errors,
                "update": {
                    "symbols": t.update.symbols,
                    "partitions_written": t.update.partitions_written,
                    "merged_sim_s": (t.update.merged_s - t.update.started_s) * k,
                    "told_sim_s": (t.update.told_s - t.update.started_s) * k,
                    "cache": t.update.cache.as_ref().map(|r| json!({
                        "requests": r.requests, "keys_deleted": r.invalidated.keys_deleted,
                        "refreshed": r.refreshed, "not_cached": r.not_cached, "failed": r.failed,
                    })).unwrap_or_else(|e| json!({"error": e})),
                    "commands": t.update.commands,
                },
                "minutes": mins.iter().enumerate().map(|(i, m)| json!({
                    "minute": (from + i) as i64 - at_min as i64,
                    "requests": m.requests, "hit_rate": m.hit, "storage_reads_per_s": m.reads_per_s,
                    "p99_ms": m.p99_ms, "commands_per_request": m.commands_per_request,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Section {
        name: "storm",
        markdown: md,
        json: json!({"rate": plan.rate, "k": k, "warmup_min": opts.storm_warmup_minutes, "runs": json_runs}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_bars_fall_on_weekdays_after_the_last_day() {
        // 2025-12-31 is a Wednesday.
        assert_eq!(weekday_after_last(1).to_string(), "2026-01-01");
        assert_eq!(weekday_after_last(2).to_string(), "2026-01-02");
        assert_eq!(weekday_after_last(3).to_string(), "2026-01-05");
    }

    #[test]
    fn the_tool_gets_the_ttls_divided_by_k() {
        let settings = tool_settings("http://x", "p:", 12.0, 0);
        let get = |n: &str| settings.iter().find(|(k, _)| *k == n).unwrap().1.clone();
        assert_eq!(get("CACHE_TTL_LATEST_PRICE"), "25");
        assert_eq!(get("CACHE_TTL_RECENT_DATA"), "300");
        assert_eq!(get("CACHE_REFRESH_TOP_N"), "0");
    }
}
