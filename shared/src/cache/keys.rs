//! The closed key scheme. Every key the project writes starts with the prefix.

use crate::symbol::Symbol;

/// The value keys' segments after the prefix (each kind's builder and
/// [`KeySpace::kind_of`] share them).
const LATEST: &str = "price:latest:";
const RECENT: &str = "data:recent:";
const LIST: &str = "symbols:list";
const INFO: &str = "symbol:info:";

/// What a cached value is, for statistics per kind (the endpoints' kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// `GET /v1/stocks/{symbol}/latest`.
    Latest,
    /// `GET /v1/stocks/{symbol}/recent`.
    Recent,
    /// `GET /v1/symbols`.
    List,
    /// `GET /v1/symbols/{symbol}`.
    Info,
}

impl KeyKind {
    /// Every kind, in the order of [`KeyKind::index`].
    pub(crate) const ALL: [KeyKind; 4] = [
        KeyKind::Latest,
        KeyKind::Recent,
        KeyKind::List,
        KeyKind::Info,
    ];

    /// Position in [`KeyKind::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Builds every cache key under one prefix.
#[derive(Clone, Debug)]
pub struct KeySpace {
    prefix: String,
}

impl KeySpace {
    /// Keys under `prefix` (e.g. `stocks:v1:`).
    pub fn new(prefix: impl Into<String>) -> Self {
        KeySpace {
            prefix: prefix.into(),
        }
    }

    /// The prefix itself.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `price:latest:{SYMBOL}`.
    pub fn latest_price(&self, symbol: &Symbol) -> String {
        format!("{}{LATEST}{symbol}", self.prefix)
    }

    /// `data:recent:{SYMBOL}`: the cached recent window.
    pub fn recent_data(&self, symbol: &Symbol) -> String {
        format!("{}{RECENT}{symbol}", self.prefix)
    }

    /// `symbols:list`.
    pub fn symbol_list(&self) -> String {
        format!("{}{LIST}", self.prefix)
    }

    /// `symbol:info:{SYMBOL}`.
    pub fn symbol_info(&self, symbol: &Symbol) -> String {
        format!("{}{INFO}{symbol}", self.prefix)
    }

    /// `data:generation`: the token every invalidation replaces (see [`crate::generation`]).
    pub fn generation(&self) -> String {
        format!("{}data:generation", self.prefix)
    }

    /// A SCAN `MATCH` pattern for every symbol-info key.
    pub fn symbol_info_pattern(&self) -> String {
        format!("{}{INFO}*", self.prefix)
    }

    /// The refresh lock of a value key: `lock:{key without prefix}`.
    pub fn lock_for(&self, key: &str) -> String {
        let rest = key.strip_prefix(&self.prefix).unwrap_or(key);
        format!("{}lock:{rest}", self.prefix)
    }

    /// Every key that belongs to `symbol`: values and their locks.
    pub fn all_of_symbol(&self, symbol: &Symbol) -> Vec<String> {
        let values = [
            self.latest_price(symbol),
            self.recent_data(symbol),
            self.symbol_info(symbol),
        ];
        let locks: Vec<String> = values.iter().map(|k| self.lock_for(k)).collect();
        values.into_iter().chain(locks).collect()
    }

    /// `stats:counters`: the global counters, one `i64` bitfield slot each (see `stats.rs`).
    pub fn stats_counters(&self) -> String {
        format!("{}stats:counters", self.prefix)
    }

    /// `stats:{hits,misses,stale,errors,bypass}`: the counters of versions
    /// before 2026-12-02, one key each, no longer read (a reset deletes them).
    pub(crate) fn legacy_stats_counters(&self) -> Vec<String> {
        ["hits", "misses", "stale", "errors", "bypass"]
            .iter()
            .map(|name| format!("{}stats:{name}", self.prefix))
            .collect()
    }

    /// `stats:scratch:{id}`: a container's short-lived popularity counts
    /// (written, summed into [`KeySpace::popularity`] and deleted in one flush).
    pub fn stats_scratch(&self, id: &str) -> String {
        format!("{}stats:scratch:{id}", self.prefix)
    }

    /// `stats:since`: when counting started (RFC 3339).
    pub fn stats_since(&self) -> String {
        format!("{}stats:since", self.prefix)
    }

    /// `stats:popular`: sorted set of request counts per symbol.
    pub fn popularity(&self) -> String {
        format!("{}stats:popular", self.prefix)
    }

    /// What `key` (one of this scheme's value keys) holds; `None` for any other key.
    pub(crate) fn kind_of(&self, key: &str) -> Option<KeyKind> {
        let rest = key.strip_prefix(&self.prefix)?;
        if rest.starts_with(LATEST) {
            Some(KeyKind::Latest)
        } else if rest.starts_with(RECENT) {
            Some(KeyKind::Recent)
        } else if rest == LIST {
            Some(KeyKind::List)
        } else if rest.starts_with(INFO) {
            Some(KeyKind::Info)
        } else {
            None
        }
    }

    /// A SCAN `MATCH` pattern for every key under the prefix (the prefix holds no glob characters).
    pub fn scan_pattern(&self) -> String {
        format!("{}*", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_scheme_and_stay_under_the_prefix() {
        let keys = KeySpace::new("stocks:v1:");
        let aapl = Symbol::parse("aapl").unwrap();
        assert_eq!(keys.latest_price(&aapl), "stocks:v1:price:latest:AAPL");
        assert_eq!(keys.recent_data(&aapl), "stocks:v1:data:recent:AAPL");
        assert_eq!(keys.symbol_list(), "stocks:v1:symbols:list");
        assert_eq!(keys.symbol_info(&aapl), "stocks:v1:symbol:info:AAPL");
        assert_eq!(
            keys.lock_for(&keys.latest_price(&aapl)),
            "stocks:v1:lock:price:latest:AAPL"
        );
        for key in keys.all_of_symbol(&aapl) {
            assert!(key.starts_with("stocks:v1:"), "{key}");
            assert!(key.ends_with("AAPL"), "{key}");
        }
        assert_eq!(keys.all_of_symbol(&aapl).len(), 6);
        assert_eq!(keys.generation(), "stocks:v1:data:generation");
        assert_eq!(keys.symbol_info_pattern(), "stocks:v1:symbol:info:*");
    }

    #[test]
    fn kinds_follow_the_value_keys_only() {
        let keys = KeySpace::new("p:");
        let aapl = Symbol::parse("AAPL").unwrap();
        assert_eq!(
            keys.kind_of(&keys.latest_price(&aapl)),
            Some(KeyKind::Latest)
        );
        assert_eq!(
            keys.kind_of(&keys.recent_data(&aapl)),
            Some(KeyKind::Recent)
        );
        assert_eq!(keys.kind_of(&keys.symbol_list()), Some(KeyKind::List));
        assert_eq!(keys.kind_of(&keys.symbol_info(&aapl)), Some(KeyKind::Info));
        assert_eq!(keys.kind_of(&keys.generation()), None);
        assert_eq!(
            keys.kind_of(&keys.lock_for(&keys.latest_price(&aapl))),
            None
        );
        assert_eq!(keys.kind_of("q:price:latest:AAPL"), None, "other prefix");
        for (i, kind) in KeyKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }
}
