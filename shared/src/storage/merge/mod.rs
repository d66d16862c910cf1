//! Merging imported rows into an existing data set: an upsert by
//! `(symbol, date)` that rewrites only what changes.
//!
//! [`merge_import`] keeps every derived field true:
//!
//! - a row for a date already stored replaces that bar (a correction), a row
//!   for a new date is inserted; nothing is ever duplicated;
//! - only partitions that receive rows are rewritten, plus the next existing
//!   partition of the symbol when its `previous_close` changes; a partition
//!   whose content would not change is not written at all;
//! - a touched symbol's manifest entry gets its new range and count
//!   (`data_points` = old count + rows inserted) and the metadata given for
//!   it, if any; entries of other symbols are left as they are. A symbol
//!   without a manifest entry (new, or orphan partitions of an earlier broken
//!   import) gets an entry computed from all of its partitions.
//!
//! # Ordering and concurrency
//!
//! All partitions are written first, the manifest last, so a reader never
//! sees a manifest promising data that is not stored yet. Each object write
//! replaces the object as a whole (S3/GCS PUT, an in-memory swap, or a rename
//! on a local folder), so a reader never sees half an object.
//!
//! Concurrent imports into the same location:
//!
//! - `memory://`, `s3://` and `gs://`: every write is conditional on the
//!   version read (`PutMode::Update`, or `PutMode::Create` for a new
//!   object). On a conflict, a partition's symbol is merged again on top of
//!   the fresh objects, and the manifest is re-read and this import's
//!   per-symbol changes are applied again, at most
//!   [`MergeOptions::max_attempts`] times. No manifest entry and no row is
//!   lost. Counts are exact for symbols that already had a manifest entry;
//!   when two imports race to create the same new symbol, the last manifest
//!   writer recounts it from storage.
//! - A local folder (`file://` or a path): object_store's local backend has
//!   no conditional update, so the whole import holds an exclusive OS file
//!   lock on `{folder}/.stockdata-import.lock` ([`LOCK_FILE`]). This
//!   serialises imports on one machine only; it does not hold across
//!   machines sharing the folder over NFS or similar.
//!
//! # Modules
//!
//! - `input`: validates the rows and groups them by symbol and year;
//! - `symbol`: merges one symbol's rows into its partitions and writes them;
//! - `objects`: versioned reads, listings and conditional writes of objects;
//! - `manifest`: applies every symbol's outcome to the manifest and writes it;
//! - `error` and `lock`: [`MergeError`] and the local [`ImportLock`].

mod error;
mod input;
mod lock;
mod manifest;
mod objects;
mod symbol;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use object_store::{ObjectStore, PutMode, UpdateVersion, path::Path};

use super::{Backend, StorageLocation, layout};
use crate::models::{DailyBar, Manifest};
use crate::symbol::Symbol;

pub use error::MergeError;
pub use lock::ImportLock;

use input::{Prepared, prepare};
use manifest::{ManifestOutcome, update_manifest};
use objects::read_versioned;
use symbol::{SymbolOutcome, merge_symbols};

/// Exchange recorded for a new symbol imported without metadata.
pub const DEFAULT_EXCHANGE: &str = "UNKNOWN";

/// Currency recorded for a new symbol imported without metadata.
pub const DEFAULT_CURRENCY: &str = "USD";

/// Name of the lock file that serialises imports into a local folder.
pub const LOCK_FILE: &str = ".stockdata-import.lock";

/// Descriptive data of a symbol, as given by the importer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolMetadata {
    /// Company name.
    pub name: String,
    /// Listing exchange.
    pub exchange: String,
    /// Trading currency (ISO 4217).
    pub currency: String,
}

impl SymbolMetadata {
    /// What a new symbol gets without metadata: name = symbol,
    /// [`DEFAULT_EXCHANGE`], [`DEFAULT_CURRENCY`].
    pub fn defaults(symbol: &Symbol) -> Self {
        SymbolMetadata {
            name: symbol.to_string(),
            exchange: DEFAULT_EXCHANGE.to_string(),
            currency: DEFAULT_CURRENCY.to_string(),
        }
    }
}

/// The rows of one symbol to merge in.
#[derive(Clone, Debug)]
pub struct SymbolUpdate {
    /// The symbol.
    pub symbol: Symbol,
    /// Bars in any order; of several bars for one date the last one wins.
    pub bars: Vec<DailyBar>,
    /// Metadata to record; `None` keeps the stored metadata (or the
    /// defaults for a new symbol).
    pub metadata: Option<SymbolMetadata>,
}

/// Tuning of [`merge_import`].
#[derive(Clone, Debug)]
pub struct MergeOptions {
    /// Symbols merged at the same time.
    pub concurrency: usize,
    /// Attempts per symbol and for the manifest when concurrent writers conflict.
    pub max_attempts: u32,
}

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            concurrency: 16,
            max_attempts: 10,
        }
    }
}

