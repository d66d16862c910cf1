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

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use chrono::{Datelike, NaiveDate};
use futures::StreamExt;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion, path::Path,
};
use serde::de::DeserializeOwned;

use super::{Backend, StorageLocation, layout};
use crate::models::{DailyBar, Manifest, Partition, SymbolInfo};
use crate::symbol::Symbol;

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

/// A merge failed. Every variant that can follow writes lists the objects
/// already written (`written`); the manifest is never among them unless it
/// says so, because it is written last.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A bar carries a price that is not a finite number.
    #[error("{symbol} {date}: prices must be finite numbers")]
    InvalidBar {
        /// The symbol.
        symbol: String,
        /// The bar's date.
        date: NaiveDate,
    },
    /// Reading or listing an object failed.
    #[error("reading {path} failed: {source}{}", written_note(.written))]
    Read {
        /// Object path (or listed prefix).
        path: String,
        /// Objects already written when the import stopped.
        written: Vec<String>,
        /// The backend error.
        #[source]
        source: object_store::Error,
    },
    /// An object does not hold what the layout says.
    #[error("object {path} is corrupt: {reason}{}", written_note(.written))]
    Corrupt {
        /// Object path.
        path: String,
        /// What was wrong.
        reason: String,
        /// Objects already written when the import stopped.
        written: Vec<String>,
    },
    /// Writing an object failed.
    #[error("writing {path} failed: {source}{}", written_note(.written))]
    Write {
        /// Object path.
        path: String,
        /// Objects already written when the import stopped.
        written: Vec<String>,
        /// The backend error.
        #[source]
        source: object_store::Error,
    },
    /// Concurrent writers kept changing an object; the merge gave up.
    #[error(
        "{path} kept changing under concurrent imports; gave up after {attempts} attempts{}",
        written_note(.written)
    )]
    Conflict {
        /// Object path.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// Objects already written when the import stopped.
        written: Vec<String>,
    },
    /// The local import lock could not be taken.
    #[error("cannot lock {}: {source}", .path.display())]
    Lock {
        /// Lock file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn written_note(written: &[String]) -> String {
    if written.is_empty() {
        "; nothing was written".to_string()
    } else {
        format!(
            "; already written before the failure ({}): {}",
            written.len(),
            written.join(", ")
        )
    }
}

impl MergeError {
    /// The objects already written when the import stopped.
    pub fn written(&self) -> &[String] {
        match self {
            MergeError::Read { written, .. }
            | MergeError::Corrupt { written, .. }
            | MergeError::Write { written, .. }
            | MergeError::Conflict { written, .. } => written,
            MergeError::InvalidBar { .. } | MergeError::Lock { .. } => &[],
        }
    }

    fn with_written(mut self, list: Vec<String>) -> Self {
        match &mut self {
            MergeError::Read { written, .. }
            | MergeError::Corrupt { written, .. }
            | MergeError::Write { written, .. }
            | MergeError::Conflict { written, .. } => *written = list,
            MergeError::InvalidBar { .. } | MergeError::Lock { .. } => {}
        }
        self
    }
}

/// Holds the exclusive import lock of a local folder until dropped; holds
/// nothing for other backends. See the module documentation.
#[derive(Debug)]
pub struct ImportLock {
    _file: Option<File>,
}

impl ImportLock {
    /// Takes the lock of `location` when it is a local folder, waiting for
    /// any other import holding it.
    pub async fn acquire(location: &StorageLocation) -> Result<Self, MergeError> {
        let Some(root) = location.local_root.clone() else {
            return Ok(ImportLock { _file: None });
        };
        let path = root.join(LOCK_FILE);
        let for_thread = path.clone();
        let locked = tokio::task::spawn_blocking(move || lock_file(&for_thread))
            .await
            .map_err(std::io::Error::other)
            .and_then(|result| result);
        match locked {
            Ok(file) => Ok(ImportLock { _file: Some(file) }),
            Err(source) => Err(MergeError::Lock { path, source }),
        }
    }
}

fn lock_file(path: &std::path::Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    file.lock()?;
    Ok(file)
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
    fn record_written(&self, path: &Path) {
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.to_string());
    }

    fn written_sorted(&self) -> Vec<String> {
        let mut list = self
            .written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        list.sort();
        list
    }

    fn put_mode(&self, existing: Option<&UpdateVersion>) -> PutMode {
        match (self.conditional, existing) {
            (false, _) => PutMode::Overwrite,
            (true, Some(version)) => PutMode::Update(version.clone()),
            (true, None) => PutMode::Create,
        }
    }
}

/// One symbol's input, sorted and grouped by year.
struct Prepared {
    symbol: Symbol,
    years: BTreeMap<i32, Vec<DailyBar>>,
    metadata: Option<SymbolMetadata>,
}

fn prepare(batches: Vec<SymbolUpdate>) -> Result<Vec<Prepared>, MergeError> {
    let mut by_symbol: BTreeMap<Symbol, Prepared> = BTreeMap::new();
    for batch in batches {
        if let Some(bad) = batch.bars.iter().find(|b| !finite(b)) {
            return Err(MergeError::InvalidBar {
                symbol: batch.symbol.to_string(),
                date: bad.date,
            });
        }
        let entry = by_symbol
            .entry(batch.symbol.clone())
            .or_insert_with(|| Prepared {
                symbol: batch.symbol.clone(),
                years: BTreeMap::new(),
                metadata: None,
            });
        if batch.metadata.is_some() {
            entry.metadata = batch.metadata;
        }
        for bar in batch.bars {
            let year = entry.years.entry(bar.date.year()).or_default();
            year.retain(|b| b.date != bar.date);
            year.push(bar);
        }
    }
    let mut prepared: Vec<Prepared> = by_symbol
        .into_values()
        .filter(|p| !p.years.is_empty())
        .collect();
    for p in &mut prepared {
        for bars in p.years.values_mut() {
            bars.sort_by_key(|b| b.date);
        }
    }
    Ok(prepared)
}

