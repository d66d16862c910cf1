//! The in-process L1 cache of a warm container: small, bounded, short-lived.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::envelope::Envelope;

/// A bounded map from key to entry with a per-entry deadline.
#[derive(Debug)]
pub(crate) struct L1Cache {
    max_entries: usize,
    ttl: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, (Instant, Arc<Envelope>)>,
    order: VecDeque<String>,
}

impl L1Cache {
    /// A cache of at most `max_entries`, each kept at most `ttl` (0 disables it).
    pub(crate) fn new(max_entries: usize, ttl: Duration) -> Self {
        L1Cache {
            max_entries,
            ttl,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// True when the cache holds nothing ever (size or TTL 0).
    pub(crate) fn is_disabled(&self) -> bool {
        self.max_entries == 0 || self.ttl.is_zero()
    }

    /// The entry of `key` if present and not expired.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<Envelope>> {
        if self.is_disabled() {
            return None;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.map.get(key) {
            Some((deadline, entry)) if Instant::now() < *deadline => Some(entry.clone()),
            Some(_) => {
                inner.map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `entry` until `ttl` after `known_current` (when Redis last
    /// said it was current), and no longer than `fresh_left` from now.
    pub(crate) fn put(
        &self,
        key: &str,
        entry: Arc<Envelope>,
        fresh_left: Duration,
        known_current: Instant,
    ) {
        let now = Instant::now();
        let deadline = (known_current + self.ttl).min(now + fresh_left);
        if self.is_disabled() || deadline <= now {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner
            .map
            .insert(key.to_string(), (deadline, entry))
            .is_none()
        {
            inner.order.push_back(key.to_string());
        }
        while inner.map.len() > self.max_entries {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&oldest);
        }
        // Keep the order queue from growing with keys already removed.
        if inner.order.len() > self.max_entries.saturating_mul(2) {
            let Inner { map, order } = &mut *inner;
            order.retain(|k| map.contains_key(k));
        }
    }

    /// Drops everything.
    pub(crate) fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.map.clear();
        inner.order.clear();
    }

    /// Entries held now (expired ones included until touched).
    pub(crate) fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &str) -> Arc<Envelope> {
        Arc::new(Envelope {
            stored_at_ms: 0,
            fresh_ttl: Duration::from_secs(1),
            delta: Duration::ZERO,
            body: body.into(),
            tag: String::new(),
        })
    }

    #[test]
    fn bounded_and_expiring() {
        let l1 = L1Cache::new(2, Duration::from_secs(60));
        l1.put("a", entry("1"), Duration::from_secs(60), Instant::now());
        l1.put("b", entry("2"), Duration::from_secs(60), Instant::now());
        l1.put("c", entry("3"), Duration::from_secs(60), Instant::now());
        assert_eq!(l1.len(), 2);
        assert!(l1.get("a").is_none(), "oldest entry evicted");
        assert_eq!(l1.get("c").unwrap().body, "3");
        l1.put(
            "short",
            entry("x"),
            Duration::from_millis(1),
            Instant::now(),
        );
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            l1.get("short").is_none(),
            "never kept beyond the value's freshness"
        );
        let long_ago = Instant::now() - Duration::from_secs(59);
        l1.put("late", entry("y"), Duration::from_secs(60), long_ago);
        std::thread::sleep(Duration::from_millis(1005));
        assert!(
            l1.get("late").is_none(),
            "never kept beyond the L1 time after Redis last said it was current"
        );
        l1.clear();
        assert_eq!(l1.len(), 0);
    }

    #[test]
    fn zero_disables() {
        let l1 = L1Cache::new(10, Duration::ZERO);
        l1.put("a", entry("1"), Duration::from_secs(60), Instant::now());
        assert!(l1.get("a").is_none());
    }
}
