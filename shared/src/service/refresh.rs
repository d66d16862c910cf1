//! Refresh on update: after a write, the new values of what the update
//! touched go into the cache instead of only being invalidated, so the
//! first request after an update is a hit with the new data.
//!
//! Order (see [`crate::cache::tag`] for why it is safe):
//! 1. The candidates: the touched symbols among the `CACHE_REFRESH_TOP_N`
//!    most requested (one `ZREVRANGE`), their three values, and the symbol
//!    list when the set of symbols changed.
//! 2. The invalidation (one transaction per 1,000 symbols) replaces every
//!    touched generation, unlinks the values that are not candidates and
//!    reads the tags the candidates must carry, in the same transaction.
//! 3. Storage reads of the candidates, after the new tokens: a slower
//!    update that read older data carries older tokens, so its values are
//!    dead; an update is never overwritten by data older than it.
//! 4. `SET … XX` per candidate: only values that were cached are written,
//!    so keys nobody asked for cost one command each and take no memory. A
//!    failed read leaves its key invalidated.
//!
//! Steps 3 and 4 go 100 values at a time in popularity order (the list
//! first), each batch written as soon as it is read: the most requested
//! values miss for well under a second after the invalidation, not for the
//! whole refresh (`bench --scenario storm`).

use std::collections::{BTreeMap, BTreeSet};

use super::{CacheItem, StockDataService};
use crate::cache::invalidate::invalidate_keeping;
use crate::cache::{Envelope, Invalidated, Invalidation, PIPELINE_MAX, ReadThrough};
use crate::upstash::{Command, UpstashError};

/// Storage reads of one refresh in flight at once.
const REFRESH_CONCURRENCY: usize = 16;

/// What an update did to the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpdateReport {
    /// The invalidation (keys unlinked, its requests).
    pub invalidated: Invalidated,
    /// Values written anew with the new data.
    pub refreshed: u64,
    /// Candidates that were not cached (their `SET … XX` wrote nothing).
    pub not_cached: u64,
    /// Candidates whose storage read failed (left invalidated).
    pub failed: u64,
    /// REST requests in all (the invalidation's included).
    pub requests: u64,
}

impl StockDataService {
    /// Tells the cache about an update that changed `what`: invalidates it
    /// and refreshes what was cached of its popular part (the module
    /// documentation says how). `None` when the cache is off.
    pub async fn apply_update(
        &self,
        what: &Invalidation,
    ) -> Result<Option<UpdateReport>, UpstashError> {
        let Some(cache) = self.cache() else {
            return Ok(None);
        };
        let (items, ranking_requests) = self.refresh_candidates(cache, what).await?;
        let keep: BTreeSet<String> = items.iter().map(|i| i.key(cache.keys())).collect();
        let (invalidated, tags) = invalidate_keeping(cache, what, &keep).await?;
        let mut report = UpdateReport {
            invalidated,
            requests: ranking_requests + invalidated.requests,
            ..UpdateReport::default()
        };
        let mut failed = Vec::new();
        for batch in items.chunks(PIPELINE_MAX) {
            let (entries, batch_failed) = self.read_anew(cache, batch.to_vec(), &tags).await;
            failed.extend(batch_failed);
            if entries.is_empty() {
                continue;
            }
            let writes: Vec<(String, &Envelope)> = entries
                .iter()
                .map(|(key, entry)| (key.clone(), entry))
                .collect();
            let written = cache.store_tagged(&writes, true).await?;
            report.requests += 1;
            let refreshed = written.iter().filter(|w| **w).count() as u64;
            report.refreshed += refreshed;
            report.not_cached += written.len() as u64 - refreshed;
        }
        if !failed.is_empty() {
            let unlink = Command::new("UNLINK").args(failed.iter().map(String::as_str));
            cache.client().command(&unlink).await?;
            report.requests += 1;
            report.failed = failed.len() as u64;
        }
        Ok(Some(report))
    }

    /// The values to refresh, and the requests it took to choose them.
    async fn refresh_candidates(
        &self,
        cache: &ReadThrough,
        what: &Invalidation,
    ) -> Result<(Vec<CacheItem>, u64), UpstashError> {
        let top_n = self.policy().refresh_top_n;
        let mut items = Vec::new();
        if top_n == 0 {
            return Ok((items, 0));
        }
        if what.symbol_list {
            items.push(CacheItem::SymbolList);
        }
        let mut requests = 0;
        if !what.symbols.is_empty() {
            requests += 1;
            for symbol in cache.top_symbols(top_n).await? {
                if what.symbols.contains(&symbol) {
                    items.extend(CacheItem::of_symbol(&symbol));
                }
            }
        }
        Ok((items, requests))
    }

    /// Reads `items` from storage, each tagged as `tags` says; returns the
    /// values (key, entry) and the keys whose read failed.
    async fn read_anew(
        &self,
        cache: &ReadThrough,
        items: Vec<CacheItem>,
        tags: &BTreeMap<String, String>,
    ) -> (Vec<(String, Envelope)>, Vec<String>) {
        let mut failed = Vec::new();
        let mut tagged = Vec::with_capacity(items.len());
        for item in items {
            let key = item.key(cache.keys());
            match tags.get(&key) {
                Some(tag) => tagged.push((item, tag.clone())),
                None => failed.push(key),
            }
        }
        let mut entries = Vec::new();
        for (item, loaded) in self.load_tagged(tagged, REFRESH_CONCURRENCY).await {
            let key = item.key(cache.keys());
            match loaded {
                Ok(entry) => entries.push((key, entry)),
                Err(error) => {
                    tracing::warn!(cache_key = %key, error_kind = error.kind(), "refresh on update: storage read failed; the value stays invalidated");
                    failed.push(key);
                }
            }
        }
        (entries, failed)
    }
}
