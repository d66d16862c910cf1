//! Shared library of the stock-data API.
//!
//! Every Lambda function in `functions/` is a thin binary over this crate:
//! it builds the service once per container ([`runtime::start`]),
//! then hands each request to one of the [`handlers`].
//!
//! - [`config`]: settings from the environment ([`settings`]: the parse helpers).
//! - [`models`]: stored data and API responses.
//! - [`generation`]: what a container last saw of the data generation.
//! - [`storage`]: the data set in object storage.
//! - [`upstash`]: the Upstash REST client.
//! - [`cache`]: the read-through cache policy.
//! - [`service`]: the one place where the cache wraps storage.
//! - [`http`], [`handlers`]: request parsing, responses, endpoints.
//! - [`object_events`]: S3 change events read by `cache-invalidate`.

pub mod admin;
pub mod cache;
pub mod cache_status;
pub mod checksum;
pub mod config;
pub mod error_chain;
pub mod generation;
pub mod handlers;
pub mod http;
pub mod metrics;
pub mod models;
pub mod object_events;
pub mod runtime;
pub mod secret;
pub mod service;
pub mod settings;
pub mod storage;
pub mod symbol;
pub mod tls;
pub mod upstash;
pub mod warmer;
