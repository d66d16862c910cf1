//! Per-container cache counters and symbol popularity, flushed to Redis
//! inside requests the cache sends anyway when a flush is due: the hit's
//! single request turned into a pipeline, or the miss's store pipeline. A
//! flush therefore never costs an extra round trip.
//!
//! Upstash bills every command, also each command inside a pipeline, a
//! transaction or (by its own published cost tables) a script. A flush is
//! therefore a fixed, small number of commands whatever it carries:
//! - one `BITFIELD … INCRBY i64 #n v …` adds every non-zero counter (the
//!   global ones and those per [`KeyKind`]), atomically;
//! - popularity, when there is any: `ZADD` of this container's counts to
//!   its own scratch key, `ZUNIONSTORE` of the ranking with it (a sum),
//!   `ZREMRANGEBYRANK` down to the [`POPULAR_KEPT`] most requested symbols,
//!   `UNLINK` of the scratch key;
//! - `SET since NX` with a container's first flush only.
//!
//! That is 5 commands (6 the first time); one `INCRBY`/`ZINCRBY` per count
//! cost up to 16 and, at low traffic, more than the reads themselves
//! (`bench --scenario traffic`). The cap keeps `ZUNIONSTORE`, which
//! rewrites the whole ranking, cheap whatever the number of symbols (on
//! Redis 7.0: 0.7 ms at 1,000 members; 4 ms at 5,000, 225 ms at 100,000).
//!
//! Loss bound: a container that dies loses what it counted since its last
//! flush, at most `flush_requests` requests or `flush_interval` of traffic.
//! Popularity is approximate by design: each flush sends the counts of the
//! container's [`POPULAR_PER_FLUSH`] most requested symbols; rarer symbols
//! keep counting locally until they rank (or the container goes away).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::keys::{KeyKind, KeySpace};
use crate::cache_status::CacheStatus;
use crate::upstash::Command;

/// The global counters, in the order of their slots in `{prefix}stats:counters`.
const COUNTERS: [&str; 5] = ["hits", "misses", "stale", "errors", "bypass"];

/// Outcomes also counted per [`KeyKind`] (slots after the global ones, see
/// [`kind_slot`]). Hits include L1 hits, as the global `hits` does.
const KIND_OUTCOMES: [&str; 3] = ["hits", "misses", "stale"];

/// Most distinct symbols remembered between flushes.
const MAX_POPULAR: usize = 1000;

/// Most symbols whose counts one flush sends.
const POPULAR_PER_FLUSH: usize = 50;

/// Most symbols the global ranking keeps (the least requested are dropped
/// after each flush). The warmer reads at most this many.
const POPULAR_KEPT: usize = 1_000;

/// Slots of the counters bitfield (`i64` each): [`COUNTERS`], then
/// [`KIND_OUTCOMES`] of each [`KeyKind`] in [`KeyKind::ALL`] order.
pub(super) const SLOTS: usize = COUNTERS.len() + KIND_OUTCOMES.len() * KeyKind::ALL.len();

/// The bitfield slot of `outcome` (index in [`KIND_OUTCOMES`]) for `kind`.
pub(super) fn kind_slot(kind: KeyKind, outcome: usize) -> usize {
    COUNTERS.len() + kind.index() * KIND_OUTCOMES.len() + outcome
}

/// Counters of this container since its last flush.
#[derive(Debug)]
pub(crate) struct LocalStats {
    counters: [AtomicU64; 5],
    by_kind: [[AtomicU64; 3]; 4],
    popular: Mutex<HashMap<String, u64>>,
    recorded: AtomicU64,
    last_flush: Mutex<Instant>,
    flush_interval: Duration,
    flush_requests: u64,
    /// This container's scratch key suffix for popularity flushes.
    scratch_id: String,
    /// Flushes taken so far: each gets its own scratch key, so two
    /// concurrent flushes of one container never share one.
    flushes: AtomicU64,
    /// `since` was sent (or is being sent) by this container.
    since_sent: AtomicBool,
}

impl Default for LocalStats {
    fn default() -> Self {
        Self::new(Duration::from_secs(60), 100)
    }
}

/// Counts taken out of [`LocalStats`] for one flush.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    /// hits, misses, stale, errors, bypass.
    pub counters: [u64; 5],
    /// [`KIND_OUTCOMES`] per [`KeyKind`] (indexed by [`KeyKind::index`]).
    pub by_kind: [[u64; 3]; 4],
    /// Requests per symbol.
    pub popular: Vec<(String, u64)>,
    /// This flush's popularity scratch key suffix.
    pub scratch_id: String,
    /// This flush also sets `since` when it is missing.
    pub set_since: bool,
}

impl Pending {
    /// True when there is nothing to flush.
    pub(crate) fn is_empty(&self) -> bool {
        self.counters.iter().all(|c| *c == 0)
            && self.by_kind.iter().flatten().all(|c| *c == 0)
            && self.popular.is_empty()
    }

