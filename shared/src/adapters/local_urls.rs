//! Short-lived signed URLs for the embedded store: the local counterpart of
//! S3 presigned GET and PUT URLs, served by the local server.
//!
//! A URL names an operation, an object key, an expiry in Unix seconds and
//! the operation's parameters, and carries an HMAC-SHA256 over all of them.
//! The HMAC key is 32 random bytes kept in `DATA_DIR/object-url-key` (mode
//! 0600, created on first use), so several servers sharing one folder accept
//! each other's URLs. The URLs are relative (`/local-objects/...`): the
//! handler that hands one out puts the public base URL in front.

use std::io::Write;
use std::path::Path;

use hmac::{KeyInit, Mac};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::ports::StoreError;

/// Path of signed download URLs.
pub const DOWNLOAD_PATH: &str = "/local-objects/download";

/// Path of signed upload URLs.
pub const UPLOAD_PATH: &str = "/local-objects/upload";

/// File under `DATA_DIR` that keeps the HMAC key.
pub const KEY_FILE: &str = "object-url-key";

/// What a signed download URL allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadGrant {
    /// Object key in the embedded bucket.
    pub key: String,
    /// SHA-256 the object must still have, when the link pinned one.
    pub etag: Option<String>,
    /// `Content-Disposition` to serve.
    pub disposition: String,
    /// `Content-Type` to serve.
    pub content_type: String,
    /// Unix second from which the URL is refused.
    pub expires: i64,
}

/// What a signed upload URL allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadGrant {
    /// Object key in the embedded bucket.
    pub key: String,
    /// Largest body accepted, in bytes.
    pub max_bytes: u64,
    /// Unix second from which the URL is refused.
    pub expires: i64,
}

/// Reason a signed URL is rejected.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// A parameter is missing, repeated or not of its type.
    #[error("the signed URL has a missing, repeated or invalid {0}")]
    Malformed(&'static str),
    /// The signature does not match the parameters.
    #[error("the signed URL's signature does not match")]
    BadSignature,
    /// The URL has expired.
    #[error("the signed URL has expired")]
    Expired,
}

/// Signs and checks the embedded store's URLs.
#[derive(Clone)]
pub struct UrlSigner {
    key: hmac::Hmac<sha2::Sha256>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner([redacted])")
    }
}

/// Everything but RFC 3986 unreserved characters is percent-encoded.
const QUERY_VALUE: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl UrlSigner {
    /// Uses `secret` as the HMAC key.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            // HMAC takes a key of any length.
            key: <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret)
                .unwrap_or_else(|_| unreachable!("HMAC keys have no length limit")),
        }
    }

    /// Reads the key from `data_dir/object-url-key`, or creates it there.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be read or written or holds no valid key.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let secret = load_or_create_secret(&data_dir.join(KEY_FILE))
            .map_err(|e| StoreError::new("load object URL key", e))?;
        Ok(Self::new(&secret))
    }

    /// Returns the relative URL that lets its holder download `grant.key`.
    pub fn download_url(&self, grant: &DownloadGrant) -> String {
        let expires = grant.expires.to_string();
        let etag = grant.etag.clone().unwrap_or_default();
        let fields = [
            "download",
            &grant.key,
            &expires,
            &etag,
            &grant.disposition,
            &grant.content_type,
        ];
        let signature = self.sign(&fields);
        format!(
            "{DOWNLOAD_PATH}?key={}&expires={expires}&etag={}&disposition={}&type={}&sig={signature}",
            encode(&grant.key),
            encode(&etag),
            encode(&grant.disposition),
            encode(&grant.content_type),
        )
    }

    /// Returns the relative URL that lets its holder upload `grant.key`.
    pub fn upload_url(&self, grant: &UploadGrant) -> String {
        let expires = grant.expires.to_string();
        let size = grant.max_bytes.to_string();
        let signature = self.sign(&["upload", &grant.key, &expires, &size]);
        format!(
            "{UPLOAD_PATH}?key={}&expires={expires}&size={size}&sig={signature}",
            encode(&grant.key),
        )
    }

    /// Checks the query of a download URL at `now` and returns what it allows.
    ///
    /// # Errors
    ///
    /// Rejects a malformed, forged or expired URL.
    pub fn verify_download(&self, query: &str, now: i64) -> Result<DownloadGrant, UrlError> {
        let params = Params::parse(query)?;
        let key = params.required("key")?;
        let expires_text = params.required("expires")?;
        let etag = params.required("etag")?;
        let disposition = params.required("disposition")?;
        let content_type = params.required("type")?;
        let signature = params.required("sig")?;
        let fields = [
            "download",
            key,
            expires_text,
            etag,
            disposition,
            content_type,
        ];
        self.check(&fields, signature)?;
        let expires = check_expiry(expires_text, now)?;
        Ok(DownloadGrant {
            key: key.to_owned(),
            etag: (!etag.is_empty()).then(|| etag.to_owned()),
            disposition: disposition.to_owned(),
            content_type: content_type.to_owned(),
            expires,
        })
    }

    /// Checks the query of an upload URL at `now` and returns what it allows.
    ///
    /// # Errors
    ///
    /// Rejects a malformed, forged or expired URL.
    pub fn verify_upload(&self, query: &str, now: i64) -> Result<UploadGrant, UrlError> {
        let params = Params::parse(query)?;
        let key = params.required("key")?;
        let expires_text = params.required("expires")?;
        let size = params.required("size")?;
        let signature = params.required("sig")?;
        self.check(&["upload", key, expires_text, size], signature)?;
        let expires = check_expiry(expires_text, now)?;
        Ok(UploadGrant {
            key: key.to_owned(),
            max_bytes: size.parse().map_err(|_| UrlError::Malformed("size"))?,
            expires,
        })
    }

    /// Signs the JSON array of `fields`, which keeps every field's
    /// boundaries whatever characters it holds.
    fn sign(&self, fields: &[&str]) -> String {
        let message = serde_json::to_vec(fields).unwrap_or_default();
        let mut mac = self.key.clone();
        mac.update(&message);
        hex::encode(mac.finalize().into_bytes())
    }

    fn check(&self, fields: &[&str], signature: &str) -> Result<(), UrlError> {
        let tag = hex::decode(signature).map_err(|_| UrlError::Malformed("sig"))?;
        let message = serde_json::to_vec(fields).unwrap_or_default();
        let mut mac = self.key.clone();
        mac.update(&message);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&tag).map_err(|_| UrlError::BadSignature)
    }
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

