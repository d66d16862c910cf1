//! `recent-data`: a thin Lambda binary over [`shared::handlers::recent_data`].

use shared::{handlers, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = runtime::start("recent-data")?;
    runtime::serve(&app, |app, request| {
        handlers::recent_data(&app.service, request)
    })
    .await
}
