//! The bench environment: a synthetic data set behind simulated storage
//! latency, an in-process upstash-local over the real Redis, and
//! "containers" (independent service instances) that serve one request
//! at a time.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use integration_tests::events::{Req, Source};
use lambda_http::{Body, Request, Response};
use object_store::memory::InMemory;
use object_store::throttle::{ThrottleConfig, ThrottledStore};
use shared::cache::{BreakerState, CacheConfig, ReadThrough};
use shared::handlers;
use shared::models::Manifest;
use shared::secret::Secret;
use shared::service::StockDataService;
use shared::storage::{DatasetWriter, StockStore, StorageLocation, StoreOptions, SymbolSeries};
use shared::symbol::Symbol;
use shared::upstash::{UpstashClient, UpstashConfig};
use upstash_local::{ServeOptions, ServerHandle};

use crate::zipf::{Rng, Zipf};

/// The token of the in-process upstash-local.
pub(crate) const TOKEN: &str = "bench-token-7c1e0a";
/// Symbols that lead the popularity ranking.
pub(crate) const POPULAR: [&str; 5] = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG"];
/// Last calendar day of the synthetic data.
pub(crate) const LAST_DAY: (i32, u32, u32) = (2025, 12, 31);

/// Shared state of one bench run.
pub(crate) struct Env {
    /// The upstash-local server.
    pub server: ServerHandle,
    /// The data set behind simulated latency.
    pub location: StorageLocation,
    /// Symbols by popularity rank (0 = most popular).
    pub symbols: Vec<Symbol>,
    /// Every key of this run starts with it.
    pub prefix: String,
    /// Show progress bars.
    pub progress: bool,
    /// The Redis URL.
    pub redis_url: String,
    seq: AtomicU64,
}

