//! `finalise-upload KEY`: finalises one pending upload by its object key,
//! as the link-events function does on the storage event. For re-running an
//! event that was lost, and for measuring the finaliser on its own.
//!
//! Reads the same variables as the functions and prints the outcome as one
//! JSON line; exits 1 when a store fails.

use std::io::Write;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::init();
    let key = match std::env::args().nth(1) {
        Some(key) => key,
        None => return Err("usage: finalise-upload pending/LINK_ID/FILE_NAME".into()),
    };
    let app = shared::App::from_config(shared::Config::from_env()?).await?;
    let outcome = shared::uploads::finalise_upload(&app, &key).await?;
    let text = match outcome {
        shared::uploads::Finalised::Completed(link) => serde_json::json!({
            "outcome": "finalised", "link_id": link.id.as_str(),
            "size": link.size, "sha256": link.sha256,
        }),
        shared::uploads::Finalised::AlreadyDone => {
            serde_json::json!({"outcome": "already_finalised"})
        }
        shared::uploads::Finalised::NotArrived => serde_json::json!({"outcome": "not_arrived"}),
        shared::uploads::Finalised::Rejected(reason) => {
            serde_json::json!({"outcome": "rejected", "reason": reason})
        }
        shared::uploads::Finalised::Ignored => serde_json::json!({"outcome": "ignored"}),
    };
    writeln!(std::io::stdout(), "{text}")?;
    Ok(())
}
