use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_config(shared::Config::from_env()?).await?;
    run(service_fn(|request| upload_url::handle(&app, request))).await
}
