//! HTTP calls to the creator API.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use crate::failure::{Failure, SERVER};
use crate::settings::Settings;

/// A successful response: the body as the server sent it, parsed when it is
/// JSON, and the headers.
pub struct Reply {
    pub text: String,
    pub json: Value,
    pub headers: reqwest::header::HeaderMap,
}

pub struct Api {
    client: reqwest::Client,
    settings: Settings,
}

impl Api {
    pub fn new(settings: Settings) -> Result<Self, Failure> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Failure::new(SERVER, format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self { client, settings })
    }

    /// Starts a request to `path` (which begins with `/`) with the API key.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.settings.api_url))
            .header("x-api-key", &self.settings.api_key)
    }

    /// Starts a request to an absolute `url` without the API key, such as a
    /// signed upload URL.
    pub fn unauthenticated(&self, method: Method, url: &str) -> RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends `request` and returns the reply, or a failure with the exit code
    /// for the status.
    pub async fn send(&self, request: RequestBuilder) -> Result<Reply, Failure> {
        let response = request.send().await.map_err(|e| self.network_failure(&e))?;
        read_reply(response).await
    }

    fn network_failure(&self, error: &reqwest::Error) -> Failure {
        let cause = std::error::Error::source(error)
            .map_or_else(|| error.to_string(), |source| format!("{error}: {source}"));
        Failure::new(
            SERVER,
            format!(
                "request to {} failed ({cause}); check --api-url or LINK_API_URL, \
                 and that the server is running",
                self.settings.api_url
            ),
        )
    }
}

async fn read_reply(response: Response) -> Result<Reply, Failure> {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response
        .text()
        .await
        .map_err(|e| Failure::new(SERVER, format!("reading the response failed: {e}")))?;
    if !status.is_success() {
        return Err(Failure::from_response(status.as_u16(), text));
    }
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Reply {
        text,
        json,
        headers,
    })
}
