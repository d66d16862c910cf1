//! `symbol-info`: a thin Lambda binary over [`shared::handlers::symbol_info`].

use lambda_http::{Error, Request, service_fn};
use shared::{handlers, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let service = runtime::service_from_env()?;
    lambda_http::run(service_fn(|request: Request| async {
        Ok::<_, std::convert::Infallible>(handlers::symbol_info(&service, request).await)
    }))
    .await
}
