//! The recipient page in a real browser: headless Chromium, driven through
//! chromedriver over the WebDriver protocol with plain HTTP requests,
//! against the local server on 127.0.0.1.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`), which `script/test` installs. Without them the
//! test fails with a message naming the missing tool; it is never skipped. Screenshots of each page at
//! a phone and a desktop width go to `target/screenshots/`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use link_tests::{test_config, test_keys};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use shared::App;
use shared::config::Backend;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The API key [`test_config`] accepts.
const API_KEY: &str = "local-test-key";
/// WebDriver's key for an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1280, 800);

/// A chromedriver process, stopped on drop.
struct Driver {
    child: Child,
    base: String,
}

impl Drop for Driver {
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

fn require_browser() {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: run script/test, which installs Debian's chromium and \
             chromium-driver (or apt-get install chromium chromium-driver)"
        );
    }
}

async fn start_driver(client: &reqwest::Client) -> Driver {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER} failed: {e}"));
    let driver = Driver {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client
            .get(format!("{}/status", driver.base))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        if let Some(response) = ready {
            let status: Value = response.json().await.unwrap_or_default();
            if status["value"]["ready"] == true {
                break;
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver
}

/// One WebDriver session.
struct Session<'a> {
    client: &'a reqwest::Client,
    url: String,
}

impl Session<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.url);
        let request = self.client.request(method.clone(), &url);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path} failed: {e}"));
        let status = response.status();
        let value: Value = response.json().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "WebDriver {method} {path} returned {status}: {value}"
        );
        value["value"].clone()
    }

    /// Sets the viewport, not the window with its frame, to `width` x
    /// `height` CSS pixels. A phone width also turns on mobile emulation, so
    /// the page's viewport meta tag takes effect.
    async fn resize(&self, (width, height): (u32, u32)) {
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({
                "cmd": "Emulation.setDeviceMetricsOverride",
                "params": {
                    "width": width,
                    "height": height,
                    "deviceScaleFactor": 1,
                    "mobile": width < 600,
                },
            })),
        )
        .await;
    }

    async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element for {css}: {found}"))
            .to_owned()
    }

    /// Clicks the submit button `css` and waits until the browser has
    /// replaced the document, so that later lookups find the new page and
    /// not the one the form was on.
    async fn submit(&self, css: &str) {
        let old_root = self.find("html").await;
        let button = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{button}/click"),
            Some(json!({})),
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let probe = self
                .client
                .get(format!("{}/element/{old_root}/name", self.url))
                .send()
                .await
                .unwrap_or_else(|e| panic!("WebDriver element probe failed: {e}"));
            if !probe.status().is_success() {
                let body: Value = probe.json().await.unwrap_or_default();
                let error = body["value"]["error"].as_str().unwrap_or_default();
                assert!(
                    ["stale element reference", "no such element"].contains(&error),
                    "unexpected WebDriver answer while waiting for the new page: {body}"
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "submitting {css} did not load a new page within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        let text = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                None,
            )
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    async fn css(&self, css: &str, property: &str) -> String {
        let element = self.find(css).await;
        let value = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{element}/css/{property}"),
                None,
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let encoded = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("screenshot is not base64: {e}"));
        assert!(bytes.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("creating {} failed: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes)
            .unwrap_or_else(|e| panic!("writing {} failed: {e}", path.display()));
        eprintln!("screenshot: {}", path.display());
        path
    }

    async fn screenshots(&self, name: &str) {
        for (label, size) in [("phone", PHONE), ("desktop", DESKTOP)] {
            self.resize(size).await;
            self.screenshot(&format!("{name}-{label}")).await;
        }
    }
}

/// `target/screenshots`, under `CARGO_TARGET_DIR` when it is set.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots")
}

async fn new_session<'a>(
    client: &'a reqwest::Client,
    driver: &Driver,
    profile: &Path,
    downloads: &Path,
) -> Session<'a> {
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        format!("--user-data-dir={}", profile.display()),
        format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
    ];
    // An element looked up right after a click may belong to a page that is
    // still loading. The implicit wait lets WebDriver retry the lookup for
    // up to 5 s instead of failing at once.
    let capabilities = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "timeouts": {"implicit": 5000},
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": args,
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
                "safebrowsing.enabled": false,
            },
        },
    }}});
    let response = client
        .post(format!("{}/session", driver.base))
        .json(&capabilities)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating a WebDriver session failed: {e}"));
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    let id = body["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no WebDriver session ({status}): {body}"));
    Session {
        client,
        url: format!("{}/session/{id}", driver.base),
    }
}

/// Starts the local server in this process over a fresh embedded store.
async fn start_server(data_dir: &Path) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("binding 127.0.0.1 failed: {e}"));
    let address = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"));
    let base = format!("http://{address}");
    let mut config = test_config(Backend::Embedded {
        data_dir: data_dir.to_path_buf(),
    });
    config.public_base_url = Some(base.clone());
    let app = App::embedded(config, data_dir, test_keys())
        .unwrap_or_else(|e| panic!("embedded store failed: {e}"));
    tokio::spawn(local_server::serve(listener, app));
    base
}

