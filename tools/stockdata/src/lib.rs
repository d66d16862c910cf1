//! The `stockdata` tool as a library: CSV import, synthetic data and the
//! argument parser, so that tests can drive each part directly.
//!
//! Both commands write through [`shared::storage::DatasetWriter`], so the
//! output is exactly the layout the API reads: `symbols.json` plus
//! `daily/{SYMBOL}/{YYYY}.json` partitions with `previous_close`.

pub mod args;
pub mod csv_import;
pub mod output;
pub mod synth;
