//! Helpers for the end-to-end tests: an [`App`] on either storage back end,
//! a movable clock, API Gateway-shaped requests, and multipart bodies.
//!
//! The DynamoDB/S3 back end needs the emulator that `script/test` starts and
//! names in `TEST_EMULATOR_URL`. Without it those tests fail with a message
//! that names the variable, rather than being skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::App;
use shared::config::{Config, KeySource};
use shared::ports::Clock;
use shared::secret::SecretBytes;
use shared::token::{Keyring, encode_key_entry};

/// API key id that test requests carry, as API Gateway would set it.
pub const CREATOR: &str = "test-key-id";

/// Source IP that test requests carry.
pub const SOURCE_IP: &str = "198.51.100.23";

/// A clock the test moves by hand.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// Starts at the current system time.
    pub fn new() -> Arc<Self> {
        let now = shared::ports::SystemClock.now_ms();
        Arc::new(Self(AtomicI64::new(now)))
    }

    /// Moves time forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Key id of the test signing key.
pub const TEST_KID: &str = "test-1";

/// Returns the test signing key: a fixed pattern, used only by tests, so that a
/// test can forge tokens with the real secret and a wrong algorithm.
pub fn test_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = u8::try_from(i).unwrap_or(0) ^ 0x5a;
    }
    secret
}

/// Returns the keyring tests sign with.
pub fn test_keys() -> Keyring {
    Keyring::parse(&encode_key_entry(TEST_KID, &test_secret()))
        .unwrap_or_else(|e| panic!("test keyring failed: {e}"))
}

/// Configuration shared by both back ends in tests.
pub fn test_config(backend: shared::config::Backend) -> Config {
    let mut config =
        Config::from_lookup(|_| None).unwrap_or_else(|e| panic!("default config failed: {e}"));
    config.backend = backend;
    config.keys = KeySource::Missing;
    config.public_base_url = Some("https://links.example.test/v1".into());
    config.api_keys = vec![SecretBytes::new(b"local-test-key".to_vec())];
    // Tests that are not about quotas make many creator calls.
    config.plans.default_tier = shared::quota::Tier::Enterprise;
    config
}

/// Which store a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Store {
    /// SQLite and a folder.
    Embedded,
    /// DynamoDB and S3 on the emulator.
    Emulated,
}

/// A test app with its clock and anything that must outlive it.
pub struct TestApp {
    /// The state the handlers use.
    pub app: App,
    /// The app's clock.
    pub clock: Arc<ManualClock>,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// Builds an app on `store`.
    pub async fn new(store: Store) -> Self {
        match store {
            Store::Embedded => Self::embedded(),
            Store::Emulated => Self::emulated().await,
        }
    }

    /// Serves the app on a free 127.0.0.1 port with the local server, which
    /// also serves the embedded store's signed URLs, and points
    /// `PUBLIC_BASE_URL` at it. Returns the base URL.
    pub async fn serve(&mut self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("binding a port failed: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("reading the port failed: {e}"));
        let base = format!("http://{address}");
        self.app.config.public_base_url = Some(base.clone());
        let app = self.app.clone();
        tokio::spawn(async move {
            if let Err(error) = local_server::serve(listener, app).await {
                panic!("local server failed: {error}");
            }
        });
        base
    }

    /// Builds an app on a fresh embedded store in a temporary folder.
    pub fn embedded() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir failed: {e}"));
        let config = test_config(shared::config::Backend::Embedded {
            data_dir: dir.path().to_path_buf(),
        });
        let mut app = App::embedded(config, dir.path(), test_keys())
            .unwrap_or_else(|e| panic!("embedded store failed: {e}"));
        let clock = ManualClock::new();
        app.clock = clock.clone();
        Self {
            app,
            clock,
            _dir: Some(dir),
        }
    }

    /// Builds an app on a fresh table and bucket in the emulator.
    pub async fn emulated() -> Self {
        let sdk = emulator_sdk_config();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let table = format!("links-{}", &suffix[..12]);
        let bucket = format!("files-{}", &suffix[..12]);
        let dynamo = sdk.dynamodb();
        shared::adapters::dynamo::create_table(&dynamo, &table)
            .await
            .unwrap_or_else(|e| panic!("creating table {table} failed: {e:?}"));
        let s3 = sdk.s3();
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating bucket {bucket} failed: {e:?}"));
        let config = test_config(shared::config::Backend::Aws {
            table: table.clone(),
            bucket: bucket.clone(),
        });
        let mut app = App::aws(config, &sdk, &table, &bucket, test_keys());
        let clock = ManualClock::new();
        app.clock = clock.clone();
        Self {
            app,
            clock,
            _dir: None,
        }
    }
}

