//! Link tokens: HS256 JWTs that carry a link id and an expiry.
//!
//! The server fixes every verification setting: the algorithm is HS256 and
//! nothing else, `exp` is required, there is no leeway, and the key is picked
//! by the `kid` header from the configured keyring, never built from the
//! token. The first key of the ring signs and every key verifies, so a new
//! key can be put in front without breaking live links. An old key can be
//! removed from the ring once the longest link it signed has expired.
//!
//! # Limitations
//!
//! A token is a bearer credential: any holder can use the link until it
//! expires, is revoked or is used up.

use crate::secret::{RawToken, SecretBytes};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::LinkId;

/// Maximum token length; longer input is rejected before any parsing.
pub const MAX_TOKEN_LEN: usize = 1024;

/// Shortest signing key, in bytes (256 bits).
pub const MIN_KEY_BYTES: usize = 32;

/// One HMAC key and the id that names it in the token header.
#[derive(Clone, Debug)]
pub struct SigningKey {
    /// Key id, `[A-Za-z0-9_-]{1,64}`.
    pub kid: String,
    /// Key bytes, at least [`MIN_KEY_BYTES`].
    pub secret: SecretBytes,
    /// Unix time from which the key verifies nothing, after a rotation's
    /// grace period; `None` for a key in service.
    pub retired_at: Option<i64>,
}

/// The configured keys, the first of which signs.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: Vec<SigningKey>,
    validation: Validation,
}

/// Builds the verification settings once: HS256 only, `exp` required, no
/// leeway. Expiry and not-before are compared in [`Keyring::verify`] against
/// the injected clock, after the signature has been checked.
fn fixed_validation() -> Validation {
    hs256::install();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp"]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation
}

/// HS256 as the JWT library's only cryptography. With no other algorithm
/// built in, a token that names one is rejected by the library as well as by
/// [`Keyring::verify`], and no RSA or elliptic-curve code is linked.
mod hs256 {
    use hmac::{Hmac, KeyInit, Mac};
    use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
    use jsonwebtoken::errors::{ErrorKind, Result};
    use jsonwebtoken::signature::{self, Signer, Verifier};
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

    type HmacSha256 = Hmac<sha2::Sha256>;

    struct Hs256(HmacSha256);

    impl Hs256 {
        fn new(algorithm: &Algorithm, key: &[u8]) -> Result<Box<Self>> {
            if *algorithm != Algorithm::HS256 {
                return Err(ErrorKind::InvalidAlgorithm.into());
            }
            let mac = HmacSha256::new_from_slice(key).map_err(|_| ErrorKind::InvalidKeyFormat)?;
            Ok(Box::new(Self(mac)))
        }
    }

    impl Signer<Vec<u8>> for Hs256 {
        fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
            let mut mac = self.0.clone();
            mac.update(message);
            Ok(mac.finalize().into_bytes().to_vec())
        }
    }

    impl Verifier<Vec<u8>> for Hs256 {
        fn verify(
            &self,
            message: &[u8],
            tag: &Vec<u8>,
        ) -> std::result::Result<(), signature::Error> {
            let mut mac = self.0.clone();
            mac.update(message);
            // Constant-time comparison.
            mac.verify_slice(tag).map_err(|_| signature::Error::new())
        }
    }

    impl JwtSigner for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    impl JwtVerifier for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
        Ok(Hs256::new(algorithm, key.as_bytes())?)
    }

    fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
        Ok(Hs256::new(algorithm, key.try_get_as_bytes()?)?)
    }

    static PROVIDER: CryptoProvider = CryptoProvider {
        signer_factory: signer,
        verifier_factory: verifier,
        key_utils: KeyUtils::new_unimplemented(),
    };

    /// Makes HS256 the process's JWT cryptography; later calls do nothing.
    pub(super) fn install() {
        // Err means a provider is installed already, which can only be
        // this one: nothing else in the program installs one.
        let _ = PROVIDER.install_default();
    }
}

/// A keyring specification that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// No key at all.
    #[error("no signing key is configured")]
    Empty,
    /// An entry is not `kid:base64url-key`.
    #[error("signing key entry {index} is not of the form kid:base64url-key")]
    Syntax {
        /// Zero-based entry position.
        index: usize,
    },
    /// A key id with characters outside `[A-Za-z0-9_-]` or too long.
    #[error("signing key id {kid:?} must be 1 to 64 characters of A-Z a-z 0-9 _ -")]
    BadKid {
        /// The rejected id.
        kid: String,
    },
    /// A key shorter than 256 bits.
    #[error("signing key {kid:?} has {len} bytes; at least {MIN_KEY_BYTES} are required")]
    TooShort {
        /// The key's id.
        kid: String,
        /// Its decoded length.
        len: usize,
    },
    /// The first key, which signs, carries a retirement time.
    #[error("signing key {kid:?} signs new tokens and cannot be retired; put a new key first")]
    RetiredSigner {
        /// The key's id.
        kid: String,
    },
    /// Two keys with one id.
    #[error("signing key id {kid:?} appears twice")]
    DuplicateKid {
        /// The repeated id.
        kid: String,
    },
}

