//! HTTP: request parsing and validation, JSON responses and errors.

mod error;
pub mod request;
pub mod response;

pub use error::ApiError;
pub use request::Route;