impl TestApp {
    /// Returns the app clock's time in Unix seconds.
    pub fn clock_now(&self) -> i64 {
        self.clock.now()
    }

    /// Returns the notifications file of an embedded store, or `None` on
    /// the emulator.
    pub fn notifications_file(&self) -> Option<std::path::PathBuf> {
        self._dir
            .as_ref()
            .map(|dir| dir.path().join("notifications.jsonl"))
    }
}

/// A notifier that keeps what it is asked to send, for checking what the
/// service announces when the real transport cannot be read back.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    sent: std::sync::Mutex<Vec<serde_json::Value>>,
}

impl RecordingNotifier {
    /// Returns the notices sent so far, as JSON.
    pub fn notices(&self) -> Vec<serde_json::Value> {
        self.sent
            .lock()
            .map(|sent| sent.clone())
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl shared::notify::Notifier for RecordingNotifier {
    async fn send(
        &self,
        _kind: shared::notify::Kind,
        notice: &shared::notify::Notice,
    ) -> Result<(), shared::ports::StoreError> {
        let value = serde_json::to_value(notice)
            .map_err(|e| shared::ports::StoreError::new("encode notice", e))?;
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(value);
        }
        Ok(())
    }
}

/// Signs a JWT with HMAC by hand; see [`shared::token::hmac_jwt`].
pub use shared::token::hmac_jwt;

/// SDK settings aimed at the emulator named in `TEST_EMULATOR_URL`, with
/// fake credentials; never the default AWS endpoints.
pub fn emulator_sdk_config() -> shared::adapters::sdk::AwsSettings {
    let endpoint = std::env::var("TEST_EMULATOR_URL").unwrap_or_else(|_| {
        panic!("TEST_EMULATOR_URL is not set: run script/test, which starts the emulator")
    });
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "TEST_EMULATOR_URL must point at 127.0.0.1, got {endpoint}"
    );
    let credentials = aws_credential_types::Credentials::new("test", "test", None, None, "tests");
    shared::adapters::sdk::AwsSettings::new("us-east-1", credentials, Some(&endpoint))
        .unwrap_or_else(|e| panic!("emulator settings: {e}"))
}

/// Characters a test path may contain that a URI may not. The handler
/// reads the raw path through `raw_http_path` either way.
const URI_UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'#')
    .add(b'?')
    .add(b'\'');

/// A request as API Gateway's REST API passes it to a function.
pub struct Call {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    path_parameters: HashMap<String, String>,
    query: HashMap<String, String>,
    body: Body,
    api_key_id: Option<String>,
    source_ip: String,
}

impl Call {
    /// Starts a request with `method` on `path`.
    pub fn new(method: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: vec![("user-agent".into(), "link-tests/1".into())],
            path_parameters: HashMap::new(),
            query: HashMap::new(),
            body: Body::Empty,
            api_key_id: None,
            source_ip: SOURCE_IP.into(),
        }
    }

    /// Marks the request as coming with the API key whose id is `id`.
    pub fn creator_id(mut self, id: &str) -> Self {
        self.api_key_id = Some(id.into());
        self
    }

    /// Sets the source IP that the gateway saw.
    pub fn source_ip(mut self, ip: &str) -> Self {
        self.source_ip = ip.into();
        self
    }

    /// Marks the request as coming with the test creator's API key.
    pub fn creator(mut self) -> Self {
        self.api_key_id = Some(CREATOR.into());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a path parameter.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.path_parameters.insert(name.into(), value.into());
        self
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.insert(name.into(), value.into());
        self
    }

    /// Sets a JSON body.
    pub fn json(self, body: &serde_json::Value) -> Self {
        let mut call = self.header("content-type", "application/json");
        call.body = Body::Text(body.to_string());
        call
    }

    /// Sets a binary body with its content type.
    pub fn binary(self, content_type: &str, bytes: Vec<u8>) -> Self {
        let mut call = self.header("content-type", content_type);
        call.body = Body::Binary(bytes);
        call
    }

    /// Builds the request.
    pub fn build(self) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method(self.method)
            .uri(format!(
                "https://links.example.test/v1{}",
                percent_encoding::utf8_percent_encode(&self.path, URI_UNSAFE)
            ));
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(self.body)
            .unwrap_or_else(|e| panic!("request build failed: {e}"));
        let mut context = ApiGatewayProxyRequestContext::default();
        context.identity.source_ip = Some(self.source_ip);
        context.identity.api_key_id = self.api_key_id;
        context.stage = Some("v1".into());
        context.domain_name = Some("links.example.test".into());
        context.request_id = Some("test-request".into());
        request
            .with_raw_http_path(self.path)
            .with_path_parameters(self.path_parameters)
            .with_query_string_parameters(self.query)
            .with_request_context(RequestContext::ApiGatewayV1(context))
    }
}

