//! The input of a merge: rows checked for finite prices and grouped by
//! symbol and year, the last row of a date winning.

use std::collections::BTreeMap;

use chrono::Datelike;

use super::{MergeError, SymbolMetadata, SymbolUpdate};
use crate::models::DailyBar;
use crate::symbol::Symbol;

/// One symbol's input, sorted and grouped by year.
pub(super) struct Prepared {
    /// The symbol.
    pub(super) symbol: Symbol,
    /// Bars by year, ascending by date, one per date.
    pub(super) years: BTreeMap<i32, Vec<DailyBar>>,
    /// The last metadata given for the symbol.
    pub(super) metadata: Option<SymbolMetadata>,
}

/// Checks every bar for finite prices and groups the bars by symbol and
/// year; symbols without bars are dropped.
pub(super) fn prepare(batches: Vec<SymbolUpdate>) -> Result<Vec<Prepared>, MergeError> {
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

/// True when every price of `bar` is a finite number.
fn finite(bar: &DailyBar) -> bool {
    [bar.open, bar.high, bar.low, bar.close]
        .iter()
        .all(|v| v.is_finite())
}
