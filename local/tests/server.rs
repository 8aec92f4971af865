//! The local server as a newcomer meets it: a real process on 127.0.0.1,
//! driven over HTTP, and several processes sharing one embedded store.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use sha2::{Digest, Sha256};

const API_KEY: &str = "server-test-key";

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

fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_local-server"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("DATA_DIR", data_dir)
        .env("API_KEYS", API_KEY)
        .env("DEFAULT_TIER", "enterprise")
        .env("LOG_FORMAT", "text")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in extra_env {
        command.env(name, value);
    }
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting local-server failed: {e}"));
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "local-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn png_bytes() -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    bytes.extend(
        (0..30_000u32).map(|i| u8::try_from(i.wrapping_mul(2_654_435_761) >> 24).unwrap_or(0)),
    );
    bytes
}

async fn upload(
    client: &reqwest::Client,
    server: &Server,
    name: &str,
    bytes: Vec<u8>,
    max_downloads: &str,
) -> serde_json::Value {
    let form = Form::new()
        .part("file", Part::bytes(bytes).file_name(name.to_owned()))
        .text("max_downloads", max_downloads.to_owned());
    let response = client
        .post(format!("{}/upload-file", server.base))
        .header("x-api-key", API_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload request failed: {e}"));
    assert_eq!(response.status(), StatusCode::OK);
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("upload answer is not JSON: {e}"))
}

fn field(value: &serde_json::Value, name: &str) -> String {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing in {value}"))
        .to_owned()
}

