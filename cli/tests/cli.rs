//! `linkctl` as a creator runs it: the built binary against the local server
//! on a free 127.0.0.1 port, with the API key passed in the environment.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

const API_KEY: &str = "cli-test-key-7f3a9c";

/// A local server running on its own thread for the test's lifetime.
struct Server {
    base: String,
    _data: tempfile::TempDir,
}

fn start_server() -> Server {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data_dir = data.path().join("store").to_string_lossy().into_owned();
    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .unwrap_or_else(|e| panic!("binding 127.0.0.1 failed: {e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("{e}"));
    let settings = [
        ("DATA_DIR", data_dir),
        ("API_KEYS", API_KEY.to_owned()),
        ("DEFAULT_TIER", "enterprise".to_owned()),
    ];
    let mut config = shared::Config::from_lookup(|name| {
        settings
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .unwrap_or_else(|e| panic!("server config: {e}"));
    local_server::setup::fill_local_defaults(&mut config, port)
        .unwrap_or_else(|e| panic!("server set-up: {e}"));
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        runtime.block_on(async move {
            let app = shared::App::from_config(config)
                .await
                .unwrap_or_else(|e| panic!("server start: {e}"));
            let listener =
                tokio::net::TcpListener::from_std(listener).unwrap_or_else(|e| panic!("{e}"));
            let _ = local_server::serve(listener, app).await;
        });
    });
    Server {
        base: format!("http://127.0.0.1:{port}"),
        _data: data,
    }
}

/// Builds a `linkctl` command with a clean environment: the server's URL and, when
/// `key` is set, the API key in `LINK_API_KEY`. `HOME` points at an empty
/// folder so no real config file is read.
fn linkctl(server: &Server, home: &Path, key: Option<&str>, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_linkctl"));
    command
        .env_clear()
        .env("HOME", home)
        .env("LINK_API_URL", &server.base)
        .args(args)
        .stdin(Stdio::null());
    if let Some(key) = key {
        command.env("LINK_API_KEY", key);
    }
    command
}

fn run(mut command: Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("running linkctl failed: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stdout.contains(API_KEY), "key printed on stdout: {stdout}");
    assert!(!stderr.contains(API_KEY), "key printed on stderr: {stderr}");
    output
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(output)))
}

/// Sends a GET with `headers` and returns the status and body.
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let mut request = reqwest::Client::new().get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        (status, body)
    })
}

