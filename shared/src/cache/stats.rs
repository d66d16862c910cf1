//! Per-container cache counters and symbol popularity, flushed to Redis
//! inside requests the cache sends anyway when a flush is due: the hit's
//! single request turned into a pipeline, or the miss's store pipeline. A
//! flush therefore never costs an extra round trip.
//!
//! Loss bound: a container that dies loses what it counted since its last
//! flush, at most `flush_requests` requests or `flush_interval` of traffic.
//! Popularity is approximate by design: each flush sends the counts of the
//! container's [`POPULAR_PER_FLUSH`] most requested symbols; rarer symbols
//! keep counting locally until they rank (or the container goes away).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::keys::KeySpace;
use crate::cache_status::CacheStatus;
use crate::upstash::Command;

/// Names of the global counters (`{prefix}stats:{name}`).
pub(super) const COUNTERS: [&str; 5] = ["hits", "misses", "stale", "errors", "bypass"];

/// Most distinct symbols remembered between flushes.
const MAX_POPULAR: usize = 1000;

/// Most symbols whose counts one flush sends (one `ZINCRBY` each).
pub(super) const POPULAR_PER_FLUSH: usize = 10;

/// Counters of this container since its last flush.
#[derive(Debug)]
pub(crate) struct LocalStats {
    counters: [AtomicU64; 5],
    popular: Mutex<HashMap<String, u64>>,
    recorded: AtomicU64,
    last_flush: Mutex<Instant>,
    flush_interval: Duration,
    flush_requests: u64,
}

impl Default for LocalStats {
    fn default() -> Self {
        Self::new(Duration::from_secs(30), 100)
    }
}

/// Counts taken out of [`LocalStats`] for one flush.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    /// hits, misses, stale, errors, bypass.
    pub counters: [u64; 5],
    /// Requests per symbol.
    pub popular: Vec<(String, u64)>,
}

impl Pending {
    /// True when there is nothing to flush.
    pub(crate) fn is_empty(&self) -> bool {
        self.counters.iter().all(|c| *c == 0) && self.popular.is_empty()
    }

    /// The commands that add these counts to the global ones.
    pub(crate) fn commands(&self, keys: &KeySpace) -> Vec<Command> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut commands: Vec<Command> = COUNTERS
            .iter()
            .zip(self.counters)
            .filter(|(_, v)| *v > 0)
            .map(|(name, v)| Command::new("INCRBY").arg(keys.stat(name)).arg(v))
            .collect();
        for (symbol, count) in &self.popular {
            commands.push(
                Command::new("ZINCRBY")
                    .arg(keys.popularity())
                    .arg(*count)
                    .arg(symbol.as_str()),
            );
        }
        commands.push(
            Command::new("SET")
                .arg(keys.stat("since"))
                .arg(now_rfc3339())
                .arg("NX"),
        );
        commands
    }
}

impl LocalStats {
    /// Counters flushed every `flush_interval` or `flush_requests` recorded outcomes.
    pub(crate) fn new(flush_interval: Duration, flush_requests: u64) -> Self {
        LocalStats {
            counters: Default::default(),
            popular: Mutex::new(HashMap::new()),
            recorded: AtomicU64::new(0),
            last_flush: Mutex::new(Instant::now()),
            flush_interval,
            flush_requests: flush_requests.max(1),
        }
    }

