//! Plan quotas through the local server process: the 429 over HTTP, the
//! tier of a key set by its id, two processes counting into one store, and
//! start-up with a bad tier setting.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use shared::http::api_key_id;

const API_KEY: &str = "quota-test-key";

/// A running `local-server` process, stopped on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn command(data_dir: &Path, port: u16, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_local-server"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("DATA_DIR", data_dir)
        .env("LOG_FORMAT", "text")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "local-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let child = command(data_dir, port, env)
        .env("API_KEYS", API_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting local-server failed: {e}"));
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    wait_for(port);
    server
}

/// Sends one creator call whose body is invalid, so that it is counted and
/// then rejected with 422, or rejected with 429 before it is counted.
async fn creator_call(client: &reqwest::Client, server: &Server) -> reqwest::Response {
    client
        .post(format!("{}/generate-link", server.base))
        .header("x-api-key", API_KEY)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap_or_else(|e| panic!("creator call failed: {e}"))
}

#[tokio::test]
async fn free_key_gets_429_over_http() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(dir.path(), &[("DEFAULT_TIER", "free")]);
    let client = reqwest::Client::new();

    for i in 1..=5 {
        let response = creator_call(&client, &server).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "call {i}"
        );
    }
    let rejected = creator_call(&client, &server).await;
    assert_eq!(rejected.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: i64 = rejected
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric Retry-After in {:?}", rejected.headers()));
    let body: serde_json::Value = rejected.json().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"], "quota_exceeded");
    assert_eq!(body["limit"], 5);
    assert_eq!(body["period"], "day");
    let resets_at = body["resets_at"].as_str().unwrap_or_default();
    assert!(resets_at.ends_with("T00:00:00Z"), "{resets_at}");
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("5 creator calls a day"), "{message}");

    // Recipient routes are not creator calls and stay open.
    let view = client
        .get(format!("{}/access/not-a-token", server.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(view.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_count_into_one_quota() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The key is listed by its id with the developer tier: 20 calls a day.
    let tiers = format!("{}=developer", api_key_id(API_KEY.as_bytes()));
    let env = [("API_KEY_TIERS", tiers.as_str()), ("DEFAULT_TIER", "free")];
    let first = start(dir.path(), &env);
    let second = start(dir.path(), &env);
    let client = reqwest::Client::new();

    let mut tasks = Vec::new();
    for i in 0..30 {
        let base = [&first, &second][i % 2].base.clone();
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("{base}/generate-link"))
                .header("x-api-key", API_KEY)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    let (mut counted, mut rejected) = (0, 0);
    for task in tasks {
        match task.await {
            Ok(Ok(StatusCode::UNPROCESSABLE_ENTITY)) => counted += 1,
            Ok(Ok(StatusCode::TOO_MANY_REQUESTS)) => rejected += 1,
            other => panic!("unexpected outcome: {other:?}"),
        }
    }
    assert_eq!(counted, 20);
    assert_eq!(rejected, 10);
}

#[test]
fn bad_tier_setting_stops_start_up() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, value) in [
        ("API_KEY_TIERS", "key-1=gold"),
        ("DEFAULT_TIER", "unlimited"),
    ] {
        let output = command(dir.path(), free_port(), &[(name, value)])
            .output()
            .unwrap_or_else(|e| panic!("running local-server failed: {e}"));
        assert!(!output.status.success(), "{name}={value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(name), "{name}={value}: {stderr}");
    }
}

#[test]
fn generated_key_is_printed_with_its_tier() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let child = command(dir.path(), port, &[("DEFAULT_TIER", "professional")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting local-server failed: {e}"));
    let mut server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let stdout = server
        .child
        .stdout
        .take()
        .unwrap_or_else(|| panic!("no stdout pipe"));
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("reading stdout failed: {e}"));
    assert!(line.starts_with("API key for this run"), "{line}");
    assert!(line.trim_end().ends_with("(tier: professional)"), "{line}");
}