fn sample_file(dir: &Path) -> PathBuf {
    let path = dir.join("report.txt");
    let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

#[test]
fn creator_flow_end_to_end() {
    let server = start_server();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = sample_file(home.path());
    let file_arg = file.to_string_lossy().into_owned();
    let key = Some(API_KEY);

    let uploaded = run(linkctl(
        &server,
        home.path(),
        key,
        &[
            "upload",
            &file_arg,
            "--label",
            "INC-7",
            "--max-downloads",
            "1",
        ],
    ));
    assert_eq!(code(&uploaded), 0, "{}", stderr(&uploaded));
    let access_url = stdout(&uploaded).lines().next().unwrap_or("").to_owned();
    assert!(
        access_url.starts_with(&format!("{}/access/", server.base)),
        "{access_url}"
    );
    assert!(stderr(&uploaded).contains("uploaded report.txt"));

    let listed = run(linkctl(
        &server,
        home.path(),
        key,
        &["--json", "list", "--label", "INC-7"],
    ));
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));
    let page = json(&listed);
    let links = page["links"].as_array().cloned().unwrap_or_default();
    assert_eq!(links.len(), 1);
    let id = links[0]["link_id"].as_str().unwrap_or("").to_owned();
    assert!(!id.is_empty());

    let shown = run(linkctl(&server, home.path(), key, &["show", &id]));
    assert_eq!(code(&shown), 0, "{}", stderr(&shown));
    assert!(
        stdout(&shown).contains("state:        active"),
        "{}",
        stdout(&shown)
    );

    // One download uses the link up; a second one is refused.
    let (status, body) = get(&access_url, &[]);
    assert_eq!(status, 200, "{body}");
    let metadata: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
    let download_url = metadata["download_url"].as_str().unwrap_or("").to_owned();
    assert_eq!(get(&download_url, &[]).0, 200);
    let shown = run(linkctl(&server, home.path(), key, &["--json", "show", &id]));
    assert_eq!(json(&shown)["state"], "used_up");

    let revoked = run(linkctl(&server, home.path(), key, &["revoke", &id]));
    assert_eq!(code(&revoked), 0, "{}", stderr(&revoked));
    assert_eq!(stdout(&revoked).trim(), format!("revoked {id}"));

    let audit = run(linkctl(
        &server,
        home.path(),
        key,
        &["--json", "audit", &id],
    ));
    assert_eq!(code(&audit), 0, "{}", stderr(&audit));
    let events = json(&audit)["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(events.len() >= 2, "{events:?}");

    let exported = run(linkctl(&server, home.path(), key, &["export", &id]));
    assert_eq!(code(&exported), 0, "{}", stderr(&exported));
    let head_line = stderr(&exported);
    let head = head_line
        .trim()
        .strip_prefix("X-Audit-Chain-Head: ")
        .unwrap_or_else(|| panic!("no chain head on stderr: {head_line}"))
        .to_owned();
    let audit_file = home.path().join("audit.jsonl");
    std::fs::write(&audit_file, &exported.stdout).unwrap_or_else(|e| panic!("{e}"));
    let audit_arg = audit_file.to_string_lossy().into_owned();

    // verify runs offline: no key and no server needed.
    let verified = run(linkctl(
        &server,
        home.path(),
        None,
        &["verify", &audit_arg, "--head", &head],
    ));
    assert_eq!(code(&verified), 0, "{}", stderr(&verified));
    assert!(stdout(&verified).contains(&head));

    let text = String::from_utf8_lossy(&exported.stdout).replacen("\"view\"", "\"download\"", 1);
    std::fs::write(&audit_file, text).unwrap_or_else(|e| panic!("{e}"));
    let tampered = run(linkctl(&server, home.path(), None, &["verify", &audit_arg]));
    assert_eq!(code(&tampered), 8, "{}", stderr(&tampered));
    assert!(
        stderr(&tampered).contains("line 1"),
        "{}",
        stderr(&tampered)
    );
}

#[test]
fn exit_codes_follow_status() {
    let server = start_server();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key = Some(API_KEY);

    let missing = run(linkctl(
        &server,
        home.path(),
        key,
        &["show", "0123456789abcdef0123456789abcdef"],
    ));
    assert_eq!(code(&missing), 3, "{}", stderr(&missing));

    let no_key = run(linkctl(&server, home.path(), None, &["list"]));
    assert_eq!(code(&no_key), 2);
    assert!(
        stderr(&no_key).contains("LINK_API_KEY"),
        "{}",
        stderr(&no_key)
    );

    let wrong_key = run(linkctl(
        &server,
        home.path(),
        Some("not-the-key"),
        &["--json", "list"],
    ));
    assert_eq!(code(&wrong_key), 4, "{}", stderr(&wrong_key));
    assert_eq!(json(&wrong_key)["error"], "invalid_api_key");

    let invalid = run(linkctl(
        &server,
        home.path(),
        key,
        &["list", "--state", "bogus"],
    ));
    assert_eq!(code(&invalid), 6, "{}", stderr(&invalid));

    let plain_key_flag = run(linkctl(
        &server,
        home.path(),
        None,
        &["--api-key", API_KEY, "list"],
    ));
    assert_eq!(code(&plain_key_flag), 2);

    let unreachable = Server {
        base: "http://127.0.0.1:1".to_owned(),
        _data: tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
    };
    let offline = run(linkctl(&unreachable, home.path(), key, &["list"]));
    assert_eq!(code(&offline), 7, "{}", stderr(&offline));
}

