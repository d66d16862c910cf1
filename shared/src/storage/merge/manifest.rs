//! The manifest step: applies every symbol's outcome to the manifest and
//! writes it when its content changes, re-reading it on conflicts.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::objects::{Versioned, is_conflict, list_years, put, read_versioned, to_json};
use super::symbol::{SymbolOutcome, range_of};
use super::{Ctx, MergeError, SymbolMetadata, layout};
use crate::models::{Manifest, Partition, SymbolInfo};
use crate::symbol::Symbol;

/// What the manifest step did.
pub(super) struct ManifestOutcome {
    /// The manifest object was written.
    pub(super) written: bool,
    /// Write attempts made.
    pub(super) attempts: u32,
    /// Symbols added to the manifest, sorted.
    pub(super) added: Vec<Symbol>,
    /// Symbols whose manifest entry changed, sorted.
    pub(super) changed: Vec<Symbol>,
}

/// Applies every symbol's outcome to the manifest and writes it when its
/// content changes, re-reading and re-applying on conflicts.
pub(super) async fn update_manifest(
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

/// `current` (or an empty manifest) with every outcome applied; `attempt`
/// tells [`fresh_entry`] whether it may trust what the merge loaded.
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

/// Records `meta` in `entry`.
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
