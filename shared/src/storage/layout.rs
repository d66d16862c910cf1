//! Object names of the storage layout.
//!
//! ```text
//! {prefix}/symbols.json               manifest: every symbol's info
//! {prefix}/daily/{SYMBOL}/{YYYY}.json one partition per symbol and year
//! ```

use object_store::path::Path;

use crate::symbol::Symbol;

/// Name of the manifest object.
pub const MANIFEST: &str = "symbols.json";

/// Path of the manifest under `prefix`.
pub fn manifest_path(prefix: &Path) -> Path {
    prefix.clone().join(MANIFEST)
}

/// Path of `symbol`'s partition for `year` under `prefix`.
pub fn partition_path(prefix: &Path, symbol: &Symbol, year: i32) -> Path {
    prefix
        .clone()
        .join("daily")
        .join(symbol.as_str())
        .join(format!("{year:04}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_prefix() {
        let prefix = Path::from("data/v1");
        assert_eq!(manifest_path(&prefix).as_ref(), "data/v1/symbols.json");
        let sym = Symbol::parse("brk.b").unwrap();
        assert_eq!(
            partition_path(&prefix, &sym, 2013).as_ref(),
            "data/v1/daily/BRK.B/2013.json"
        );
        assert_eq!(
            partition_path(&Path::default(), &sym, 999).as_ref(),
            "daily/BRK.B/0999.json"
        );
    }
}
