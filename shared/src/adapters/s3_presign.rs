//! Presigned S3 URLs signed with SigV4 directly. The SDK's `presigned()`
//! runs its whole request pipeline first, which cost several times the
//! signing itself in `script/bench`'s handler benchmark.
//!
//! Credentials come from the SDK configuration's provider chain once and
//! are kept until a minute before they expire. The URL uses the same
//! addressing as the S3 client: path style on an explicit endpoint (an
//! emulator or a private endpoint), virtual-hosted style on AWS for bucket
//! names that are valid host labels, path style for the others.
//!
//! # Limitations
//!
//! FIPS, dual-stack, S3 Express and access-point endpoints are not
//! produced; the functions use none of them.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::ports::StoreError;
use crate::secret::PresignedUrl;

/// Maximum validity S3 accepts for a presigned URL: seven days.
pub const MAX_PRESIGN_SECONDS: u64 = 7 * 24 * 3600;

/// Credentials are fetched again this long before they expire, so that a
/// URL signed now is not rejected for expired credentials a moment later.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Characters a key keeps in the URL path: the unreserved ones and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Characters a query name or value keeps: the unreserved ones.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Addressing style of a bucket's object URLs.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Addressing {
    /// `{endpoint}/{bucket}/{key}` on an explicit endpoint.
    Endpoint(String),
    /// AWS's regional S3 endpoint.
    Aws,
}

/// Signs S3 GET and PUT URLs in the query string.
pub struct UrlSigner {
    credentials: Option<SharedCredentialsProvider>,
    cached: Mutex<Option<Identity>>,
    region: String,
    addressing: Addressing,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlSigner")
            .field("region", &self.region)
            .field("addressing", &self.addressing)
            .finish_non_exhaustive()
    }
}

/// An S3 request to presign.
pub struct Presign<'a> {
    /// `GET` or `PUT`.
    pub method: &'a str,
    /// Bucket name.
    pub bucket: &'a str,
    /// Object key, not encoded.
    pub key: &'a str,
    /// Query parameters S3 reads (for example `versionId` and
    /// `response-content-disposition`), not encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Validity in seconds, from 1 to [`MAX_PRESIGN_SECONDS`].
    pub ttl_seconds: u64,
}

impl UrlSigner {
    /// Signs with `credentials` for `region`, on `endpoint_url` when one is
    /// given (path style) or on AWS.
    pub fn new(
        credentials: Option<SharedCredentialsProvider>,
        region: &str,
        endpoint_url: Option<&str>,
    ) -> Self {
        let addressing = match endpoint_url {
            Some(url) => Addressing::Endpoint(url.trim_end_matches('/').to_owned()),
            None => Addressing::Aws,
        };
        Self {
            credentials,
            cached: Mutex::new(None),
            region: region.to_owned(),
            addressing,
        }
    }

