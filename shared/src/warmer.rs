//! Cache warming: refresh the values of chosen and popular symbols before
//! users ask for them.
//!
//! 1. Symbols: `WARM_SYMBOLS` ∪ the top `WARM_TOP_N` of the popularity ranking (one request).
//! 2. Freshness: `PTTL` of every key, pipelined (one request per 100 keys),
//!    with the data generation read in the first request. A key whose
//!    remaining life exceeds its stale grace is still fresh and is skipped,
//!    so warming twice within the fresh TTL reads no storage.
//! 3. Storage reads for the rest, `WARM_CONCURRENCY` at a time; one failure
//!    never stops the others.
//! 4. Writes of at most 100 values per request, each batch one script call
//!    that writes only if the data generation is still the one read in
//!    step 2: values read before an invalidation are never written after it.

use std::collections::BTreeSet;
use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;

use crate::admin::WarmConfig;
use crate::cache::{Envelope, PIPELINE_MAX, ReadThrough, now_ms};
use crate::generation::Token;
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
    let (stale, generation) = stale_items(service, cache, items).await?;
    let needs_work: BTreeSet<&str> = stale
        .iter()
        .filter_map(|item| item.symbol().map(Symbol::as_str))
        .collect();
    let skipped = symbols
        .iter()
        .filter(|s| !needs_work.contains(s.as_str()))
        .count();
    let (writes, failed) = load_phase(service, stale, config.concurrency).await;
    let written = write_phase(cache, &writes, &generation).await?;
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
    items: Vec<CacheItem>,
    concurrency: usize,
) -> (Vec<(CacheItem, Envelope)>, BTreeSet<String>) {
    let loads = futures::stream::iter(items.into_iter().map(|item| async move {
        let begun = Instant::now();
        let loaded = service.load(&item).await;
        (item, loaded, begun.elapsed())
    }))
    .buffer_unordered(concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    let mut writes = Vec::new();
    let mut failed = BTreeSet::new();
    for (item, loaded, delta) in loads {
        match loaded {
            Ok(body) => {
                let entry = Envelope {
                    stored_at_ms: now_ms(),
                    fresh_ttl: item.ttl(service.policy()),
                    delta,
                    body,
                };
                writes.push((item, entry));
            }
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
    generation: &Token,
) -> Result<Vec<&'a CacheItem>, WarmError> {
    let mut written = Vec::new();
    for chunk in writes.chunks(PIPELINE_MAX) {
        let entries: Vec<(String, &Envelope)> = chunk
            .iter()
            .map(|(item, entry)| (item.key(cache.keys()), entry))
            .collect();
        if cache.store_if_current(&entries, generation).await? == chunk.len() {
            written.extend(chunk.iter().map(|(item, _)| item));
        } else {
            tracing::info!(
                values = chunk.len(),
                "warmed values not written: the data was invalidated while they were read"
            );
        }
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

/// The items whose key is missing or past its fresh life (by `PTTL`), and
/// the data generation read with them.
async fn stale_items(
    service: &StockDataService,
    cache: &ReadThrough,
    items: Vec<CacheItem>,
) -> Result<(Vec<CacheItem>, Token), WarmError> {
    let keys: Vec<String> = items.iter().map(|item| item.key(cache.keys())).collect();
    let (left, generation) = cache.time_left(&keys).await?;
    let stale = items
        .into_iter()
        .zip(left)
        .filter(|(item, left)| {
            let ttl = item.ttl(service.policy());
            let grace = service.policy().retention(ttl).saturating_sub(ttl);
            !left.is_some_and(|left| left > grace)
        })
        .map(|(item, _)| item)
        .collect();
    Ok((stale, generation))
}