/// What [`merge_import`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Symbols whose stored data or manifest entry changed, sorted.
    pub touched: Vec<Symbol>,
    /// True when the manifest's set of symbols changed (a symbol was added).
    pub symbol_set_changed: bool,
    /// Symbols added to the manifest, sorted.
    pub symbols_added: Vec<Symbol>,
    /// Rows for dates that were not stored.
    pub rows_inserted: u64,
    /// Rows that replaced a different stored bar of the same date.
    pub rows_replaced: u64,
    /// Rows equal to the stored bar of the same date.
    pub rows_unchanged: u64,
    /// Paths of the partition objects written, sorted.
    pub partitions_written: Vec<String>,
    /// True when the manifest object was written.
    pub manifest_written: bool,
    /// Manifest write attempts (more than 1 after conflicts with concurrent imports).
    pub manifest_attempts: u32,
}

/// Merges `batches` into the data set at `location` (see the module
/// documentation): partitions first, then the manifest.
///
/// Symbols without bars are ignored. On a local folder the whole merge holds
/// the [`ImportLock`].
pub async fn merge_import(
    location: &StorageLocation,
    batches: Vec<SymbolUpdate>,
    options: &MergeOptions,
) -> Result<MergeReport, MergeError> {
    let prepared = prepare(batches)?;
    let _lock = ImportLock::acquire(location).await?;
    let ctx = Ctx {
        store: location.store.as_ref(),
        prefix: &location.prefix,
        conditional: location.backend != Backend::File,
        max_attempts: options.max_attempts.max(1),
        written: Mutex::new(Vec::new()),
        failed: AtomicBool::new(false),
    };
    let outcome = run(&ctx, prepared, options.concurrency.max(1)).await;
    outcome.map_err(|e| e.with_written(ctx.written_sorted()))
}

/// Reads the manifest, merges every symbol's partitions, then updates the
/// manifest.
async fn run(
    ctx: &Ctx<'_>,
    prepared: Vec<Prepared>,
    concurrency: usize,
) -> Result<MergeReport, MergeError> {
    let manifest_path = layout::manifest_path(ctx.prefix);
    let first_manifest = read_versioned::<Manifest>(ctx.store, &manifest_path).await?;
    let listed: BTreeSet<String> = first_manifest
        .as_ref()
        .map(|m| m.value.symbols.iter().map(|s| s.symbol.clone()).collect())
        .unwrap_or_default();
    let outcomes = merge_symbols(ctx, prepared, &listed, concurrency).await?;
    let manifest = update_manifest(ctx, &outcomes, first_manifest).await?;
    Ok(report(ctx, &outcomes, manifest))
}

/// What the merge changed, from the symbols' and the manifest's outcomes.
fn report(ctx: &Ctx<'_>, outcomes: &[SymbolOutcome], manifest: ManifestOutcome) -> MergeReport {
    let mut touched: BTreeSet<Symbol> = manifest.changed.into_iter().collect();
    touched.extend(
        outcomes
            .iter()
            .filter(|o| o.wrote_partition)
            .map(|o| o.symbol.clone()),
    );
    MergeReport {
        touched: touched.into_iter().collect(),
        symbol_set_changed: !manifest.added.is_empty(),
        symbols_added: manifest.added,
        rows_inserted: outcomes.iter().map(|o| o.rows.inserted).sum(),
        rows_replaced: outcomes.iter().map(|o| o.rows.replaced).sum(),
        rows_unchanged: outcomes.iter().map(|o| o.rows.unchanged).sum(),
        partitions_written: ctx.written_sorted(),
        manifest_written: manifest.written,
        manifest_attempts: manifest.attempts,
    }
}

/// Shared state of one merge.
struct Ctx<'a> {
    store: &'a dyn ObjectStore,
    prefix: &'a Path,
    /// Conditional writes (false on a local folder, which is locked instead).
    conditional: bool,
    max_attempts: u32,
    /// Partition paths written so far.
    written: Mutex<Vec<String>>,
    /// Set by the first failing symbol so that no new symbol starts.
    failed: AtomicBool,
}

impl Ctx<'_> {
    /// Records a partition written.
    fn record_written(&self, path: &Path) {
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.to_string());
    }

    /// The partition paths written so far, sorted.
    fn written_sorted(&self) -> Vec<String> {
        let mut list = self
            .written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        list.sort();
        list
    }

    /// The write mode for an object read at `existing` (`None`: absent).
    fn put_mode(&self, existing: Option<&UpdateVersion>) -> PutMode {
        match (self.conditional, existing) {
            (false, _) => PutMode::Overwrite,
            (true, Some(version)) => PutMode::Update(version.clone()),
            (true, None) => PutMode::Create,
        }
    }
}