    /// Returns the credentials as a signing identity, from the cache while
    /// they are more than a minute from expiry.
    async fn identity(&self, now: SystemTime) -> Result<Identity, StoreError> {
        let fresh = |identity: &Identity| {
            identity
                .expiration()
                .is_none_or(|expiry| now + REFRESH_MARGIN < expiry)
        };
        if let Ok(cached) = self.cached.lock()
            && let Some(identity) = cached.as_ref().filter(|i| fresh(i))
        {
            return Ok(identity.clone());
        }
        let provider = self.credentials.as_ref().ok_or_else(|| {
            StoreError::new(
                "s3 presign credentials",
                "no credentials provider is configured",
            )
        })?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| StoreError::new("s3 presign credentials", e))?;
        let identity = Identity::from(credentials);
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some(identity.clone());
        }
        Ok(identity)
    }

    /// Returns the URL of `key` in `bucket` without a query.
    fn object_url(&self, bucket: &str, key: &str) -> String {
        let key = utf8_percent_encode(key, PATH);
        match &self.addressing {
            Addressing::Endpoint(base) => format!("{base}/{bucket}/{key}"),
            Addressing::Aws if is_host_label(bucket) => {
                format!("https://{bucket}.s3.{}.amazonaws.com/{key}", self.region)
            }
            Addressing::Aws => format!("https://s3.{}.amazonaws.com/{bucket}/{key}", self.region),
        }
    }

    /// Returns the origin of the URLs this signer makes for `bucket`.
    pub fn origin(&self, bucket: &str) -> Option<String> {
        let url = url::Url::parse(&self.object_url(bucket, "")).ok()?;
        Some(url.origin().ascii_serialization())
    }

    /// Returns a URL that lets its holder make `request` until it expires.
    ///
    /// # Errors
    ///
    /// Fails when the validity is out of range, when no credentials can be
    /// had, or when the request cannot be signed.
    pub async fn presign(&self, request: &Presign<'_>) -> Result<PresignedUrl, StoreError> {
        if !(1..=MAX_PRESIGN_SECONDS).contains(&request.ttl_seconds) {
            return Err(StoreError::new(
                "s3 presign",
                format!(
                    "validity of {} s is outside 1 to {MAX_PRESIGN_SECONDS} s",
                    request.ttl_seconds
                ),
            ));
        }
        let now = SystemTime::now();
        let identity = self.identity(now).await?;
        let mut url = self.object_url(request.bucket, request.key);
        let mut separator = '?';
        for (name, value) in request.query {
            push_param(&mut url, &mut separator, name, value);
        }

        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(request.ttl_seconds));
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| StoreError::new("s3 presign parameters", e))?
            .into();
        let signable = SignableRequest::new(
            request.method,
            &url,
            std::iter::empty(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| StoreError::new("s3 presign request", e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| StoreError::new("s3 presign", e))?
            .into_parts();
        let (_headers, signed) = instructions.into_parts();
        for (name, value) in &signed {
            push_param(&mut url, &mut separator, name, value);
        }
        Ok(PresignedUrl::new(url))
    }
}

fn push_param(url: &mut String, separator: &mut char, name: &str, value: &str) {
    url.push(*separator);
    *separator = '&';
    url.extend(utf8_percent_encode(name, QUERY));
    url.push('=');
    url.extend(utf8_percent_encode(value, QUERY));
}