    /// The commands that add these counts to the global ones (none when
    /// there is nothing to add): see the module documentation.
    pub(crate) fn commands(&self, keys: &KeySpace) -> Vec<Command> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut commands = Vec::new();
        let slots = self.counters.iter().chain(self.by_kind.iter().flatten());
        let increments: Vec<(usize, u64)> =
            slots.copied().enumerate().filter(|(_, v)| *v > 0).collect();
        if !increments.is_empty() {
            let mut add = Command::new("BITFIELD")
                .arg(keys.stats_counters())
                .arg("OVERFLOW")
                .arg("SAT");
            for (slot, value) in increments {
                add = add
                    .arg("INCRBY")
                    .arg("i64")
                    .arg(format!("#{slot}"))
                    .arg(value);
            }
            commands.push(add);
        }
        if !self.popular.is_empty() {
            let scratch = keys.stats_scratch(&self.scratch_id);
            let mut counts = Command::new("ZADD").arg(scratch.as_str());
            for (symbol, count) in &self.popular {
                counts = counts.arg(*count).arg(symbol.as_str());
            }
            commands.push(counts);
            commands.push(
                Command::new("ZUNIONSTORE")
                    .arg(keys.popularity())
                    .arg(2)
                    .arg(keys.popularity())
                    .arg(scratch.as_str()),
            );
            commands.push(
                Command::new("ZREMRANGEBYRANK")
                    .arg(keys.popularity())
                    .arg(0)
                    .arg(-(POPULAR_KEPT as i64) - 1),
            );
            commands.push(Command::new("UNLINK").arg(scratch));
        }
        if self.set_since {
            commands.push(
                Command::new("SET")
                    .arg(keys.stats_since())
                    .arg(now_rfc3339())
                    .arg("NX"),
            );
        }
        commands
    }
}

impl LocalStats {
    /// Counters flushed every `flush_interval` or `flush_requests` recorded outcomes.
    pub(crate) fn new(flush_interval: Duration, flush_requests: u64) -> Self {
        LocalStats {
            counters: Default::default(),
            by_kind: Default::default(),
            popular: Mutex::new(HashMap::new()),
            recorded: AtomicU64::new(0),
            last_flush: Mutex::new(Instant::now()),
            flush_interval,
            flush_requests: flush_requests.max(1),
            scratch_id: format!("{:016x}", fastrand::u64(..)),
            flushes: AtomicU64::new(0),
            since_sent: AtomicBool::new(false),
        }
    }

