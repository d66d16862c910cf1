//! The data generation: what a container last saw of `{prefix}data:generation`.
//!
//! Every invalidation (an import, `cache-invalidate`, the clear routes) writes
//! a new random token to that Redis key in the same request that replaces
//! the touched values' own generation tokens (see `cache::tag`). Every cache
//! read fetches the token with the value (`MGET value its-generation-keys
//! generation`: still one command in one request), so a container learns
//! of an update on its next request that reaches Redis. It then drops its
//! remembered manifest and its L1. (Whether a value read before the update
//! may be served is decided by the value's tag, not by this token.) This
//! module only holds the observation; it is a leaf that both the cache and
//! the storage layer use.

use std::sync::{Arc, Mutex};

/// A generation token as read from Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// Nothing observed yet (cache off, unreachable, or no request yet).
    Unknown,
    /// The key does not exist (no invalidation since Redis was emptied).
    Absent,
    /// The token stored in the key.
    Value(Arc<str>),
}

impl Token {
    /// The token of a Redis reply: `None` (nil) is [`Token::Absent`].
    pub fn from_reply(value: Option<&str>) -> Self {
        match value {
            None => Token::Absent,
            Some(text) => Token::Value(Arc::from(text)),
        }
    }
}

/// The latest token one container has seen. Shared by its cache (which
/// observes it) and its storage reader (which tags the remembered manifest).
#[derive(Debug)]
pub struct Generation {
    seen: Mutex<Token>,
}

impl Default for Generation {
    fn default() -> Self {
        Generation {
            seen: Mutex::new(Token::Unknown),
        }
    }
}

impl Generation {
    /// A new, shareable observation (nothing seen yet).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The latest token seen.
    pub fn current(&self) -> Token {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records `token`; true when it differs from the one seen before
    /// (the first observation after start-up counts as a change).
    pub fn observe(&self, token: Token) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if *seen == token {
            return false;
        }
        *seen = token;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_changes_only() {
        let generation = Generation::new();
        assert_eq!(generation.current(), Token::Unknown);
        assert!(generation.observe(Token::Absent));
        assert!(!generation.observe(Token::from_reply(None)));
        assert!(generation.observe(Token::from_reply(Some("a1"))));
        assert!(!generation.observe(Token::from_reply(Some("a1"))));
        assert_eq!(generation.current(), Token::Value("a1".into()));
    }
}
