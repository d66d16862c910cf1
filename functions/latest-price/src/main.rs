//! `latest-price`: a thin Lambda binary over [`shared::handlers::latest_price`].

use lambda_http::{Error, Request, service_fn};
use shared::{handlers, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let service = runtime::service_from_env()?;
    lambda_http::run(service_fn(|request: Request| async {
        Ok::<_, std::convert::Infallible>(handlers::latest_price(&service, request).await)
    }))
    .await
}
