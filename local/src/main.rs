//! `local-server`: the link service on 127.0.0.1 over the embedded store.
//!
//! Reads the same variables as the Lambda functions, plus `PORT` (default
//! 3000). Without `SIGNING_KEYS` it keeps a generated key in
//! `DATA_DIR/signing-keys`, so links survive a restart. Without `API_KEYS` it
//! makes one key for this run and prints it once, with its plan tier
//! (`DEFAULT_TIER`). It logs the id and tier of every key at start, so that
//! a key can be given another tier in `API_KEY_TIERS` by its id.

use std::net::{Ipv4Addr, SocketAddr};

use shared::http::api_key_id;
use shared::quota::Tier;
use shared::secret::SecretBytes;
use shared::{App, Config};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::init();
    let port: u16 = match std::env::var("PORT") {
        Ok(text) => text
            .parse()
            .map_err(|_| format!("invalid PORT: {text:?} is not a port number"))?,
        Err(_) => 3000,
    };
    let mut config = Config::from_env()?;
    let printed_key = local_server::setup::fill_local_defaults(&mut config, port)?;
    for key in &config.api_keys {
        let key_id = api_key_id(key.expose());
        let tier = config.plans.tier_for(&key_id);
        tracing::info!(key_id, tier = tier.name(), "API key accepted");
    }
    let printed_key = printed_key.map(|key| {
        let tier = config.plans.tier_for(&api_key_id(key.expose()));
        (key, tier)
    });
    let app = App::from_config(config).await?;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "local API listening");
    if let Some((key, tier)) = printed_key {
        print_key(&key, tier);
    }
    tokio::select! {
        result = local_server::serve(listener, app) => result?,
        _ = tokio::signal::ctrl_c() => tracing::info!("stopping"),
    }
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_key(key: &SecretBytes, tier: Tier) {
    let text = String::from_utf8_lossy(key.expose());
    println!("API key for this run (send it as x-api-key): {text} (tier: {tier})");
}
