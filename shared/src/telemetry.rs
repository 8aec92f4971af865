//! Logging set-up: JSON lines through `tracing`, with the level from
//! `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (default `info`).
//!
//! SECURITY: no code in this crate logs a raw token, API key, signing key,
//! presigned URL or request body; tokens appear only as
//! [`crate::secret::RawToken::fingerprint`]. Never run a deployed stage at
//! TRACE, because the Lambda runtime logs whole events at that level.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `AWS_LAMBDA_LOG_FORMAT=text` or
/// `LOG_FORMAT=text` switches to plain lines for local runs.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into())
        .to_lowercase();
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let text = ["AWS_LAMBDA_LOG_FORMAT", "LOG_FORMAT"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|f| f.eq_ignore_ascii_case("text")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second call (as in tests) finds a subscriber installed and keeps it.
    let _ = if text {
        builder.without_time().try_init()
    } else {
        builder.json().flatten_event(true).without_time().try_init()
    };
}
