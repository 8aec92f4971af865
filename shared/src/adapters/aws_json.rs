//! Calls to AWS APIs of the JSON protocol (`application/x-amz-json-1.1`),
//! signed with SigV4 and sent with reqwest.
//!
//! The service makes two such calls: EventBridge `PutEvents` for a notice
//! and Secrets Manager `GetSecretValue` for the signing keys. Each SDK
//! crate compiles every operation of its service, and the two took a large
//! share of every function's build for one operation each, so these two
//! calls are made here. DynamoDB and S3 keep the SDK.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::Value;

use super::sdk::AwsSettings;

/// Time allowed for one attempt of a call.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Attempts of a call that fails in transit, is throttled, or meets a
/// server error.
const ATTEMPTS: u32 = 2;

/// A call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The request could not be signed or sent, or the response read.
    #[error("{0}")]
    Transport(String),
    /// The service returned an error.
    #[error("{code} (HTTP {status}): {message}")]
    Service {
        /// HTTP status.
        status: u16,
        /// The error's type, such as `ResourceNotFoundException`.
        code: String,
        /// The service's message.
        message: String,
    },
}

impl CallError {
    fn retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Service { status, code, .. } => {
                *status >= 500 || *status == 429 || code.contains("Throttling")
            }
        }
    }
}

/// One AWS service of the JSON protocol, such as EventBridge.
#[derive(Clone, Debug)]
pub struct JsonApi {
    settings: AwsSettings,
    /// SigV4 signing name and endpoint prefix: `events`, `secretsmanager`.
    service: &'static str,
    /// Prefix of `X-Amz-Target`: `AWSEvents`, `secretsmanager`.
    target: &'static str,
    /// Built by the first call, so that start-up does not pay for TLS set-up.
    http: Arc<OnceLock<reqwest::Client>>,
}

impl JsonApi {
    /// Returns the EventBridge API.
    pub fn eventbridge(settings: &AwsSettings) -> Self {
        Self::new(settings, "events", "AWSEvents")
    }

    /// Returns the Secrets Manager API.
    pub fn secrets_manager(settings: &AwsSettings) -> Self {
        Self::new(settings, "secretsmanager", "secretsmanager")
    }

    fn new(settings: &AwsSettings, service: &'static str, target: &'static str) -> Self {
        Self {
            settings: settings.clone(),
            service,
            target,
            http: Arc::new(OnceLock::new()),
        }
    }

    /// Returns the URL calls go to: the configured endpoint, or the
    /// service's regional AWS endpoint.
    pub fn url(&self) -> String {
        match self.settings.endpoint_url() {
            Some(url) => format!("{url}/"),
            None => {
                let region = self.settings.region();
                let domain = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                format!("https://{}.{region}.{domain}/", self.service)
            }
        }
    }

    fn http(&self) -> Result<&reqwest::Client, CallError> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let mut builder = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(ATTEMPT_TIMEOUT);
        let roots = reqwest::Certificate::from_pem_bundle(self.settings.trust_roots())
            .map_err(|e| CallError::Transport(format!("trust roots: {e}")))?;
        for root in roots {
            builder = builder.add_root_certificate(root);
        }
        let client = builder
            .build()
            .map_err(|e| CallError::Transport(format!("HTTP client: {e}")))?;
        Ok(self.http.get_or_init(|| client))
    }

    /// Calls `operation` with `input` and returns the response's JSON.
    ///
    /// # Errors
    ///
    /// Fails when the call cannot be made or the service returns an error.
    /// Transport errors, throttling and server errors get a second attempt.
    pub async fn call(&self, operation: &str, input: &Value) -> Result<Value, CallError> {
        let body = serde_json::to_vec(input).map_err(|e| CallError::Transport(e.to_string()))?;
        let mut attempt = 1;
        loop {
            match self.attempt(operation, &body).await {
                Err(error) if error.retryable() && attempt < ATTEMPTS => {
                    tracing::warn!(service = self.service, operation, %error, "retrying an AWS call");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn attempt(&self, operation: &str, body: &[u8]) -> Result<Value, CallError> {
        let url = self.url();
        let target = format!("{}.{operation}", self.target);
        let content_type = "application/x-amz-json-1.1";
        let credentials = self
            .settings
            .credentials()
            .provide_credentials()
            .await
            .map_err(|e| CallError::Transport(format!("credentials: {e}")))?;
        let identity = Identity::from(credentials);
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(self.settings.region())
            .name(self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| CallError::Transport(format!("signing: {e}")))?
            .into();
        let headers = [("content-type", content_type), ("x-amz-target", &target)];
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| CallError::Transport(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| CallError::Transport(format!("signing: {e}")))?
            .into_parts();
        let (signed_headers, _) = instructions.into_parts();
        // NOTE: the emulator the tests use (moto) does not check header
        // signatures, so no test here shows that AWS accepts these.

        let mut request = self
            .http()?
            .post(&url)
            .header("content-type", content_type)
            .header("x-amz-target", &target)
            .body(body.to_vec());
        for header in signed_headers {
            request = request.header(header.name(), header.value());
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Transport(e.without_url().to_string()))?;
        if (200..300).contains(&status) {
            if bytes.is_empty() {
                return Ok(Value::Object(serde_json::Map::new()));
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| CallError::Transport(format!("response is not JSON: {e}")));
        }
        Err(service_error(status, &bytes))
    }
}

/// Reads an error response: `__type` names the error, after a `#` when it
/// carries a namespace, and `message` or `Message` explains it.
fn service_error(status: u16, body: &[u8]) -> CallError {
    let response: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = response["__type"]
        .as_str()
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
        .unwrap_or_else(|| format!("HTTP{status}"));
    let message = response["message"]
        .as_str()
        .or_else(|| response["Message"].as_str())
        .unwrap_or_default()
        .to_owned();
    CallError::Service {
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    fn settings(endpoint: Option<&str>, region: &str) -> AwsSettings {
        let credentials = Credentials::new("a", "b", None, None, "test");
        AwsSettings::new(region, credentials, endpoint).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn url_is_the_endpoint_or_the_regional_host() {
        let local = JsonApi::eventbridge(&settings(Some("http://127.0.0.1:9"), "us-east-1"));
        assert_eq!(local.url(), "http://127.0.0.1:9/");
        let aws = JsonApi::secrets_manager(&settings(None, "eu-west-1"));
        assert_eq!(aws.url(), "https://secretsmanager.eu-west-1.amazonaws.com/");
        let china = JsonApi::eventbridge(&settings(None, "cn-north-1"));
        assert_eq!(china.url(), "https://events.cn-north-1.amazonaws.com.cn/");
    }

    #[test]
    fn service_error_reads_type_and_message() {
        let error = service_error(
            400,
            br#"{"__type":"com.amazonaws#ResourceNotFoundException","Message":"no secret"}"#,
        );
        assert_eq!(
            error.to_string(),
            "ResourceNotFoundException (HTTP 400): no secret"
        );
        assert!(!error.retryable());
        let throttled = service_error(400, br#"{"__type":"ThrottlingException"}"#);
        assert!(throttled.retryable());
        let unreadable = service_error(503, b"<html>");
        assert_eq!(unreadable.to_string(), "HTTP503 (HTTP 503): ");
        assert!(unreadable.retryable());
    }
}
