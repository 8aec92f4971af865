//! Link settings beyond expiry and limit: a label, a password, the networks
//! a recipient may come from, a time before which the link is closed, and
//! whether to send notifications. They are fixed when the link is made, and
//! the password is stored only as an Argon2id hash.

use std::net::IpAddr;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::link::ParamError;

/// Maximum label length, in characters.
pub const MAX_LABEL_CHARS: usize = 128;
/// Shortest password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Maximum password length, in bytes. Argon2 accepts more, but a longer
/// password only costs hashing time.
pub const MAX_PASSWORD_BYTES: usize = 256;
/// Most CIDR ranges on one link.
pub const MAX_CIDRS: usize = 32;
/// Wrong passwords in a row that lock a link.
pub const LOCK_AFTER_FAILURES: u32 = 5;
/// How long a locked link refuses every password, in seconds.
pub const LOCK_SECONDS: i64 = 15 * 60;

/// Restrictions and settings fixed when a link is made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Argon2id hash of the password in PHC form, when the link has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Networks the recipient's source IP must be in; empty allows any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_cidrs: Vec<String>,
    /// Unix seconds before which the link is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    /// Whether the first opening and the last download are announced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notify: bool,
    /// Name of the recipient, for one of several links to the same file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
}

impl Policy {
    /// Returns whether a request needs checks beyond expiry and limit, so
    /// the record must be read before a download is counted.
    pub fn is_restricted(&self) -> bool {
        self.password_hash.is_some() || !self.allowed_cidrs.is_empty() || self.not_before.is_some()
    }

    /// Returns whether `source_ip` is in one of the allowed networks. An
    /// address that does not parse is outside every network.
    pub fn allows_ip(&self, source_ip: &str) -> bool {
        if self.allowed_cidrs.is_empty() {
            return true;
        }
        let Ok(ip) = source_ip.parse::<IpAddr>() else {
            return false;
        };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        self.allowed_cidrs
            .iter()
            .filter_map(|cidr| cidr.parse::<IpNet>().ok())
            .any(|net| net.contains(&ip))
    }
}

/// Counters that change as recipients use a link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    /// Wrong passwords since the last right one or the last lock.
    pub failed_attempts: u32,
    /// Unix seconds until which every password is refused; 0 when unlocked.
    pub locked_until: i64,
    /// Whether the link has been opened (viewed) at least once.
    pub opened: bool,
}

/// Checks a label: 1 to [`MAX_LABEL_CHARS`] characters, none of them
/// control characters.
///
/// # Errors
///
/// Returns a [`ParamError`] for `label`.
pub fn parse_label(value: &str) -> Result<String, ParamError> {
    let count = value.chars().count();
    if count == 0 || count > MAX_LABEL_CHARS {
        return Err(ParamError::new(
            "label",
            format!("must have 1 to {MAX_LABEL_CHARS} characters, got {count}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ParamError::new(
            "label",
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// Parses CIDR ranges, turning a bare address into a one-address range and
/// clearing host bits (`10.1.2.3/8` becomes `10.0.0.0/8`).
///
/// # Errors
///
/// Returns a [`ParamError`] for `allowed_cidrs` naming the bad entry.
pub fn parse_cidrs(values: &[String]) -> Result<Vec<String>, ParamError> {
    if values.len() > MAX_CIDRS {
        return Err(ParamError::new(
            "allowed_cidrs",
            format!("may list at most {MAX_CIDRS} ranges, got {}", values.len()),
        ));
    }
    values
        .iter()
        .map(|value| {
            let trimmed = value.trim();
            let net = trimmed
                .parse::<IpNet>()
                .or_else(|_| trimmed.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ParamError::new(
                        "allowed_cidrs",
                        format!("{trimmed:?} is not a CIDR range such as 203.0.113.0/24"),
                    )
                })?;
            Ok(unmap(net.trunc()).to_string())
        })
        .collect()
}

/// Turns an IPv4-mapped IPv6 range (`::ffff:10.0.0.0/104`) into the IPv4
/// range it covers, since source addresses are compared in IPv4 form.
fn unmap(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

/// Failure to hash a password.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

fn hasher() -> Result<Argon2<'static>, HashError> {
    // OWASP's first Argon2id setting: 19 MiB, two passes, one lane.
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| HashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks a password's length: at least [`MIN_PASSWORD_CHARS`] characters
/// and at most [`MAX_PASSWORD_BYTES`] bytes.
///
/// # Errors
///
/// Returns a [`ParamError`] for `password` when its length is out of range.
pub fn check_password(password: &str) -> Result<(), ParamError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(ParamError::new(
            "password",
            format!(
                "must have at least {MIN_PASSWORD_CHARS} characters and at most \
                 {MAX_PASSWORD_BYTES} bytes"
            ),
        ));
    }
    Ok(())
}

/// Hashes a password with Argon2id and a random salt.
///
/// # Errors
///
/// Returns the hasher's failure.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| HashError(e.to_string()))?;
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Checks `password` against a stored hash. The comparison of the derived
/// hashes runs in constant time; a hash that does not parse matches nothing.
pub fn verify_password(stored: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    hasher().is_ok_and(|argon| argon.verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_password_verifies_and_wrong_one_does_not() {
        let Ok(hash) = hash_password("correct horse") else {
            panic!("hashing failed");
        };
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("correct horse"));
        assert!(verify_password(&hash, "correct horse"));
        assert!(!verify_password(&hash, "correct horsE"));
        assert!(!verify_password(&hash, ""));
        assert!(!verify_password("not a hash", "correct horse"));
    }

    #[test]
    fn same_password_gets_different_salts() {
        let (Ok(first), Ok(second)) = (hash_password("abcdefgh"), hash_password("abcdefgh")) else {
            panic!("hashing failed");
        };
        assert_ne!(first, second);
    }

    #[test]
    fn short_and_long_passwords_are_rejected() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert_eq!(check_password("eight ch"), Ok(()));
    }

    #[test]
    fn cidrs_are_normalised_and_checked() {
        let parsed = parse_cidrs(&["10.1.2.3/8".into(), "2001:db8::1".into()]);
        assert_eq!(
            parsed,
            Ok(vec!["10.0.0.0/8".to_owned(), "2001:db8::1/128".to_owned()])
        );
        let mapped = parse_cidrs(&["::ffff:127.0.0.1/128".into(), "::ffff:10.0.0.0/104".into()]);
        assert_eq!(
            mapped,
            Ok(vec!["127.0.0.1/32".to_owned(), "10.0.0.0/8".to_owned()])
        );
        for bad in ["10.0.0.0/33", "example.com", "", "10.0.0.0/8/8"] {
            assert!(parse_cidrs(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn source_ip_must_be_inside_an_allowed_range() {
        let policy = Policy {
            allowed_cidrs: vec!["203.0.113.0/24".into()],
            ..Policy::default()
        };
        assert!(policy.allows_ip("203.0.113.9"));
        assert!(policy.allows_ip("::ffff:203.0.113.9"));
        assert!(!policy.allows_ip("203.0.114.9"));
        assert!(!policy.allows_ip("not an ip"));
        assert!(!policy.allows_ip(""));
        assert!(Policy::default().allows_ip("anything"));
    }

    #[test]
    fn labels_reject_control_characters_and_length() {
        assert_eq!(parse_label("INC-2041"), Ok("INC-2041".to_owned()));
        assert!(parse_label("").is_err());
        assert!(parse_label("a\nb").is_err());
        assert!(parse_label(&"x".repeat(MAX_LABEL_CHARS + 1)).is_err());
    }
}
