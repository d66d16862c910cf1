//! Management operations: clear, global statistics, reset.

use std::time::Instant;

use serde::Serialize;

use super::ReadThrough;
use super::invalidate::{Invalidation, invalidate, invalidate_everything, scan};
use super::keys::KeyKind;
use super::stats::{SLOTS, kind_slot, now_rfc3339};
use crate::symbol::Symbol;
use crate::upstash::{Command, Reply, UpstashError};

/// Most `SCAN` calls a key count makes before reporting an estimate.
const COUNT_SCAN_LIMIT: usize = 20;

/// Deletes every key of `symbol` (values and locks) and replaces the data
/// generation, in one request (see [`invalidate`]); drops this container's L1.
pub(crate) async fn clear_symbol(
    cache: &ReadThrough,
    symbol: &Symbol,
) -> Result<u64, UpstashError> {
    let done = invalidate(cache, &Invalidation::symbol(symbol.clone())).await?;
    Ok(done.keys_deleted)
}

/// Replaces the data generation, then deletes every other key under the
/// prefix: `SCAN MATCH prefix* COUNT n`, then `UNLINK` per batch. Never
/// `FLUSHDB`: the database may be shared.
pub(crate) async fn clear_all(cache: &ReadThrough) -> Result<u64, UpstashError> {
    Ok(invalidate_everything(cache).await?.keys_deleted)
}

/// One entry of the popularity ranking.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct Popular {
    /// The symbol.
    pub symbol: String,
    /// Requests counted (flushed) for it.
    pub requests: u64,
}

/// Global counts of one kind of value (one endpoint).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub(crate) struct KindStats {
    /// Hits (Redis and L1).
    pub hits: u64,
    /// Misses.
    pub misses: u64,
    /// Stale answers.
    pub stale: u64,
    /// (hits + stale) / (hits + stale + misses); `null` before any traffic.
    pub hit_rate: Option<f64>,
}

impl KindStats {
    fn new(hits: u64, misses: u64, stale: u64) -> Self {
        KindStats {
            hits,
            misses,
            stale,
            hit_rate: hit_rate(hits + stale, misses),
        }
    }
}

/// [`KindStats`] per endpoint kind.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub(crate) struct ByKind {
    /// `GET /v1/stocks/{symbol}/latest`.
    pub latest: KindStats,
    /// `GET /v1/stocks/{symbol}/recent`.
    pub recent: KindStats,
    /// `GET /v1/symbols`.
    pub list: KindStats,
    /// `GET /v1/symbols/{symbol}`.
    pub info: KindStats,
}

/// served / (served + misses), rounded to 4 places; `None` without traffic.
fn hit_rate(served: u64, misses: u64) -> Option<f64> {
    let total = served + misses;
    (total > 0).then(|| ((served as f64 / total as f64) * 10_000.0).round() / 10_000.0)
}

/// The body of `GET /v1/cache/stats`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct StatsReport {
    /// Caching is configured and enabled.
    pub enabled: bool,
    /// A `PING` succeeded just now.
    pub connected: bool,
    /// This container's breaker: `closed`, `open` or `half_open`.
    pub circuit: &'static str,
    /// Round trip of that `PING` in ms.
    pub ping_ms: Option<f64>,
    /// Global hits (Redis and L1) since `since`.
    pub hits: u64,
    /// Global misses.
    pub misses: u64,
    /// Global stale answers.
    pub stale: u64,
    /// Global failed cache calls.
    pub errors: u64,
    /// Global answers that did not use the cache (breaker open, cache failing).
    pub bypass: u64,
    /// (hits + stale) / (hits + stale + misses); `null` before any traffic.
    pub hit_rate: Option<f64>,
    /// The same counts per endpoint kind (answers that bypassed the cache are not counted here).
    pub by_kind: ByKind,
    /// Keys under the prefix (`null` when unknown).
    pub keys: Option<u64>,
    /// True when `keys` is a lower bound (the count stopped early on a large database).
    pub keys_estimated: bool,
    /// `used_memory` from `INFO memory` when the server provides it.
    pub memory_used: Option<u64>,
    /// Most requested symbols, most first.
    pub popular: Vec<Popular>,
    /// When counting started (RFC 3339), `null` before the first flush.
    pub since: Option<String>,
}

impl StatsReport {
    fn disabled() -> Self {
        StatsReport {
            enabled: false,
            connected: false,
            circuit: "closed",
            ping_ms: None,
            hits: 0,
            misses: 0,
            stale: 0,
            errors: 0,
            bypass: 0,
            hit_rate: None,
            by_kind: ByKind::default(),
            keys: None,
            keys_estimated: false,
            memory_used: None,
            popular: Vec::new(),
            since: None,
        }
    }
}

