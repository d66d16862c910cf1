//! Stock data in object storage: the manifest and per-year partitions.
//!
//! [`StockStore`] answers every read the API needs with a bounded number of
//! object reads: latest price and recent data (up to 365 days) read one
//! partition, or two when the window crosses a year boundary; the manifest
//! is read at most once per [`StoreOptions::manifest_ttl`] per container,
//! and again as soon as the container sees a new data generation (see
//! [`crate::generation`]).

mod error;
pub mod layout;
mod location;
mod merge;
mod writer;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Datelike;
use object_store::{ObjectStoreExt, path::Path};
use serde::de::DeserializeOwned;

pub use error::StorageError;
pub use location::{Backend, LocationError, StorageLocation};
pub use merge::{
    DEFAULT_CURRENCY, DEFAULT_EXCHANGE, ImportLock, LOCK_FILE, MergeError, MergeOptions,
    MergeReport, SymbolMetadata, SymbolUpdate, merge_import,
};
pub use writer::{DatasetWriter, SymbolSeries};

use crate::generation::{Generation, Token};
use crate::models::{
    LatestPrice, Manifest, Partition, RecentData, SymbolInfo, SymbolList, window_start,
};
use crate::symbol::Symbol;

/// Tuning of a [`StockStore`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Upper bound of one object read; beyond it the read fails with [`StorageError::Timeout`].
    pub timeout: Duration,
    /// How long a container reuses the manifest it read (0 = read it every
    /// time). It is read again sooner when the data generation changes.
    pub manifest_ttl: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            timeout: Duration::from_millis(3000),
            manifest_ttl: Duration::from_secs(60),
        }
    }
}

/// A manifest kept in memory, with when it was read and the data
/// generation seen before the read.
#[derive(Debug)]
struct Remembered {
    read_at: Instant,
    generation: Token,
    manifest: Arc<Manifest>,
}

/// Reads the data set at one [`StorageLocation`].
#[derive(Debug)]
pub struct StockStore {
    location: StorageLocation,
    options: StoreOptions,
    manifest: Mutex<Option<Remembered>>,
    generation: Arc<Generation>,
    reads: AtomicU64,
    busy_micros: AtomicU64,
}

impl StockStore {
    /// A store over `location`.
    pub fn new(location: StorageLocation, options: StoreOptions) -> Self {
        StockStore {
            location,
            options,
            manifest: Mutex::new(None),
            generation: Generation::new(),
            reads: AtomicU64::new(0),
            busy_micros: AtomicU64::new(0),
        }
    }

    /// The location read from.
    pub fn location(&self) -> &StorageLocation {
        &self.location
    }

    /// The data generation this store's remembered manifest is checked
    /// against; the cache of the same container observes it.
    pub fn generation(&self) -> &Arc<Generation> {
        &self.generation
    }

    /// Object reads issued so far (for tests, benchmarks and metrics).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Total time spent in object reads, in µs (for per-invocation metrics).
    pub fn busy_micros(&self) -> u64 {
        self.busy_micros.load(Ordering::Relaxed)
    }

    /// The manifest, from memory when read less than `manifest_ttl` ago and
    /// no newer data generation has been seen since.
    pub async fn manifest(&self) -> Result<Arc<Manifest>, StorageError> {
        let generation = self.generation.current();
        if let Some(manifest) = self.remembered(&generation) {
            return Ok(manifest);
        }
        let path = layout::manifest_path(&self.location.prefix);
        let mut manifest: Manifest = self
            .read_json(&path)
            .await?
            .ok_or_else(|| StorageError::Missing(path.to_string()))?;
        manifest.sort();
        let manifest = Arc::new(manifest);
        if !self.options.manifest_ttl.is_zero() {
            *self.manifest.lock().unwrap_or_else(|e| e.into_inner()) = Some(Remembered {
                read_at: Instant::now(),
                generation,
                manifest: manifest.clone(),
            });
        }
        Ok(manifest)
    }

    /// The remembered manifest if it is still usable under `generation`.
    fn remembered(&self, generation: &Token) -> Option<Arc<Manifest>> {
        if self.options.manifest_ttl.is_zero() {
            return None;
        }
        let remembered = self.manifest.lock().unwrap_or_else(|e| e.into_inner());
        remembered
            .as_ref()
            .filter(|r| r.read_at.elapsed() < self.options.manifest_ttl)
            .filter(|r| r.generation == *generation)
            .map(|r| r.manifest.clone())
    }

