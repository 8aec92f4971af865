//! Newtypes for values that must never reach a log: link tokens and signing
//! keys. Their `Debug` output is redacted and they have no `Display`.

use sha2::{Digest, Sha256};
use std::fmt;

/// A link token as the recipient presents it.
#[derive(Clone, PartialEq, Eq)]
pub struct RawToken(String);

impl RawToken {
    /// Wraps a token string without checking it.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the token for signing checks and for URLs sent to the creator.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Returns the first 16 hex digits of the token's SHA-256, which is what
    /// audit records and log lines carry in place of the token.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.0.as_bytes())
    }
}

impl fmt::Debug for RawToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawToken(sha256:{})", self.fingerprint())
    }
}

/// Returns the first 16 hex digits of the SHA-256 of `bytes`.
pub fn fingerprint(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    hex::encode(&digest[..8])
}

/// A presigned object URL. Any holder can read the object until it
/// expires, so it is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct PresignedUrl(String);

impl PresignedUrl {
    /// Wraps a presigned URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// Returns the URL for the one response header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PresignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresignedUrl([redacted])")
    }
}

/// A secret byte string: an HMAC signing key or an API key.
#[derive(Clone)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps secret bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Returns the secret for the one call that needs it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Compares with `other` in time that does not depend on where they differ.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        // Hashing first makes the comparison length-independent as well.
        let left = Sha256::digest(&self.0);
        let right = Sha256::digest(other);
        left.ct_eq(&right).into()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([redacted; {}])", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_hides_token() {
        let token = RawToken::new("eyJhbGciOiJIUzI1NiJ9.payload.signature");
        let shown = format!("{token:?}");
        assert!(!shown.contains("payload"));
        assert!(shown.contains(&token.fingerprint()));
    }

    #[test]
    fn secret_debug_hides_bytes() {
        let secret = SecretBytes::new(b"hunter2hunter2".to_vec());
        assert_eq!(format!("{secret:?}"), "SecretBytes([redacted; 14])");
    }

    #[test]
    fn secret_compare_matches_only_equal_bytes() {
        let secret = SecretBytes::new(b"abc".to_vec());
        assert!(secret.ct_eq(b"abc"));
        assert!(!secret.ct_eq(b"abd"));
        assert!(!secret.ct_eq(b"ab"));
    }
}
