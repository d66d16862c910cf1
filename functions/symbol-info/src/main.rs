//! `symbol-info`: a thin Lambda binary over [`shared::handlers::symbol_info`].

use shared::{handlers, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = runtime::start("symbol-info")?;
    runtime::serve(&app, |app, request| {
        handlers::symbol_info(&app.service, request)
    })
    .await
}
