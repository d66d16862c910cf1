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
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use crate::admin::WarmConfig;
use crate::cache::{Envelope, ReadThrough, now_ms};
use crate::generation::Token;
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
    let (stale, generation) = stale_items(service, cache, items).await?;

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
    let mut writes: Vec<(CacheItem, Envelope)> = Vec::new();
    for (item, loaded, delta) in loads {
        match loaded {
            Ok(body) => {
                let ttl = item.ttl(service.policy());
                let entry = Envelope {
                    stored_at_ms: now_ms(),
                    fresh_ttl: ttl,
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
    let written = write_current(cache, &writes, &generation).await?;
    let list_written = written.contains(&&CacheItem::SymbolList);
    let warmed: BTreeSet<&str> = written
        .iter()
        .filter_map(|item| item.symbol().map(Symbol::as_str))
        .filter(|s| !failed.contains(*s))
        .collect();
    report.warmed = warmed.len() + usize::from(list_written);
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

/// Writes `writes` in batches of [`PIPELINE_MAX`], each only if the data
/// generation is still `generation`; returns the items written.
async fn write_current<'a>(
    cache: &ReadThrough,
    writes: &'a [(CacheItem, Envelope)],
    generation: &Token,
) -> Result<Vec<&'a CacheItem>, WarmError> {
    let mut written = Vec::new();
    for chunk in writes.chunks(PIPELINE_MAX) {
        let entries: Vec<(String, Envelope)> = chunk
            .iter()
            .map(|(item, entry)| (item.key(cache.keys()), entry.clone()))
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

/// The items whose key is missing or past its fresh life (by `PTTL`), and
/// the data generation read with the first batch (observed by the cache,
/// so the storage reads that follow use a current manifest).
async fn stale_items(
    service: &StockDataService,
    cache: &ReadThrough,
    items: Vec<CacheItem>,
) -> Result<(Vec<CacheItem>, Token), WarmError> {
    let mut stale = Vec::new();
    let mut generation = Token::Unknown;
    for (n, chunk) in items.chunks(PIPELINE_MAX).enumerate() {
        let mut commands: Vec<Command> = chunk
            .iter()
            .map(|item| Command::new("PTTL").arg(item.key(cache.keys())))
            .collect();
        if n == 0 {
            commands.push(Command::new("GET").arg(cache.keys().generation()));
        }
        let mut replies = cache.client().pipeline(&commands).await?;
        if n == 0 {
            let reply = replies.pop().transpose()?;
            generation = Token::from_reply(reply.as_ref().and_then(Reply::as_str));
            cache.observe(&generation);
        }
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
    Ok((stale, generation))
}
