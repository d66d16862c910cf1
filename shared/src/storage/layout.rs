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

/// What an object key names in the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredObject {
    /// `{prefix}/symbols.json`.
    Manifest,
    /// `{prefix}/daily/{SYMBOL}/{YYYY}.json`.
    Partition {
        /// Its symbol.
        symbol: Symbol,
        /// Its year.
        year: i32,
    },
}

/// Classifies the object `key` (a full key in the bucket, no leading `/`)
/// under `prefix`; `None` for keys outside the prefix, other names and
/// invalid symbols.
pub fn classify(prefix: &Path, key: &str) -> Option<StoredObject> {
    let rest = match prefix.as_ref() {
        "" => key,
        prefix => key.strip_prefix(prefix)?.strip_prefix('/')?,
    };
    if rest == MANIFEST {
        return Some(StoredObject::Manifest);
    }
    let mut parts = rest.split('/');
    let (Some("daily"), Some(symbol), Some(file), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let year = file.strip_suffix(".json")?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let symbol = Symbol::parse(symbol)
        .ok()
        .filter(|s| s.as_str() == symbol)?;
    Some(StoredObject::Partition {
        symbol,
        year: year.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_keys_under_the_prefix_only() {
        let prefix = Path::from("data/v1");
        let brk = Symbol::parse("BRK.B").unwrap();
        assert_eq!(
            classify(&prefix, "data/v1/symbols.json"),
            Some(StoredObject::Manifest)
        );
        assert_eq!(
            classify(&prefix, "data/v1/daily/BRK.B/2013.json"),
            Some(StoredObject::Partition {
                symbol: brk.clone(),
                year: 2013
            })
        );
        assert_eq!(
            classify(&Path::default(), "daily/BRK.B/0999.json"),
            Some(StoredObject::Partition {
                symbol: brk,
                year: 999
            })
        );
        for outside in [
            "symbols.json",
            "data/v10/symbols.json",
            "data/v1symbols.json",
            "data/v1/daily/aapl/2013.json",
            "data/v1/daily/A*B/2013.json",
            "data/v1/daily/AAPL/13.json",
            "data/v1/daily/AAPL/2013.csv",
            "data/v1/daily/AAPL/x/2013.json",
            "data/v1/daily/AAPL",
            "data/v1/other/AAPL/2013.json",
            "",
        ] {
            assert_eq!(classify(&prefix, outside), None, "{outside}");
        }
    }

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