fn finite(bar: &DailyBar) -> bool {
    [bar.open, bar.high, bar.low, bar.close]
        .iter()
        .all(|v| v.is_finite())
}

/// Row counts of one symbol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RowCounts {
    inserted: u64,
    replaced: u64,
    unchanged: u64,
}

/// What merging one symbol's partitions did; the manifest step applies it.
#[derive(Clone, Debug)]
struct SymbolOutcome {
    symbol: Symbol,
    rows: RowCounts,
    /// Earliest and latest date of the input rows.
    first: NaiveDate,
    last: NaiveDate,
    metadata: Option<SymbolMetadata>,
    /// The symbol had no manifest entry when the import started.
    was_unlisted: bool,
    /// (first date, last date, bars) over all partitions, when every
    /// partition of the symbol was loaded by the merge.
    full: Option<(NaiveDate, NaiveDate, u64)>,
    wrote_partition: bool,
}

async fn merge_symbols(
    ctx: &Ctx<'_>,
    prepared: Vec<Prepared>,
    listed: &BTreeSet<String>,
    concurrency: usize,
) -> Result<Vec<SymbolOutcome>, MergeError> {
    let mut results = futures::stream::iter(prepared)
        .map(|p| async move {
            if ctx.failed.load(Ordering::SeqCst) {
                return Ok(None);
            }
            let was_unlisted = !listed.contains(p.symbol.as_str());
            let result = merge_symbol(ctx, &p, was_unlisted).await;
            if result.is_err() {
                ctx.failed.store(true, Ordering::SeqCst);
            }
            result.map(Some)
        })
        .buffer_unordered(concurrency);
    let mut outcomes = Vec::new();
    let mut first_error = None;
    // Drain every started symbol, even after a failure, so that the list
    // of written objects is complete when the error is reported.
    while let Some(result) = results.next().await {
        match result {
            Ok(Some(outcome)) => outcomes.push(outcome),
            Ok(None) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => {
            outcomes.sort_by(|a, b| a.symbol.cmp(&b.symbol));
            Ok(outcomes)
        }
    }
}

/// Why one attempt at a symbol stopped.
enum AttemptError {
    /// Another writer changed an object in between: merge again.
    Conflict(String),
    /// Anything else: give up.
    Fatal(MergeError),
}

impl From<MergeError> for AttemptError {
    fn from(e: MergeError) -> Self {
        AttemptError::Fatal(e)
    }
}

async fn merge_symbol(
    ctx: &Ctx<'_>,
    p: &Prepared,
    was_unlisted: bool,
) -> Result<SymbolOutcome, MergeError> {
    // Dates this import inserted in an earlier attempt (still counted as
    // inserted when a retry finds them stored).
    let mut ours: BTreeSet<NaiveDate> = BTreeSet::new();
    let mut wrote = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_merge_symbol(ctx, p, &mut ours, &mut wrote).await {
            Ok(mut outcome) => {
                outcome.was_unlisted = was_unlisted;
                outcome.wrote_partition = wrote;
                return Ok(outcome);
            }
            Err(AttemptError::Conflict(path)) if attempt >= ctx.max_attempts => {
                return Err(MergeError::Conflict {
                    path,
                    attempts: attempt,
                    written: Vec::new(),
                });
            }
            Err(AttemptError::Conflict(_)) => {}
            Err(AttemptError::Fatal(e)) => return Err(e),
        }
    }
}

/// A stored object with the version it was read at.
struct Versioned<T> {
    value: T,
    bytes: Bytes,
    version: UpdateVersion,
}

async fn try_merge_symbol(
    ctx: &Ctx<'_>,
    p: &Prepared,
    ours: &mut BTreeSet<NaiveDate>,
    wrote: &mut bool,
) -> Result<SymbolOutcome, AttemptError> {
    let stored_years = list_years(ctx, &p.symbol).await?;
    let all_years: BTreeSet<i32> = stored_years.iter().chain(p.years.keys()).copied().collect();
    let needed = needed_years(&all_years, &p.years);
    let loaded = load_partitions(ctx, &p.symbol, &needed, &stored_years).await?;

    let mut state: BTreeMap<i32, Partition> = loaded
        .iter()
        .map(|(year, v)| (*year, v.value.clone()))
        .collect();
    let mut rows = RowCounts::default();
    let mut inserted_by_year: BTreeMap<i32, Vec<NaiveDate>> = BTreeMap::new();
    for (year, bars) in &p.years {
        let old = state
            .remove(year)
            .map(|p| p.data_points)
            .unwrap_or_default();
        let (merged, inserted) = merge_bars(old, bars, ours, &mut rows);
        inserted_by_year.insert(*year, inserted);
        state.insert(
            *year,
            Partition {
                symbol: p.symbol.to_string(),
                previous_close: None,
                data_points: merged,
            },
        );
    }
    let old_previous: BTreeMap<i32, Option<f64>> = state
        .iter()
        .map(|(y, part)| (*y, part.previous_close))
        .collect();
    relink_previous_close(&mut state, &all_years, &p.years, &old_previous);

    for (year, partition) in &state {
        let existing = loaded.get(year);
        let path = layout::partition_path(ctx.prefix, &p.symbol, *year);
        if write_if_changed(ctx, &path, partition, existing).await? {
            *wrote = true;
            ctx.record_written(&path);
        }
        if let Some(dates) = inserted_by_year.get(year) {
            ours.extend(dates.iter().copied());
        }
    }

    let full = (all_years.len() == state.len()).then(|| range_of(state.values()));
    let (first, last) = input_range(&p.years);
    Ok(SymbolOutcome {
        symbol: p.symbol.clone(),
        rows,
        first,
        last,
        metadata: p.metadata.clone(),
        was_unlisted: false,
        full: full.flatten(),
        wrote_partition: false,
    })
}