/// Sends `request` to the handler for its route.
pub async fn send(app: &App, request: Request) -> Response<Body> {
    let path = request.raw_http_path().to_owned();
    let result = if path == "/generate-link" {
        generate_link::handle(app, request).await
    } else if path == "/upload-file" {
        upload_file::handle(app, request).await
    } else if path == "/upload-url" {
        upload_url::handle(app, request).await
    } else if path.starts_with("/access/") {
        access::handle(app, request).await
    } else if path.starts_with("/files/") {
        files::handle(app, request).await
    } else if path == "/links" || path.starts_with("/links/") {
        links::handle(app, request).await
    } else {
        panic!("no handler for {path}")
    };
    result.unwrap_or_else(|e| panic!("handler returned an invocation error: {e}"))
}

/// Returns the body of a response as bytes.
pub fn body_bytes(response: &Response<Body>) -> Vec<u8> {
    match response.body() {
        Body::Text(text) => text.as_bytes().to_vec(),
        Body::Binary(bytes) => bytes.clone(),
        _ => Vec::new(),
    }
}

/// Parses the body of a response as JSON.
pub fn body_json(response: &Response<Body>) -> serde_json::Value {
    serde_json::from_slice(&body_bytes(response)).unwrap_or_else(|e| {
        panic!(
            "body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&body_bytes(response))
        )
    })
}

/// Returns a header as text, or "" when absent.
pub fn header(response: &Response<Body>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Boundary used by [`multipart`].
pub const BOUNDARY: &str = "----link-tests-boundary";

/// Builds a `multipart/form-data` body with one file part and text parts.
pub fn multipart(file_name: &str, bytes: &[u8], fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Uploads `bytes` as `file_name` through the upload handler and returns
/// the JSON response, asserting a 200.
pub async fn upload(
    app: &App,
    file_name: &str,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> serde_json::Value {
    let request = Call::new("POST", "/upload-file")
        .creator()
        .binary(
            &format!("multipart/form-data; boundary={BOUNDARY}"),
            multipart(file_name, bytes, fields),
        )
        .build();
    let response = send(app, request).await;
    let status = response.status().as_u16();
    let json = body_json(&response);
    assert_eq!(status, 200, "upload failed: {json}");
    json
}

/// Requests `/access/{token}` with a user agent.
pub async fn access(app: &App, token: &str, user_agent: &str) -> Response<Body> {
    let request = Call::new("GET", format!("/access/{token}"))
        .param("token", token)
        .header("user-agent", user_agent)
        .build();
    send(app, request).await
}

/// Requests `/files/{name}?token=...`.
pub async fn download(app: &App, name: &str, token: &str) -> Response<Body> {
    let request = Call::new("GET", format!("/files/{name}"))
        .param("filename", name)
        .query("token", token)
        .build();
    send(app, request).await
}

/// Returns the text of `events/NAME.json` with every token placeholder
/// replaced by `token`.
pub fn event_text(name: &str, token: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("events")
        .join(format!("{name}.json"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {} failed: {e}", path.display()))
        .replace("REPLACE_WITH_TOKEN", token)
}

/// Parses `events/NAME.json` into the request a function would receive.
pub fn event(name: &str, token: &str) -> Request {
    lambda_http::request::from_str(&event_text(name, token))
        .unwrap_or_else(|e| panic!("events/{name}.json is not a gateway event: {e}"))
}

/// Returns a string field of a JSON body, failing the test when it is absent.
pub fn text(value: &serde_json::Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing in {value}"))
        .to_owned()
}

/// Defines one test per store for each named `async fn(Store)` scenario, in
/// the modules `embedded` and `emulated`.
#[macro_export]
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod embedded {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $scenario() {
                super::$scenario($crate::Store::Embedded).await;
            })*
        }
        mod emulated {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $scenario() {
                super::$scenario($crate::Store::Emulated).await;
            })*
        }
    };
}

/// API key that [`test_config`] accepts, for requests over HTTP.
pub const API_KEY: &str = "local-test-key";

/// Returns byte `index` of the fixed test pattern: the same bytes on every
/// run, with no period short enough to hide a misplaced chunk.
pub fn pattern_byte(index: u64) -> u8 {
    let mixed = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index >> 13);
    u8::try_from(mixed >> 56).unwrap_or(0)
}

