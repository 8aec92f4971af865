use serde::{Deserialize, Serialize};
use std::fmt;

use super::policy::{Activity, Policy};

/// Identifier of one link: 32 lowercase hex digits from a random UUID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LinkId(String);

impl LinkId {
    /// Makes a new random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Parses an id, accepting only the 32-hex-digit form that
    /// [`LinkId::generate`] makes.
    pub fn parse(value: &str) -> Option<Self> {
        let valid = value.len() == 32
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(value.to_owned()))
    }

    /// Returns the id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A rejected creator parameter: the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParamError {
    /// The request field, as the client spells it.
    pub field: &'static str,
    /// Problem description, in words a client can act on.
    pub message: String,
}

impl ParamError {
    /// Builds an error for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Lifetime of a link in minutes, between 1 and the configured maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpireMinutes(u32);

impl ExpireMinutes {
    /// Checks `value` against the range `1..=max`.
    ///
    /// # Errors
    ///
    /// Returns a [`ParamError`] for `expire_minutes` when out of range.
    pub fn new(value: i64, max: u32) -> Result<Self, ParamError> {
        if value < 1 || value > i64::from(max) {
            return Err(ParamError::new(
                "expire_minutes",
                format!("must be an integer from 1 to {max}, got {value}"),
            ));
        }
        // The range check above makes the conversion lossless.
        Ok(Self(u32::try_from(value).unwrap_or(max)))
    }

    /// Returns the lifetime in seconds.
    pub fn seconds(self) -> i64 {
        i64::from(self.0) * 60
    }
}

/// How many downloads a link serves, between 1 and the configured maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownloadLimit(u32);

impl DownloadLimit {
    /// Checks `value` against the range `1..=max`.
    ///
    /// # Errors
    ///
    /// Returns a [`ParamError`] for `max_downloads` when out of range.
    pub fn new(value: i64, max: u32) -> Result<Self, ParamError> {
        if value < 1 || value > i64::from(max) {
            return Err(ParamError::new(
                "max_downloads",
                format!("must be an integer from 1 to {max}, got {value}"),
            ));
        }
        Ok(Self(u32::try_from(value).unwrap_or(max)))
    }

    /// Returns the limit.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Location of a link's bytes, pinned to the exact object version the link
/// was made for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Bucket name (the embedded store names its one directory the same way).
    pub bucket: String,
    /// Object key inside the bucket.
    pub key: String,
    /// S3 version id, when the bucket is versioned.
    pub version_id: Option<String>,
    /// ETag the object had when the link was made; a download of any other
    /// content is refused.
    pub etag: Option<String>,
}

/// One link record, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Random identifier, carried in the token.
    pub id: LinkId,
    /// Location of the bytes.
    pub object: ObjectRef,
    /// File name shown to the recipient and required in the download path.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type recorded at upload or read from the object.
    pub content_type: String,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Creator: the API Gateway API key id that made the link.
    pub creator: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Expiry, Unix seconds; the link is refused from this second on.
    pub expires_at: i64,
    /// How many downloads the link serves.
    pub max_downloads: u32,
    /// How many downloads have been served.
    pub downloads: u32,
    /// Whether the creator revoked the link.
    pub revoked: bool,
    /// Creator's label, e.g. an incident id, for listing and revoking
    /// together.
    pub label: Option<String>,
    /// Restrictions fixed at creation.
    pub policy: Policy,
    /// Counters that recipients change.
    pub activity: Activity,
    /// Set while the link waits for the bytes of a large upload: the Unix
    /// second from which an upload that has not arrived is refused as
    /// expired. `None` once the object is stored and hashed.
    pub upload_deadline: Option<i64>,
}

/// State of a link at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Can be viewed and downloaded.
    Active,
    /// Waits for the bytes of a large upload; refused with 409 until they
    /// arrive.
    Pending,
    /// Refused because of the given reason.
    Denied(Denial),
}

/// Reason a genuine link is rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The expiry time has passed.
    Expired,
    /// The creator revoked the link.
    Revoked,
    /// Every allowed download has been served.
    UsedUp,
}

impl Denial {
    /// Returns the reason as a stable lowercase code for bodies and audit.
    pub fn code(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::UsedUp => "used_up",
        }
    }
}

impl Link {
    /// Returns the state at `now` (Unix seconds). Revocation wins over
    /// expiry, expiry over a pending upload, and a pending upload over the
    /// download count. An upload that missed its deadline is expired.
    pub fn state(&self, now: i64) -> LinkState {
        if self.revoked {
            LinkState::Denied(Denial::Revoked)
        } else if now >= self.expires_at {
            LinkState::Denied(Denial::Expired)
        } else if let Some(deadline) = self.upload_deadline {
            if now >= deadline {
                LinkState::Denied(Denial::Expired)
            } else {
                LinkState::Pending
            }
        } else if self.downloads >= self.max_downloads {
            LinkState::Denied(Denial::UsedUp)
        } else {
            LinkState::Active
        }
    }