/// Returns whether `bucket` can be a host name label under HTTPS: 3 to 63
/// lowercase letters, digits and hyphens, starting and ending with a letter
/// or digit. Names with dots would not match the wildcard certificate.
fn is_host_label(bucket: &str) -> bool {
    let bytes = bucket.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    fn signer(endpoint: Option<&str>) -> UrlSigner {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        UrlSigner::new(
            Some(SharedCredentialsProvider::new(credentials)),
            "eu-west-1",
            endpoint,
        )
    }

    fn query_of(url: &str) -> Vec<(String, String)> {
        let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        parsed.query_pairs().into_owned().collect()
    }

    async fn sign(signer: &UrlSigner, request: &Presign<'_>) -> String {
        match signer.presign(request).await {
            Ok(url) => url.expose().to_owned(),
            Err(e) => panic!("presign failed: {e}"),
        }
    }

    #[tokio::test]
    async fn download_url_carries_response_headers_and_signature() {
        let signer = signer(None);
        let url = sign(
            &signer,
            &Presign {
                method: "GET",
                bucket: "files",
                key: "a dir/ré port+1.txt",
                query: &[
                    ("versionId", "v1"),
                    (
                        "response-content-disposition",
                        "attachment; filename=\"r.txt\"",
                    ),
                    ("response-content-type", "text/plain"),
                ],
                ttl_seconds: 300,
            },
        )
        .await;
        assert!(
            url.starts_with(
                "https://files.s3.eu-west-1.amazonaws.com/a%20dir/r%C3%A9%20port%2B1.txt?"
            ),
            "{url}"
        );
        let query = query_of(&url);
        let value = |name: &str| {
            query
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            value("response-content-disposition").as_deref(),
            Some("attachment; filename=\"r.txt\"")
        );
        assert_eq!(
            value("response-content-type").as_deref(),
            Some("text/plain")
        );
        assert_eq!(value("versionId").as_deref(), Some("v1"));
        assert_eq!(value("X-Amz-Expires").as_deref(), Some("300"));
        assert_eq!(
            value("X-Amz-Algorithm").as_deref(),
            Some("AWS4-HMAC-SHA256")
        );
        assert!(value("X-Amz-Credential").is_some_and(
            |c| c.starts_with("AKIDEXAMPLE/") && c.ends_with("/eu-west-1/s3/aws4_request")
        ));
        assert_eq!(value("X-Amz-Signature").map(|s| s.len()), Some(64));
    }

    #[tokio::test]
    async fn upload_url_has_no_checksum_parameters() {
        let signer = signer(Some("http://127.0.0.1:4566/"));
        let url = sign(
            &signer,
            &Presign {
                method: "PUT",
                bucket: "files",
                key: "uploads/x",
                query: &[],
                ttl_seconds: 60,
            },
        )
        .await;
        assert!(
            url.starts_with("http://127.0.0.1:4566/files/uploads/x?"),
            "{url}"
        );
        assert!(
            !query_of(&url)
                .iter()
                .any(|(name, _)| name.to_ascii_lowercase().contains("checksum")),
            "{url}"
        );
    }

    #[tokio::test]
    async fn bucket_names_with_dots_use_path_style_on_aws() {
        let signer = signer(None);
        let url = sign(
            &signer,
            &Presign {
                method: "GET",
                bucket: "my.files",
                key: "k",
                query: &[],
                ttl_seconds: 60,
            },
        )
        .await;
        assert!(
            url.starts_with("https://s3.eu-west-1.amazonaws.com/my.files/k?"),
            "{url}"
        );
    }

    #[tokio::test]
    async fn validity_outside_s3_limits_is_refused() {
        let signer = signer(None);
        for ttl_seconds in [0, MAX_PRESIGN_SECONDS + 1] {
            let result = signer
                .presign(&Presign {
                    method: "GET",
                    bucket: "files",
                    key: "k",
                    query: &[],
                    ttl_seconds,
                })
                .await;
            assert!(result.is_err(), "ttl {ttl_seconds} was accepted");
        }
    }

    #[tokio::test]
    async fn credentials_are_fetched_again_near_expiry() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        #[derive(Debug)]
        struct Counting {
            calls: Arc<AtomicUsize>,
            lifetime: Duration,
        }
        impl ProvideCredentials for Counting {
            fn provide_credentials<'a>(
                &'a self,
            ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
            where
                Self: 'a,
            {
                self.calls.fetch_add(1, Ordering::SeqCst);
                let credentials = Credentials::new(
                    "AKID",
                    "secret",
                    Some("token".into()),
                    Some(SystemTime::now() + self.lifetime),
                    "counting",
                );
                aws_credential_types::provider::future::ProvideCredentials::ready(Ok(credentials))
            }
        }

        let request = Presign {
            method: "GET",
            bucket: "files",
            key: "k",
            query: &[],
            ttl_seconds: 60,
        };
        for (lifetime, expected_calls) in [(3600, 1), (30, 3)] {
            let calls = Arc::new(AtomicUsize::new(0));
            let signer = UrlSigner::new(
                Some(SharedCredentialsProvider::new(Counting {
                    calls: calls.clone(),
                    lifetime: Duration::from_secs(lifetime),
                })),
                "us-east-1",
                None,
            );
            for _ in 0..3 {
                let url = sign(&signer, &request).await;
                assert!(
                    query_of(&url)
                        .iter()
                        .any(|(name, value)| name == "X-Amz-Security-Token" && value == "token")
                );
            }
            assert_eq!(
                calls.load(Ordering::SeqCst),
                expected_calls,
                "lifetime {lifetime}"
            );
        }
    }

    #[test]
    fn host_labels() {
        assert!(is_host_label("files-1"));
        assert!(!is_host_label("my.files"));
        assert!(!is_host_label("Files"));
        assert!(!is_host_label("ab"));
        assert!(!is_host_label("-files"));
    }
}
