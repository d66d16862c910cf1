//! The per-symbol merge: reads the partitions a symbol's rows touch, upserts
//! the rows, relinks `previous_close` and writes the partitions that change,
//! merging again on top of fresh objects when a concurrent writer conflicts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use chrono::NaiveDate;
use futures::StreamExt;

use super::error::AttemptError;
use super::objects::{Versioned, list_years, load_partitions, write_if_changed};
use super::{Ctx, MergeError, Prepared, SymbolMetadata, layout};
use crate::models::{DailyBar, Partition};
use crate::symbol::Symbol;

/// Row counts of one symbol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RowCounts {
    /// Rows for dates that were not stored.
    pub(super) inserted: u64,
    /// Rows that replaced a different stored bar of the same date.
    pub(super) replaced: u64,
    /// Rows equal to the stored bar of the same date.
    pub(super) unchanged: u64,
}

/// What merging one symbol's partitions did; the manifest step applies it.
#[derive(Clone, Debug)]
pub(super) struct SymbolOutcome {
    /// The symbol.
    pub(super) symbol: Symbol,
    /// Its row counts.
    pub(super) rows: RowCounts,
    /// Earliest date of the input rows.
    pub(super) first: NaiveDate,
    /// Latest date of the input rows.
    pub(super) last: NaiveDate,
    /// Metadata given for the symbol, if any.
    pub(super) metadata: Option<SymbolMetadata>,
    /// The symbol had no manifest entry when the import started.
    pub(super) was_unlisted: bool,
    /// (first date, last date, bars) over all partitions, when every
    /// partition of the symbol was loaded by the merge.
    pub(super) full: Option<(NaiveDate, NaiveDate, u64)>,
    /// At least one of the symbol's partitions was written.
    pub(super) wrote_partition: bool,
}

/// Merges every prepared symbol, `concurrency` at a time; after the first
/// failure no new symbol starts. Outcomes are sorted by symbol.
pub(super) async fn merge_symbols(
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

/// Merges one symbol, merging again on conflicts up to `max_attempts` times.
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

/// One attempt at merging `p`: reads the partitions it needs, merges the
/// rows in and writes the partitions that change.
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

    let mut rows = RowCounts::default();
    let (state, inserted_by_year) = merge_years(p, &loaded, &all_years, ours, &mut rows);
    write_partitions(
        ctx,
        &p.symbol,
        &state,
        &loaded,
        &inserted_by_year,
        ours,
        wrote,
    )
    .await?;

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

/// The partitions of `p`'s symbol after merging its rows into the `loaded`
/// ones, with `previous_close` relinked, and the dates inserted per year.
fn merge_years(
    p: &Prepared,
    loaded: &BTreeMap<i32, Versioned<Partition>>,
    all_years: &BTreeSet<i32>,
    ours: &BTreeSet<NaiveDate>,
    rows: &mut RowCounts,
) -> (BTreeMap<i32, Partition>, BTreeMap<i32, Vec<NaiveDate>>) {
    let mut state: BTreeMap<i32, Partition> = loaded
        .iter()
        .map(|(year, v)| (*year, v.value.clone()))
        .collect();
    let mut inserted_by_year: BTreeMap<i32, Vec<NaiveDate>> = BTreeMap::new();
    for (year, bars) in &p.years {
        let old = state
            .remove(year)
            .map(|p| p.data_points)
            .unwrap_or_default();
        let (merged, inserted) = merge_bars(old, bars, ours, rows);
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
    relink_previous_close(&mut state, all_years, &p.years, &old_previous);
    (state, inserted_by_year)
}

/// Writes every partition of `state` whose content changed, recording it
/// in `ctx` and `wrote`; adds the dates inserted into each year handled to
/// `ours`.
async fn write_partitions(
    ctx: &Ctx<'_>,
    symbol: &Symbol,
    state: &BTreeMap<i32, Partition>,
    loaded: &BTreeMap<i32, Versioned<Partition>>,
    inserted_by_year: &BTreeMap<i32, Vec<NaiveDate>>,
    ours: &mut BTreeSet<NaiveDate>,
    wrote: &mut bool,
) -> Result<(), AttemptError> {
    for (year, partition) in state {
        let existing = loaded.get(year);
        let path = layout::partition_path(ctx.prefix, symbol, *year);
        if write_if_changed(ctx, &path, partition, existing).await? {
            *wrote = true;
            ctx.record_written(&path);
        }
        if let Some(dates) = inserted_by_year.get(year) {
            ours.extend(dates.iter().copied());
        }
    }
    Ok(())
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

/// Earliest and latest date of the input rows.
fn input_range(years: &BTreeMap<i32, Vec<DailyBar>>) -> (NaiveDate, NaiveDate) {
    let dates = years.values().flatten().map(|b| b.date);
    let first = dates.clone().min().unwrap_or_default();
    let last = dates.max().unwrap_or_default();
    (first, last)
}

/// (first date, last date, bar count) over partitions, `None` when they hold no bar.
pub(super) fn range_of<'a>(
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
