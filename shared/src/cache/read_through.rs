//! Read-through caching with stampede protection, stale-while-revalidate,
//! stale-if-error, an in-process L1 and a circuit breaker.
//!
//! Request counts (REST requests to Upstash):
//! - L1 hit: 0. Hit: 1 (`GET`).
//! - Miss: 3 (`GET`, `SET lock NX PX`, then one pipeline with the value's
//!   `SET` and the lock release).
//! - Miss that lost the lock: `GET`, `SET NX`, then up to
//!   `miss_wait_polls` `GET`s while the winner computes; after that it
//!   reads storage itself rather than fail.
//! - Stale hit: 1 + 1 (`SET NX`); the lock winner refreshes, everyone else
//!   serves the stale value at once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::breaker::CircuitBreaker;
use super::config::CacheConfig;
use super::envelope::{EntryKind, Envelope};
use super::keys::KeySpace;
use super::l1::L1Cache;
use super::stats::LocalStats;
use crate::http::CacheStatus;
use crate::storage::StorageError;
use crate::upstash::{Command, Reply, UpstashClient, UpstashError};

/// Deletes the lock only if it still holds our token.
const RELEASE_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

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

/// The outcome of trying to take a refresh lock.
enum LockAttempt {
    Won(String),
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
    busy_micros: AtomicU64,
    failures: AtomicU64,
}

