//! The closed key scheme. Every key the project writes starts with the prefix.

use crate::symbol::Symbol;

/// The value keys' segments after the prefix (each kind's builder and
/// [`KeySpace::kind_of`] share them).
const LATEST: &str = "price:latest:";
const RECENT: &str = "data:recent:";
const LIST: &str = "symbols:list";
const INFO: &str = "symbol:info:";
/// The segment of the per-symbol generation keys.
const SYMBOL_GEN: &str = "gen:sym:";

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

    /// `gen:sym:{SYMBOL}`: the token every invalidation of `symbol` replaces;
    /// part of the tag of the symbol's values.
    pub fn symbol_generation(&self, symbol: &Symbol) -> String {
        format!("{}{SYMBOL_GEN}{symbol}", self.prefix)
    }

    /// `gen:list`: the token every invalidation of the symbol list replaces.
    pub fn list_generation(&self) -> String {
        format!("{}gen:list", self.prefix)
    }

    /// `gen:info`: the token an invalidation of every symbol's info replaces.
    pub fn info_generation(&self) -> String {
        format!("{}gen:info", self.prefix)
    }

    /// `gen:epoch`: the token a clear-all replaces; part of every value's tag.
    pub fn epoch(&self) -> String {
        format!("{}gen:epoch", self.prefix)
    }

    /// The generation keys whose tokens make up the tag of the value at `key`
    /// (see [`super::Envelope::tag`]): its symbol's (or the list's), the
    /// info generation for symbol info, and the epoch. Empty for a key that
    /// is not one of this scheme's value keys.
    pub fn scopes_of(&self, key: &str) -> Vec<String> {
        let Some(rest) = key.strip_prefix(&self.prefix) else {
            return Vec::new();
        };
        let symbol_scope =
            |segment: &str| format!("{}{SYMBOL_GEN}{}", self.prefix, &rest[segment.len()..]);
        match self.kind_of(key) {
            Some(KeyKind::Latest) => vec![symbol_scope(LATEST), self.epoch()],
            Some(KeyKind::Recent) => vec![symbol_scope(RECENT), self.epoch()],
            Some(KeyKind::Info) => vec![symbol_scope(INFO), self.info_generation(), self.epoch()],
            Some(KeyKind::List) => vec![self.list_generation(), self.epoch()],
            None => Vec::new(),
        }
    }

    /// `data:generation`: the token every invalidation replaces (see [`crate::generation`]).
    pub fn generation(&self) -> String {
        format!("{}data:generation", self.prefix)
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
    }

    #[test]
    fn every_value_has_its_scopes_and_the_epoch() {
        let keys = KeySpace::new("p:");
        let aapl = Symbol::parse("AAPL").unwrap();
        let sym = "p:gen:sym:AAPL".to_string();
        let epoch = "p:gen:epoch".to_string();
        assert_eq!(keys.symbol_generation(&aapl), sym);
        assert_eq!(
            keys.scopes_of(&keys.latest_price(&aapl)),
            [sym.clone(), epoch.clone()]
        );
        assert_eq!(
            keys.scopes_of(&keys.recent_data(&aapl)),
            [sym.clone(), epoch.clone()]
        );
        assert_eq!(
            keys.scopes_of(&keys.symbol_info(&aapl)),
            [sym.clone(), "p:gen:info".into(), epoch.clone()]
        );
        assert_eq!(
            keys.scopes_of(&keys.symbol_list()),
            ["p:gen:list".to_string(), epoch]
        );
        assert!(keys.scopes_of(&keys.generation()).is_empty());
        assert!(keys.scopes_of("q:price:latest:AAPL").is_empty());
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