/// Waits for one finished download in `dir` and returns its bytes.
async fn downloaded_file(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let partial = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
            })
            .unwrap_or(false);
        if !partial && let Ok(bytes) = std::fs::read(&path) {
            return bytes;
        }
        let listing: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "no download of {name} in {}; found {listing:?}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_page_downloads_once_in_chromium() {
    require_browser();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir failed: {e}"));
    let data_dir = dir.path().join("data");
    let profile = dir.path().join("profile");
    let downloads = dir.path().join("downloads");
    for path in [&data_dir, &profile, &downloads] {
        std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir failed: {e}"));
    }
    let base = start_server(&data_dir).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_else(|e| panic!("client failed: {e}"));

    let name = "incident-report.csv";
    let bytes: Vec<u8> = (0..20_000u32)
        .flat_map(|i| format!("{i},{}\n", i.wrapping_mul(2_654_435_761)).into_bytes())
        .collect();
    let form = Form::new()
        .part(
            "file",
            Part::bytes(bytes.clone())
                .file_name(name)
                .mime_str("text/csv")
                .unwrap_or_else(|e| panic!("mime failed: {e}")),
        )
        .text("max_downloads", "1");
    let upload: Value = client
        .post(format!("{base}/upload-file"))
        .header("x-api-key", API_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload failed: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("upload answer is not JSON: {e}"));
    let access_url = upload["access_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_url: {upload}"))
        .to_owned();
    let sha256 = upload["sha256"].as_str().unwrap_or_default().to_owned();

    let driver = start_driver(&client).await;
    let session = new_session(&client, &driver, &profile, &downloads).await;

    session.open(&access_url).await;
    let main = session.text("main").await;
    assert!(main.contains(name), "page lacks the file name: {main}");
    assert!(
        main.contains(&format!("{} bytes", group_digits(bytes.len()))),
        "page lacks the size in bytes: {main}"
    );
    assert!(main.contains(&sha256), "page lacks the SHA-256: {main}");
    assert!(
        main.contains("1 of 1"),
        "page lacks the downloads left: {main}"
    );
    let badge = session.text(".badge").await;
    assert_eq!(badge, "Ready to download");
    // The local time is written by the page script, so it shows only when
    // the CSP hash admits the script.
    let local = session.text("[data-local-time]").await;
    assert!(
        local.starts_with("(your time:"),
        "the page script did not run: {local:?}"
    );
    // The button is styled only when the CSP hash admits the style sheet.
    let background = session.css("#download", "background-color").await;
    assert_eq!(background, "rgba(5, 80, 174, 1)", "style sheet not applied");
    session.screenshots("ready").await;

    let viewed = client
        .get(&access_url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("access failed: {e}"));
    let viewed: Value = viewed.json().await.unwrap_or_default();
    assert_eq!(
        viewed["downloads_remaining"], 1,
        "viewing the page used a download"
    );

    let button = session.find("#download").await;
    session
        .call(
            reqwest::Method::POST,
            &format!("/element/{button}/click"),
            Some(json!({})),
        )
        .await;
    let downloaded = downloaded_file(&downloads, name).await;
    assert_eq!(downloaded.len(), bytes.len(), "downloaded size differs");
    assert!(
        downloaded == bytes,
        "downloaded bytes differ from the upload"
    );

    session
        .call(reqwest::Method::POST, "/refresh", Some(json!({})))
        .await;
    let badge = session.text(".badge").await;
    assert_eq!(badge, "Used up");
    let heading = session.text("h1").await;
    assert_eq!(heading, "This link has no downloads left");
    assert!(
        session
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": "#download"})),
            )
            .await
            .as_array()
            .is_some_and(Vec::is_empty),
        "a used-up link still offers a download"
    );
    session.screenshots("used-up").await;

    session.open(&format!("{base}/access/not-a-token")).await;
    assert_eq!(session.text(".badge").await, "Invalid address");
    session.screenshots("malformed").await;

    session.call(reqwest::Method::DELETE, "", None).await;
    eprintln!("screenshots are in {}", screenshot_dir().display());
}