impl Env {
    /// Starts upstash-local and writes `symbols` synthetic symbols (2 years of weekday bars).
    pub(crate) async fn start(
        redis_url: &str,
        symbols: usize,
        storage_latency: Duration,
        progress: bool,
    ) -> Result<Env, String> {
        let server = upstash_local::serve(ServeOptions::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            redis_url,
            TOKEN,
        ))
        .await
        .map_err(|e| format!("cannot start upstash-local against {redis_url}: {e}"))?;
        let memory = Arc::new(InMemory::new());
        let raw =
            StorageLocation::from_store(memory.clone(), "data/v1").map_err(|e| e.to_string())?;
        let names = symbol_names(symbols);
        write_dataset(&raw, &names).await?;
        let throttled = ThrottledStore::new(
            memory,
            ThrottleConfig {
                wait_get_per_call: storage_latency,
                ..ThrottleConfig::default()
            },
        );
        let location = StorageLocation::from_store(Arc::new(throttled), "data/v1")
            .map_err(|e| e.to_string())?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(Env {
            server,
            location,
            symbols: names
                .iter()
                .map(|n| Symbol::parse(n).expect("valid symbol"))
                .collect(),
            prefix: format!("bench:{}:{now}:", std::process::id()),
            progress,
            redis_url: redis_url.to_string(),
            seq: AtomicU64::new(0),
        })
    }

    /// A fresh key prefix under the run's prefix, e.g. `bench:PID:TIME:3-zipf:`.
    pub(crate) fn fresh_prefix(&self, what: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{}{n}-{what}:", self.prefix)
    }

    /// A new storage reader (each container has its own, like Lambda).
    pub(crate) fn store(&self) -> Arc<StockStore> {
        Arc::new(StockStore::new(
            self.location.clone(),
            StoreOptions::default(),
        ))
    }

    /// The production cache policy with keys under `prefix`.
    pub(crate) fn production_config(prefix: &str) -> CacheConfig {
        CacheConfig {
            key_prefix: prefix.to_string(),
            ..CacheConfig::default()
        }
    }

    /// A container with its own Upstash client, L1, breaker and storage reader.
    pub(crate) fn container(&self, config: &CacheConfig) -> Node {
        self.container_at(
            &self.server.url(),
            Duration::from_millis(shared::upstash::DEFAULT_TIMEOUT_MS),
            config,
        )
    }

    /// A container talking to `url` with client timeout `timeout`.
    pub(crate) fn container_at(&self, url: &str, timeout: Duration, config: &CacheConfig) -> Node {
        self.container_with(url, timeout, config, StoreOptions::default())
    }

    /// A container talking to `url`, its storage reader built with `store_options`.
    pub(crate) fn container_with(
        &self,
        url: &str,
        timeout: Duration,
        config: &CacheConfig,
        store_options: StoreOptions,
    ) -> Node {
        let store = Arc::new(StockStore::new(self.location.clone(), store_options));
        let client = UpstashClient::new(&UpstashConfig {
            url: url.to_string(),
            token: Secret::from(TOKEN.to_string()),
            timeout,
        })
        .expect("Upstash client");
        Node {
            service: StockDataService::wire(store.clone(), Some(client.clone()), config.clone()),
            client: Some(client),
            store,
        }
    }

    /// A container with the cache off (`StockDataService::wire(store, None, ..)`).
    pub(crate) fn container_without_cache(&self, config: &CacheConfig) -> Node {
        let store = self.store();
        Node {
            service: StockDataService::wire(store.clone(), None, config.clone()),
            client: None,
            store,
        }
    }

    /// `k` containers with `config`.
    pub(crate) fn containers(&self, k: usize, config: &CacheConfig) -> Vec<Arc<Node>> {
        (0..k).map(|_| Arc::new(self.container(config))).collect()
    }

    /// The lambda_http request of `job` as API Gateway HTTP API delivers it.
    pub(crate) fn request(&self, job: Job) -> Request {
        let symbol = self.symbols[job.symbol].as_str();
        match job.endpoint {
            Endpoint::Latest => Req::get(
                handlers::LATEST_PRICE.template,
                &format!("/v1/stocks/{symbol}/latest"),
            )
            .request(Source::HttpApi),
            Endpoint::Recent(days) => Req::get(
                handlers::RECENT_DATA.template,
                &format!("/v1/stocks/{symbol}/recent"),
            )
            .query(&format!("days={days}"))
            .request(Source::HttpApi),
            Endpoint::Info => Req::get(
                handlers::SYMBOL_INFO.template,
                &format!("/v1/symbols/{symbol}"),
            )
            .request(Source::HttpApi),
            Endpoint::Symbols => {
                Req::get(handlers::SYMBOLS.template, "/v1/symbols").request(Source::HttpApi)
            }
        }
    }

    /// A progress bar of `len` steps (hidden unless stdout is a terminal).
    pub(crate) fn bar(&self, len: u64, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) =
            ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        bar
    }

    /// Deletes every key of this run (SCAN MATCH prefix* + UNLINK). Returns the count.
    pub(crate) async fn cleanup(&self) -> Result<u64, String> {
        let client = redis::Client::open(self.redis_url.as_str()).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        let pattern = format!("{}*", self.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                deleted += n;
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        Ok(deleted)
    }
}

/// `POPULAR` then `SYN0001`, `SYN0002`, … up to `n` symbols in all.
pub(crate) fn symbol_names(n: usize) -> Vec<String> {
    let mut names: Vec<String> = POPULAR.iter().take(n).map(|s| s.to_string()).collect();
    let mut i = 1;
    while names.len() < n {
        names.push(format!("SYN{i:04}"));
        i += 1;
    }
    names
}