impl Keyring {
    /// Parses `kid:key,kid:key,...`, each key base64url (padding optional)
    /// or standard base64. The first entry signs new tokens. An entry
    /// `kid:key@SECONDS` stops verifying at that Unix time, which ends the
    /// grace period of a key taken out of service.
    ///
    /// # Errors
    ///
    /// Returns which entry is unusable and why.
    pub fn parse(spec: &str) -> Result<Self, KeyringError> {
        let mut keys: Vec<SigningKey> = Vec::new();
        for (index, entry) in spec.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let (kid, encoded) = entry
                .split_once(':')
                .ok_or(KeyringError::Syntax { index })?;
            let kid_ok = !kid.is_empty()
                && kid.len() <= 64
                && kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !kid_ok {
                return Err(KeyringError::BadKid { kid: kid.into() });
            }
            let (encoded, retired_at) = match encoded.split_once('@') {
                Some((key, when)) => {
                    let when = when
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| KeyringError::Syntax { index })?;
                    (key, Some(when))
                }
                None => (encoded, None),
            };
            if index == 0 && retired_at.is_some() {
                return Err(KeyringError::RetiredSigner { kid: kid.into() });
            }
            let bytes = decode_key(encoded).ok_or(KeyringError::Syntax { index })?;
            if bytes.len() < MIN_KEY_BYTES {
                return Err(KeyringError::TooShort {
                    kid: kid.into(),
                    len: bytes.len(),
                });
            }
            if keys.iter().any(|k| k.kid == kid) {
                return Err(KeyringError::DuplicateKid { kid: kid.into() });
            }
            keys.push(SigningKey {
                kid: kid.into(),
                secret: SecretBytes::new(bytes),
                retired_at,
            });
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Self {
            keys,
            validation: fixed_validation(),
        })
    }

    /// Makes a ring of one fresh random key, for a local run without
    /// configured keys. Tokens it signs die with the process.
    pub fn random() -> Self {
        let mut bytes = vec![0u8; MIN_KEY_BYTES];
        rand::fill(bytes.as_mut_slice());
        Self {
            keys: vec![SigningKey {
                kid: "ephemeral".into(),
                secret: SecretBytes::new(bytes),
                retired_at: None,
            }],
            validation: fixed_validation(),
        }
    }

    fn signing_key(&self) -> &SigningKey {
        // `parse` and `random` never build an empty ring.
        &self.keys[0]
    }

    fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Signs a token for `link_id` that expires at `expires_at` (Unix
    /// seconds).
    ///
    /// # Errors
    ///
    /// Fails only if the JWT library cannot encode the claims.
    pub fn sign(
        &self,
        link_id: &LinkId,
        issued_at: i64,
        expires_at: i64,
    ) -> Result<RawToken, jsonwebtoken::errors::Error> {
        let key = self.signing_key();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        let claims = Claims {
            lid: link_id.as_str().to_owned(),
            iat: issued_at,
            exp: expires_at,
            nbf: None,
        };
        let encoding = EncodingKey::from_secret(key.secret.expose())?;
        jsonwebtoken::encode(&header, &claims, &encoding).map(RawToken::new)
    }

    /// Verifies `token` at time `now` (Unix seconds) and returns the link id
    /// it names.
    ///
    /// # Errors
    ///
    /// [`TokenError::Malformed`] when the text is not a JWT at all,
    /// [`TokenError::Invalid`] when it is one this server did not sign, and
    /// [`TokenError::Expired`] when it did, but `exp` has passed.
    pub fn verify(&self, token: &RawToken, now: i64) -> Result<LinkId, TokenError> {
        let text = token.expose();
        check_syntax(text)?;
        let header = jsonwebtoken::decode_header(text).map_err(|_| header_error(text))?;
        // SECURITY: the algorithm comes from the server; a header naming any
        // other algorithm (none, HS512, RS256, ...) is rejected outright.
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.as_deref().ok_or(TokenError::Invalid)?;
        let key = self.find(kid).ok_or(TokenError::Invalid)?;
        if key.retired_at.is_some_and(|retired| now >= retired) {
            return Err(TokenError::Invalid);
        }

        let decoding =
            DecodingKey::from_secret(key.secret.expose()).map_err(|_| TokenError::Invalid)?;
        let data = jsonwebtoken::decode::<Claims>(text, &decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        let link_id = LinkId::parse(&claims.lid).ok_or(TokenError::Invalid)?;
        if now >= claims.exp {
            return Err(TokenError::Expired(link_id));
        }
        if claims.nbf.is_some_and(|nbf| now < nbf) {
            return Err(TokenError::Invalid);
        }
        Ok(link_id)
    }
}

/// Tells a JWT whose header names an algorithm this library does not know
/// (such as `none`), which is forged, from text that is no JWT at all.
fn header_error(text: &str) -> TokenError {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let segment = text.split('.').next().unwrap_or_default();
    let is_json_object = URL_SAFE_NO_PAD
        .decode(segment)
        .ok()
        .and_then(|bytes| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes).ok()
        })
        .is_some();
    if is_json_object {
        TokenError::Invalid
    } else {
        TokenError::Malformed
    }
}

