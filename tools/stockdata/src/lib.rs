//! The `stockdata` tool as a library: CSV import, synthetic data and the
//! argument parser, so that tests can drive each part directly.
//!
//! `import` merges into the existing data set by default through
//! [`shared::storage::merge_import`]; `import --replace` and `synth` write a
//! whole data set through [`shared::storage::DatasetWriter`]. Either way the
//! output is exactly the layout the API reads: `symbols.json` plus
//! `daily/{SYMBOL}/{YYYY}.json` partitions with `previous_close`.

pub mod args;
pub mod cache_sync;
pub mod csv_import;
pub mod output;
pub mod synth;