#[test]
fn used_up_link_is_refused() {
    let server = start_server();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = sample_file(home.path());
    let file_arg = file.to_string_lossy().into_owned();
    let uploaded = run(linkctl(
        &server,
        home.path(),
        Some(API_KEY),
        &["--json", "upload", &file_arg],
    ));
    assert_eq!(code(&uploaded), 0, "{}", stderr(&uploaded));
    let created = json(&uploaded);
    let file_url = created["file_url"].as_str().unwrap_or("").to_owned();

    // A second link to the stored file, made with `link`, then used up.
    let linked = run(linkctl(
        &server,
        home.path(),
        Some(API_KEY),
        &["--json", "link", &file_url, "--expire-minutes", "5"],
    ));
    assert_eq!(code(&linked), 0, "{}", stderr(&linked));
    let access_url = json(&linked)["access_url"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let copy = home.path().join("copy.txt");
    let copy_arg = copy.to_string_lossy().into_owned();
    let download = [
        "download",
        access_url.as_str(),
        "--output",
        copy_arg.as_str(),
    ];

    let first = run(linkctl(&server, home.path(), None, &download));
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let copied = std::fs::read(&copy).unwrap_or_default();
    let original = std::fs::read(&file).unwrap_or_default();
    assert_eq!(copied, original);

    let second = run(linkctl(&server, home.path(), None, &download));
    assert_eq!(code(&second), 4, "{}", stderr(&second));
    assert!(stderr(&second).contains("used_up"), "{}", stderr(&second));

    let link_without_expiry = run(linkctl(
        &server,
        home.path(),
        Some(API_KEY),
        &["link", &file_url],
    ));
    assert_eq!(code(&link_without_expiry), 2);
}

/// The key travels in the environment: the running child's argv never
/// contains it, and a password goes in through stdin.
#[cfg(target_os = "linux")]
#[test]
fn key_stays_out_of_argv() {
    let server = start_server();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = sample_file(home.path());
    let file_arg = file.to_string_lossy().into_owned();
    let mut command = linkctl(
        &server,
        home.path(),
        Some(API_KEY),
        &["--json", "upload", &file_arg, "--password-stdin"],
    );
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{e}"));

    // The child waits for the password on stdin, so it is still running.
    std::thread::sleep(Duration::from_millis(200));
    let argv = std::fs::read(format!("/proc/{}/cmdline", child.id()))
        .unwrap_or_else(|e| panic!("reading the child's argv failed: {e}"));
    let argv = String::from_utf8_lossy(&argv).replace('\0', " ");
    assert!(argv.contains("upload"), "{argv}");
    assert!(!argv.contains(API_KEY), "{argv}");
    assert!(!argv.contains("correct horse battery"), "{argv}");

    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(b"correct horse battery\n")
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let created = json(&output);
    let access_url = created["access_url"].as_str().unwrap_or("").to_owned();
    assert_eq!(get(&access_url, &[]).0, 401);
    let password = [("x-link-password", "correct horse battery")];
    assert_eq!(get(&access_url, &password).0, 200);
}

/// A file above the large-file threshold goes through `/upload-url`: the
/// bytes stream to the signed upload URL, `linkctl` waits until the link is
/// active and prints it, and the download returns the same bytes.
#[test]
fn large_upload_goes_through_the_upload_url() {
    let server = start_server();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = home.path().join("dump.bin");
    let bytes: Vec<u8> = (0..300_000u32)
        .map(|i| u8::try_from(i.wrapping_mul(2_654_435_761) >> 24).unwrap_or(0))
        .collect();
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let file_arg = path.to_string_lossy().into_owned();

    let mut command = linkctl(
        &server,
        home.path(),
        Some(API_KEY),
        &["upload", &file_arg, "--max-downloads", "2"],
    );
    command.env("LINKCTL_LARGE_THRESHOLD", "100000");
    let uploaded = run(command);
    assert_eq!(code(&uploaded), 0, "{}", stderr(&uploaded));
    let out = stdout(&uploaded);
    let access_url = out.lines().next().unwrap_or("").to_owned();
    assert!(
        access_url.starts_with(&format!("{}/access/", server.base)),
        "{out}"
    );
    assert!(out.contains("dump.bin, 2 download(s)"), "{out}");
    assert!(
        stderr(&uploaded).contains("uploaded dump.bin: 300000 bytes sent"),
        "{}",
        stderr(&uploaded)
    );

    // The link is active at once and its hash is the file's.
    let (status, body) = get(&access_url, &[]);
    assert_eq!(status, 200, "{body}");
    let view: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(view["sha256"], hex.as_str());
    assert_eq!(view["size"], 300_000);

    let copy = home.path().join("copy.bin");
    let copy_arg = copy.to_string_lossy().into_owned();
    let downloaded = run(linkctl(
        &server,
        home.path(),
        None,
        &["download", &access_url, "--output", &copy_arg],
    ));
    assert_eq!(code(&downloaded), 0, "{}", stderr(&downloaded));
    let copied = std::fs::read(&copy).unwrap_or_else(|e| panic!("{e}"));
    assert!(copied == bytes, "downloaded bytes differ from the upload");

    // --large sends even a small file this way; --json prints the link's
    // JSON and no progress.
    let small = sample_file(home.path());
    let small_arg = small.to_string_lossy().into_owned();
    let forced = run(linkctl(
        &server,
        home.path(),
        Some(API_KEY),
        &["--json", "upload", &small_arg, "--large"],
    ));
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
    assert_eq!(stderr(&forced), "", "--json printed progress");
    let link = json(&forced);
    assert_eq!(link["state"], "active", "{link}");
    assert_eq!(link["filename"], "report.txt");
    assert!(
        link["access_url"]
            .as_str()
            .is_some_and(|url| url.contains("/access/")),
        "{link}"
    );
}

/// Runs `command` with `input` on stdin.
fn run_with_stdin(mut command: Command, input: &str) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("running linkctl failed: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .unwrap_or_else(|e| panic!("writing stdin failed: {e}"));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for linkctl failed: {e}"))
}

