//! `cache-stats`: `GET /v1/cache/stats` and `POST /v1/cache/stats/reset` (admin).

use shared::{handlers, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = runtime::start("cache-stats")?;
    runtime::serve(&app, |app, request| {
        handlers::cache_stats(&app.service, &app.admin, request)
    })
    .await
}