/// Returns `len` bytes of the fixed test pattern.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64).map(pattern_byte).collect()
}

/// Writes `len` bytes to `path` in 1 MiB blocks of the fixed test
/// pattern, each starting with its block number so that no two blocks are
/// alike, and returns their lowercase hex SHA-256. Memory stays at one
/// block whatever `len` is.
pub fn write_pattern_file(path: &std::path::Path, len: u64) -> String {
    use sha2::Digest;
    use std::io::Write;
    const BLOCK: u64 = 1 << 20;
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).unwrap_or_else(|e| panic!("creating {path:?} failed: {e}")),
    );
    let mut hasher = sha2::Sha256::new();
    let mut block = pattern(BLOCK as usize);
    let mut offset = 0u64;
    while offset < len {
        let number = (offset / BLOCK).to_le_bytes();
        block[..8].copy_from_slice(&number);
        let end = usize::try_from((len - offset).min(BLOCK)).unwrap_or(0);
        hasher.update(&block[..end]);
        file.write_all(&block[..end])
            .unwrap_or_else(|e| panic!("writing {path:?} failed: {e}"));
        offset += BLOCK;
    }
    file.flush()
        .unwrap_or_else(|e| panic!("writing {path:?} failed: {e}"));
    hex::encode(hasher.finalize())
}

/// Returns the lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Sends a JSON body with the test API key and returns status and JSON.
pub async fn post_json(url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("x-api-key", API_KEY)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url} failed: {e}"));
    let status = response.status().as_u16();
    let json = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("POST {url} answered no JSON: {e}"));
    (status, json)
}

/// Sends a GET with the test API key and returns status and JSON.
pub async fn creator_get_json(url: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(url)
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
    let status = response.status().as_u16();
    let json = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url} returned no JSON: {e}"));
    (status, json)
}

/// Sends a GET and returns status and JSON.
pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
    let status = response.status().as_u16();
    let json = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url} answered no JSON: {e}"));
    (status, json)
}

/// Downloads `url`, following redirects, hashing the body as it streams.
/// Returns the final status, the byte count and the SHA-256.
pub async fn download_hashed(url: &str) -> (u16, u64, String) {
    use sha2::Digest;
    let mut response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
    let status = response.status().as_u16();
    let mut hasher = sha2::Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .unwrap_or_else(|e| panic!("reading {url} failed: {e}"))
    {
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    (status, size, hex::encode(hasher.finalize()))
}

/// Uploads the file at `path` to `url` with `curl -T`, as a creator would,
/// and returns the HTTP status and the response body.
pub fn curl_upload(path: &std::path::Path, url: &str) -> (u16, String) {
    let mut command = std::process::Command::new("curl");
    command.arg("-sS").arg("-T").arg(path);
    run_curl(command, url)
}

/// Uploads `path` to `url` with `curl -T -`, which sends the body chunked,
/// without a Content-Length. Returns the status and the body.
pub fn curl_upload_chunked(path: &std::path::Path, url: &str) -> (u16, String) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut command = std::process::Command::new("curl");
    command.args(["-sS", "-T", "-"]).stdin(file);
    run_curl(command, url)
}

/// Runs `command` (a curl command line without its URL) against `url` and
/// returns the response's status and body.
fn run_curl(mut command: std::process::Command, url: &str) -> (u16, String) {
    let output = command
        .args(["-w", "\n%{http_code}", url])
        .output()
        .unwrap_or_else(|e| panic!("running curl failed: {e}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status = status
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl printed no status: {text:?}"));
    (status, body.to_owned())
}

/// Returns the text of `events/NAME.json` with each `(placeholder, value)`
/// replaced.
pub fn event_with(name: &str, replacements: &[(&str, &str)]) -> serde_json::Value {
    let mut text = event_text(name, "");
    for (placeholder, value) in replacements {
        text = text.replace(placeholder, value);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("events/{name}.json is not JSON: {e}"))
}