/// A download button clicked after the link was used up elsewhere shows the
/// "Used up" page, not the JSON error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_up_download_shows_the_page_in_chromium() {
    require_browser();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir failed: {e}"));
    let data_dir = dir.path().join("data");
    let profile = dir.path().join("profile");
    let downloads = dir.path().join("downloads");
    for path in [&data_dir, &profile, &downloads] {
        std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir failed: {e}"));
    }
    let base = start_server(&data_dir).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_else(|e| panic!("client failed: {e}"));
    let form = Form::new()
        .part(
            "file",
            Part::bytes(b"one,two\n".to_vec())
                .file_name("once.csv")
                .mime_str("text/csv")
                .unwrap_or_else(|e| panic!("mime failed: {e}")),
        )
        .text("max_downloads", "1");
    let upload: Value = client
        .post(format!("{base}/upload-file"))
        .header("x-api-key", API_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload failed: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("upload response is not JSON: {e}"));
    let access_url = upload["access_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_url: {upload}"))
        .to_owned();

    let driver = start_driver(&client).await;
    let session = new_session(&client, &driver, &profile, &downloads).await;
    session.open(&access_url).await;
    assert_eq!(session.text(".badge").await, "Ready to download");

    // Another client uses the only download while the page is open.
    let viewed: Value = client
        .get(&access_url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("access failed: {e}"))
        .json()
        .await
        .unwrap_or_default();
    let download_url = viewed["download_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no download_url: {viewed}"));
    let served = client
        .get(download_url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("download failed: {e}"));
    assert_eq!(served.status(), 200);

    let button = session.find("#download").await;
    session
        .call(
            reqwest::Method::POST,
            &format!("/element/{button}/click"),
            Some(json!({})),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut url = String::new();
    while Instant::now() < deadline {
        url = session
            .call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if url.contains("/files/") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        url.contains("/files/once.csv"),
        "the click did not navigate: {url}"
    );
    assert_eq!(session.text(".badge").await, "Used up");
    assert_eq!(session.text("h1").await, "This link has no downloads left");
    session.screenshots("download-used-up").await;
    session.call(reqwest::Method::DELETE, "", None).await;
}

/// A password link in Chromium. The page shows a password prompt, and a
/// wrong password shows a message. The right one shows the details, and the
/// download button, a form that posts the token and the password, fetches
/// the bytes. The password never appears in an address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_page_opens_and_downloads_in_chromium() {
    require_browser();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir failed: {e}"));
    let data_dir = dir.path().join("data");
    let profile = dir.path().join("profile");
    let downloads = dir.path().join("downloads");
    for path in [&data_dir, &profile, &downloads] {
        std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir failed: {e}"));
    }
    let base = start_server(&data_dir).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_else(|e| panic!("client failed: {e}"));

    let name = "board-minutes.txt";
    let password = "correct horse battery";
    let bytes: Vec<u8> = (0..4_000u32)
        .flat_map(|i| format!("line {i}: {}\n", i.wrapping_mul(40_503)).into_bytes())
        .collect();
    let form = Form::new()
        .part("file", Part::bytes(bytes.clone()).file_name(name))
        .text("max_downloads", "1")
        .text("password", password);
    let upload: Value = client
        .post(format!("{base}/upload-file"))
        .header("x-api-key", API_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload failed: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("upload answer is not JSON: {e}"));
    let access_url = upload["access_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_url: {upload}"))
        .to_owned();

    let driver = start_driver(&client).await;
    let session = new_session(&client, &driver, &profile, &downloads).await;
    let type_password = async |text: &str| {
        let field = session.find("#password").await;
        session
            .call(
                reqwest::Method::POST,
                &format!("/element/{field}/value"),
                Some(json!({"text": text})),
            )
            .await;
        session.submit("button[type=submit]").await;
    };

    session.open(&access_url).await;
    assert_eq!(session.text("h1").await, "Enter the password");
    session.screenshots("password").await;

    type_password("not the password").await;
    let alert = session.text("#password-error").await;
    assert_eq!(alert, "That password is not correct.");
    session.screenshots("wrong-password").await;

    type_password(password).await;
    let main = session.text("main").await;
    assert!(main.contains(name), "page lacks the file name: {main}");
    assert_eq!(session.text(".badge").await, "Ready to download");
    let address = session.call(reqwest::Method::GET, "/url", None).await;
    let address = address.as_str().unwrap_or_default();
    assert!(
        !address.contains("horse") && !address.contains("password"),
        "the password went into the address: {address}"
    );
    session.screenshots("password-ready").await;

    let viewed = client
        .get(&access_url)
        .header("x-link-password", password)
        .send()
        .await
        .unwrap_or_else(|e| panic!("access failed: {e}"));
    let viewed: Value = viewed.json().await.unwrap_or_default();
    assert_eq!(
        viewed["downloads_remaining"], 1,
        "opening the page used a download"
    );

    let button = session.find("#download").await;
    session
        .call(
            reqwest::Method::POST,
            &format!("/element/{button}/click"),
            Some(json!({})),
        )
        .await;
    let downloaded = downloaded_file(&downloads, name).await;
    assert!(
        downloaded == bytes,
        "downloaded bytes differ from the upload"
    );

    session.call(reqwest::Method::DELETE, "", None).await;
}

fn group_digits(value: usize) -> String {
    let digits = value.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}
