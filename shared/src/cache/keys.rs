//! The closed key scheme. Every key the project writes starts with the prefix.

use crate::symbol::Symbol;

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
        format!("{}price:latest:{symbol}", self.prefix)
    }

    /// `data:recent:{SYMBOL}`: the cached recent window.
    pub fn recent_data(&self, symbol: &Symbol) -> String {
        format!("{}data:recent:{symbol}", self.prefix)
    }

    /// `symbols:list`.
    pub fn symbol_list(&self) -> String {
        format!("{}symbols:list", self.prefix)
    }

    /// `symbol:info:{SYMBOL}`.
    pub fn symbol_info(&self, symbol: &Symbol) -> String {
        format!("{}symbol:info:{symbol}", self.prefix)
    }

    /// `data:generation`: the token every invalidation replaces (see [`crate::generation`]).
    pub fn generation(&self) -> String {
        format!("{}data:generation", self.prefix)
    }

    /// A SCAN `MATCH` pattern for every symbol-info key.
    pub fn symbol_info_pattern(&self) -> String {
        format!("{}symbol:info:*", self.prefix)
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

    /// `stats:{name}`: a global counter.
    pub fn stat(&self, name: &str) -> String {
        format!("{}stats:{name}", self.prefix)
    }

    /// `stats:popular`: sorted set of request counts per symbol.
    pub fn popularity(&self) -> String {
        format!("{}stats:popular", self.prefix)
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
}
