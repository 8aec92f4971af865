//! TLS of the AWS clients, against a local HTTPS server whose certificate
//! comes from a test authority (`tests/fixtures/tls`: a CA and a server
//! certificate for 127.0.0.1, valid until 2036, made with openssl for these
//! tests and trusted nowhere else).

use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use serde_json::json;
use shared::adapters::aws_json::{CallError, JsonApi};
use shared::adapters::sdk::AwsSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

const TEST_CA: &[u8] = include_bytes!("../fixtures/tls/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("../fixtures/tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("../fixtures/tls/server.key");

/// The body of every response: a DynamoDB `ListTables` result and a
/// Secrets Manager `GetSecretValue` result at once.
const BODY: &str = r#"{"TableNames": [], "SecretString": "over-tls"}"#;

fn position(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn header(head: &str, name: &str) -> String {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default()
}

/// Builds the TLS side of the test server, with its certificate and key.
fn acceptor() -> tokio_rustls::TlsAcceptor {
    let certs = CertificateDer::pem_slice_iter(SERVER_CERT)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("test certificate: {e}"));
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap_or_else(|e| panic!("test key: {e}"));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap_or_else(|e| panic!("{e}"))
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap_or_else(|e| panic!("{e}"));
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Serves HTTPS on 127.0.0.1 with the test certificate; every response
/// carries [`BODY`]. Returns the endpoint and the `X-Amz-Target` of each
/// request served.
async fn https_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let acceptor = acceptor();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let served = Arc::new(Mutex::new(Vec::new()));
    let log = served.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let log = log.clone();
            tokio::spawn(async move {
                // A client that rejects the certificate ends the connection here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut bytes = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                    }
                    if let Some(end) = position(&bytes, b"\r\n\r\n") {
                        break end + 4;
                    }
                };
                let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
                let length: usize = header(&head, "content-length").parse().unwrap_or(0);
                while bytes.len() < head_end + length {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                    }
                }
                if let Ok(mut served) = log.lock() {
                    served.push(header(&head, "x-amz-target"));
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{BODY}",
                    BODY.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://127.0.0.1:{port}"), served)
}

fn credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "tests")
}

fn served(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    log.lock().map(|served| served.clone()).unwrap_or_default()
}

/// With the server's authority trusted (as `AWS_CA_BUNDLE` does), the SDK's
/// DynamoDB client and the JSON-protocol calls both complete over TLS.
#[tokio::test]
async fn clients_connect_to_a_trusted_authority() {
    let (endpoint, log) = https_server().await;
    let sdk = AwsSettings::with_trust_roots(
        "us-east-1",
        credentials(),
        Some(&endpoint),
        TEST_CA.to_vec(),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let tables = sdk.dynamodb().list_tables().send().await;
    assert!(tables.is_ok(), "{tables:?}");
    let secret = JsonApi::secrets_manager(&sdk)
        .call("GetSecretValue", &json!({ "SecretId": "keys" }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(secret["SecretString"], "over-tls");
    assert_eq!(
        served(&log),
        [
            "DynamoDB_20120810.ListTables",
            "secretsmanager.GetSecretValue"
        ]
    );
}

/// With the built-in Amazon roots, a certificate from any other authority
/// is rejected before a request is sent, by both kinds of client.
#[tokio::test]
async fn clients_reject_authority_outside_amazon_roots() {
    let (endpoint, log) = https_server().await;
    let sdk = AwsSettings::new("us-east-1", credentials(), Some(&endpoint))
        .unwrap_or_else(|e| panic!("{e}"));

    let tables = sdk.dynamodb().list_tables().send().await;
    let error = format!("{:?}", tables.err());
    assert!(error.contains("UnknownIssuer"), "{error}");
    let secret = JsonApi::secrets_manager(&sdk)
        .call("GetSecretValue", &json!({ "SecretId": "keys" }))
        .await;
    assert!(matches!(secret, Err(CallError::Transport(_))), "{secret:?}");
    assert!(served(&log).is_empty(), "{:?}", served(&log));
}
