//! The cache layer: one read-through cache in front of storage, used by
//! every read endpoint through [`crate::service::StockDataService`], and
//! the invalidation every update of the data set sends.

mod breaker;
mod config;
pub mod envelope;
pub mod invalidate;
pub mod keys;
mod l1;
pub mod manage;
mod read_through;
pub mod stats;

pub use breaker::{BreakerState, CircuitBreaker};
pub use config::CacheConfig;
pub use envelope::Envelope;
pub use invalidate::{Invalidated, Invalidation};
pub use keys::KeySpace;
pub use l1::L1Cache;
pub use read_through::{Lookup, ReadThrough, now_ms, xfetch_due};
