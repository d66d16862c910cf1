//! `cache-invalidate`: S3 "Object Created"/"Object Deleted" events from
//! EventBridge and classic S3 notifications (direct invocations, passed
//! through by lambda_http's `pass_through` feature), and
//! `POST /v1/cache/invalidate` (admin).

use shared::{handlers, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = runtime::start("cache-invalidate")?;
    runtime::serve(&app, |app, request| {
        handlers::cache_invalidate(&app.service, &app.admin, request)
    })
    .await
}