impl ReadThrough {
    /// A cache over `client` with `config`.
    pub fn new(client: UpstashClient, config: CacheConfig) -> Self {
        ReadThrough {
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

    /// The client (for management endpoints).
    pub fn client(&self) -> &UpstashClient {
        &self.client
    }

    /// The policy.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// This container's L1.
    pub fn l1(&self) -> &L1Cache {
        &self.l1
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// This container's counters not yet flushed.
    pub fn stats(&self) -> &LocalStats {
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

    /// The value of `key`, from L1, Redis or `load` (which reads storage).
    ///
    /// `load` returns the JSON body, or [`StorageError::SymbolNotFound`]
    /// (cached as a negative entry for `ttl_not_found`), or another error
    /// (never cached; a stale value is served instead when one exists).
    pub async fn get_or_load<F, Fut>(
        &self,
        key: &str,
        fresh_ttl: Duration,
        load: F,
    ) -> Result<Lookup, StorageError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, StorageError>>,
    {
        let now = now_ms();
        if let Some(entry) = self.l1.get(key)
            && now < entry.expires_at_ms()
        {
            self.stats.record(CacheStatus::L1);
            return Ok(Lookup {
                entry,
                status: CacheStatus::L1,
            });
        }
        if !self.breaker.allow() {
            return self.bypass(fresh_ttl, load).await;
        }
        let Some(reply) = self.get_with_flush(key).await else {
            return self.bypass(fresh_ttl, load).await;
        };
        match self.decode(key, reply) {
            Some(entry) if now < entry.expires_at_ms() => {
                if self.should_refresh_early(&entry, now)
                    && let LockAttempt::Won(token) = self.try_lock(key).await
                {
                    return self.refresh(key, fresh_ttl, load, Some(entry), token).await;
                }
                let lookup = Lookup {
                    entry,
                    status: CacheStatus::Hit,
                };
                self.remember(key, &lookup);
                self.stats.record(CacheStatus::Hit);
                Ok(lookup)
            }
            Some(stale) => match self.try_lock(key).await {
                LockAttempt::Won(token) => {
                    self.refresh(key, fresh_ttl, load, Some(stale), token).await
                }
                LockAttempt::Lost | LockAttempt::Failed => {
                    self.stats.record(CacheStatus::Stale);
                    Ok(Lookup {
                        entry: stale,
                        status: CacheStatus::Stale,
                    })
                }
            },
            None => match self.try_lock(key).await {
                LockAttempt::Won(token) => self.refresh(key, fresh_ttl, load, None, token).await,
                LockAttempt::Lost => self.wait_for_winner(key, fresh_ttl, load).await,
                LockAttempt::Failed => self.bypass(fresh_ttl, load).await,
            },
        }
    }

    /// `GET key` — as a single command, or, when the counters are due for a
    /// flush, as a pipeline of the `GET` and the counter commands: still one
    /// REST request.
    async fn get_with_flush(&self, key: &str) -> Option<Reply> {
        let get = Command::new("GET").arg(key);
        if !self.stats.flush_due() {
            return self.call("get", self.client.command(&get)).await;
        }
        let pending = self.stats.take();
        let mut commands = vec![get];
        commands.extend(pending.commands(&self.keys));
        match self.call("get", self.client.pipeline(&commands)).await {
            Some(mut replies) if !replies.is_empty() => match replies.swap_remove(0) {
                Ok(reply) => Some(reply),
                Err(error) => {
                    self.failure("get", &error);
                    None
                }
            },
            _ => {
                self.stats.restore(pending);
                None
            }
        }
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

    async fn try_lock(&self, key: &str) -> LockAttempt {
        let token = format!("{:016x}", fastrand::u64(..));
        let lock = Command::new("SET")
            .arg(self.keys.lock_for(key))
            .arg(token.as_str())
            .arg("NX")
            .arg("PX")
            .arg(self.config.lock_ttl.as_millis() as u64);
        match self.call("lock", self.client.command(&lock)).await {
            Some(reply) if reply.is_ok_status() => LockAttempt::Won(token),
            Some(_) => LockAttempt::Lost,
            None => LockAttempt::Failed,
        }
    }

    fn release(&self, key: &str, token: &str) -> Command {
        Command::new("EVAL")
            .arg(RELEASE_SCRIPT)
            .arg(1)
            .arg(self.keys.lock_for(key))
            .arg(token)
    }

    /// The lock winner: read storage, store the value and release the lock in one pipeline.
    async fn refresh<F, Fut>(
        &self,
        key: &str,
        fresh_ttl: Duration,
        load: F,
        stale: Option<Arc<Envelope>>,
        token: String,
    ) -> Result<Lookup, StorageError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, StorageError>>,
    {
        let started = Instant::now();
        let loaded = load().await;
        let delta = started.elapsed();
        let (entry, retention) = match loaded {
            Ok(body) => {
                let entry = Envelope {
                    stored_at_ms: now_ms(),
                    fresh_ttl,
                    delta,
                    kind: EntryKind::Value,
                    body,
                };
                (entry, self.config.retention(fresh_ttl))
            }
            Err(error) if error.is_not_found() => {
                let entry = Envelope {
                    stored_at_ms: now_ms(),
                    fresh_ttl: self.config.ttl_not_found,
                    delta,
                    kind: EntryKind::NotFound,
                    body: String::new(),
                };
                (entry, self.config.ttl_not_found)
            }
            Err(error) => {
                let release = self.release(key, &token);
                let _ = self.call("unlock", self.client.command(&release)).await;
                return match stale {
                    Some(entry) => {
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
                        self.stats.record(status);
                        Ok(Lookup { entry, status })
                    }
                    None => Err(error),
                };
            }
        };
        self.stats.record(CacheStatus::Miss);
        let pending = self.stats.take();
        let mut commands = vec![
            Command::new("SET")
                .arg(key)
                .arg(entry.encode())
                .arg("PX")
                .arg(retention.as_millis().max(1) as u64),
            self.release(key, &token),
        ];
        commands.extend(pending.commands(&self.keys));
        if self
            .call("store", self.client.pipeline(&commands))
            .await
            .is_none()
        {
            self.stats.restore(pending);
        }
        let lookup = Lookup {
            entry: Arc::new(entry),
            status: CacheStatus::Miss,
        };
        self.remember(key, &lookup);
        Ok(lookup)
    }

    /// A miss that lost the lock: poll briefly for the winner's value, then read storage.
    async fn wait_for_winner<F, Fut>(
        &self,
        key: &str,
        fresh_ttl: Duration,
        load: F,
    ) -> Result<Lookup, StorageError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, StorageError>>,
    {
        for _ in 0..self.config.miss_wait_polls {
            tokio::time::sleep(self.config.miss_wait).await;
            let get = Command::new("GET").arg(key);
            let Some(reply) = self.call("get", self.client.command(&get)).await else {
                break;
            };
            if let Some(entry) = self.decode(key, reply)
                && now_ms() < entry.expires_at_ms()
            {
                let lookup = Lookup {
                    entry,
                    status: CacheStatus::Hit,
                };
                self.remember(key, &lookup);
                self.stats.record(CacheStatus::Hit);
                return Ok(lookup);
            }
        }
        let lookup = self.load_uncached(fresh_ttl, load).await?;
        self.stats.record(CacheStatus::Miss);
        Ok(Lookup {
            status: CacheStatus::Miss,
            ..lookup
        })
    }

    /// Answers from storage without touching the cache.
    async fn bypass<F, Fut>(&self, fresh_ttl: Duration, load: F) -> Result<Lookup, StorageError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, StorageError>>,
    {
        self.stats.record(CacheStatus::Bypass);
        self.load_uncached(fresh_ttl, load).await
    }

    async fn load_uncached<F, Fut>(
        &self,
        fresh_ttl: Duration,
        load: F,
    ) -> Result<Lookup, StorageError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, StorageError>>,
    {
        let started = Instant::now();
        let body = load().await?;
        Ok(Lookup {
            entry: Arc::new(Envelope {
                stored_at_ms: now_ms(),
                fresh_ttl,
                delta: started.elapsed(),
                kind: EntryKind::Value,
                body,
            }),
            status: CacheStatus::Bypass,
        })
    }

    fn remember(&self, key: &str, lookup: &Lookup) {
        let left = lookup.entry.expires_at_ms().saturating_sub(now_ms());
        self.l1
            .put(key, lookup.entry.clone(), Duration::from_millis(left));
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

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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
