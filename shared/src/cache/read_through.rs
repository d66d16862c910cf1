//! Read-through caching with stampede protection, stale-while-revalidate,
//! stale-if-error, an in-process L1 and a circuit breaker.
//!
//! Request counts (REST requests to Upstash; no scripts anywhere):
//! - L1 hit: 0. Hit: 1 (`MGET value scopes… generation`: one command, see
//!   [`super::tag`]).
//! - Unknown symbol: 1 (the `MGET`); the container's manifest answers, no
//!   key is written.
//! - Miss: 3 requests, 1 + 3 commands: the `MGET`, `SET lock NX PX`, then
//!   one pipeline of `SET value PX` and `DEL lock`. The value carries the
//!   tag of the generations the `MGET` saw; an invalidation in between
//!   replaces one of them, so a value read before an update is dead on
//!   arrival: no reader ever serves it (and it is not kept in L1 beyond
//!   `CACHE_L1_TTL_S` from the `MGET`).
//! - Miss that lost the lock: `MGET`, `SET NX`, then up to
//!   `miss_wait_polls` `MGET`s of the value and its scopes while the winner
//!   computes; after that it reads storage itself rather than fail.
//! - Stale hit: 1 + 1 (`SET NX`); the lock winner refreshes, everyone else
//!   serves the stale value at once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::breaker::{BreakerState, CircuitBreaker};
use super::config::CacheConfig;
use super::envelope::Envelope;
use super::keys::KeySpace;
use super::l1::L1Cache;
use super::stats::{LocalStats, Pending};
use super::tag::tag_of;
use crate::cache_status::CacheStatus;
use crate::generation::{Generation, Token};
use crate::upstash::{Command, Reply, UpstashClient, UpstashError};

/// A value found or computed, and how.
#[derive(Clone, Debug)]
pub struct Lookup {
    /// The entry (a JSON body or a negative entry).
    pub entry: Arc<Envelope>,
    /// How it was served.
    pub status: CacheStatus,
}

impl Lookup {
    /// Seconds of freshness left (0 for stale values).
    pub fn fresh_left_secs(&self) -> u64 {
        if self.status == CacheStatus::Stale {
            return 0;
        }
        self.entry.expires_at_ms().saturating_sub(now_ms()) / 1000
    }
}

/// What the cache needs to know of a failed read of the backing store
/// (the service implements it for storage errors; the cache does not
/// depend on storage).
pub trait LoadFailure {
    /// The thing does not exist: answered at once, never served stale.
    fn is_not_found(&self) -> bool;
    /// Short, stable name of the failure, for logs.
    fn kind(&self) -> &'static str;
}

/// Reads one value from the backing store: its JSON body, or why not.
pub trait Load<E>: AsyncFnOnce() -> Result<String, E> {}

impl<E, F: AsyncFnOnce() -> Result<String, E>> Load<E> for F {}

/// What one lookup (`MGET value scopes… generation`) found.
struct Fetched {
    /// The value, when present and tagged with the current generations.
    value: Option<Arc<Envelope>>,
    /// The tag of the current generations: what a value read now carries.
    tag: String,
    /// When the lookup was sent (Redis said the value was current after this).
    sent: Instant,
}

/// A refresh lock won: the value key and the tag of the generations seen
/// before the storage read.
struct Lease<'a> {
    key: &'a str,
    tag: String,
    /// When the lookup that saw those generations was sent.
    looked_up: Instant,
}

/// The outcome of trying to take a refresh lock.
enum LockAttempt {
    Won,
    Lost,
    Failed,
}

/// The read-through cache over one Upstash client. One per container.
#[derive(Debug)]
pub struct ReadThrough {
    client: UpstashClient,
    config: CacheConfig,
    keys: KeySpace,
    l1: L1Cache,
    breaker: CircuitBreaker,
    stats: LocalStats,
    /// The generation this cache last saw (a change clears the L1).
    seen: Generation,
    /// The same observation, shared with this container's storage reader.
    storage_generation: Arc<Generation>,
    busy_micros: AtomicU64,
    failures: AtomicU64,
}

