//! Shared library of the stock-data API.
//!
//! Every Lambda function in `functions/` is a thin binary over this crate:
//! it builds a [`config::Config`] and the clients once per container, then
//! hands each request to one of the handlers in [`handlers`].

pub mod secret;
pub mod upstash;