fn check_expiry(text: &str, now: i64) -> Result<i64, UrlError> {
    let expires: i64 = text.parse().map_err(|_| UrlError::Malformed("expires"))?;
    if now >= expires {
        return Err(UrlError::Expired);
    }
    Ok(expires)
}

/// Query parameters, each present at most once.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Result<Self, UrlError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(UrlError::Malformed("parameter"));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Self(pairs))
    }

    fn required(&self, name: &'static str) -> Result<&str, UrlError> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .ok_or(UrlError::Malformed(name))
    }
}

/// Reads a hex-encoded 32-byte secret from `path`, or writes a new random
/// one there (mode 0600 on Unix). A new file is written under a private
/// temporary name and hard-linked into place, so two processes starting at
/// once end up with the same secret.
fn load_or_create_secret(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            return hex::decode(text.trim())
                .ok()
                .filter(|bytes| bytes.len() >= 32)
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} does not hold a 32-byte hex key", path.display()),
                    )
                });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    let temp = path.with_extension(format!("{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(&temp)?
        .write_all(hex::encode(secret).as_bytes())?;
    let linked = std::fs::hard_link(&temp, path);
    std::fs::remove_file(&temp)?;
    match linked {
        Ok(()) => Ok(secret.to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_secret(path),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> UrlSigner {
        UrlSigner::new(&[7u8; 32])
    }

    fn grant() -> DownloadGrant {
        DownloadGrant {
            key: "uploads/id/report q&a.pdf".into(),
            etag: Some("abc".into()),
            disposition: "attachment; filename=\"report q&a.pdf\"".into(),
            content_type: "application/pdf".into(),
            expires: 1000,
        }
    }

    fn query(url: &str) -> &str {
        url.split_once('?').map(|(_, q)| q).unwrap_or_default()
    }

    #[test]
    fn download_url_round_trips() {
        let url = signer().download_url(&grant());
        assert!(url.starts_with(DOWNLOAD_PATH));
        assert_eq!(signer().verify_download(query(&url), 999), Ok(grant()));
    }

    #[test]
    fn download_url_expires() {
        let url = signer().download_url(&grant());
        assert_eq!(
            signer().verify_download(query(&url), 1000),
            Err(UrlError::Expired)
        );
    }

    #[test]
    fn changed_parameters_break_the_signature() {
        let url = signer().download_url(&grant());
        let forged = url.replace("expires=1000", "expires=9999");
        assert_eq!(
            signer().verify_download(query(&forged), 1),
            Err(UrlError::BadSignature)
        );
        let other_key = url.replace("key=uploads", "key=pending");
        assert_eq!(
            signer().verify_download(query(&other_key), 1),
            Err(UrlError::BadSignature)
        );
        let other_signer = UrlSigner::new(&[8u8; 32]);
        assert_eq!(
            other_signer.verify_download(query(&url), 1),
            Err(UrlError::BadSignature)
        );
    }

    #[test]
    fn repeated_parameter_is_malformed() {
        let url = signer().download_url(&grant());
        let repeated = format!("{}&key=x", query(&url));
        assert_eq!(
            signer().verify_download(&repeated, 1),
            Err(UrlError::Malformed("parameter"))
        );
    }

    #[test]
    fn upload_url_cannot_serve_as_download_url() {
        let upload = UploadGrant {
            key: "pending/id/a.bin".into(),
            max_bytes: 10,
            expires: 1000,
        };
        let url = signer().upload_url(&upload);
        assert_eq!(signer().verify_upload(query(&url), 1), Ok(upload));
        assert!(signer().verify_download(query(&url), 1).is_err());
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = UrlSigner::open(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .download_url(&grant());
        let again = UrlSigner::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(again.verify_download(query(&url), 1).is_ok());
    }
}