/// Global statistics. Never fails: an unreachable cache reports `connected: false`.
pub(crate) async fn stats_report(cache: Option<&ReadThrough>) -> StatsReport {
    let Some(cache) = cache else {
        return StatsReport::disabled();
    };
    let mut report = StatsReport {
        enabled: true,
        circuit: cache.breaker_state().as_str(),
        ..StatsReport::disabled()
    };
    // This container's own unflushed counts are included (best effort).
    let _ = cache.flush_stats().await;
    let started = Instant::now();
    if cache.client().command(&Command::new("PING")).await.is_err() {
        return report;
    }
    report.connected = true;
    report.ping_ms = Some((started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0);
    read_counters(cache, &mut report).await;
    report.hit_rate = hit_rate(report.hits + report.stale, report.misses);
    (report.keys, report.keys_estimated) = count_keys(cache).await;
    report
}

/// Global counters, popularity and memory, in one pipeline.
async fn read_counters(cache: &ReadThrough, report: &mut StatsReport) {
    let keys = cache.keys();
    let mut counters = Command::new("BITFIELD_RO").arg(keys.stats_counters());
    for slot in 0..SLOTS {
        counters = counters.arg("GET").arg("i64").arg(format!("#{slot}"));
    }
    let commands = [
        counters,
        Command::new("GET").arg(keys.stats_since()),
        Command::new("ZREVRANGE")
            .arg(keys.popularity())
            .arg(0)
            .arg(9)
            .arg("WITHSCORES"),
        Command::new("INFO").arg("memory"),
    ];
    let Ok(replies) = cache.client().pipeline(&commands).await else {
        return;
    };
    let mut replies = replies.into_iter().map(Result::ok);
    if let Some(Some(Reply::Array(values))) = replies.next()
        && values.len() == SLOTS
    {
        let slot = |i: usize| values[i].as_int().unwrap_or(0).max(0) as u64;
        report.hits = slot(0);
        report.misses = slot(1);
        report.stale = slot(2);
        report.errors = slot(3);
        report.bypass = slot(4);
        let kind = |k: KeyKind| {
            KindStats::new(
                slot(kind_slot(k, 0)),
                slot(kind_slot(k, 1)),
                slot(kind_slot(k, 2)),
            )
        };
        report.by_kind = ByKind {
            latest: kind(KeyKind::Latest),
            recent: kind(KeyKind::Recent),
            list: kind(KeyKind::List),
            info: kind(KeyKind::Info),
        };
    }
    if let Some(Some(since)) = replies.next() {
        report.since = since.as_str().map(str::to_owned);
    }
    if let Some(Some(Reply::Array(pairs))) = replies.next() {
        report.popular = popular(&pairs);
    }
    if let Some(Some(info)) = replies.next() {
        report.memory_used = used_memory(&info);
    }
}

/// `ZREVRANGE … WITHSCORES` pairs as the ranking.
fn popular(pairs: &[Reply]) -> Vec<Popular> {
    pairs
        .chunks(2)
        .filter_map(|pair| {
            let symbol = pair.first()?.as_str()?.to_owned();
            let score: f64 = pair.get(1)?.as_str()?.parse().ok()?;
            Some(Popular {
                symbol,
                requests: score.max(0.0) as u64,
            })
        })
        .collect()
}

/// `used_memory` of an `INFO memory` reply.
fn used_memory(info: &Reply) -> Option<u64> {
    info.as_str()?
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
}

async fn count_keys(cache: &ReadThrough) -> (Option<u64>, bool) {
    let mut count = 0u64;
    let mut cursor = String::from("0");
    for _ in 0..COUNT_SCAN_LIMIT {
        let Ok((next, keys)) = scan(cache, &cursor, &cache.keys().scan_pattern()).await else {
            return (None, false);
        };
        count += keys.len() as u64;
        if next == "0" {
            return (Some(count), false);
        }
        cursor = next;
    }
    (Some(count), true)
}

/// Resets the global counters and the popularity ranking; returns the new `since`.
pub(crate) async fn reset_stats(cache: &ReadThrough) -> Result<String, UpstashError> {
    let keys = cache.keys();
    let since = now_rfc3339();
    let commands = [
        Command::new("DEL")
            .arg(keys.stats_counters())
            .arg(keys.popularity())
            .args(keys.legacy_stats_counters()),
        Command::new("SET")
            .arg(keys.stats_since())
            .arg(since.as_str()),
    ];
    // MULTI/EXEC so readers never see the counters gone with the old `since`.
    for reply in cache.client().transaction(&commands).await? {
        reply?;
    }
    // Counts not yet flushed by this container belong to the old period.
    let _ = cache.stats().take();
    Ok(since)
}
