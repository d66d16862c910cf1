//! The admin token every test configures, and requests that carry it.

use shared::admin::AdminConfig;
use shared::http::Route;
use shared::secret::Secret;

use crate::dispatch::concrete_path;
use crate::events::Req;

/// The admin token of [`admin`]. Lower case, with `-`, `a` and `h` in it:
/// `hostile.rs` builds near misses by flipping, swapping and re-encoding
/// those characters, and each near miss must differ from the token.
pub const ADMIN_TOKEN: &str = "it-admin-token-9d2e4a71c3-hush";

/// Management routes guarded by [`ADMIN_TOKEN`]; statistics not public.
pub fn admin() -> AdminConfig {
    AdminConfig {
        token: Some(Secret::from(ADMIN_TOKEN)),
        stats_public: false,
    }
}

/// `Bearer ADMIN_TOKEN`: the `Authorization` value that [`admin`] accepts.
pub fn bearer() -> String {
    format!("Bearer {ADMIN_TOKEN}")
}

/// `POST path` matched against `template`, with the admin token.
pub fn admin_post(template: &'static str, path: &str) -> Req {
    Req::get(template, path)
        .method("POST")
        .header("Authorization", &bearer())
}

/// A call of `route` (its method, its [`concrete_path`]) with the admin token.
pub fn admin_call(route: &Route) -> Req {
    Req::get(route.template, &concrete_path(route.template))
        .method(route.method)
        .header("Authorization", &bearer())
}
