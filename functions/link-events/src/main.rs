use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_config(shared::Config::from_env()?).await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let app = &app;
        async move { link_events::handle(app, event.payload).await }
    }))
    .await
}
