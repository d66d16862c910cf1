//! upstash-local: an Upstash-compatible REST server in front of a real Redis.
//!
//! Implements the subset of Upstash's REST protocol the SDKs use: JSON
//! array commands on `POST /`, path-style commands (`GET /set/k/v`),
//! `/pipeline`, `/multi-exec`, bearer or `?_token=` auth,
//! `Upstash-Encoding: base64`, the `upstash-sync-token` header and a
//! request size limit. Start it in-process with [`serve`] (tests) or run
//! the `upstash-local` binary.

mod backend;
mod encode;
mod http;
mod request;
mod server;

pub use server::{ServeError, ServeOptions, ServerHandle, Stats, serve};
