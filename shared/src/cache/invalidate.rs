//! Invalidation: removing what an update of the data set made stale.
//!
//! One invalidation is one MULTI/EXEC transaction per batch of symbols: one
//! `MSET` gives every affected generation key (`gen:sym:{SYMBOL}`,
//! `gen:list`, `gen:info`) and the data generation (`data:generation`) a
//! new token, and one `UNLINK` removes the affected values and refresh
//! locks. Replacing the tokens is what makes it safe against in-flight
//! reads: a refresh that read storage before the update writes a value
//! tagged with the old tokens, which no reader serves (see
//! [`super::tag`]); every container that sees the new data generation drops
//! its remembered manifest and its L1. Values that an update refreshes
//! ([`invalidate_keeping`]) are not unlinked: the refresh overwrites them
//! with `SET … XX`, so only what was cached is written again.

use std::collections::{BTreeMap, BTreeSet};

use super::ReadThrough;
use super::tag::tag_of;
use crate::generation::Token;
use crate::symbol::Symbol;
use crate::upstash::{Command, Reply, UpstashError};

/// Symbols per request: 1,000 generation keys set and up to 6,000 keys
/// unlinked, about 300 KB (under Upstash's 1 MB request limit).
const SYMBOLS_PER_REQUEST: usize = 1_000;
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
    /// Every symbol's info is invalidated (the manifest changed in ways not
    /// known in detail): `gen:info` is replaced, the values stay until they expire.
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

/// Replaces the generations of everything `what` names and unlinks its
/// values and locks.
///
/// Always sends at least one request (the data generation changes even
/// when nothing is named). On an error, the batches sent before it took effect.
pub async fn invalidate(
    cache: &ReadThrough,
    what: &Invalidation,
) -> Result<Invalidated, UpstashError> {
    Ok(invalidate_keeping(cache, what, &BTreeSet::new()).await?.0)
}

/// [`invalidate`], except that the values in `keep` are not unlinked; also
/// returns the tag each of them must carry when written after this
/// invalidation (read in the same transaction as the new tokens).
pub(crate) async fn invalidate_keeping(
    cache: &ReadThrough,
    what: &Invalidation,
    keep: &BTreeSet<String>,
) -> Result<(Invalidated, BTreeMap<String, String>), UpstashError> {
    let keys = cache.keys();
    let token = new_token();
    let symbols: Vec<&Symbol> = what.symbols.iter().collect();
    let mut batches: Vec<&[&Symbol]> = symbols.chunks(SYMBOLS_PER_REQUEST).collect();
    if batches.is_empty() {
        batches.push(&[]);
    }
    let mut done = Invalidated::default();
    let mut tags = BTreeMap::new();
    for (n, batch) in batches.into_iter().enumerate() {
        let mut generations: Vec<String> =
            batch.iter().map(|s| keys.symbol_generation(s)).collect();
        let mut targets: Vec<String> = batch.iter().flat_map(|s| keys.all_of_symbol(s)).collect();
        if n == 0 {
            if what.symbol_list {
                generations.push(keys.list_generation());
                targets.push(keys.symbol_list());
                targets.push(keys.lock_for(&keys.symbol_list()));
            }
            if what.all_symbol_info {
                generations.push(keys.info_generation());
            }
        }
        let (kept, targets): (Vec<String>, Vec<String>) =
            targets.into_iter().partition(|key| keep.contains(key));
        let (deleted, batch_tags) =
            replace_and_unlink(cache, &token, &generations, &targets, &kept).await?;
        done.keys_deleted += deleted;
        done.requests += 1;
        tags.extend(batch_tags);
    }
    cache.forget_local();
    Ok((done, tags))
}

/// One transaction: `MSET` the generation keys and the data generation to
/// `token`, `UNLINK targets`, and `MGET` the scopes of `kept`; returns the
/// keys deleted and the tag of each kept key.
async fn replace_and_unlink(
    cache: &ReadThrough,
    token: &str,
    generations: &[String],
    targets: &[String],
    kept: &[String],
) -> Result<(u64, BTreeMap<String, String>), UpstashError> {
    let keys = cache.keys();
    let mut mset = Command::new("MSET").arg(keys.generation()).arg(token);
    for key in generations {
        mset = mset.arg(key).arg(token);
    }
    let mut commands = vec![mset];
    if !targets.is_empty() {
        commands.push(Command::new("UNLINK").args(targets.iter().map(String::as_str)));
    }
    let scopes: BTreeSet<String> = kept.iter().flat_map(|k| keys.scopes_of(k)).collect();
    if !scopes.is_empty() {
        commands.push(Command::new("MGET").args(scopes.iter().map(String::as_str)));
    }
    let mut replies = cache.client().transaction(&commands).await?;
    let mut tags = BTreeMap::new();
    if !scopes.is_empty() {
        let tokens = replies
            .pop()
            .transpose()?
            .and_then(Reply::into_array)
            .filter(|t| t.len() == scopes.len())
            .ok_or_else(|| UpstashError::Decode("MGET of the scopes".into()))?;
        let token_of: BTreeMap<&String, Reply> = scopes.iter().zip(tokens).collect();
        for key in kept {
            let replies: Vec<Reply> = keys
                .scopes_of(key)
                .iter()
                .map(|scope| token_of.get(scope).cloned().unwrap_or(Reply::Nil))
                .collect();
            tags.insert(key.clone(), tag_of(&replies));
        }
    }
    let mut deleted = 0;
    for reply in replies {
        deleted += reply?.as_int().unwrap_or(0).max(0) as u64;
    }
    cache.observe(&Token::from_reply(Some(token)));
    Ok((deleted, tags))
}

/// Replaces the data generation and the epoch (part of every value's
/// tag), then unlinks every key under the prefix except those two
/// (`SCAN MATCH prefix*`, batched `UNLINK`). Never `FLUSHDB`: the database
/// may be shared.
pub async fn invalidate_everything(cache: &ReadThrough) -> Result<Invalidated, UpstashError> {
    let keys = cache.keys();
    let epoch = [keys.epoch()];
    let (first, _) = replace_and_unlink(cache, &new_token(), &epoch, &[], &[]).await?;
    let keep = [keys.generation(), keys.epoch()];
    let pattern = keys.scan_pattern();
    let (deleted, requests) = unlink_matching(cache, &pattern, &keep).await?;
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
    keep: &[String],
) -> Result<(u64, u64), UpstashError> {
    let mut deleted = 0u64;
    let mut requests = 0u64;
    let mut cursor = String::from("0");
    for _ in 0..SCAN_LIMIT {
        let (next, mut found) = scan(cache, &cursor, pattern).await?;
        requests += 1;
        found.retain(|key| !keep.contains(key));
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