    /// Every symbol, sorted.
    pub async fn symbol_list(&self) -> Result<SymbolList, StorageError> {
        let manifest = self.manifest().await?;
        let symbols: Vec<String> = manifest.symbols.iter().map(|s| s.symbol.clone()).collect();
        Ok(SymbolList {
            count: symbols.len(),
            symbols,
        })
    }

    /// [`StorageError::SymbolNotFound`] when the manifest does not list
    /// `symbol`. Reads the manifest only when this store remembers it (so
    /// the reads that follow use the same copy); with `manifest_ttl` 0 it
    /// answers `Ok` without reading and the read that follows finds out.
    pub async fn check_listed(&self, symbol: &Symbol) -> Result<(), StorageError> {
        if self.options.manifest_ttl.is_zero() {
            return Ok(());
        }
        self.symbol_info(symbol).await.map(|_| ())
    }

    /// The manifest entry of `symbol`.
    pub async fn symbol_info(&self, symbol: &Symbol) -> Result<SymbolInfo, StorageError> {
        let manifest = self.manifest().await?;
        manifest
            .get(symbol.as_str())
            .cloned()
            .ok_or_else(|| StorageError::SymbolNotFound(symbol.to_string()))
    }

    /// The latest bar of `symbol` with its change against the previous close.
    pub async fn latest_price(&self, symbol: &Symbol) -> Result<LatestPrice, StorageError> {
        let info = self.symbol_info(symbol).await?;
        let year = info.last_date.year();
        let partition = self.required_partition(symbol, year).await?;
        let n = partition.data_points.len();
        let last = partition
            .data_points
            .last()
            .ok_or_else(|| StorageError::Corrupt {
                path: layout::partition_path(&self.location.prefix, symbol, year).to_string(),
                reason: "partition holds no data points".into(),
            })?;
        let previous_close = if n >= 2 {
            Some(partition.data_points[n - 2].close)
        } else {
            partition.previous_close
        };
        Ok(LatestPrice::from_bar(symbol.as_str(), last, previous_close))
    }

    /// `symbol`'s bars with `date >= last_date − days`, ascending.
    pub async fn recent(&self, symbol: &Symbol, days: u32) -> Result<RecentData, StorageError> {
        let info = self.symbol_info(symbol).await?;
        let start = window_start(info.last_date, days).max(info.first_date);
        let last_year = info.last_date.year();
        // The last year must exist; earlier years may be absent (a symbol
        // that did not trade for a whole year has no partition for it).
        let reads = (start.year()..=last_year).map(|year| async move {
            match self.required_partition(symbol, year).await {
                Err(StorageError::Missing(_)) if year < last_year => Ok(None),
                other => other.map(Some),
            }
        });
        let partitions = futures::future::try_join_all(reads).await?;
        let data_points = partitions
            .into_iter()
            .flatten()
            .flat_map(|p| p.data_points)
            .filter(|bar| bar.date >= start && bar.date <= info.last_date)
            .collect();
        Ok(RecentData {
            symbol: symbol.to_string(),
            days,
            data_points,
        })
    }

    async fn required_partition(
        &self,
        symbol: &Symbol,
        year: i32,
    ) -> Result<Partition, StorageError> {
        let path = layout::partition_path(&self.location.prefix, symbol, year);
        let partition: Partition = self
            .read_json(&path)
            .await?
            .ok_or_else(|| StorageError::Missing(path.to_string()))?;
        if partition.symbol != symbol.as_str() {
            return Err(StorageError::Corrupt {
                path: path.to_string(),
                reason: format!("holds symbol {:?}", partition.symbol),
            });
        }
        Ok(partition)
    }

    /// Reads and parses one JSON object; `Ok(None)` when it does not exist.
    async fn read_json<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>, StorageError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let read = async {
            let result = self.location.store.get(path).await?;
            result.bytes().await
        };
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.options.timeout, read).await;
        self.busy_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let bytes = match outcome {
            Err(_) => return Err(StorageError::Timeout(path.to_string())),
            Ok(Err(object_store::Error::NotFound { .. })) => return Ok(None),
            Ok(Err(source)) => {
                return Err(StorageError::Backend {
                    path: path.to_string(),
                    source,
                });
            }
            Ok(Ok(bytes)) => bytes,
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StorageError::Corrupt {
                path: path.to_string(),
                reason: e.to_string(),
            })
    }
}
