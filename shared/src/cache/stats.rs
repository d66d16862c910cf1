//! Per-container cache counters, flushed to Redis inside pipelines that a
//! request sends anyway.

use std::sync::atomic::{AtomicU64, Ordering};

use super::keys::KeySpace;
use crate::http::CacheStatus;
use crate::upstash::Command;

/// Counters of this container since its last flush.
#[derive(Debug, Default)]
pub struct LocalStats {
    hits: AtomicU64,
    misses: AtomicU64,
    stale: AtomicU64,
    errors: AtomicU64,
    bypass: AtomicU64,
}

/// A snapshot of [`LocalStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Redis and L1 hits.
    pub hits: u64,
    /// Misses (storage read).
    pub misses: u64,
    /// Stale values served.
    pub stale: u64,
    /// Failed cache calls.
    pub errors: u64,
    /// Requests answered without the cache.
    pub bypass: u64,
}

impl LocalStats {
    /// Counts one outcome.
    pub fn record(&self, status: CacheStatus) {
        let counter = match status {
            CacheStatus::Hit | CacheStatus::L1 => &self.hits,
            CacheStatus::Miss => &self.misses,
            CacheStatus::Stale => &self.stale,
            CacheStatus::Bypass => &self.bypass,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one failed cache call.
    pub fn record_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now, without resetting them.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            bypass: self.bypass.load(Ordering::Relaxed),
        }
    }

    /// Takes the counters (resetting them) as `INCRBY` commands for a pipeline.
    pub fn drain_commands(&self, keys: &KeySpace) -> Vec<Command> {
        let mut commands = Vec::new();
        for (name, counter) in [
            ("hits", &self.hits),
            ("misses", &self.misses),
            ("stale", &self.stale),
            ("errors", &self.errors),
        ] {
            let value = counter.swap(0, Ordering::Relaxed);
            if value > 0 {
                commands.push(Command::new("INCRBY").arg(keys.stat(name)).arg(value));
            }
        }
        self.bypass.store(0, Ordering::Relaxed);
        commands
    }
}
