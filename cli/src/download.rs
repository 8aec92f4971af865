//! `linkctl download`: a recipient's download through an access URL. It
//! sends no API key, because the URL may point at any server.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::commands::{read_password, write_stderr};
use crate::failure::{Failure, SERVER, USAGE};

pub async fn download(
    access_url: &str,
    output: Option<&Path>,
    password_stdin: bool,
) -> Result<(), Failure> {
    if !access_url.starts_with("http://") && !access_url.starts_with("https://") {
        return Err(Failure::new(
            USAGE,
            format!("invalid access URL {access_url:?}: expected http(s)://HOST/access/TOKEN"),
        ));
    }
    let password = if password_stdin {
        Some(read_password()?)
    } else {
        None
    };
    // Redirects are followed by hand below, so that the password header
    // goes only to the API and never to the storage URL a download
    // redirects to.
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Failure::new(SERVER, format!("cannot set up the HTTP client: {e}")))?;
    let get = |url: &str| {
        let request = client.get(url);
        match &password {
            Some(password) => request.header("x-link-password", password),
            None => request,
        }
    };

    let metadata = send(get(access_url)).await?;
    let metadata: Value = serde_json::from_slice(&metadata.bytes).unwrap_or(Value::Null);
    let download_url = metadata["download_url"]
        .as_str()
        .ok_or_else(|| Failure::new(SERVER, "the access URL's answer has no download_url"))?;
    let file = match send_or_redirect(get(download_url)).await? {
        Fetched::Body(body) => body,
        Fetched::Redirect(location) => send(client.get(location)).await?,
    };

    let digest = hex_digest(&file.bytes);
    if let Some(expected) = metadata["sha256"].as_str()
        && !expected.eq_ignore_ascii_case(&digest)
    {
        return Err(Failure::new(
            SERVER,
            format!(
                "the download's SHA-256 is {digest}, but the link says {expected}; nothing was written"
            ),
        ));
    }
    let written = match output {
        Some(path) => std::fs::write(path, &file.bytes),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&file.bytes).and_then(|()| stdout.flush())
        }
    };
    written.map_err(|e| Failure::new(USAGE, format!("writing the file failed: {e}")))?;
    write_stderr(&format!(
        "downloaded {} ({} bytes, SHA-256 {digest})",
        metadata["filename"].as_str().unwrap_or("file"),
        file.bytes.len()
    ));
    Ok(())
}

struct Body {
    bytes: Vec<u8>,
}

/// A download response: the file, or the storage URL a large file is
/// served from (`303 See Other`).
enum Fetched {
    Body(Body),
    Redirect(String),
}

async fn send_or_redirect(request: reqwest::RequestBuilder) -> Result<Fetched, Failure> {
    let response = request
        .send()
        .await
        .map_err(|e| Failure::new(SERVER, format!("request failed: {e}")))?;
    if response.status().is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| Failure::new(SERVER, "the download redirect has no Location header"))?;
        let target = response
            .url()
            .join(location)
            .map_err(|e| Failure::new(SERVER, format!("invalid redirect Location: {e}")))?;
        return Ok(Fetched::Redirect(target.to_string()));
    }
    read_body(response).await.map(Fetched::Body)
}

async fn send(request: reqwest::RequestBuilder) -> Result<Body, Failure> {
    let response = request
        .send()
        .await
        .map_err(|e| Failure::new(SERVER, format!("request failed: {e}")))?;
    read_body(response).await
}

async fn read_body(response: reqwest::Response) -> Result<Body, Failure> {
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Failure::new(SERVER, format!("reading the response failed: {e}")))?;
    if !status.is_success() {
        return Err(Failure::from_response(
            status.as_u16(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    Ok(Body {
        bytes: bytes.to_vec(),
    })
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