impl ReadThrough {
    /// A cache over `client` with `config`. Every generation it sees is
    /// passed on to `storage_generation` (the storage reader's, see
    /// [`crate::storage::StockStore::generation`]).
    pub fn new(
        client: UpstashClient,
        config: CacheConfig,
        storage_generation: Arc<Generation>,
    ) -> Self {
        ReadThrough {
            seen: Generation::default(),
            storage_generation,
            keys: KeySpace::new(config.key_prefix.clone()),
            l1: L1Cache::new(config.l1_max_entries, config.l1_ttl),
            breaker: CircuitBreaker::new(config.breaker_failures, config.breaker_cooldown),
            stats: LocalStats::new(config.stats_flush_interval, config.stats_flush_requests),
            busy_micros: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            client,
            config,
        }
    }

    /// The key scheme.
    pub fn keys(&self) -> &KeySpace {
        &self.keys
    }

    /// The client (for this module's management and warming operations).
    pub(crate) fn client(&self) -> &UpstashClient {
        &self.client
    }

    /// The policy.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Entries in this container's L1.
    pub fn l1_len(&self) -> usize {
        self.l1.len()
    }

    /// This container's breaker state.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// This container's counters not yet flushed.
    pub(crate) fn stats(&self) -> &LocalStats {
        &self.stats
    }

    /// Total time spent waiting on cache calls, in µs (for per-invocation metrics).
    pub fn busy_micros(&self) -> u64 {
        self.busy_micros.load(Ordering::Relaxed)
    }

    /// Failed cache calls since the container started (for per-invocation metrics).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Drops this container's L1 (after an invalidation it sent itself).
    pub(crate) fn forget_local(&self) {
        self.l1.clear();
    }

    /// Counts a request for `symbol` in the popularity ranking.
    pub fn note_symbol(&self, symbol: &str) {
        self.stats.record_symbol(symbol);
    }

    /// Sends this container's unflushed counters now (one pipeline; nothing when empty).
    pub async fn flush_stats(&self) -> Result<(), UpstashError> {
        let pending = self.stats.take();
        let commands = pending.commands(&self.keys);
        if commands.is_empty() {
            return Ok(());
        }
        match self.client.pipeline(&commands).await {
            Ok(_) => Ok(()),
            Err(error) => {
                self.stats.restore(pending);
                Err(error)
            }
        }
    }

    /// Runs one cache call, recording its outcome in the breaker and its time.
    async fn call<T>(
        &self,
        what: &'static str,
        fut: impl Future<Output = Result<T, UpstashError>>,
    ) -> Option<T> {
        let started = Instant::now();
        let result = fut.await;
        self.busy_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match result {
            Ok(value) => {
                self.breaker.record_success();
                Some(value)
            }
            Err(error) => {
                self.failure(what, &error);
                None
            }
        }
    }

