//! Settings of the AWS SDK clients, read from the environment that Lambda
//! gives a function, without the SDK's default credential and region chains.
//!
//! The chains look for profile files, web identity tokens, SSO caches and
//! the instance metadata service. Building them loaded every root
//! certificate of the operating system, which was most of a function's
//! start-up. A function needs none of it: Lambda puts the region and the
//! role's credentials in `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
//!
//! TLS trusts the Amazon Trust Services roots, which sign the certificates
//! of every AWS service endpoint, and nothing else. `AWS_CA_BUNDLE` names a
//! PEM file to trust instead, for an endpoint behind another authority.
//! `AWS_ENDPOINT_URL` sends every client to one endpoint, such as a local
//! emulator, with path-style bucket addressing.

use std::sync::Arc;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::BehaviorVersion;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use crate::adapters::UrlSigner;

/// The root certificates of Amazon Trust Services: Amazon Root CA 1 to 4
/// and the Starfield Services G2 root that cross-signs them.
const AWS_TRUST_ROOTS: &[u8] = include_bytes!("aws-trust-roots.pem");

/// A setting the AWS clients cannot be built without is missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum SdkSettingsError {
    /// No region is set.
    #[error("set AWS_REGION to the region of the table and bucket")]
    NoRegion,
    /// No credentials are set.
    #[error("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Lambda sets them for the role)")]
    NoCredentials,
    /// `AWS_CA_BUNDLE` cannot be read or has no certificate in it.
    #[error("AWS_CA_BUNDLE {path}: {reason}")]
    CaBundle {
        /// The path in the variable.
        path: String,
        /// Why the file was rejected.
        reason: String,
    },
    /// `AWS_ENDPOINT_URL` is not an http or https URL.
    #[error("AWS_ENDPOINT_URL must start with http:// or https://")]
    BadEndpoint,
    /// The TLS library rejected the settings.
    #[error("TLS settings: {0}")]
    Tls(String),
}

/// Region, credentials, endpoint and HTTP client shared by every AWS client
/// of a process.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    region: String,
    credentials: SharedCredentialsProvider,
    endpoint_url: Option<String>,
    http: SharedHttpClient,
    /// PEM text of the trusted root certificates.
    roots: Arc<[u8]>,
}

