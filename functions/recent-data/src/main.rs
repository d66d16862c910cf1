//! `recent-data`: a thin Lambda binary over [`shared::handlers::recent_data`].

use lambda_http::{Error, Request, service_fn};
use shared::{handlers, runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let service = runtime::service_from_env()?;
    lambda_http::run(service_fn(|request: Request| async {
        Ok::<_, std::convert::Infallible>(handlers::recent_data(&service, request).await)
    }))
    .await
}
