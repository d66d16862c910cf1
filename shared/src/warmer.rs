//! Cache warming: refresh the values of chosen and popular symbols before
//! users ask for them.
//!
//! 1. Symbols: `WARM_SYMBOLS` ∪ the top `WARM_TOP_N` of the popularity ranking (one request).
//! 2. Freshness: `PTTL` of every key, pipelined (one request per 100 keys).
//!    A key whose remaining life exceeds its stale grace is still fresh and is
//!    skipped, so warming twice within the fresh TTL reads no storage.
//! 3. Storage reads for the rest, `WARM_CONCURRENCY` at a time; one failure
//!    never stops the others.
//! 4. Writes in pipelines of at most 100 `SET`s.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use crate::admin::WarmConfig;
use crate::cache::{EntryKind, Envelope, ReadThrough, now_ms};
use crate::service::{CacheItem, StockDataService};
use crate::symbol::Symbol;
use crate::upstash::{Command, Reply, UpstashError};

/// Most commands in one pipeline.
pub const PIPELINE_MAX: usize = 100;

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
    let stale = stale_items(service, cache, items).await?;

    let mut report = WarmReport::default();
    let mut needs_work: BTreeSet<String> = BTreeSet::new();
    for item in &stale {
        if let Some(symbol) = item.symbol() {
            needs_work.insert(symbol.to_string());
        }
    }
    report.skipped = symbols
        .iter()
        .filter(|s| !needs_work.contains(s.as_str()))
        .count();

    let loads = futures::stream::iter(stale.into_iter().map(|item| async move {
        let begun = Instant::now();
        let loaded = service.load(&item).await;
        (item, loaded, begun.elapsed())
    }))
    .buffer_unordered(config.concurrency.max(1))
    .collect::<Vec<_>>()
    .await;

    let mut failed: BTreeSet<String> = BTreeSet::new();
    let mut writes = Vec::new();
    let mut list_written = false;
    for (item, loaded, delta) in loads {
        match loaded {
            Ok(body) => {
                let ttl = item.ttl(service.policy());
                let entry = Envelope {
                    stored_at_ms: now_ms(),
                    fresh_ttl: ttl,
                    delta,
                    kind: EntryKind::Value,
                    body,
                };
                let retention = service.policy().retention(ttl);
                writes.push(
                    Command::new("SET")
                        .arg(item.key(cache.keys()))
                        .arg(entry.encode())
                        .arg("PX")
                        .arg(retention.as_millis() as u64),
                );
                list_written |= item == CacheItem::SymbolList;
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
    for chunk in writes.chunks(PIPELINE_MAX) {
        for reply in cache.client().pipeline(chunk).await? {
            reply?;
        }
    }
    report.warmed =
        needs_work.iter().filter(|s| !failed.contains(*s)).count() + usize::from(list_written);
    report.failed = failed.into_iter().collect();
    report.duration_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        warmed = report.warmed,
        skipped = report.skipped,
        failed = report.failed.len(),
        duration_ms = report.duration_ms,
        "cache warmed"
    );
    Ok(report)
}

/// `WARM_SYMBOLS` first, then the most popular, without duplicates.
async fn choose_symbols(
    cache: &ReadThrough,
    config: &WarmConfig,
) -> Result<Vec<Symbol>, WarmError> {
    let mut symbols = config.symbols.clone();
    if config.top_n > 0 {
        let top = Command::new("ZREVRANGE")
            .arg(cache.keys().popularity())
            .arg(0)
            .arg(config.top_n as u64 - 1);
        let reply = cache.client().command(&top).await?;
        for member in reply.into_array().unwrap_or_default() {
            if let Some(symbol) = member.as_str().and_then(|s| Symbol::parse(s).ok())
                && !symbols.contains(&symbol)
            {
                symbols.push(symbol);
            }
        }
    }
    Ok(symbols)
}

/// The items whose key is missing or past its fresh life (by `PTTL`).
async fn stale_items(
    service: &StockDataService,
    cache: &ReadThrough,
    items: Vec<CacheItem>,
) -> Result<Vec<CacheItem>, WarmError> {
    let mut stale = Vec::new();
    for chunk in items.chunks(PIPELINE_MAX) {
        let commands: Vec<Command> = chunk
            .iter()
            .map(|item| Command::new("PTTL").arg(item.key(cache.keys())))
            .collect();
        let replies = cache.client().pipeline(&commands).await?;
        for (item, reply) in chunk.iter().zip(replies) {
            let ttl = item.ttl(service.policy());
            let grace = service.policy().retention(ttl).saturating_sub(ttl);
            let left = reply.ok().as_ref().and_then(Reply::as_int).unwrap_or(-2);
            let fresh = left > 0 && Duration::from_millis(left as u64) > grace;
            if !fresh {
                stale.push(item.clone());
            }
        }
    }
    Ok(stale)
}
