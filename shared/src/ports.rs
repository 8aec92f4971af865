//! The storage capabilities the use cases need, one trait each, so that the
//! same code runs on DynamoDB and S3 and on the embedded store.

use async_trait::async_trait;
use bytes::Bytes;

use crate::domain::{AuditEvent, Denial, Link, LinkId, ObjectRef};
use crate::secret::PresignedUrl;

/// A failure of the storage layer itself (network, emulator, disk), as
/// opposed to a refusal that the rules decide.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed")]
pub struct StoreError {
    /// Operation that failed, e.g. `dynamodb update_item`.
    pub operation: &'static str,
    /// The underlying error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    /// Wraps `source` as the failure of `operation`.
    pub fn new(
        operation: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            operation,
            source: source.into(),
        }
    }
}

/// Reason a download could not be counted.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// No link with that id.
    #[error("link not found")]
    NotFound,
    /// The name in the path differs from the stored one.
    #[error("file name does not match the link")]
    NameMismatch,
    /// The link is expired, revoked or used up.
    #[error("link refused: {}", .0.code())]
    Denied(Denial),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Link records.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Stores a new link. Fails if the id exists.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn insert(&self, link: &Link) -> Result<(), StoreError>;

    /// Reads one link, whatever its state.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn get(&self, id: &LinkId) -> Result<Option<Link>, StoreError>;

    /// Counts one download in a single atomic step that also checks the
    /// file name, revocation, expiry at `now` and the limit, and returns the
    /// record as it is after the count.
    ///
    /// # Errors
    ///
    /// Returns why the download may not happen, or the store's failure.
    async fn consume_download(
        &self,
        id: &LinkId,
        file_name: &str,
        now: i64,
    ) -> Result<Link, ConsumeError>;

    /// Marks a link revoked, so that every later view and download is
    /// refused. Returns whether the link existed.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn revoke(&self, id: &LinkId) -> Result<bool, StoreError>;

    /// Takes back one counted download whose bytes could not be served.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn refund_download(&self, id: &LinkId) -> Result<(), StoreError>;
}

/// Audit records of every view, download and refusal.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends one record.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// Lists the records of one link, oldest first.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn list(&self, id: &LinkId) -> Result<Vec<AuditEvent>, StoreError>;
}

/// Metadata of one stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Location, with the version and ETag that pin it.
    pub object: ObjectRef,
    /// Size in bytes.
    pub size: u64,
    /// Stored content type, if any.
    pub content_type: Option<String>,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
}

/// File bytes.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Returns the product's own bucket name.
    fn bucket(&self) -> &str;

    /// Stores `bytes` under `key` in the product's bucket.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn put(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<ObjectInfo, StoreError>;

    /// Reads the size, type, pin and SHA-256 of an object, or `None` when
    /// there is no such object. May read the whole object to hash it.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn describe(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>, StoreError>;

    /// Reads the pinned object, or `None` when it is gone or has changed
    /// since the link was made.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn get(&self, object: &ObjectRef) -> Result<Option<Bytes>, StoreError>;

    /// Signs a URL that lets its holder GET the pinned object for
    /// `ttl_seconds`, served with the given `Content-Disposition` and
    /// `Content-Type`. Returns `None` when the store cannot sign URLs and
    /// serves every size itself.
    ///
    /// # Errors
    ///
    /// Returns the signer's failure.
    async fn presign_download(
        &self,
        object: &ObjectRef,
        content_disposition: &str,
        content_type: &str,
        ttl_seconds: u64,
    ) -> Result<Option<PresignedUrl>, StoreError>;

    /// Deletes an object of the product's bucket; deleting nothing succeeds.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// The current time, injected so that tests can move it.
pub trait Clock: Send + Sync {
    /// Returns Unix time in milliseconds.
    fn now_ms(&self) -> i64;

    /// Returns Unix time in seconds.
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
    }
}
