//! Invalidation: removing what an update of the data set made stale.
//!
//! One invalidation is one MULTI/EXEC transaction per batch of keys: it
//! replaces the data generation (`{prefix}data:generation`) and unlinks the
//! values and refresh locks of the affected symbols. Replacing the
//! generation is what makes it safe against in-flight reads: a refresh that
//! read storage before the update finds a different generation (and its
//! lock gone) when it tries to store, so it writes nothing; every container
//! that sees the new generation drops its remembered manifest and its L1.

use std::collections::BTreeSet;

use super::ReadThrough;
use crate::generation::Token;
use crate::symbol::Symbol;
use crate::upstash::{Command, Reply, UpstashError};

/// Keys unlinked per request (about 40 bytes each: well under Upstash's request size limits).
const KEYS_PER_REQUEST: usize = 6_000;
/// Keys asked for per `SCAN` when every symbol-info value goes.
const SCAN_BATCH: u64 = 500;
/// Most `SCAN` calls of one invalidation (a safety stop).
const SCAN_LIMIT: usize = 10_000;

/// What an update made stale.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invalidation {
    /// Symbols whose latest price, recent window and info go (with their locks).
    pub symbols: BTreeSet<Symbol>,
    /// The symbol list goes too (the manifest's set of symbols changed).
    pub symbol_list: bool,
    /// Every symbol's info goes (the manifest changed in ways not known in detail).
    pub all_symbol_info: bool,
}

impl Invalidation {
    /// Everything cached about `symbol`.
    pub fn symbol(symbol: Symbol) -> Self {
        Invalidation {
            symbols: BTreeSet::from([symbol]),
            ..Invalidation::default()
        }
    }

    /// Adds another invalidation to this one.
    pub fn merge(&mut self, other: Invalidation) {
        self.symbols.extend(other.symbols);
        self.symbol_list |= other.symbol_list;
        self.all_symbol_info |= other.all_symbol_info;
    }

    /// True when nothing is to be invalidated.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty() && !self.symbol_list && !self.all_symbol_info
    }
}

/// What an invalidation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Invalidated {
    /// Keys that existed and were unlinked.
    pub keys_deleted: u64,
    /// REST requests it took.
    pub requests: u64,
}

/// A fresh generation token.
fn new_token() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// Replaces the data generation and unlinks every key `what` names.
///
/// Always sends at least one request (the generation changes even when no
/// key is named). On an error, the batches sent before it took effect.
pub async fn invalidate(
    cache: &ReadThrough,
    what: &Invalidation,
) -> Result<Invalidated, UpstashError> {
    let keys = cache.keys();
    let mut targets: Vec<String> = what
        .symbols
        .iter()
        .flat_map(|symbol| keys.all_of_symbol(symbol))
        .collect();
    if what.symbol_list {
        targets.push(keys.symbol_list());
        targets.push(keys.lock_for(&keys.symbol_list()));
    }
    let mut done = Invalidated::default();
    let mut batches: Vec<&[String]> = targets.chunks(KEYS_PER_REQUEST).collect();
    if batches.is_empty() {
        batches.push(&[]);
    }
    for batch in batches {
        done.keys_deleted += replace_generation_and_unlink(cache, batch).await?;
        done.requests += 1;
    }
    if what.all_symbol_info {
        let pattern = keys.symbol_info_pattern();
        let (deleted, requests) = unlink_matching(cache, &pattern, None).await?;
        done.keys_deleted += deleted;
        done.requests += requests;
    }
    cache.forget_local();
    Ok(done)
}

/// One transaction: `SET generation <new>` and `UNLINK keys…`; returns the keys deleted.
async fn replace_generation_and_unlink(
    cache: &ReadThrough,
    batch: &[String],
) -> Result<u64, UpstashError> {
    let token = new_token();
    let mut commands = vec![
        Command::new("SET")
            .arg(cache.keys().generation())
            .arg(token.as_str()),
    ];
    if !batch.is_empty() {
        commands.push(Command::new("UNLINK").args(batch.iter().map(String::as_str)));
    }
    let mut deleted = 0;
    for reply in cache.client().transaction(&commands).await? {
        deleted += reply?.as_int().unwrap_or(0).max(0) as u64;
    }
    cache.observe(&Token::from_reply(Some(&token)));
    Ok(deleted)
}

/// Replaces the generation, then unlinks every key under the prefix except
/// the generation itself (`SCAN MATCH prefix*`, batched `UNLINK`). Never
/// `FLUSHDB`: the database may be shared.
pub async fn invalidate_everything(cache: &ReadThrough) -> Result<Invalidated, UpstashError> {
    let first = replace_generation_and_unlink(cache, &[]).await?;
    let keep = cache.keys().generation();
    let pattern = cache.keys().scan_pattern();
    let (deleted, requests) = unlink_matching(cache, &pattern, Some(&keep)).await?;
    cache.forget_local();
    Ok(Invalidated {
        keys_deleted: first + deleted,
        requests: requests + 1,
    })
}

/// `SCAN MATCH pattern` and `UNLINK` each batch (except `keep`); returns (deleted, requests).
async fn unlink_matching(
    cache: &ReadThrough,
    pattern: &str,
    keep: Option<&str>,
) -> Result<(u64, u64), UpstashError> {
    let mut deleted = 0u64;
    let mut requests = 0u64;
    let mut cursor = String::from("0");
    for _ in 0..SCAN_LIMIT {
        let (next, mut found) = scan(cache, &cursor, pattern).await?;
        requests += 1;
        found.retain(|key| Some(key.as_str()) != keep);
        if !found.is_empty() {
            let unlink = Command::new("UNLINK").args(found.iter().map(String::as_str));
            let reply = cache.client().command(&unlink).await?;
            requests += 1;
            deleted += reply.as_int().unwrap_or(0).max(0) as u64;
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    Ok((deleted, requests))
}

/// One `SCAN cursor MATCH pattern COUNT n`: the next cursor and the keys found.
pub(super) async fn scan(
    cache: &ReadThrough,
    cursor: &str,
    pattern: &str,
) -> Result<(String, Vec<String>), UpstashError> {
    let command = Command::new("SCAN")
        .arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(SCAN_BATCH);
    let reply = cache.client().command(&command).await?;
    let bad = || UpstashError::Decode("unexpected SCAN reply".into());
    let mut parts = reply.into_array().ok_or_else(bad)?.into_iter();
    let next = parts
        .next()
        .and_then(|r| r.as_str().map(str::to_owned))
        .ok_or_else(bad)?;
    let keys = parts
        .next()
        .and_then(Reply::into_array)
        .ok_or_else(bad)?
        .into_iter()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    Ok((next, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_merge() {
        let aapl = Symbol::parse("AAPL").unwrap();
        let ibm = Symbol::parse("IBM").unwrap();
        let mut all = Invalidation::symbol(aapl.clone());
        assert!(!all.is_empty());
        all.merge(Invalidation {
            symbols: BTreeSet::from([ibm.clone()]),
            symbol_list: true,
            all_symbol_info: false,
        });
        assert_eq!(all.symbols, BTreeSet::from([aapl, ibm]));
        assert!(all.symbol_list);
        assert!(!all.all_symbol_info);
        assert!(Invalidation::default().is_empty());
        assert_ne!(new_token(), new_token());
    }
}