fn variable(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

impl AwsSettings {
    /// Reads the settings from the environment.
    ///
    /// # Errors
    ///
    /// Fails when the region or the credentials are missing, or when
    /// `AWS_CA_BUNDLE` or `AWS_ENDPOINT_URL` is unusable.
    pub fn from_env() -> Result<Self, SdkSettingsError> {
        let region = variable("AWS_REGION")
            .or_else(|| variable("AWS_DEFAULT_REGION"))
            .ok_or(SdkSettingsError::NoRegion)?;
        let (Some(key_id), Some(secret)) = (
            variable("AWS_ACCESS_KEY_ID"),
            variable("AWS_SECRET_ACCESS_KEY"),
        ) else {
            return Err(SdkSettingsError::NoCredentials);
        };
        let credentials = Credentials::new(
            key_id,
            secret,
            variable("AWS_SESSION_TOKEN"),
            None,
            "environment",
        );
        let roots = match variable("AWS_CA_BUNDLE") {
            Some(path) => read_bundle(&path)?,
            None => AWS_TRUST_ROOTS.to_vec(),
        };
        Self::build(region, credentials, variable("AWS_ENDPOINT_URL"), roots)
    }

    /// Settings for `region` with fixed `credentials`, on `endpoint_url`
    /// when one is given.
    ///
    /// # Errors
    ///
    /// Fails when `endpoint_url` is not an http or https URL.
    pub fn new(
        region: &str,
        credentials: Credentials,
        endpoint_url: Option<&str>,
    ) -> Result<Self, SdkSettingsError> {
        Self::with_trust_roots(region, credentials, endpoint_url, AWS_TRUST_ROOTS.to_vec())
    }

    /// Settings like [`AwsSettings::new`] that trust the certificates in
    /// `roots` (PEM) instead of the Amazon roots, as `AWS_CA_BUNDLE` does.
    ///
    /// # Errors
    ///
    /// Fails when `endpoint_url` is not an http or https URL.
    pub fn with_trust_roots(
        region: &str,
        credentials: Credentials,
        endpoint_url: Option<&str>,
        roots: Vec<u8>,
    ) -> Result<Self, SdkSettingsError> {
        Self::build(
            region.to_owned(),
            credentials,
            endpoint_url.map(str::to_owned),
            roots,
        )
    }

    fn build(
        region: String,
        credentials: Credentials,
        endpoint_url: Option<String>,
        roots: Vec<u8>,
    ) -> Result<Self, SdkSettingsError> {
        let endpoint_url = endpoint_url.map(|url| url.trim_end_matches('/').to_owned());
        if endpoint_url
            .as_deref()
            .is_some_and(|url| !url.starts_with("http://") && !url.starts_with("https://"))
        {
            return Err(SdkSettingsError::BadEndpoint);
        }
        let roots: Arc<[u8]> = roots.into();
        let trust = TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(roots.to_vec());
        let tls = TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(|e| SdkSettingsError::Tls(e.to_string()))?;
        let http = SharedHttpClient::new(TlsAtFirstRequest(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .tls_context(tls)
                .build_https(),
        ));
        Ok(Self {
            region,
            credentials: SharedCredentialsProvider::new(credentials),
            endpoint_url,
            http,
            roots,
        })
    }

    /// Returns the credentials every client signs with.
    pub fn credentials(&self) -> &SharedCredentialsProvider {
        &self.credentials
    }

    /// Returns the HTTP client of the SDK clients, for building others.
    pub fn http_client(&self) -> SharedHttpClient {
        self.http.clone()
    }

    /// Returns the PEM text of the root certificates TLS trusts.
    pub fn trust_roots(&self) -> &[u8] {
        &self.roots
    }

    /// Returns the endpoint every client uses instead of AWS's, if one is set.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.endpoint_url.as_deref()
    }

    /// Returns the region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Builds a DynamoDB client.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        use aws_sdk_dynamodb::config::{Builder, Region};
        let mut builder = Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(self.credentials.clone())
            .http_client(self.http.clone());
        builder.set_endpoint_url(self.endpoint_url.clone());
        aws_sdk_dynamodb::Client::from_conf(builder.build())
    }

    /// Builds an S3 client, with path-style addressing on an explicit endpoint
    /// (an emulator or a private endpoint, where bucket host names do not
    /// resolve).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        use aws_sdk_s3::config::{BehaviorVersion, Builder, Region};
        let mut builder = Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(self.credentials.clone())
            .http_client(self.http.clone())
            .force_path_style(self.endpoint_url.is_some());
        builder.set_endpoint_url(self.endpoint_url.clone());
        aws_sdk_s3::Client::from_conf(builder.build())
    }

    /// Builds the signer of presigned S3 URLs, with the same credentials, region
    /// and endpoint.
    pub fn url_signer(&self) -> UrlSigner {
        UrlSigner::new(
            Some(self.credentials.clone()),
            &self.region,
            self.endpoint_url(),
        )
    }
}

/// The SDK's HTTP client without its check at client construction, which
/// builds the TLS settings (parsing the root certificates) there. The first
/// request builds them instead, as it opens the first connection; a
/// malformed `AWS_CA_BUNDLE` is rejected by [`AwsSettings::from_env`].
#[derive(Debug)]
struct TlsAtFirstRequest(SharedHttpClient);

impl HttpClient for TlsAtFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

fn read_bundle(path: &str) -> Result<Vec<u8>, SdkSettingsError> {
    let invalid = |reason: String| SdkSettingsError::CaBundle {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    if !bytes
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(invalid("no PEM certificate in the file".into()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_certificates(pem: &[u8]) -> usize {
        pem.windows(27)
            .filter(|w| *w == b"-----BEGIN CERTIFICATE-----")
            .count()
    }

    #[test]
    fn trust_roots_count_five() {
        assert_eq!(count_certificates(AWS_TRUST_ROOTS), 5);
    }

    #[test]
    fn endpoint_must_be_http_or_https() {
        let credentials = Credentials::new("a", "b", None, None, "test");
        let rejected = AwsSettings::new("us-east-1", credentials.clone(), Some("ftp://x"));
        assert!(matches!(rejected, Err(SdkSettingsError::BadEndpoint)));
        let settings = AwsSettings::new("us-east-1", credentials, Some("http://127.0.0.1:9/"));
        assert_eq!(
            settings.ok().as_ref().and_then(AwsSettings::endpoint_url),
            Some("http://127.0.0.1:9")
        );
    }

    #[test]
    fn ca_bundle_without_certificates_is_rejected() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("bundle.pem");
        std::fs::write(&path, b"not a certificate").unwrap_or_else(|e| panic!("{e}"));
        let rejected = read_bundle(&path.to_string_lossy());
        assert!(matches!(rejected, Err(SdkSettingsError::CaBundle { .. })));
        let missing = read_bundle(&dir.path().join("absent.pem").to_string_lossy());
        assert!(matches!(missing, Err(SdkSettingsError::CaBundle { .. })));
    }
}
