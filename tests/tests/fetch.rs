//! `/generate-link` for a `file_url` on an allowed host: fetched through the
//! address checks, copied into the bucket, and served byte for byte. The
//! file server runs on 127.0.0.1, so these tests use the policy that also
//! admits loopback; every other internal address is still refused.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use link_tests::{Call, Store, TestApp, body_bytes, body_json, download, send, text};
use serde_json::json;
use shared::fetch::{AddressPolicy, Fetcher, Resolve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REPORT: &[u8] = b"%PDF-1.7 fetched evidence";

link_tests::on_both_stores!(
    allowed_host_file_is_copied_and_served,
    redirects_into_the_network_are_refused,
    hosts_off_the_list_are_never_contacted,
);

/// A file server on 127.0.0.1 that counts the requests it gets.
struct FileServer {
    port: u16,
    requests: Arc<AtomicUsize>,
}

async fn start_file_server() -> FileServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buffer = vec![0u8; 4096];
            let read = stream.read(&mut buffer).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buffer[..read]).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let response = answer(&path, port);
            let _ = stream.write_all(&response).await;
            let _ = stream.shutdown().await;
        }
    });
    FileServer { port, requests }
}

fn answer(path: &str, port: u16) -> Vec<u8> {
    let redirect = |location: String| {
        format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .into_bytes()
    };
    match path {
        "/report.pdf" => {
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                REPORT.len()
            )
            .into_bytes();
            out.extend_from_slice(REPORT);
            out
        }
        "/big.bin" => {
            b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\nConnection: close\r\n\r\n".to_vec()
        }
        "/to-report" => redirect("/report.pdf".into()),
        "/to-metadata" => redirect("http://169.254.169.254/latest/meta-data/".into()),
        "/to-decimal" => redirect("http://2130706433/".into()),
        "/to-inside" => redirect(format!("http://inside.test:{port}/report.pdf")),
        "/to-other" => redirect(format!("http://other.test:{port}/report.pdf")),
        "/loop" => redirect("/loop".into()),
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    }
}

/// Resolves `files.test` and `other.test` to 127.0.0.1 and `inside.test`
/// to a private address.
struct TestResolver;

#[async_trait]
impl Resolve for TestResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let ip: IpAddr = match host {
            "inside.test" => "10.0.0.5".parse().map_err(std::io::Error::other)?,
            _ => "127.0.0.1".parse().map_err(std::io::Error::other)?,
        };
        Ok(vec![SocketAddr::new(ip, port)])
    }
}

async fn app_with_fetcher(store: Store) -> TestApp {
    let mut test = TestApp::new(store).await;
    test.app.fetcher = Fetcher::new(
        vec!["files.test".into(), "inside.test".into()],
        Arc::new(TestResolver),
        AddressPolicy::LoopbackForTests,
        1 << 20,
    );
    test
}

async fn generate(test: &TestApp, file_url: &str) -> lambda_http::Response<lambda_http::Body> {
    let body = json!({"file_url": file_url, "expire_minutes": 5});
    send(
        &test.app,
        Call::new("POST", "/generate-link")
            .creator()
            .json(&body)
            .build(),
    )
    .await
}

async fn allowed_host_file_is_copied_and_served(store: Store) {
    let test = app_with_fetcher(store).await;
    let server = start_file_server().await;
    // The name comes from the URL the creator gave, not from a redirect.
    for (path, name) in [("/report.pdf", "report.pdf"), ("/to-report", "to-report")] {
        let response = generate(&test, &format!("http://files.test:{}{path}", server.port)).await;
        let created = body_json(&response);
        assert_eq!(response.status(), 200, "{path}: {created}");
        assert_eq!(created["filename"], name);
        assert_eq!(created["size"], REPORT.len());
        assert_eq!(created["content_type"], "application/pdf");
        let fetched = download(&test.app, name, &text(&created, "token")).await;
        assert_eq!(fetched.status(), 200);
        assert_eq!(body_bytes(&fetched), REPORT);
    }
}

async fn redirects_into_the_network_are_refused(store: Store) {
    let test = app_with_fetcher(store).await;
    let server = start_file_server().await;
    for path in [
        "/to-metadata",
        "/to-decimal",
        "/to-inside",
        "/to-other",
        "/loop",
        "/big.bin",
        "/missing",
    ] {
        let response = generate(&test, &format!("http://files.test:{}{path}", server.port)).await;
        assert_eq!(response.status(), 422, "{path}");
        assert_eq!(body_json(&response)["field"], "file_url", "{path}");
    }
}

async fn hosts_off_the_list_are_never_contacted(store: Store) {
    let test = app_with_fetcher(store).await;
    let server = start_file_server().await;
    for url in [
        format!("http://other.test:{}/report.pdf", server.port),
        format!("http://127.0.0.1:{}/report.pdf", server.port),
        format!("http://inside.test:{}/report.pdf", server.port),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::ffff:7f00:1]/".to_owned(),
        "http://0x7f.1/".to_owned(),
        "file:///proc/self/environ".to_owned(),
        "gopher://x/".to_owned(),
    ] {
        let response = generate(&test, &url).await;
        assert_eq!(response.status(), 422, "{url}");
    }
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn production_policy_refuses_loopback_servers() {
    let mut test = TestApp::embedded();
    let server = start_file_server().await;
    test.app.fetcher = Fetcher::new(
        vec!["files.test".into()],
        Arc::new(TestResolver),
        AddressPolicy::PublicHttps,
        1 << 20,
    );
    for scheme in ["http", "https"] {
        let response = generate(
            &test,
            &format!("{scheme}://files.test:{}/report.pdf", server.port),
        )
        .await;
        assert_eq!(response.status(), 422, "{scheme}");
    }
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);
}