#[tokio::test]
async fn newcomer_walkthrough_over_http() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data_dir = dir.path().join("store");
    let server = start(&data_dir, &[]);
    let client = reqwest::Client::new();
    let bytes = png_bytes();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data_dir).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o700));
    }

    let created = upload(&client, &server, "diagram.png", bytes.clone(), "1").await;
    let access_url = field(&created, "access_url");
    assert!(access_url.starts_with(&format!("{}/access/", server.base)));

    let viewed = client
        .get(&access_url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(viewed.status(), StatusCode::OK);
    let metadata: serde_json::Value = viewed.json().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(metadata["filename"], "diagram.png");
    assert_eq!(metadata["size"], bytes.len());
    assert_eq!(metadata["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(metadata["downloads_remaining"], 1);

    let download_url = field(&metadata, "download_url");
    let first = client
        .get(&download_url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.status(), StatusCode::OK);
    let served = first.bytes().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served.as_ref(), bytes.as_slice());

    let second = client
        .get(&download_url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.status(), StatusCode::GONE);
    let body: serde_json::Value = second.json().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body["error"], "used_up");

    let anonymous = client
        .post(format!("{}/upload-file", server.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong_key = client
        .post(format!("{}/generate-link", server.base))
        .header("x-api-key", "guess")
        .body("{}")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wrong_key.status(), StatusCode::FORBIDDEN);
    let mut keys = reqwest::header::HeaderMap::new();
    keys.append(
        "x-api-key",
        reqwest::header::HeaderValue::from_static(API_KEY),
    );
    keys.append(
        "x-api-key",
        reqwest::header::HeaderValue::from_static("guess"),
    );
    let two_keys = client
        .post(format!("{}/generate-link", server.base))
        .headers(keys)
        .body("{}")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(two_keys.status(), StatusCode::FORBIDDEN);
    let big_json = client
        .post(format!("{}/generate-link", server.base))
        .header("x-api-key", API_KEY)
        .header("content-type", "application/json")
        .body(vec![b' '; 20_000])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(big_json.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let unknown = client
        .get(format!("{}/nothing-here", server.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversized_upload_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(dir.path(), &[("MAX_UPLOAD_BYTES", "10000")]);
    let client = reqwest::Client::new();
    let form = Form::new().part("file", Part::bytes(vec![1u8; 200_000]).file_name("big.bin"));
    let response = client
        .post(format!("{}/upload-file", server.base))
        .header("x-api-key", API_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body["error"], "payload_too_large");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("10000 bytes"))
    );

    let objects = std::fs::read_dir(dir.path().join("objects"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(objects, 0);
}

/// Sends `count` downloads at once, alternating between the servers, and
/// returns how many got 200 and how many 410.
async fn race(servers: &[&Server], path_and_query: &str, count: usize) -> (usize, usize) {
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..count {
        let url = format!("{}{path_and_query}", servers[i % servers.len()].base);
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.get(url).send().await.map(|r| r.status())
        }));
    }
    let (mut ok, mut gone) = (0, 0);
    for task in tasks {
        match task.await {
            Ok(Ok(StatusCode::OK)) => ok += 1,
            Ok(Ok(StatusCode::GONE)) => gone += 1,
            other => panic!("unexpected outcome: {other:?}"),
        }
    }
    (ok, gone)
}

fn stored_downloads(data_dir: &Path, link_id: &str) -> (u32, usize) {
    let db = rusqlite::Connection::open(data_dir.join("links.sqlite3"))
        .unwrap_or_else(|e| panic!("{e}"));
    let downloads: u32 = db
        .query_row(
            "SELECT downloads FROM links WHERE id = ?1",
            [link_id],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let denials: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM audit WHERE link_id = ?1 AND action = 'denied'",
            [link_id],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    (downloads, usize::try_from(denials).unwrap_or(usize::MAX))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_never_serve_more_than_the_limit() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let first = start(dir.path(), &[]);
    let second = start(dir.path(), &[]);
    let client = reqwest::Client::new();

    for (limit, name) in [(1usize, "one.bin"), (3, "three.bin")] {
        let created = upload(&client, &first, name, vec![7u8; 2048], &limit.to_string()).await;
        let path = format!("/files/{name}?token={}", field(&created, "token"));
        let (ok, gone) = race(&[&first, &second], &path, 25).await;
        assert_eq!(ok, limit, "limit {limit}");
        assert_eq!(gone, 25 - limit, "limit {limit}");
        let (downloads, denials) = stored_downloads(dir.path(), &field(&created, "link_id"));
        assert_eq!(downloads as usize, limit);
        assert_eq!(denials, 25 - limit);
    }
}

/// The creator routes over real HTTP: a password link, its refusals, the
/// listing, the audit trail and revocation, and a second key that sees none
/// of it.
#[tokio::test]
async fn creator_controls_over_http() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(
        &dir.path().join("store"),
        &[("API_KEYS", &format!("{API_KEY},second-key"))],
    );
    let client = reqwest::Client::new();
    let form = Form::new()
        .part("file", Part::bytes(b"evidence".to_vec()).file_name("e.txt"))
        .text("label", "INC-1")
        .text("password", "correct horse battery");
    let created: serde_json::Value = client
        .post(format!("{}/upload-file", server.base))
        .header("x-api-key", API_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload failed: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("upload answer is not JSON: {e}"));
    let (id, access_url) = (field(&created, "link_id"), field(&created, "access_url"));

    let get = |url: String, key: Option<&'static str>, password: Option<&'static str>| {
        let mut request = client.get(url);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        if let Some(password) = password {
            request = request.header("x-link-password", password);
        }
        async move {
            let response = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("request failed: {e}"));
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body)
        }
    };

    let (status, body) = get(access_url.clone(), None, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("password_required"))
    );
    let forwarded = client
        .get(&access_url)
        .header("x-forwarded-for", "127.0.0.1")
        .header("x-link-password", "not the one")
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    assert_eq!(forwarded.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = get(access_url.clone(), None, Some("correct horse battery")).await;
    assert_eq!(status, 200);

    let links = format!("{}/links", server.base);
    let (status, listed) = get(format!("{links}?label=INC-1"), Some(API_KEY), None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["links"][0]["link_id"], id.as_str());
    assert_eq!(listed["links"][0]["restrictions"]["password"], true);
    let (status, _) = get(format!("{links}/{id}"), Some("second-key"), None).await;
    assert_eq!(status, 404);
    let (status, _) = get(format!("{links}/{id}"), None, None).await;
    assert_eq!(status, 401);

    let (status, trail) = get(format!("{links}/{id}/audit"), Some(API_KEY), None).await;
    assert_eq!(status, 200);
    let reasons: Vec<&str> = trail["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| e["reason"].as_str().unwrap_or("served"))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(reasons, ["served", "wrong_password", "password_required"]);
    assert_eq!(trail["events"][1]["source_ip"], "127.0.0.1");

    let revoked = client
        .delete(format!("{links}/{id}"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("revoke failed: {e}"));
    assert_eq!(revoked.status(), StatusCode::OK);
    let (status, body) = get(access_url, None, Some("correct horse battery")).await;
    assert_eq!((status, body["error"].as_str()), (410, Some("revoked")));
}

/// Every operation of the OpenAPI document reaches a handler of the local
/// server: none gets the router's "no such route" 404 or a 405.
#[tokio::test]
async fn every_documented_operation_is_served() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(&dir.path().join("store"), &[]);
    let client = reqwest::Client::new();
    let paths = shared::openapi::document()["paths"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut checked = 0;
    for (path, item) in &paths {
        let concrete = path
            .replace("{token}", "not-a-token")
            .replace("{filename}", "a.txt")
            .replace("{link_id}", &"0".repeat(32));
        for method in item.as_object().map(|m| m.keys()).into_iter().flatten() {
            let Ok(verb) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let response = client
                .request(verb, format!("{}{concrete}", server.base))
                .header("x-api-key", API_KEY)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                !body.contains("no such route"),
                "{method} {path} is not routed: {status} {body}"
            );
            assert!(!status.is_server_error(), "{method} {path}: {status}");
            checked += 1;
        }
    }
    assert!(checked >= 19, "only {checked} operations in the document");

    // A method a route does not serve gets 405 with `Allow`, the methods its
    // handler serves; each of them must be in the document.
    for (path, item) in &paths {
        let concrete = path
            .replace("{token}", "not-a-token")
            .replace("{filename}", "a.txt")
            .replace("{link_id}", &"0".repeat(32));
        let response = client
            .request(reqwest::Method::PATCH, format!("{}{concrete}", server.base))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PATCH {path}: {e}"));
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let allow = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("PATCH {path}: no Allow header"))
            .to_owned();
        for method in allow.split(',').map(str::trim) {
            assert!(
                item[method.to_lowercase()].is_object(),
                "{method} {path} is served but not documented (Allow: {allow})"
            );
        }
    }

    // The probe can fail: a path no route serves gets the router's 404.
    let unrouted = client
        .get(format!("{}/no-such-route", server.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unrouted.status(), StatusCode::NOT_FOUND);
    assert!(
        unrouted
            .text()
            .await
            .unwrap_or_default()
            .contains("no such route")
    );
}

/// The recipient page's password prompt over HTTP. The form posts the
/// password to `/access/{token}`. A wrong one gets the prompt again with
/// 401, and the right one the details and a form that downloads the file.
/// Five wrong ones in a row lock the link (423).
#[tokio::test]
async fn password_form_opens_the_page_and_downloads() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(&dir.path().join("store"), &[]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let bytes = b"quarterly audit, confidential".to_vec();
    let password = "correct horse battery";
    let form = Form::new()
        .part("file", Part::bytes(bytes.clone()).file_name("audit.txt"))
        .text("max_downloads", "2")
        .text("password", password);
    let created: serde_json::Value = client
        .post(format!("{}/upload-file", server.base))
        .header("x-api-key", API_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload failed: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("upload answer is not JSON: {e}"));
    let access_url = field(&created, "access_url");
    let html = "text/html,application/xhtml+xml,*/*;q=0.8";
    let post = |accept: &'static str, body: String| {
        let request = client
            .post(&access_url)
            .header("accept", accept)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        async move {
            let response = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("request failed: {e}"));
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
    };

    let (status, page) = post(html, "password=wrong+password".into()).await;
    assert_eq!(status, 401);
    assert!(page.contains("That password is not correct."), "{page}");
    assert!(page.contains("name=\"password\""));

    let (status, page) = post(html, format!("password={}", password.replace(' ', "+"))).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("audit.txt"));
    assert!(page.contains("action=\"http://127.0.0.1:"), "{page}");
    assert!(page.contains("/files/audit.txt\""), "{page}");
    // The page's download form carries the token and the password; the
    // page's own address carries neither password nor download.
    let token = field(&created, "token");
    assert!(page.contains(&format!("name=\"token\" value=\"{token}\"")));

    let (status, view) = post("application/json", format!("password={}", password)).await;
    assert_eq!(status, 200);
    let view: serde_json::Value = serde_json::from_str(&view).unwrap_or_default();
    assert_eq!(view["downloads_remaining"], 2, "opening used no download");

    let download = client
        .post(format!("{}/files/audit.txt", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}&password=correct+horse+battery"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("download failed: {e}"));
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(
        download.bytes().await.unwrap_or_default().as_ref(),
        bytes.as_slice()
    );

    let (status, body) = post("application/json", "password=x&password=y".into()).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = post("application/json", String::new()).await;
    assert_eq!(status, 422, "an empty form has no password");
    let json_form = client
        .post(&access_url)
        .header("content-type", "application/json")
        .body("{\"password\": \"x\"}")
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    assert_eq!(json_form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    for attempt in 1..=5 {
        let (status, _) = post(html, "password=wrong+again".into()).await;
        assert_eq!(
            status,
            if attempt < 5 { 401 } else { 423 },
            "attempt {attempt}"
        );
    }
    let (status, page) = post(html, format!("password={}", password.replace(' ', "+"))).await;
    assert_eq!(status, 423, "{page}");
    assert!(page.contains("Too many wrong passwords"), "{page}");
}