    /// Counts one outcome.
    pub(crate) fn record(&self, status: CacheStatus) {
        let index = match status {
            CacheStatus::Hit | CacheStatus::L1 => 0,
            CacheStatus::Miss => 1,
            CacheStatus::Stale => 2,
            CacheStatus::Bypass => 4,
        };
        self.counters[index].fetch_add(1, Ordering::Relaxed);
        self.recorded.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one failed cache call.
    pub(crate) fn record_error(&self) {
        self.counters[3].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request for `symbol` (popularity).
    pub(crate) fn record_symbol(&self, symbol: &str) {
        let mut popular = self.popular.lock().unwrap_or_else(|e| e.into_inner());
        if popular.len() < MAX_POPULAR || popular.contains_key(symbol) {
            *popular.entry(symbol.to_string()).or_insert(0) += 1;
        }
    }

    /// True when enough time or traffic passed since the last flush.
    pub(crate) fn flush_due(&self) -> bool {
        if self.recorded.load(Ordering::Relaxed) >= self.flush_requests {
            return true;
        }
        let last = *self.last_flush.lock().unwrap_or_else(|e| e.into_inner());
        last.elapsed() >= self.flush_interval && self.recorded.load(Ordering::Relaxed) > 0
    }

    /// Takes every count (resetting them) for a flush.
    pub(crate) fn take(&self) -> Pending {
        *self.last_flush.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.recorded.store(0, Ordering::Relaxed);
        let mut counters = [0; 5];
        for (slot, counter) in counters.iter_mut().zip(&self.counters) {
            *slot = counter.swap(0, Ordering::Relaxed);
        }
        // Popularity: only the most requested symbols go out with each flush,
        // so a flush costs a bounded number of commands (Upstash bills each
        // one); the others keep counting here and go out once they rank.
        let mut map = self.popular.lock().unwrap_or_else(|e| e.into_inner());
        let mut ranked: Vec<(String, u64)> = map.iter().map(|(s, c)| (s.clone(), *c)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(POPULAR_PER_FLUSH);
        for (symbol, _) in &ranked {
            map.remove(symbol);
        }
        Pending {
            counters,
            popular: ranked,
        }
    }

    /// Puts back counts whose flush failed, so nothing is lost to a failed request.
    pub(crate) fn restore(&self, pending: Pending) {
        for (counter, value) in self.counters.iter().zip(pending.counters) {
            counter.fetch_add(value, Ordering::Relaxed);
        }
        let mut popular = self.popular.lock().unwrap_or_else(|e| e.into_inner());
        for (symbol, count) in pending.popular {
            *popular.entry(symbol).or_insert(0) += count;
        }
    }
}

/// Now as RFC 3339 (UTC, seconds).
pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_restore_and_commands() {
        let stats = LocalStats::new(Duration::from_secs(3600), 3);
        stats.record(CacheStatus::Hit);
        stats.record(CacheStatus::L1);
        assert!(!stats.flush_due());
        stats.record(CacheStatus::Miss);
        assert!(stats.flush_due(), "due after flush_requests outcomes");
        stats.record_symbol("AAPL");
        stats.record_symbol("AAPL");
        stats.record_error();
        let pending = stats.take();
        assert_eq!(pending.counters, [2, 1, 0, 1, 0]);
        assert_eq!(pending.popular, vec![("AAPL".to_string(), 2)]);
        // Only the top POPULAR_PER_FLUSH symbols go out per flush, most requested first.
        for i in 0..(POPULAR_PER_FLUSH + 5) {
            for _ in 0..=i {
                stats.record_symbol(&format!("S{i:02}"));
            }
        }
        let first = stats.take().popular;
        assert_eq!(first.len(), POPULAR_PER_FLUSH);
        assert_eq!(first[0], ("S14".to_string(), 15));
        let second = stats.take().popular;
        assert_eq!(second.len(), 5, "the rest goes out with the next flush");
        assert_eq!(second[0], ("S04".to_string(), 5));
        assert!(!stats.flush_due());
        assert!(stats.take().is_empty());
        stats.restore(pending.clone());
        assert_eq!(stats.take(), pending);
        let keys = KeySpace::new("p:");
        let names: Vec<String> = pending
            .commands(&keys)
            .iter()
            .map(|c| c.to_json())
            .collect();
        assert_eq!(names.len(), 5, "{names:?}");
        assert!(names[0].contains("p:stats:hits"), "{names:?}");
        assert!(names[3].contains("ZINCRBY"), "{names:?}");
        assert!(
            names[4].contains("p:stats:since") && names[4].contains("NX"),
            "{names:?}"
        );
    }
}
