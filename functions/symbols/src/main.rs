//! `symbols`: a thin Lambda binary over [`shared::handlers::symbols`].

use shared::{handlers, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = runtime::start("symbols")?;
    runtime::serve(&app, |app, request| {
        handlers::symbols(&app.service, request)
    })
    .await
}