    fn failure(&self, what: &'static str, error: &UpstashError) {
        self.breaker.record_failure();
        self.stats.record_error();
        self.failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            cache_op = what,
            error_kind = error.kind(),
            breaker = self.breaker.state().as_str(),
            "cache call failed; answering from storage"
        );
    }

    /// Records the generation seen in a reply: a change clears this
    /// container's L1 and makes its storage reader drop its manifest.
    pub(crate) fn observe(&self, generation: &Token) {
        if self.seen.observe(generation.clone()) {
            self.l1.clear();
        }
        self.storage_generation.observe(generation.clone());
    }

    /// The value of `key`, from L1, Redis or `load` (which reads storage).
    ///
    /// On a miss, `check` runs first (without a lock; it may use the
    /// container's manifest, which is current after the generation check):
    /// its not-found failure answers at once and nothing is
    /// written. `load` returns the JSON body, or an error (never cached; a
    /// stale value is served instead when one exists).
    pub async fn get_or_load<E: LoadFailure>(
        &self,
        key: &str,
        fresh_ttl: Duration,
        check: impl AsyncFnOnce() -> Result<(), E>,
        load: impl Load<E>,
    ) -> Result<Lookup, E> {
        let now = now_ms();
        if let Some(lookup) = self.l1_hit(key, now) {
            return Ok(lookup);
        }
        if !self.breaker.allow() {
            return self.bypass(key, fresh_ttl, load).await;
        }
        let Some(Fetched { value, tag, sent }) = self.get_with_flush(key).await else {
            return self.bypass(key, fresh_ttl, load).await;
        };
        let lease = Lease {
            key,
            tag,
            looked_up: sent,
        };
        match value {
            Some(entry) if now < entry.expires_at_ms() => {
                if self.should_refresh_early(&entry, now)
                    && let LockAttempt::Won = self.try_lock(key).await
                {
                    return self.refresh(lease, fresh_ttl, load, Some(entry)).await;
                }
                Ok(self.hit(key, entry, sent))
            }
            Some(stale) => match self.try_lock(key).await {
                LockAttempt::Won => self.refresh(lease, fresh_ttl, load, Some(stale)).await,
                LockAttempt::Lost | LockAttempt::Failed => Ok(self.stale(key, stale)),
            },
            None => {
                check().await?;
                match self.try_lock(key).await {
                    LockAttempt::Won => self.refresh(lease, fresh_ttl, load, None).await,
                    LockAttempt::Lost => self.wait_for_winner(key, fresh_ttl, load).await,
                    LockAttempt::Failed => self.bypass(key, fresh_ttl, load).await,
                }
            }
        }
    }

    /// A value this container's L1 holds and that is still fresh.
    fn l1_hit(&self, key: &str, now: u64) -> Option<Lookup> {
        let entry = self.l1.get(key).filter(|e| now < e.expires_at_ms())?;
        self.count(CacheStatus::L1, key);
        Some(Lookup {
            entry,
            status: CacheStatus::L1,
        })
    }

    /// A fresh value from Redis (current when `sent`): kept in L1 and counted.
    fn hit(&self, key: &str, entry: Arc<Envelope>, sent: Instant) -> Lookup {
        let lookup = Lookup {
            entry,
            status: CacheStatus::Hit,
        };
        self.remember(key, &lookup, sent);
        self.count(CacheStatus::Hit, key);
        lookup
    }

    /// Counts one answer for `key` (globally and for the key's kind).
    fn count(&self, status: CacheStatus, key: &str) {
        self.stats.record(status, self.keys.kind_of(key));
    }

    /// A stale value served while someone else refreshes it.
    fn stale(&self, key: &str, entry: Arc<Envelope>) -> Lookup {
        self.count(CacheStatus::Stale, key);
        Lookup {
            entry,
            status: CacheStatus::Stale,
        }
    }

    /// `MGET key scopes… generation` — as a single command, or, when the
    /// counters are due for a flush, as a pipeline of the `MGET` and the
    /// counter commands: still one REST request.
    async fn get_with_flush(&self, key: &str) -> Option<Fetched> {
        let scopes = self.keys.scopes_of(key);
        let get = Command::new("MGET")
            .arg(key)
            .args(scopes.iter().map(String::as_str))
            .arg(self.keys.generation());
        let sent = Instant::now();
        let reply = if !self.stats.flush_due() {
            self.call("get", self.client.command(&get)).await?
        } else {
            let pending = self.stats.take();
            let mut commands = vec![get];
            commands.extend(pending.commands(&self.keys));
            match self.call("get", self.client.pipeline(&commands)).await {
                Some(mut replies) if !replies.is_empty() => match replies.swap_remove(0) {
                    Ok(reply) => reply,
                    Err(error) => {
                        self.failure("get", &error);
                        return None;
                    }
                },
                _ => {
                    self.stats.restore(pending);
                    return None;
                }
            }
        };
        let Some(mut replies) = reply
            .into_array()
            .filter(|replies| replies.len() == scopes.len() + 2)
        else {
            self.failure(
                "get",
                &UpstashError::Decode("MGET did not answer one value per key".into()),
            );
            return None;
        };
        let generation = replies.pop().map(|g| Token::from_reply(g.as_str()))?;
        self.observe(&generation);
        let value = replies.remove(0);
        let tag = tag_of(&replies);
        Some(Fetched {
            value: self.decode_current(key, value, &tag),
            tag,
            sent,
        })
    }

    /// The value of a reply when it carries `tag` (the current generations);
    /// a value read before an update is `None`, like a missing one.
    fn decode_current(&self, key: &str, reply: Reply, tag: &str) -> Option<Arc<Envelope>> {
        self.decode(key, reply).filter(|entry| entry.tag == tag)
    }

    /// Decodes a GET reply; a corrupt value counts as a miss (and is overwritten by the refresh).
    fn decode(&self, key: &str, reply: Reply) -> Option<Arc<Envelope>> {
        let bytes = reply.as_bytes()?;
        match Envelope::decode(bytes) {
            Ok(entry) => Some(Arc::new(entry)),
            Err(error) => {
                tracing::warn!(cache_key = key, error = %error, "corrupt cache value; it will be overwritten");
                None
            }
        }
    }

    /// XFetch (Vattani et al., VLDB 2015): refresh early with a probability
    /// that grows as expiry nears and with the recompute time δ.
    fn should_refresh_early(&self, entry: &Envelope, now: u64) -> bool {
        xfetch_due(
            now,
            entry.expires_at_ms(),
            entry.delta.as_millis() as u64,
            self.config.xfetch_beta,
            fastrand::f64(),
        )
    }

    /// `SET lock 1 NX PX lock_ttl`. The lock only spares storage duplicate
    /// reads; freshness rests on the tag, so its holder need not be checked.
    async fn try_lock(&self, key: &str) -> LockAttempt {
        let lock = Command::new("SET")
            .arg(self.keys.lock_for(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(self.config.lock_ttl.as_millis() as u64);
        match self.call("lock", self.client.command(&lock)).await {
            Some(reply) if reply.is_ok_status() => LockAttempt::Won,
            Some(_) => LockAttempt::Lost,
            None => LockAttempt::Failed,
        }
    }

    /// `DEL lock`: the refresh is over. Deleting a lock that expired and
    /// was taken by another refresh costs at most one more storage read.
    fn release(&self, key: &str) -> Command {
        Command::new("DEL").arg(self.keys.lock_for(key))
    }

    /// `SET key value PX retention` (with `XX`: only over a value that is
    /// there, for refreshes of what was cached).
    pub(crate) fn store_command(&self, key: &str, entry: &Envelope, only_over: bool) -> Command {
        let retention = self.config.retention(entry.fresh_ttl);
        let set = Command::new("SET")
            .arg(key)
            .arg(entry.encode())
            .arg("PX")
            .arg(retention.as_millis().max(1) as u64);
        if only_over { set.arg("XX") } else { set }
    }

    /// The lock winner: read storage, then store the value (tagged with the
    /// generations its lookup saw) and release the lock in one pipeline.
    async fn refresh<E: LoadFailure>(
        &self,
        lease: Lease<'_>,
        fresh_ttl: Duration,
        load: impl Load<E>,
        stale: Option<Arc<Envelope>>,
    ) -> Result<Lookup, E> {
        let started = Instant::now();
        let loaded = load().await;
        let delta = started.elapsed();
        let body = match loaded {
            Ok(body) => body,
            Err(error) => {
                let release = self.release(lease.key);
                let _ = self.call("unlock", self.client.command(&release)).await;
                return self.serve_after_failed_load(lease.key, error, stale);
            }
        };
        let entry = Envelope {
            stored_at_ms: now_ms(),
            fresh_ttl,
            delta,
            body,
            tag: lease.tag,
        };
        self.count(CacheStatus::Miss, lease.key);
        // Counters ride along only when a flush is due, like on a hit: a
        // flush on every miss made statistics about half of all commands
        // (bench --scenario traffic).
        let pending = if self.stats.flush_due() {
            self.stats.take()
        } else {
            Pending::default()
        };
        let mut commands = vec![
            self.store_command(lease.key, &entry, false),
            self.release(lease.key),
        ];
        commands.extend(pending.commands(&self.keys));
        match self.call("store", self.client.pipeline(&commands)).await {
            None => self.stats.restore(pending),
            Some(replies) => {
                if let Some(Err(error)) = replies.first() {
                    // E.g. a full database: the answer stands, the next request misses again.
                    tracing::warn!(
                        cache_key = lease.key,
                        error_kind = error.kind(),
                        "value not cached"
                    );
                }
            }
        }
        let lookup = Lookup {
            entry: Arc::new(entry),
            status: CacheStatus::Miss,
        };
        // An update during the storage read makes this value dead in Redis;
        // L1 keeps it no longer than CACHE_L1_TTL_S after the lookup, the
        // bound every container's staleness already has.
        self.remember(lease.key, &lookup, lease.looked_up);
        Ok(lookup)
    }

    /// A refresh whose storage read failed: the cached value if there is one.
    fn serve_after_failed_load<E: LoadFailure>(
        &self,
        key: &str,
        error: E,
        stale: Option<Arc<Envelope>>,
    ) -> Result<Lookup, E> {
        let Some(entry) = stale else {
            return Err(error);
        };
        if error.is_not_found() {
            // The symbol was removed from the data set after its value was cached.
            return Err(error);
        }
        // An early (XFetch) refresh still holds a fresh value: a hit.
        let status = if now_ms() < entry.expires_at_ms() {
            CacheStatus::Hit
        } else {
            CacheStatus::Stale
        };
        tracing::warn!(
            cache_key = key,
            error_kind = error.kind(),
            "storage failed; serving the cached value"
        );
        self.count(status, key);
        Ok(Lookup { entry, status })
    }

    /// A miss that lost the lock: poll briefly for the winner's value, then read storage.
    async fn wait_for_winner<E: LoadFailure>(
        &self,
        key: &str,
        fresh_ttl: Duration,
        load: impl Load<E>,
    ) -> Result<Lookup, E> {
        let scopes = self.keys.scopes_of(key);
        let get = Command::new("MGET")
            .arg(key)
            .args(scopes.iter().map(String::as_str));
        for _ in 0..self.config.miss_wait_polls {
            tokio::time::sleep(self.config.miss_wait).await;
            let sent = Instant::now();
            let Some(reply) = self.call("get", self.client.command(&get)).await else {
                break;
            };
            let Some(mut replies) = reply.into_array().filter(|r| r.len() == scopes.len() + 1)
            else {
                break;
            };
            let value = replies.remove(0);
            if let Some(entry) = self.decode_current(key, value, &tag_of(&replies))
                && now_ms() < entry.expires_at_ms()
            {
                return Ok(self.hit(key, entry, sent));
            }
        }
        let lookup = self.load_uncached(fresh_ttl, load).await?;
        self.count(CacheStatus::Miss, key);
        Ok(Lookup {
            status: CacheStatus::Miss,
            ..lookup
        })
    }

    /// Answers from storage without touching the cache.
    async fn bypass<E: LoadFailure>(
        &self,
        key: &str,
        fresh_ttl: Duration,
        load: impl Load<E>,
    ) -> Result<Lookup, E> {
        self.count(CacheStatus::Bypass, key);
        self.load_uncached(fresh_ttl, load).await
    }

    async fn load_uncached<E: LoadFailure>(
        &self,
        fresh_ttl: Duration,
        load: impl Load<E>,
    ) -> Result<Lookup, E> {
        let started = Instant::now();
        let body = load().await?;
        Ok(Lookup {
            entry: Arc::new(Envelope {
                stored_at_ms: now_ms(),
                fresh_ttl,
                delta: started.elapsed(),
                body,
                tag: String::new(),
            }),
            status: CacheStatus::Bypass,
        })
    }

    /// Keeps `lookup` in L1, counting the L1 time from `known_current`.
    fn remember(&self, key: &str, lookup: &Lookup, known_current: Instant) {
        let left = lookup.entry.expires_at_ms().saturating_sub(now_ms());
        self.l1.put(
            key,
            lookup.entry.clone(),
            Duration::from_millis(left),
            known_current,
        );
    }
}

/// XFetch's test: refresh when `now − δ·β·ln(rand) ≥ expiry` (`rand` in (0, 1]).
pub fn xfetch_due(now_ms: u64, expires_at_ms: u64, delta_ms: u64, beta: f64, rand: f64) -> bool {
    if beta <= 0.0 || delta_ms == 0 {
        return now_ms >= expires_at_ms;
    }
    let rand = rand.clamp(f64::MIN_POSITIVE, 1.0);
    let gap = delta_ms as f64 * beta * -rand.ln();
    now_ms as f64 + gap >= expires_at_ms as f64
}

/// Unix time in milliseconds. A clock before 1970 is logged as an error
/// (every cached value then looks expired) and counts as 0.
pub fn now_ms() -> u64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_millis() as u64,
        Err(error) => {
            tracing::error!(
                behind_ms = error.duration().as_millis() as u64,
                "the system clock is before 1970"
            );
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::xfetch_due;

    #[test]
    fn xfetch_refreshes_earlier_for_slow_recomputes_and_unlucky_draws() {
        // rand = 1: ln = 0, never before expiry.
        assert!(!xfetch_due(999, 1000, 50, 1.0, 1.0));
        assert!(xfetch_due(1000, 1000, 50, 1.0, 1.0));
        // rand = e^-1: gap = δ·β = 50 ms.
        let r = (-1.0f64).exp();
        assert!(xfetch_due(951, 1000, 50, 1.0, r));
        assert!(!xfetch_due(949, 1000, 50, 1.0, r));
        // β scales the gap; β = 0 or δ = 0 turn early refresh off.
        assert!(xfetch_due(901, 1000, 50, 2.0, r));
        assert!(!xfetch_due(901, 1000, 50, 0.0, r));
        assert!(!xfetch_due(901, 1000, 0, 1.0, r));
        // A draw of 0 is clamped, not infinite.
        assert!(xfetch_due(0, 1000, 50, 1.0, 0.0));
    }
}