fn decode_key(encoded: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let trimmed = encoded.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()
        .or_else(|| STANDARD.decode(encoded.trim()).ok())
}

/// Checks the shape of a compact JWT before any decoding: bounded length,
/// base64url characters only, three segments with a non-empty header and
/// payload.
fn check_syntax(text: &str) -> Result<(), TokenError> {
    if text.is_empty() || text.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let charset_ok = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !charset_ok {
        return Err(TokenError::Malformed);
    }
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 3 || parts[0].is_empty() || parts[1].is_empty() {
        return Err(TokenError::Malformed);
    }
    Ok(())
}

/// Reason a token was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWT: 422.
    #[error("token is malformed")]
    Malformed,
    /// A JWT, but not one this server signed or not one it accepts: 404.
    #[error("token is not valid")]
    Invalid,
    /// Genuine but past its `exp`: 410.
    #[error("token has expired")]
    Expired(LinkId),
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    lid: String,
    iat: i64,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
}

/// Builds a key spec entry from raw bytes, for tests and key generation.
pub fn encode_key_entry(kid: &str, secret: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{kid}:{}", URL_SAFE_NO_PAD.encode(secret))
}

/// Signs a JWT with HMAC by hand, for tests. `header`'s algorithm picks
/// SHA-256, -384 or -512. The JWT library here carries HS256 alone, so this
/// makes the tokens of the other HMAC algorithms that an attacker would try.
///
/// # Panics
///
/// Panics when `header` names an algorithm other than HS256, HS384 or HS512.
#[cfg(any(test, feature = "test-util"))]
pub fn hmac_jwt(header: &Header, claims: &serde_json::Value, secret: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, KeyInit, Mac};

    fn tag<M: Mac + KeyInit>(secret: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = <M as KeyInit>::new_from_slice(secret).unwrap_or_else(|e| panic!("{e}"));
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    let header_json = serde_json::to_string(header).unwrap_or_else(|e| panic!("{e}"));
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = match header.alg {
        Algorithm::HS256 => tag::<Hmac<sha2::Sha256>>(secret, message.as_bytes()),
        Algorithm::HS384 => tag::<Hmac<sha2::Sha384>>(secret, message.as_bytes()),
        Algorithm::HS512 => tag::<Hmac<sha2::Sha512>>(secret, message.as_bytes()),
        other => panic!("not an HMAC algorithm: {other:?}"),
    };
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn ring() -> Keyring {
        Keyring::parse(&encode_key_entry("k1", SECRET)).unwrap_or_else(|_| Keyring::random())
    }

    fn unsigned(header: serde_json::Value, claims: serde_json::Value, sig: &str) -> RawToken {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        RawToken::new(format!("{h}.{c}.{sig}"))
    }

    fn hmac_token(alg: Algorithm, claims: serde_json::Value, secret: &[u8]) -> RawToken {
        let mut header = Header::new(alg);
        header.kid = Some("k1".into());
        RawToken::new(hmac_jwt(&header, &claims, secret))
    }

    #[test]
    fn signed_token_round_trips() {
        let id = LinkId::generate();
        let token = ring().sign(&id, 10, 100).map_err(|e| e.to_string());
        let token = token.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring().verify(&token, 50), Ok(id));
    }

    #[test]
    fn token_is_refused_from_its_expiry_second() {
        let id = LinkId::generate();
        let token = ring().sign(&id, 10, 100).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring().verify(&token, 100), Err(TokenError::Expired(id)));
    }

    #[test]
    fn alg_none_is_rejected() {
        let lid = LinkId::generate();
        let token = unsigned(
            json!({"alg": "none", "typ": "JWT", "kid": "k1"}),
            json!({"lid": lid.as_str(), "iat": 0, "exp": 9_999_999_999i64}),
            "",
        );
        assert_eq!(ring().verify(&token, 1), Err(TokenError::Invalid));
    }

    #[test]
    fn hs512_with_real_secret_is_rejected() {
        let lid = LinkId::generate();
        let claims = json!({"lid": lid.as_str(), "iat": 0, "exp": 9_999_999_999i64});
        let token = hmac_token(Algorithm::HS512, claims, SECRET);
        assert_eq!(ring().verify(&token, 1), Err(TokenError::Invalid));
    }

    #[test]
    fn rs256_header_is_rejected() {
        let lid = LinkId::generate();
        let token = unsigned(
            json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}),
            json!({"lid": lid.as_str(), "iat": 0, "exp": 9_999_999_999i64}),
            "c2lnbmF0dXJl",
        );
        assert_eq!(ring().verify(&token, 1), Err(TokenError::Invalid));
    }

    #[test]
    fn missing_exp_is_rejected() {
        let lid = LinkId::generate();
        let token = hmac_token(
            Algorithm::HS256,
            json!({"lid": lid.as_str(), "iat": 0}),
            SECRET,
        );
        assert_eq!(ring().verify(&token, 1), Err(TokenError::Invalid));
    }

    #[test]
    fn claims_of_wrong_type_are_rejected() {
        let lid = LinkId::generate();
        for claims in [
            json!({"lid": lid.as_str(), "iat": 0, "exp": "9999999999"}),
            json!({"lid": lid.as_str(), "iat": 0, "exp": 9_999_999_999i64, "nbf": "0"}),
            json!({"lid": lid.as_str(), "iat": 0, "exp": 9.5e9}),
            json!({"lid": 7, "iat": 0, "exp": 9_999_999_999i64}),
            json!({"lid": "../x", "iat": 0, "exp": 9_999_999_999i64}),
        ] {
            let token = hmac_token(Algorithm::HS256, claims.clone(), SECRET);
            assert_eq!(
                ring().verify(&token, 1),
                Err(TokenError::Invalid),
                "{claims}"
            );
        }
    }

    #[test]
    fn token_before_nbf_is_rejected() {
        let lid = LinkId::generate();
        let claims = json!({"lid": lid.as_str(), "iat": 0, "exp": 200, "nbf": 100});
        let token = hmac_token(Algorithm::HS256, claims, SECRET);
        assert_eq!(ring().verify(&token, 50), Err(TokenError::Invalid));
        assert_eq!(ring().verify(&token, 150), Ok(lid));
    }

    #[test]
    fn wrong_secret_is_rejected() {
        let lid = LinkId::generate();
        let claims = json!({"lid": lid.as_str(), "iat": 0, "exp": 9_999_999_999i64});
        let token = hmac_token(
            Algorithm::HS256,
            claims,
            b"another-secret-another-secret-xx",
        );
        assert_eq!(ring().verify(&token, 1), Err(TokenError::Invalid));
    }

    #[test]
    fn malformed_text_is_rejected_before_parsing() {
        for text in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "a b.c.d",
            "<script>.x.y",
            ".x.y",
        ] {
            assert_eq!(
                ring().verify(&RawToken::new(text), 1),
                Err(TokenError::Malformed),
                "{text:?}"
            );
        }
        let long = format!("{}.a.b", "a".repeat(MAX_TOKEN_LEN));
        assert_eq!(
            ring().verify(&RawToken::new(long), 1),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn old_key_verifies_after_rotation() {
        let id = LinkId::generate();
        let old = ring();
        let token = old.sign(&id, 0, 100).unwrap_or_else(|e| panic!("{e}"));
        let spec = format!(
            "{},{}",
            encode_key_entry("k2", &[7u8; 32]),
            encode_key_entry("k1", SECRET)
        );
        let rotated = Keyring::parse(&spec).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rotated.verify(&token, 1), Ok(id.clone()));
        let fresh = rotated.sign(&id, 0, 100).unwrap_or_else(|e| panic!("{e}"));
        assert!(old.verify(&fresh, 1).is_err());
    }

    #[test]
    fn retired_key_stops_verifying_after_grace_period() {
        let id = LinkId::generate();
        let token = ring()
            .sign(&id, 0, 10_000)
            .unwrap_or_else(|e| panic!("{e}"));
        let spec = format!(
            "{},{}@500",
            encode_key_entry("k2", &[7u8; 32]),
            encode_key_entry("k1", SECRET)
        );
        let rotated = Keyring::parse(&spec).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rotated.verify(&token, 499), Ok(id));
        assert_eq!(rotated.verify(&token, 500), Err(TokenError::Invalid));
    }

    #[test]
    fn signing_key_cannot_be_retired() {
        let spec = format!("{}@500", encode_key_entry("k1", SECRET));
        assert!(matches!(
            Keyring::parse(&spec),
            Err(KeyringError::RetiredSigner { .. })
        ));
    }

    #[test]
    fn short_keys_are_rejected() {
        let spec = encode_key_entry("k", &[1u8; 31]);
        assert!(matches!(
            Keyring::parse(&spec),
            Err(KeyringError::TooShort { len: 31, .. })
        ));
    }
}