    /// Returns the state shown to the creator, one of `active`,
    /// `pending`, `not_yet_available`, `used_up`, `expired` and `revoked`.
    pub fn status(&self, now: i64) -> &'static str {
        match self.state(now) {
            LinkState::Denied(denial) => denial.code(),
            LinkState::Pending => "pending",
            LinkState::Active if self.policy.not_before.is_some_and(|t| now < t) => {
                "not_yet_available"
            }
            LinkState::Active => "active",
        }
    }

    /// Returns how many downloads are left.
    pub fn downloads_remaining(&self) -> u32 {
        self.max_downloads.saturating_sub(self.downloads)
    }
}

/// Outcome of one request for a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// The metadata was shown.
    View,
    /// The bytes were served.
    Download,
    /// The request was refused.
    Denied,
}

impl AuditAction {
    /// Returns the action as a stable lowercase code.
    pub fn code(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Download => "download",
            Self::Denied => "denied",
        }
    }

    /// Parses a code written by [`AuditAction::code`].
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "view" => Some(Self::View),
            "download" => Some(Self::Download),
            "denied" => Some(Self::Denied),
            _ => None,
        }
    }
}

/// One audit record. It contains the token's fingerprint, never the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// The link concerned.
    pub link_id: LinkId,
    /// When, in Unix milliseconds.
    pub at_ms: i64,
    /// What happened.
    pub action: AuditAction,
    /// Reason code of a rejected request, or `None` for success.
    pub reason: Option<String>,
    /// Source IP as API Gateway saw the connection.
    pub source_ip: String,
    /// User-Agent header, cut to 256 characters.
    pub user_agent: String,
    /// Fingerprint of the token presented.
    pub token_fingerprint: String,
    /// Unix seconds until which the record is kept: the link's expiry (or
    /// the event, when later) plus the retention period.
    pub retain_until: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(downloads: u32, revoked: bool) -> Link {
        Link {
            id: LinkId::generate(),
            object: ObjectRef {
                bucket: "b".into(),
                key: "k".into(),
                version_id: None,
                etag: None,
            },
            file_name: "a.txt".into(),
            size: 1,
            content_type: "text/plain".into(),
            sha256: String::new(),
            creator: "c".into(),
            created_at: 0,
            expires_at: 100,
            max_downloads: 2,
            downloads,
            revoked,
            label: None,
            policy: Policy::default(),
            activity: Activity::default(),
            upload_deadline: None,
        }
    }

    #[test]
    fn link_is_active_before_expiry() {
        assert_eq!(link(0, false).state(99), LinkState::Active);
    }

    #[test]
    fn link_expires_at_expiry_second() {
        assert_eq!(
            link(0, false).state(100),
            LinkState::Denied(Denial::Expired)
        );
    }

    #[test]
    fn revocation_wins_over_expiry() {
        assert_eq!(link(5, true).state(500), LinkState::Denied(Denial::Revoked));
    }

    #[test]
    fn link_used_up_at_limit() {
        assert_eq!(link(2, false).state(1), LinkState::Denied(Denial::UsedUp));
        assert_eq!(link(1, false).downloads_remaining(), 1);
    }

    #[test]
    fn pending_upload_waits_until_its_deadline() {
        let mut pending = link(0, false);
        pending.upload_deadline = Some(50);
        assert_eq!(pending.state(49), LinkState::Pending);
        assert_eq!(pending.state(50), LinkState::Denied(Denial::Expired));
        pending.revoked = true;
        assert_eq!(pending.state(10), LinkState::Denied(Denial::Revoked));
    }

    #[test]
    fn expire_minutes_range_is_enforced() {
        assert!(ExpireMinutes::new(0, 10).is_err());
        assert!(ExpireMinutes::new(11, 10).is_err());
        assert_eq!(
            ExpireMinutes::new(10, 10).map(ExpireMinutes::seconds),
            Ok(600)
        );
    }

    #[test]
    fn link_id_parse_accepts_only_generated_form() {
        let id = LinkId::generate();
        assert_eq!(LinkId::parse(id.as_str()), Some(id));
        assert_eq!(LinkId::parse("../../etc"), None);
        assert_eq!(LinkId::parse(&"A".repeat(32)), None);
    }

    proptest::proptest! {
        #[test]
        fn downloads_never_exceed_limit_while_active(
            max in 1u32..50, used in 0u32..60, now in 0i64..200, expiry in 0i64..200
        ) {
            let mut candidate = link(used, false);
            candidate.max_downloads = max;
            candidate.expires_at = expiry;
            if candidate.state(now) == LinkState::Active {
                proptest::prop_assert!(used < max);
                proptest::prop_assert!(now < expiry);
            }
        }
    }
}
