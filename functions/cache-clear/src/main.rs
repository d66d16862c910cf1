//! `cache-clear`: `POST /v1/cache/clear/{symbol}` and `POST /v1/cache/clear` (admin).

use shared::{handlers, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = runtime::start("cache-clear")?;
    runtime::serve(&app, |app, request| {
        handlers::cache_clear(&app.service, &app.admin, request)
    })
    .await
}
