//! Upstash REST client.
//!
//! Talks to an Upstash Redis database (or `upstash-local`) over its REST
//! protocol: one JSON array per command in `POST /`, `POST /pipeline` and
//! `POST /multi-exec` for batches. Responses are always requested with
//! `Upstash-Encoding: base64` so binary values round-trip exactly.
//!
//! - [`UpstashConfig`]: URL, token and timeout, read from the environment.
//! - [`UpstashClient`]: one pooled HTTP client, cheap to clone.
//! - [`Command`]: a command name and its arguments.
//! - [`Reply`]: a decoded result.
//! - [`UpstashError`]: every way a request can fail.

mod client;
mod command;
mod config;
mod error;
mod reply;

pub use client::UpstashClient;
pub use command::{Arg, Command};
pub use config::{DEFAULT_TIMEOUT_MS, UpstashConfig, UpstashConfigError};
pub use error::UpstashError;
pub use reply::Reply;
