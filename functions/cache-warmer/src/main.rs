//! `cache-warmer`: EventBridge schedule events and direct invocations (passed
//! through by lambda_http's `pass_through` feature), and `POST /v1/cache/warm` (admin).

use shared::{handlers, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = runtime::start("cache-warmer")?;
    runtime::serve(&app, |app, request| {
        handlers::cache_warm(&app.service, &app.admin, &app.warm, request)
    })
    .await
}