/// Years whose partition the merge must look at: every input year, plus
/// the nearest stored year before it (for its last close) and after it (whose
/// `previous_close` may change).
fn needed_years(all_years: &BTreeSet<i32>, input: &BTreeMap<i32, Vec<DailyBar>>) -> BTreeSet<i32> {
    let mut needed = BTreeSet::new();
    for &year in input.keys() {
        needed.insert(year);
        if let Some(&before) = all_years.range(..year).next_back() {
            needed.insert(before);
        }
        if let Some(&after) = all_years.range(year + 1..).next() {
            needed.insert(after);
        }
    }
    needed
}

/// Sets `previous_close` of every input year and of every year right after
/// an input year to the last close of the nearest earlier year; other years
/// keep theirs.
fn relink_previous_close(
    state: &mut BTreeMap<i32, Partition>,
    all_years: &BTreeSet<i32>,
    input: &BTreeMap<i32, Vec<DailyBar>>,
    old_previous: &BTreeMap<i32, Option<f64>>,
) {
    let years: Vec<i32> = state.keys().copied().collect();
    for year in years {
        let before = all_years.range(..year).next_back().copied();
        let follows_input = before.is_some_and(|b| input.contains_key(&b));
        let value = if input.contains_key(&year) || follows_input {
            before.and_then(|b| state.get(&b)).and_then(last_close)
        } else {
            old_previous.get(&year).copied().flatten()
        };
        if let Some(partition) = state.get_mut(&year) {
            partition.previous_close = value;
        }
    }
}

/// The close a following partition carries as its `previous_close`.
fn last_close(partition: &Partition) -> Option<f64> {
    partition
        .data_points
        .last()
        .map(|bar| bar.close)
        .or(partition.previous_close)
}

/// Upserts `new` into `old` (both any order), counting rows; returns the
/// merged bars ascending and the dates inserted.
fn merge_bars(
    old: Vec<DailyBar>,
    new: &[DailyBar],
    ours: &BTreeSet<NaiveDate>,
    rows: &mut RowCounts,
) -> (Vec<DailyBar>, Vec<NaiveDate>) {
    let mut by_date: BTreeMap<NaiveDate, DailyBar> =
        old.into_iter().map(|bar| (bar.date, bar)).collect();
    let mut inserted = Vec::new();
    for bar in new {
        match by_date.insert(bar.date, bar.clone()) {
            None => {
                rows.inserted += 1;
                inserted.push(bar.date);
            }
            Some(_) if ours.contains(&bar.date) => {
                rows.inserted += 1;
                inserted.push(bar.date);
            }
            Some(previous) if previous == *bar => rows.unchanged += 1,
            Some(_) => rows.replaced += 1,
        }
    }
    (by_date.into_values().collect(), inserted)
}

fn input_range(years: &BTreeMap<i32, Vec<DailyBar>>) -> (NaiveDate, NaiveDate) {
    let dates = years.values().flatten().map(|b| b.date);
    let first = dates.clone().min().unwrap_or_default();
    let last = dates.max().unwrap_or_default();
    (first, last)
}

/// (first date, last date, bar count) over partitions, `None` when they hold no bar.
fn range_of<'a>(
    partitions: impl Iterator<Item = &'a Partition>,
) -> Option<(NaiveDate, NaiveDate, u64)> {
    let mut range: Option<(NaiveDate, NaiveDate, u64)> = None;
    for bar in partitions.flat_map(|p| &p.data_points) {
        range = Some(match range {
            None => (bar.date, bar.date, 1),
            Some((first, last, n)) => (first.min(bar.date), last.max(bar.date), n + 1),
        });
    }
    range
}

/// Writes `partition` unless the stored object already holds it (same
/// bytes, or the same content in another formatting). Returns whether it wrote.
async fn write_if_changed(
    ctx: &Ctx<'_>,
    path: &Path,
    partition: &Partition,
    existing: Option<&Versioned<Partition>>,
) -> Result<bool, AttemptError> {
    if existing.is_some_and(|e| e.value == *partition) {
        return Ok(false);
    }
    let body = to_json(path, partition)?;
    if existing.is_some_and(|e| e.bytes.as_ref() == body.as_slice()) {
        return Ok(false);
    }
    let mode = ctx.put_mode(existing.map(|e| &e.version));
    match put(ctx.store, path, body, mode).await {
        Ok(()) => Ok(true),
        Err(source) if is_conflict(&source) => Err(AttemptError::Conflict(path.to_string())),
        Err(source) => Err(AttemptError::Fatal(MergeError::Write {
            path: path.to_string(),
            written: Vec::new(),
            source,
        })),
    }
}

fn is_conflict(error: &object_store::Error) -> bool {
    matches!(
        error,
        object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }
    )
}

async fn put(
    store: &dyn ObjectStore,
    path: &Path,
    body: Vec<u8>,
    mode: PutMode,
) -> Result<(), object_store::Error> {
    store
        .put_opts(path, PutPayload::from(body), PutOptions::from(mode))
        .await
        .map(|_| ())
}

fn to_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<Vec<u8>, MergeError> {
    serde_json::to_vec(value).map_err(|e| MergeError::Corrupt {
        path: path.to_string(),
        reason: e.to_string(),
        written: Vec::new(),
    })
}

