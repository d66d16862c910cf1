//! `latest-price`: a thin Lambda binary over [`shared::handlers::latest_price`].

use shared::{handlers, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = runtime::start("latest-price")?;
    runtime::serve(&app, |app, request| {
        handlers::latest_price(&app.service, request)
    })
    .await
}