    /// Counts one outcome for a value of `kind` (`None`: counted globally only).
    pub(crate) fn record(&self, status: CacheStatus, kind: Option<KeyKind>) {
        let (index, outcome) = match status {
            CacheStatus::Hit | CacheStatus::L1 => (0, Some(0)),
            CacheStatus::Miss => (1, Some(1)),
            CacheStatus::Stale => (2, Some(2)),
            CacheStatus::Bypass => (4, None),
        };
        self.counters[index].fetch_add(1, Ordering::Relaxed);
        if let (Some(kind), Some(outcome)) = (kind, outcome) {
            self.by_kind[kind.index()][outcome].fetch_add(1, Ordering::Relaxed);
        }
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
        let mut by_kind = [[0; 3]; 4];
        for (slots, kind) in by_kind.iter_mut().zip(&self.by_kind) {
            for (slot, counter) in slots.iter_mut().zip(kind) {
                *slot = counter.swap(0, Ordering::Relaxed);
            }
        }
        // Popularity: only the most requested symbols go out with each flush,
        // so a flush stays small; the others keep counting here and go out
        // once they rank.
        let mut map = self.popular.lock().unwrap_or_else(|e| e.into_inner());
        let mut ranked: Vec<(String, u64)> = map.iter().map(|(s, c)| (s.clone(), *c)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(POPULAR_PER_FLUSH);
        for (symbol, _) in &ranked {
            map.remove(symbol);
        }
        let mut pending = Pending {
            counters,
            by_kind,
            popular: ranked,
            scratch_id: format!(
                "{}-{}",
                self.scratch_id,
                self.flushes.fetch_add(1, Ordering::Relaxed)
            ),
            set_since: false,
        };
        // `since` goes with the first flush that sends anything.
        pending.set_since = !pending.is_empty() && !self.since_sent.swap(true, Ordering::Relaxed);
        pending
    }

    /// Puts back counts whose flush failed, so nothing is lost to a failed request.
    pub(crate) fn restore(&self, pending: Pending) {
        if pending.set_since {
            self.since_sent.store(false, Ordering::Relaxed);
        }
        for (counter, value) in self.counters.iter().zip(pending.counters) {
            counter.fetch_add(value, Ordering::Relaxed);
        }
        for (kind, values) in self.by_kind.iter().zip(pending.by_kind) {
            for (counter, value) in kind.iter().zip(values) {
                counter.fetch_add(value, Ordering::Relaxed);
            }
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
    fn take_restore_and_counts_per_kind() {
        let stats = LocalStats::new(Duration::from_secs(3600), 3);
        stats.record(CacheStatus::Hit, Some(KeyKind::Latest));
        stats.record(CacheStatus::L1, Some(KeyKind::Latest));
        assert!(!stats.flush_due());
        stats.record(CacheStatus::Miss, Some(KeyKind::Info));
        assert!(stats.flush_due(), "due after flush_requests outcomes");
        stats.record(CacheStatus::Bypass, Some(KeyKind::Info));
        stats.record(CacheStatus::Stale, None);
        stats.record_symbol("AAPL");
        stats.record_symbol("AAPL");
        stats.record_error();
        let pending = stats.take();
        assert_eq!(pending.counters, [2, 1, 1, 1, 1]);
        assert_eq!(pending.by_kind, [[2, 0, 0], [0; 3], [0; 3], [0, 1, 0]]);
        assert_eq!(pending.popular, vec![("AAPL".to_string(), 2)]);
        assert!(!stats.flush_due());
        assert!(stats.take().is_empty());
        stats.restore(pending.clone());
        let retried = stats.take();
        assert_ne!(
            retried.scratch_id, pending.scratch_id,
            "one scratch key per flush"
        );
        assert_eq!(
            Pending {
                scratch_id: pending.scratch_id.clone(),
                ..retried
            },
            pending,
            "restored, `since` included"
        );
    }

    #[test]
    fn only_the_most_requested_symbols_go_out_per_flush() {
        let stats = LocalStats::default();
        for i in 0..(POPULAR_PER_FLUSH + 5) {
            for _ in 0..=i {
                stats.record_symbol(&format!("S{i:03}"));
            }
        }
        let first = stats.take().popular;
        assert_eq!(first.len(), POPULAR_PER_FLUSH);
        let top = POPULAR_PER_FLUSH + 4;
        assert_eq!(first[0], (format!("S{top:03}"), top as u64 + 1));
        let second = stats.take().popular;
        assert_eq!(second.len(), 5, "the rest goes out with the next flush");
        assert_eq!(second[0], ("S004".to_string(), 5));
        assert!(stats.take().popular.is_empty());
    }

    #[test]
    fn a_flush_is_a_fixed_number_of_commands() {
        let keys = KeySpace::new("p:");
        assert!(Pending::default().commands(&keys).is_empty());
        let mut by_kind = [[0; 3]; 4];
        by_kind[KeyKind::Recent.index()] = [1, 1, 0];
        let pending = Pending {
            counters: [3, 1, 0, 0, 0],
            by_kind,
            popular: vec![("AAPL".into(), 4), ("MSFT".into(), 1)],
            scratch_id: "c1".into(),
            set_since: true,
        };
        let args: Vec<Vec<String>> = pending
            .commands(&keys)
            .iter()
            .map(|c| {
                serde_json::from_str::<Vec<serde_json::Value>>(&c.to_json())
                    .unwrap()
                    .into_iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect()
            })
            .collect();
        let recent_hits = kind_slot(KeyKind::Recent, 0);
        assert_eq!(recent_hits, 8);
        assert_eq!(
            args[0],
            [
                "BITFIELD",
                "p:stats:counters",
                "OVERFLOW",
                "SAT",
                "INCRBY",
                "i64",
                "#0",
                "3",
                "INCRBY",
                "i64",
                "#1",
                "1",
                "INCRBY",
                "i64",
                "#8",
                "1",
                "INCRBY",
                "i64",
                "#9",
                "1"
            ]
        );
        assert_eq!(
            args[1],
            ["ZADD", "p:stats:scratch:c1", "4", "AAPL", "1", "MSFT"]
        );
        assert_eq!(
            args[2],
            [
                "ZUNIONSTORE",
                "p:stats:popular",
                "2",
                "p:stats:popular",
                "p:stats:scratch:c1"
            ]
        );
        assert_eq!(
            args[3],
            ["ZREMRANGEBYRANK", "p:stats:popular", "0", "-1001"]
        );
        assert_eq!(args[4], ["UNLINK", "p:stats:scratch:c1"]);
        assert_eq!(args[5][..2], ["SET", "p:stats:since"]);
        assert_eq!(args[5][3], "NX");
        assert_eq!(args.len(), 6);
        // Counters only, `since` already sent: one command.
        let counters_only = Pending {
            counters: [1, 0, 0, 0, 0],
            ..Pending::default()
        };
        assert_eq!(counters_only.commands(&keys).len(), 1);
        // Popularity only: no empty BITFIELD.
        let popularity_only = Pending {
            popular: vec![("AAPL".into(), 1)],
            ..Pending::default()
        };
        let names: Vec<String> = popularity_only
            .commands(&keys)
            .iter()
            .map(|c| c.to_json())
            .collect();
        assert!(names[0].starts_with(r#"["ZADD""#), "{names:?}");
        assert_eq!(names.len(), 4);
        assert_eq!(SLOTS, 17);
    }

    #[test]
    fn since_goes_with_the_first_flush_and_again_after_a_failed_one() {
        let stats = LocalStats::default();
        assert!(!stats.take().set_since, "an empty flush sends nothing");
        stats.record(CacheStatus::Hit, None);
        let first = stats.take();
        assert!(first.set_since);
        stats.restore(first);
        let retried = stats.take();
        assert!(
            retried.set_since,
            "the failed flush's `since` is sent again"
        );
        stats.record(CacheStatus::Hit, None);
        assert!(!stats.take().set_since);
    }
}