/// Years of `symbol`'s stored partitions (names `YYYY.json` under `daily/{SYMBOL}/`).
async fn list_years(ctx: &Ctx<'_>, symbol: &Symbol) -> Result<BTreeSet<i32>, MergeError> {
    let prefix = ctx.prefix.clone().join("daily").join(symbol.as_str());
    let mut listing = ctx.store.list(Some(&prefix));
    let mut years = BTreeSet::new();
    while let Some(item) = listing.next().await {
        let meta = item.map_err(|source| MergeError::Read {
            path: format!("{prefix}/"),
            written: Vec::new(),
            source,
        })?;
        if let Some(year) = partition_year(&prefix, &meta.location) {
            years.insert(year);
        }
    }
    Ok(years)
}

/// The year of a partition object directly under `prefix`, if `path` is one.
fn partition_year(prefix: &Path, path: &Path) -> Option<i32> {
    let mut rest = path.prefix_match(prefix)?;
    let name = rest.next()?;
    if rest.next().is_some() {
        return None;
    }
    let stem = name.as_ref().strip_suffix(".json")?;
    if stem.len() != 4 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Reads the stored partitions among `years`.
async fn load_partitions(
    ctx: &Ctx<'_>,
    symbol: &Symbol,
    years: &BTreeSet<i32>,
    stored: &BTreeSet<i32>,
) -> Result<BTreeMap<i32, Versioned<Partition>>, AttemptError> {
    let reads = years.iter().filter(|y| stored.contains(y)).map(|&year| {
        let path = layout::partition_path(ctx.prefix, symbol, year);
        async move {
            let read = read_versioned::<Partition>(ctx.store, &path).await?;
            Ok::<_, MergeError>((year, path, read))
        }
    });
    let mut loaded = BTreeMap::new();
    for (year, path, read) in futures::future::try_join_all(reads).await? {
        // Listed a moment ago but gone now: another writer is at work.
        let Some(partition) = read else {
            return Err(AttemptError::Conflict(path.to_string()));
        };
        if partition.value.symbol != symbol.as_str() {
            return Err(AttemptError::Fatal(MergeError::Corrupt {
                path: path.to_string(),
                reason: format!("holds symbol {:?}", partition.value.symbol),
                written: Vec::new(),
            }));
        }
        loaded.insert(year, partition);
    }
    Ok(loaded)
}

/// Reads and parses one JSON object with its version; `None` when absent.
async fn read_versioned<T: DeserializeOwned>(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<Option<Versioned<T>>, MergeError> {
    let read_error = |source| MergeError::Read {
        path: path.to_string(),
        written: Vec::new(),
        source,
    };
    let result = match store.get(path).await {
        Ok(result) => result,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(source) => return Err(read_error(source)),
    };
    let version = UpdateVersion {
        e_tag: result.meta.e_tag.clone(),
        version: result.meta.version.clone(),
    };
    let bytes = result.bytes().await.map_err(read_error)?;
    let value = serde_json::from_slice(&bytes).map_err(|e| MergeError::Corrupt {
        path: path.to_string(),
        reason: e.to_string(),
        written: Vec::new(),
    })?;
    Ok(Some(Versioned {
        value,
        bytes,
        version,
    }))
}

/// What the manifest step did.
struct ManifestOutcome {
    written: bool,
    attempts: u32,
    added: Vec<Symbol>,
    changed: Vec<Symbol>,
}

/// Applies every symbol's outcome to the manifest and writes it when its
/// content changes, re-reading and re-applying on conflicts.
async fn update_manifest(
    ctx: &Ctx<'_>,
    outcomes: &[SymbolOutcome],
    first_read: Option<Versioned<Manifest>>,
) -> Result<ManifestOutcome, MergeError> {
    let path = layout::manifest_path(ctx.prefix);
    let mut current = first_read;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let applied = apply_outcomes(ctx, current.as_ref(), outcomes, attempt).await?;
        let unchanged = current.as_ref().is_some_and(|c| {
            c.value == applied.manifest || c.bytes.as_ref() == applied.body.as_slice()
        });
        if unchanged {
            return Ok(applied.into_outcome(false, attempt));
        }
        let mode = ctx.put_mode(current.as_ref().map(|c| &c.version));
        match put(ctx.store, &path, applied.body.clone(), mode).await {
            Ok(()) => return Ok(applied.into_outcome(true, attempt)),
            Err(source) if is_conflict(&source) && attempt < ctx.max_attempts => {
                current = read_versioned::<Manifest>(ctx.store, &path).await?;
            }
            Err(source) if is_conflict(&source) => {
                return Err(MergeError::Conflict {
                    path: path.to_string(),
                    attempts: attempt,
                    written: Vec::new(),
                });
            }
            Err(source) => {
                return Err(MergeError::Write {
                    path: path.to_string(),
                    written: Vec::new(),
                    source,
                });
            }
        }
    }
}

/// A manifest with this import's changes applied.
struct Applied {
    manifest: Manifest,
    body: Vec<u8>,
    added: Vec<Symbol>,
    changed: Vec<Symbol>,
}

impl Applied {
    fn into_outcome(self, written: bool, attempts: u32) -> ManifestOutcome {
        ManifestOutcome {
            written,
            attempts,
            added: self.added,
            changed: self.changed,
        }
    }
}

async fn apply_outcomes(
    ctx: &Ctx<'_>,
    current: Option<&Versioned<Manifest>>,
    outcomes: &[SymbolOutcome],
    attempt: u32,
) -> Result<Applied, MergeError> {
    let mut entries: BTreeMap<String, SymbolInfo> = current
        .map(|c| {
            c.value
                .symbols
                .iter()
                .map(|s| (s.symbol.clone(), s.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for outcome in outcomes {
        let before = entries.get(outcome.symbol.as_str()).cloned();
        let after = match &before {
            Some(entry) if !outcome.was_unlisted => Some(apply_delta(entry.clone(), outcome)),
            _ => fresh_entry(ctx, outcome, before.as_ref(), attempt).await?,
        };
        let Some(after) = after else { continue };
        if before.is_none() {
            added.push(outcome.symbol.clone());
        }
        if before.as_ref() != Some(&after) {
            changed.push(outcome.symbol.clone());
        }
        entries.insert(after.symbol.clone(), after);
    }
    let mut manifest = Manifest {
        symbols: entries.into_values().collect(),
    };
    manifest.sort();
    let body = to_json(&layout::manifest_path(ctx.prefix), &manifest)?;
    Ok(Applied {
        manifest,
        body,
        added,
        changed,
    })
}

/// An existing entry updated by one symbol's merge.
fn apply_delta(mut entry: SymbolInfo, outcome: &SymbolOutcome) -> SymbolInfo {
    entry.first_date = entry.first_date.min(outcome.first);
    entry.last_date = entry.last_date.max(outcome.last);
    entry.data_points += outcome.rows.inserted;
    if let Some(meta) = &outcome.metadata {
        set_metadata(&mut entry, meta);
    }
    entry
}

fn set_metadata(entry: &mut SymbolInfo, meta: &SymbolMetadata) {
    entry.name = meta.name.clone();
    entry.exchange = meta.exchange.clone();
    entry.currency = meta.currency.clone();
}

/// The entry of a symbol that had none when the import started, computed
/// from all of its partitions: from memory when the merge loaded them all
/// and nobody else wrote the manifest meanwhile, else from storage.
async fn fresh_entry(
    ctx: &Ctx<'_>,
    outcome: &SymbolOutcome,
    listed_now: Option<&SymbolInfo>,
    attempt: u32,
) -> Result<Option<SymbolInfo>, MergeError> {
    let range = match outcome.full {
        Some(range) if attempt == 1 => Some(range),
        _ => scan_symbol(ctx, &outcome.symbol).await?,
    };
    let Some((first_date, last_date, data_points)) = range else {
        return Ok(None);
    };
    let meta = match (&outcome.metadata, listed_now) {
        (Some(meta), _) => meta.clone(),
        (None, Some(entry)) => SymbolMetadata {
            name: entry.name.clone(),
            exchange: entry.exchange.clone(),
            currency: entry.currency.clone(),
        },
        (None, None) => SymbolMetadata::defaults(&outcome.symbol),
    };
    let mut entry = SymbolInfo {
        symbol: outcome.symbol.to_string(),
        name: String::new(),
        exchange: String::new(),
        currency: String::new(),
        first_date,
        last_date,
        data_points,
    };
    set_metadata(&mut entry, &meta);
    Ok(Some(entry))
}

/// (first date, last date, bars) over every stored partition of `symbol`.
async fn scan_symbol(
    ctx: &Ctx<'_>,
    symbol: &Symbol,
) -> Result<Option<(NaiveDate, NaiveDate, u64)>, MergeError> {
    let years = list_years(ctx, symbol).await?;
    let reads = years.iter().map(|&year| {
        let path = layout::partition_path(ctx.prefix, symbol, year);
        async move { read_versioned::<Partition>(ctx.store, &path).await }
    });
    let partitions = futures::future::try_join_all(reads).await?;
    Ok(range_of(partitions.iter().flatten().map(|p| &p.value)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::*;
    use crate::storage::{DatasetWriter, SymbolSeries};

    fn sym(s: &str) -> Symbol {
        Symbol::parse(s).unwrap()
    }

    fn bar(date: &str, close: f64) -> DailyBar {
        DailyBar {
            date: date.parse().unwrap(),
            open: close,
            high: close + 1.0,
            low: close - 1.0,
            close,
            volume: 100,
        }
    }

    fn update(symbol: &str, bars: Vec<DailyBar>) -> SymbolUpdate {
        SymbolUpdate {
            symbol: sym(symbol),
            bars,
            metadata: None,
        }
    }

    fn memory() -> StorageLocation {
        StorageLocation::from_store(Arc::new(InMemory::new()), "data").unwrap()
    }

    /// AAA: 2011 (2 bars), 2013 (2 bars) — no 2012; BBB: 2013 (1 bar).
    async fn seeded() -> StorageLocation {
        let location = memory();
        let writer = DatasetWriter::new(location.clone());
        let mut infos = Vec::new();
        for (symbol, bars) in [
            (
                "AAA",
                vec![
                    bar("2011-03-01", 10.0),
                    bar("2011-12-30", 11.0),
                    bar("2013-01-02", 13.0),
                    bar("2013-01-03", 14.0),
                ],
            ),
            ("BBB", vec![bar("2013-01-02", 50.0)]),
        ] {
            let series = SymbolSeries {
                symbol: sym(symbol),
                name: format!("{symbol} Corp"),
                exchange: "NYSE".into(),
                currency: "EUR".into(),
                bars,
            };
            infos.push(writer.write_symbol(series).await.unwrap().unwrap());
        }
        writer
            .write_manifest(Manifest { symbols: infos })
            .await
            .unwrap();
        location
    }

    async fn raw(location: &StorageLocation, path: &str) -> Option<Bytes> {
        let path = Path::parse(format!("{}/{path}", location.prefix)).unwrap();
        match location.store.get(&path).await {
            Ok(result) => Some(result.bytes().await.unwrap()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("{e}"),
        }
    }

    async fn partition(location: &StorageLocation, symbol: &str, year: i32) -> Partition {
        let bytes = raw(location, &format!("daily/{symbol}/{year}.json"))
            .await
            .unwrap_or_else(|| panic!("no partition {symbol} {year}"));
        serde_json::from_slice(&bytes).unwrap()
    }

    async fn manifest(location: &StorageLocation) -> Manifest {
        serde_json::from_slice(&raw(location, "symbols.json").await.unwrap()).unwrap()
    }

    async fn snapshot(location: &StorageLocation) -> BTreeMap<String, Bytes> {
        let listed: Vec<_> = location
            .store
            .list(None)
            .map(|m| m.unwrap().location)
            .collect()
            .await;
        let mut all = BTreeMap::new();
        for path in listed {
            let bytes = location.store.get(&path).await.unwrap().bytes().await;
            all.insert(path.to_string(), bytes.unwrap());
        }
        all
    }

    async fn merge(location: &StorageLocation, updates: Vec<SymbolUpdate>) -> MergeReport {
        merge_import(location, updates, &MergeOptions::default())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn inserts_a_new_day_and_keeps_everything_else() {
        let location = seeded().await;
        let before = snapshot(&location).await;
        let report = merge(
            &location,
            vec![update("AAA", vec![bar("2013-01-04", 15.0)])],
        )
        .await;
        assert_eq!(report.touched, [sym("AAA")]);
        assert!(!report.symbol_set_changed);
        assert_eq!(
            (
                report.rows_inserted,
                report.rows_replaced,
                report.rows_unchanged
            ),
            (1, 0, 0)
        );
        assert_eq!(report.partitions_written, ["data/daily/AAA/2013.json"]);
        assert!(report.manifest_written);

        let p = partition(&location, "AAA", 2013).await;
        assert_eq!(p.previous_close, Some(11.0));
        let dates: Vec<String> = p.data_points.iter().map(|b| b.date.to_string()).collect();
        assert_eq!(dates, ["2013-01-02", "2013-01-03", "2013-01-04"]);
        let m = manifest(&location).await;
        let aaa = m.get("AAA").unwrap();
        assert_eq!(aaa.data_points, 5);
        assert_eq!(aaa.last_date.to_string(), "2013-01-04");
        assert_eq!(aaa.first_date.to_string(), "2011-03-01");
        assert_eq!(aaa.name, "AAA Corp");
        assert_eq!(m.symbols.len(), 2);

        let after = snapshot(&location).await;
        let changed: Vec<&String> = after
            .iter()
            .filter(|(path, bytes)| before.get(*path) != Some(*bytes))
            .map(|(path, _)| path)
            .collect();
        assert_eq!(
            changed,
            ["data/daily/AAA/2013.json", "data/symbols.json"],
            "only the touched partition and the manifest change"
        );
    }

    #[tokio::test]
    async fn correction_replaces_the_bar_and_keeps_the_count() {
        let location = seeded().await;
        let report = merge(
            &location,
            vec![update("AAA", vec![bar("2013-01-02", 99.0)])],
        )
        .await;
        assert_eq!(
            (
                report.rows_inserted,
                report.rows_replaced,
                report.rows_unchanged
            ),
            (0, 1, 0)
        );
        let p = partition(&location, "AAA", 2013).await;
        assert_eq!(p.data_points.len(), 2);
        assert_eq!(p.data_points[0].close, 99.0);
        assert_eq!(manifest(&location).await.get("AAA").unwrap().data_points, 4);
        // Range and count did not change: the manifest is not rewritten.
        assert!(!report.manifest_written);
        assert_eq!(report.touched, [sym("AAA")]);
    }

    #[tokio::test]
    async fn backfill_of_a_years_last_bar_relinks_the_next_year() {
        let location = seeded().await;
        let report = merge(
            &location,
            vec![update("AAA", vec![bar("2011-12-31", 12.5)])],
        )
        .await;
        assert_eq!(
            report.partitions_written,
            ["data/daily/AAA/2011.json", "data/daily/AAA/2013.json"]
        );
        assert_eq!(
            partition(&location, "AAA", 2013).await.previous_close,
            Some(12.5)
        );
        assert_eq!(partition(&location, "AAA", 2011).await.previous_close, None);
        // A correction of that last bar relinks again.
        merge(
            &location,
            vec![update("AAA", vec![bar("2011-12-31", 7.25)])],
        )
        .await;
        assert_eq!(
            partition(&location, "AAA", 2013).await.previous_close,
            Some(7.25)
        );
        assert_eq!(manifest(&location).await.get("AAA").unwrap().data_points, 5);
    }

    #[tokio::test]
    async fn new_years_before_and_between_existing_ones_relink_their_neighbours() {
        let location = seeded().await;
        let report = merge(
            &location,
            vec![update(
                "AAA",
                vec![bar("2012-06-01", 20.0), bar("2009-05-05", 5.0)],
            )],
        )
        .await;
        assert_eq!(
            report.partitions_written,
            [
                "data/daily/AAA/2009.json",
                "data/daily/AAA/2011.json",
                "data/daily/AAA/2012.json",
                "data/daily/AAA/2013.json"
            ]
        );
        assert_eq!(partition(&location, "AAA", 2009).await.previous_close, None);
        assert_eq!(
            partition(&location, "AAA", 2011).await.previous_close,
            Some(5.0)
        );
        assert_eq!(
            partition(&location, "AAA", 2012).await.previous_close,
            Some(11.0)
        );
        assert_eq!(
            partition(&location, "AAA", 2013).await.previous_close,
            Some(20.0)
        );
        let m = manifest(&location).await;
        let aaa = m.get("AAA").unwrap();
        assert_eq!(aaa.first_date.to_string(), "2009-05-05");
        assert_eq!(aaa.data_points, 6);
    }

    #[tokio::test]
    async fn second_identical_import_writes_nothing() {
        let location = seeded().await;
        let rows = || {
            vec![
                update("AAA", vec![bar("2013-01-04", 15.0), bar("2013-01-02", 1.0)]),
                update("CCC", vec![bar("2014-01-02", 3.0)]),
            ]
        };
        let first = merge(&location, rows()).await;
        assert_eq!((first.rows_inserted, first.rows_replaced), (2, 1));
        let before = snapshot(&location).await;
        let second = merge(&location, rows()).await;
        assert_eq!(
            (
                second.rows_inserted,
                second.rows_replaced,
                second.rows_unchanged
            ),
            (0, 0, 3)
        );
        assert!(second.partitions_written.is_empty());
        assert!(!second.manifest_written);
        assert!(second.touched.is_empty());
        assert!(!second.symbol_set_changed);
        assert_eq!(snapshot(&location).await, before);
    }

    #[tokio::test]
    async fn new_symbol_changes_the_symbol_set_with_defaults_or_metadata() {
        let location = seeded().await;
        let mut with_meta = update("DDD", vec![bar("2014-01-03", 4.0)]);
        with_meta.metadata = Some(SymbolMetadata {
            name: "Dee".into(),
            exchange: "LSE".into(),
            currency: "GBP".into(),
        });
        let report = merge(
            &location,
            vec![
                update("CCC", vec![bar("2014-01-02", 3.0), bar("2013-12-31", 2.0)]),
                with_meta,
            ],
        )
        .await;
        assert!(report.symbol_set_changed);
        assert_eq!(report.symbols_added, [sym("CCC"), sym("DDD")]);
        let m = manifest(&location).await;
        let names: Vec<&str> = m.symbols.iter().map(|s| s.symbol.as_str()).collect();
        assert_eq!(names, ["AAA", "BBB", "CCC", "DDD"]);
        let ccc = m.get("CCC").unwrap();
        assert_eq!(
            (
                ccc.name.as_str(),
                ccc.exchange.as_str(),
                ccc.currency.as_str()
            ),
            ("CCC", DEFAULT_EXCHANGE, DEFAULT_CURRENCY)
        );
        assert_eq!(ccc.data_points, 2);
        assert_eq!(ccc.first_date.to_string(), "2013-12-31");
        assert_eq!(
            partition(&location, "CCC", 2014).await.previous_close,
            Some(2.0)
        );
        let ddd = m.get("DDD").unwrap();
        assert_eq!((ddd.name.as_str(), ddd.currency.as_str()), ("Dee", "GBP"));
        // Metadata given for an existing symbol replaces its metadata.
        let mut rename = update("BBB", vec![bar("2013-01-02", 50.0)]);
        rename.metadata = Some(SymbolMetadata {
            name: "Bee".into(),
            exchange: "NYSE".into(),
            currency: "EUR".into(),
        });
        let report = merge(&location, vec![rename]).await;
        assert_eq!(report.touched, [sym("BBB")]);
        assert!(report.partitions_written.is_empty());
        assert_eq!(manifest(&location).await.get("BBB").unwrap().name, "Bee");
    }

    #[tokio::test]
    async fn orphan_partitions_get_an_entry_computed_from_all_of_them() {
        let location = seeded().await;
        // Drop BBB from the manifest, keeping AAA: BBB's partition is an orphan.
        let mut m = manifest(&location).await;
        m.symbols.retain(|s| s.symbol != "BBB");
        DatasetWriter::new(location.clone())
            .write_manifest(m)
            .await
            .unwrap();
        let report = merge(
            &location,
            vec![update("BBB", vec![bar("2015-02-02", 60.0)])],
        )
        .await;
        assert!(report.symbol_set_changed);
        let m = manifest(&location).await;
        let bbb = m.get("BBB").unwrap();
        assert_eq!(bbb.data_points, 2);
        assert_eq!(bbb.first_date.to_string(), "2013-01-02");
        assert_eq!(bbb.last_date.to_string(), "2015-02-02");
        assert_eq!(m.get("AAA").unwrap().data_points, 4);
    }

    /// Passes every call to an [`InMemory`] store after yielding to the
    /// scheduler a few times, so that imports joined on one task interleave
    /// between their reads and writes (a plain `InMemory` never yields).
    #[derive(Debug)]
    struct Yielding(InMemory);

    impl std::fmt::Display for Yielding {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Yielding({})", self.0)
        }
    }

    async fn yield_some() {
        for _ in 0..fastrand::usize(0..4) {
            tokio::task::yield_now().await;
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Yielding {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            yield_some().await;
            self.0.put_opts(location, payload, opts).await
        }

        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
            self.0.put_multipart_opts(location, opts).await
        }

        async fn get_opts(
            &self,
            location: &Path,
            options: object_store::GetOptions,
        ) -> object_store::Result<object_store::GetResult> {
            yield_some().await;
            self.0.get_opts(location, options).await
        }

        async fn get_ranges(
            &self,
            location: &Path,
            ranges: &[std::ops::Range<u64>],
        ) -> object_store::Result<Vec<Bytes>> {
            self.0.get_ranges(location, ranges).await
        }

        fn delete_stream(
            &self,
            locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
            self.0.delete_stream(locations)
        }

        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>>
        {
            self.0.list(prefix)
        }

        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<object_store::ListResult> {
            self.0.list_with_delimiter(prefix).await
        }

        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            self.0.copy_opts(from, to, options).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_imports_keep_both_imports_entries_and_rows() {
        let mut conflicts = 0;
        for round in 0..40 {
            let seed = seeded().await;
            let location =
                StorageLocation::from_store(Arc::new(Yielding(InMemory::new())), "data").unwrap();
            for (path, bytes) in snapshot(&seed).await {
                let path = Path::parse(path).unwrap();
                location.store.put(&path, bytes.into()).await.unwrap();
            }
            let a = vec![
                update("AAA", vec![bar("2013-01-04", 15.0)]),
                update("NEWA", vec![bar("2013-01-04", 1.0)]),
            ];
            let b = vec![
                update("AAA", vec![bar("2013-01-07", 16.0)]),
                update("BBB", vec![bar("2013-01-03", 51.0)]),
                update("NEWB", vec![bar("2013-01-04", 2.0)]),
            ];
            let options = MergeOptions {
                concurrency: 4,
                max_attempts: 10,
            };
            let (ra, rb) = tokio::join!(
                merge_import(&location, a, &options),
                merge_import(&location, b, &options)
            );
            let (ra, rb) = (ra.unwrap(), rb.unwrap());
            if ra.manifest_attempts + rb.manifest_attempts > 2 {
                conflicts += 1;
            }
            assert_eq!(ra.rows_inserted + rb.rows_inserted, 5, "round {round}");
            let m = manifest(&location).await;
            let names: Vec<&str> = m.symbols.iter().map(|s| s.symbol.as_str()).collect();
            assert_eq!(names, ["AAA", "BBB", "NEWA", "NEWB"], "round {round}");
            let aaa = m.get("AAA").unwrap();
            assert_eq!(aaa.data_points, 6, "round {round}");
            assert_eq!(aaa.last_date.to_string(), "2013-01-07");
            assert_eq!(m.get("BBB").unwrap().data_points, 2);
            let p = partition(&location, "AAA", 2013).await;
            assert_eq!(p.data_points.len(), 4, "round {round}: both rows kept");
        }
        assert!(
            conflicts > 0,
            "the imports never conflicted: the test proves nothing"
        );
    }

    #[tokio::test]
    async fn conflicting_manifest_is_reread_and_reapplied() {
        let location = seeded().await;
        let store = location.store.clone();
        let path = layout::manifest_path(&location.prefix);
        // Read the manifest's version, then let another writer change it:
        // a write against the old version must fail and a merge must retry.
        let stale = read_versioned::<Manifest>(store.as_ref(), &path)
            .await
            .unwrap()
            .unwrap();
        merge(&location, vec![update("ZZZ", vec![bar("2013-01-02", 1.0)])]).await;
        let conflict = put(
            store.as_ref(),
            &path,
            b"{}".to_vec(),
            PutMode::Update(stale.version),
        )
        .await
        .unwrap_err();
        assert!(is_conflict(&conflict), "{conflict}");
        let ctx = Ctx {
            store: store.as_ref(),
            prefix: &location.prefix,
            conditional: true,
            max_attempts: 3,
            written: Mutex::new(Vec::new()),
            failed: AtomicBool::new(false),
        };
        let outcome = SymbolOutcome {
            symbol: sym("AAA"),
            rows: RowCounts {
                inserted: 1,
                replaced: 0,
                unchanged: 0,
            },
            first: "2013-01-04".parse().unwrap(),
            last: "2013-01-04".parse().unwrap(),
            metadata: None,
            was_unlisted: false,
            full: None,
            wrote_partition: true,
        };
        // Start from the stale manifest (without ZZZ): the first put conflicts.
        let stale = read_versioned::<Manifest>(store.as_ref(), &path)
            .await
            .unwrap()
            .map(|mut v| {
                v.version = UpdateVersion {
                    e_tag: Some("\"stale\"".into()),
                    version: None,
                };
                v
            });
        let done = update_manifest(&ctx, &[outcome], stale).await.unwrap();
        assert_eq!(done.attempts, 2);
        assert!(done.written);
        let m = manifest(&location).await;
        assert!(m.get("ZZZ").is_some());
        assert_eq!(m.get("AAA").unwrap().data_points, 5);
    }

    #[tokio::test]
    async fn failure_part_way_lists_the_objects_already_written() {
        let location = seeded().await;
        let bad = layout::partition_path(&location.prefix, &sym("BBB"), 2013);
        location
            .store
            .put(&bad, PutPayload::from_static(b"not json"))
            .await
            .unwrap();
        let manifest_before = raw(&location, "symbols.json").await;
        let error = merge_import(
            &location,
            vec![
                update("AAA", vec![bar("2013-01-04", 15.0)]),
                update("BBB", vec![bar("2013-01-03", 1.0)]),
            ],
            &MergeOptions {
                concurrency: 1,
                max_attempts: 3,
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(error, MergeError::Corrupt { .. }), "{error}");
        assert_eq!(error.written(), ["data/daily/AAA/2013.json"]);
        let message = error.to_string();
        assert!(
            message.contains("data/daily/BBB/2013.json is corrupt"),
            "{message}"
        );
        assert!(
            message.contains("already written before the failure (1): data/daily/AAA/2013.json"),
            "{message}"
        );
        assert_eq!(raw(&location, "symbols.json").await, manifest_before);
    }

    #[tokio::test]
    async fn non_finite_prices_are_refused_before_any_write() {
        let location = seeded().await;
        let before = snapshot(&location).await;
        let error = merge_import(
            &location,
            vec![update("AAA", vec![bar("2013-01-04", f64::NAN)])],
            &MergeOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(error.to_string().contains("finite"), "{error}");
        assert_eq!(snapshot(&location).await, before);
    }

    #[test]
    fn partition_year_accepts_only_yyyy_json_directly_under_the_prefix() {
        let prefix = Path::from("data/daily/AAA");
        let year = |p: &str| partition_year(&prefix, &Path::from(p));
        assert_eq!(year("data/daily/AAA/2013.json"), Some(2013));
        assert_eq!(year("data/daily/AAA/213.json"), None);
        assert_eq!(year("data/daily/AAA/2013.json.tmp"), None);
        assert_eq!(year("data/daily/AAA/x/2013.json"), None);
        assert_eq!(year("data/daily/AAAB/2013.json"), None);
    }
}