/// A password link to a file above the inline download limit: `upload`
/// takes the large route by default, and `download` follows the redirect
/// to the signed storage URL and gets the same bytes.
#[test]
fn large_password_file_round_trips() {
    let server = start_server();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = home.path().join("image.bin");
    let bytes: Vec<u8> = (0..4_500_000u32)
        .map(|i| u8::try_from(i.wrapping_mul(2_246_822_519) >> 24).unwrap_or(0))
        .collect();
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let file_arg = path.to_string_lossy().into_owned();
    let password = "correct horse battery\n";

    let uploaded = run_with_stdin(
        linkctl(
            &server,
            home.path(),
            Some(API_KEY),
            &["upload", &file_arg, "--password-stdin"],
        ),
        password,
    );
    assert_eq!(code(&uploaded), 0, "{}", stderr(&uploaded));
    let access_url = stdout(&uploaded).lines().next().unwrap_or("").to_owned();
    let (status, _) = get(&access_url, &[]);
    assert_eq!(status, 401, "the link has no password");

    let copy = home.path().join("copy.bin");
    let copy_arg = copy.to_string_lossy().into_owned();
    let downloaded = run_with_stdin(
        linkctl(
            &server,
            home.path(),
            None,
            &[
                "download",
                &access_url,
                "--output",
                &copy_arg,
                "--password-stdin",
            ],
        ),
        password,
    );
    assert_eq!(code(&downloaded), 0, "{}", stderr(&downloaded));
    let copied = std::fs::read(&copy).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(copied.len(), bytes.len());
    assert!(copied == bytes, "downloaded bytes differ from the upload");
}