/// Writes two years of weekday bars per symbol and the manifest.
pub(crate) async fn write_dataset(
    location: &StorageLocation,
    names: &[String],
) -> Result<(), String> {
    let writer = DatasetWriter::new(location.clone());
    let end = NaiveDate::from_ymd_opt(LAST_DAY.0, LAST_DAY.1, LAST_DAY.2).expect("date");
    let start = NaiveDate::from_ymd_opt(LAST_DAY.0 - 1, 1, 1).expect("date");
    let mut infos = Vec::with_capacity(names.len());
    let days: Vec<NaiveDate> = stockdata::synth::trading_days(end, 2)
        .into_iter()
        .filter(|d| *d >= start)
        .collect();
    for (i, name) in names.iter().enumerate() {
        let bars = stockdata::synth::generate_bars(stockdata::synth::symbol_seed(0xB0B, i), &days);
        let info = writer
            .write_symbol(SymbolSeries {
                symbol: Symbol::parse(name).map_err(|e| format!("{name}: {e}"))?,
                name: format!("{name} Synthetic Corp."),
                exchange: "NASDAQ".into(),
                currency: "USD".into(),
                bars,
            })
            .await
            .map_err(|e| e.to_string())?;
        infos.extend(info);
    }
    writer
        .write_manifest(Manifest { symbols: infos })
        .await
        .map_err(|e| e.to_string())
}

/// One simulated Lambda container.
pub(crate) struct Node {
    /// The service its handlers use.
    pub service: StockDataService,
    /// Its Upstash client (None when the cache is off).
    pub client: Option<UpstashClient>,
    /// Its storage reader (count reads with `reads()`).
    pub store: Arc<StockStore>,
}

impl Node {
    /// Runs the handler of `endpoint`.
    pub(crate) async fn handle(&self, endpoint: Endpoint, request: Request) -> Response<Body> {
        match endpoint {
            Endpoint::Latest => handlers::latest_price(&self.service, request).await,
            Endpoint::Recent(_) => handlers::recent_data(&self.service, request).await,
            Endpoint::Info => handlers::symbol_info(&self.service, request).await,
            Endpoint::Symbols => handlers::symbols(&self.service, request).await,
        }
    }

    /// Its read-through cache, if on.
    pub(crate) fn cache(&self) -> Option<&Arc<ReadThrough>> {
        self.service.cache()
    }

    /// True when its breaker is open.
    pub(crate) fn breaker_open(&self) -> bool {
        self.cache()
            .is_some_and(|c| c.breaker_state() == BreakerState::Open)
    }
}

/// Totals over a set of containers.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    /// REST requests sent by the clients.
    pub rest_requests: u64,
    /// Object reads issued by the stores.
    pub storage_reads: u64,
    /// Redis commands run by upstash-local.
    pub redis_commands: u64,
}

impl Counters {
    /// A snapshot of `nodes` and the server.
    pub(crate) fn snapshot(env: &Env, nodes: &[Arc<Node>]) -> Counters {
        Counters {
            rest_requests: nodes
                .iter()
                .filter_map(|n| n.client.as_ref())
                .map(UpstashClient::requests_sent)
                .sum(),
            storage_reads: nodes.iter().map(|n| n.store.reads()).sum(),
            redis_commands: env.server.stats().redis_commands,
        }
    }

    /// `self − before`.
    pub(crate) fn since(self, before: Counters) -> Counters {
        Counters {
            rest_requests: self.rest_requests - before.rest_requests,
            storage_reads: self.storage_reads - before.storage_reads,
            redis_commands: self.redis_commands - before.redis_commands,
        }
    }
}

/// An API endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `GET /v1/stocks/{symbol}/latest`.
    Latest,
    /// `GET /v1/stocks/{symbol}/recent?days=N`.
    Recent(u32),
    /// `GET /v1/symbols/{symbol}`.
    Info,
    /// `GET /v1/symbols` (the symbol list; [`Job::symbol`] is ignored).
    Symbols,
}

/// One request of a workload: an endpoint and a symbol rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Job {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Index into [`Env::symbols`].
    pub symbol: usize,
}

