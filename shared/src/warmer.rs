//! Cache warming: refresh the values of chosen and popular symbols before
//! users ask for them.
//!
//! 1. Symbols: `WARM_SYMBOLS` ∪ the top `WARM_TOP_N` of the popularity ranking (one request).
//! 2. Freshness: `PTTL` of every key, pipelined (one request per 100 keys),
//!    with the generations (the tag of each value, see `cache::tag`) and
//!    the data generation read in the first request. A key that stays
//!    fresh beyond the next run (`WARM_EVERY_S`) is skipped, so warming
//!    twice within the fresh TTL reads no storage for long-lived values;
//!    a value whose TTL is no longer than the schedule's period (the latest
//!    price: 300 s, every 5 minutes) is warmed on every run. (Until
//!    2026-12-06 only values already past their fresh TTL were warmed: a
//!    value the previous run wrote was still fresh for the few seconds that
//!    run took, so the latest prices were warmed every other run only.)
//! 3. Storage reads for the rest, `WARM_CONCURRENCY` at a time; one failure
//!    never stops the others.
//! 4. Writes of at most 100 values per request (a pipeline of `SET`s), each
//!    value tagged with the generations read in step 2: a value read before
//!    an invalidation is dead on arrival, never served.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::admin::WarmConfig;
use crate::cache::{Envelope, PIPELINE_MAX, ReadThrough};
use crate::service::{CacheItem, StockDataService};
use crate::symbol::Symbol;
use crate::upstash::UpstashError;

/// What a warm-up did.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct WarmReport {
    /// Symbols whose values were written (the symbol list counts as one more when written).
    pub warmed: usize,
    /// Symbols whose values were all still fresh.
    pub skipped: usize,
    /// Symbols that could not be warmed (storage failure or unknown symbol).
    pub failed: Vec<String>,
    /// Wall time.
    pub duration_ms: u64,
}

/// Warming could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum WarmError {
    /// No cache is configured or it is disabled.
    #[error("the cache is disabled")]
    Disabled,
    /// The cache could not be reached.
    #[error("the cache is unavailable: {0}")]
    Cache(#[from] UpstashError),
}

/// Warms the cache of `service` as `config` says.
pub async fn warm(
    service: &StockDataService,
    config: &WarmConfig,
) -> Result<WarmReport, WarmError> {
    let started = Instant::now();
    let cache = service.cache().ok_or(WarmError::Disabled)?;
    let symbols = choose_symbols(cache, config).await?;
    let mut items: Vec<CacheItem> = vec![CacheItem::SymbolList];
    for symbol in &symbols {
        items.extend(CacheItem::of_symbol(symbol));
    }
    let stale = stale_items(service, cache, items, config.every).await?;
    let needs_work: BTreeSet<&str> = stale
        .iter()
        .filter_map(|(item, _)| item.symbol().map(Symbol::as_str))
        .collect();
    let skipped = symbols
        .iter()
        .filter(|s| !needs_work.contains(s.as_str()))
        .count();
    let (writes, failed) = load_phase(service, stale, config.concurrency).await;
    let written = write_phase(cache, &writes).await?;
    let list_written = written.contains(&&CacheItem::SymbolList);
    let warmed: BTreeSet<&str> = written
        .iter()
        .filter_map(|item| item.symbol().map(Symbol::as_str))
        .filter(|s| !failed.contains(*s))
        .collect();
    let report = WarmReport {
        warmed: warmed.len() + usize::from(list_written),
        skipped,
        failed: failed.into_iter().collect(),
        duration_ms: started.elapsed().as_millis() as u64,
    };
    tracing::info!(
        warmed = report.warmed,
        skipped = report.skipped,
        failed = report.failed.len(),
        duration_ms = report.duration_ms,
        "cache warmed"
    );
    Ok(report)
}

/// Reads `items` from storage, `concurrency` at a time: the values to
/// write, and the names of the items that failed (one failure never stops
/// the others).
async fn load_phase(
    service: &StockDataService,
    items: Vec<(CacheItem, String)>,
    concurrency: usize,
) -> (Vec<(CacheItem, Envelope)>, BTreeSet<String>) {
    let mut writes = Vec::new();
    let mut failed = BTreeSet::new();
    for (item, loaded) in service.load_tagged(items, concurrency).await {
        match loaded {
            Ok(entry) => writes.push((item, entry)),
            Err(error) => {
                let name = item
                    .symbol()
                    .map(Symbol::to_string)
                    .unwrap_or_else(|| "symbols:list".into());
                tracing::warn!(item = %name, error_kind = error.kind(), "warming failed for one item");
                failed.insert(name);
            }
        }
    }
    (writes, failed)
}

/// Writes `writes` in batches of [`PIPELINE_MAX`], each only if the data
/// generation is still `generation`; returns the items written.
async fn write_phase<'a>(
    cache: &ReadThrough,
    writes: &'a [(CacheItem, Envelope)],
) -> Result<Vec<&'a CacheItem>, WarmError> {
    let mut written = Vec::new();
    for chunk in writes.chunks(PIPELINE_MAX) {
        let entries: Vec<(String, &Envelope)> = chunk
            .iter()
            .map(|(item, entry)| (item.key(cache.keys()), entry))
            .collect();
        let stored = cache.store_tagged(&entries, false).await?;
        written.extend(
            chunk
                .iter()
                .zip(stored)
                .filter(|(_, stored)| *stored)
                .map(|((item, _), _)| item),
        );
    }
    Ok(written)
}

/// `WARM_SYMBOLS` first, then the most popular, without duplicates.
async fn choose_symbols(
    cache: &ReadThrough,
    config: &WarmConfig,
) -> Result<Vec<Symbol>, WarmError> {
    let mut symbols = config.symbols.clone();
    for symbol in cache.top_symbols(config.top_n).await? {
        if !symbols.contains(&symbol) {
            symbols.push(symbol);
        }
    }
    Ok(symbols)
}

/// The items whose key is missing or stops being fresh within `ahead` (by
/// `PTTL`), each with the tag its value must carry (read before any
/// storage read).
async fn stale_items(
    service: &StockDataService,
    cache: &ReadThrough,
    items: Vec<CacheItem>,
    ahead: Duration,
) -> Result<Vec<(CacheItem, String)>, WarmError> {
    let keys: Vec<String> = items.iter().map(|item| item.key(cache.keys())).collect();
    let (left, tags) = cache.time_left(&keys).await?;
    Ok(items
        .into_iter()
        .zip(left.into_iter().zip(tags))
        .filter(|(item, (left, _))| {
            let ttl = item.ttl(service.policy());
            let grace = service.policy().retention(ttl).saturating_sub(ttl);
            !left.is_some_and(|left| left > grace + ahead)
        })
        .map(|(item, (_, tag))| (item, tag))
        .collect())
}
