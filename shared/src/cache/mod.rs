//! The cache layer: one read-through cache in front of a backing store
//! (the service wraps every storage read with it), and the invalidation
//! every update of the data set sends.

mod breaker;
mod config;
mod envelope;
pub mod invalidate;
mod keys;
mod l1;
pub(crate) mod manage;
mod read_through;
mod stats;
mod tag;
mod warming;

pub use breaker::BreakerState;
pub use config::CacheConfig;
pub use envelope::{CorruptEntry, Envelope};
pub use invalidate::{Invalidated, Invalidation};
pub use keys::KeySpace;
pub use read_through::{Load, LoadFailure, Lookup, ReadThrough, now_ms, xfetch_due};
pub use warming::PIPELINE_MAX;