/// `n` requests with Zipf(`s`) symbol popularity over `symbols` ranks:
/// latest 60%, recent 30% (days uniform in 1..=365), info 10%.
pub(crate) fn zipf_jobs(n: usize, symbols: usize, s: f64, seed: u64) -> Vec<Job> {
    let zipf = Zipf::new(symbols, s);
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let symbol = zipf.sample(&mut rng);
            let pick = rng.next_f64();
            let endpoint = if pick < 0.6 {
                Endpoint::Latest
            } else if pick < 0.9 {
                Endpoint::Recent(crate::zipf::range_inclusive(&mut rng, 1, 365))
            } else {
                Endpoint::Info
            };
            Job { endpoint, symbol }
        })
        .collect()
}

/// What happened to one request.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    /// The request.
    pub job: Job,
    /// Time spent in the handler.
    pub latency: Duration,
    /// When it started, from the start of the run.
    pub started: Duration,
    /// HTTP status.
    pub status: u16,
    /// `x-cache` header (`L1`, `HIT`, `MISS`, `STALE`, `BYPASS`), empty when absent.
    pub cache: String,
    /// The container's breaker was open when the request started.
    pub breaker_open: bool,
}

impl Outcome {
    /// Served from the cache (L1, HIT or STALE).
    pub(crate) fn is_hit(&self) -> bool {
        matches!(self.cache.as_str(), "L1" | "HIT" | "STALE")
    }

    /// A 2xx answer.
    pub(crate) fn is_ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The `x-cache` header of `response`.
pub(crate) fn cache_header(response: &Response<Body>) -> String {
    response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Every job of `jobs` arrives at once; each container takes the next
/// queued request whenever it is free (one at a time, like Lambda).
/// Returns the outcomes and the wall time.
pub(crate) async fn run_all(
    env: &Env,
    nodes: &[Arc<Node>],
    jobs: &[Job],
    what: &str,
) -> (Vec<Outcome>, Duration) {
    let queue: VecDeque<(Job, Request)> = jobs.iter().map(|&j| (j, env.request(j))).collect();
    let queue = Arc::new(Mutex::new(queue));
    let bar = env.bar(jobs.len() as u64, what);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for node in nodes {
        let node = node.clone();
        let queue = queue.clone();
        let bar = bar.clone();
        tasks.spawn(async move {
            let mut out = Vec::new();
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some((job, request)) = next else { break };
                let breaker_open = node.breaker_open();
                let t = Instant::now();
                let response = node.handle(job.endpoint, request).await;
                let latency = t.elapsed();
                out.push(Outcome {
                    job,
                    latency,
                    started: t - start,
                    status: response.status().as_u16(),
                    cache: cache_header(&response),
                    breaker_open,
                });
                bar.inc(1);
            }
            out
        });
    }
    let mut outcomes = Vec::with_capacity(jobs.len());
    while let Some(done) = tasks.join_next().await {
        outcomes.extend(done.expect("container task"));
    }
    let wall = start.elapsed();
    bar.finish_and_clear();
    (outcomes, wall)
}

/// Latencies of `outcomes`.
pub(crate) fn latencies(outcomes: &[Outcome]) -> Vec<Duration> {
    outcomes.iter().map(|o| o.latency).collect()
}

/// Fraction of `outcomes` served from the cache.
pub(crate) fn hit_rate(outcomes: &[Outcome]) -> f64 {
    if outcomes.is_empty() {
        return f64::NAN;
    }
    outcomes.iter().filter(|o| o.is_hit()).count() as f64 / outcomes.len() as f64
}

/// Count of each `x-cache` value.
pub(crate) fn statuses(outcomes: &[Outcome]) -> BTreeMap<String, u64> {
    let mut map = BTreeMap::new();
    for o in outcomes {
        let key = if o.cache.is_empty() {
            format!("status {}", o.status)
        } else {
            o.cache.clone()
        };
        *map.entry(key).or_insert(0) += 1;
    }
    map
}

/// `L1 120, HIT 300, MISS 5` for a table cell.
pub(crate) fn fmt_statuses(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
