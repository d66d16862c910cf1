//! How the cache layer produced an answer (the `X-Cache` header). A leaf
//! module: the cache sets it, the service passes it up, HTTP and metrics
//! read it.

/// How a response was produced by the cache layer (the `X-Cache` header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from Redis, fresh.
    Hit,
    /// Served from this container's in-process cache.
    L1,
    /// Not cached: read from storage (and stored).
    Miss,
    /// Served from Redis past its fresh TTL (refresh under way or storage failing).
    Stale,
    /// The cache was not used (disabled, broken, or not applicable).
    Bypass,
}

impl CacheStatus {
    /// The `X-Cache` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::L1 => "L1",
            CacheStatus::Miss => "MISS",
            CacheStatus::Stale => "STALE",
            CacheStatus::Bypass => "BYPASS",
        }
    }
}
