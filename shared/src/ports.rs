//! The storage capabilities the use cases need, one trait each, so that the
//! same code runs on DynamoDB and S3 and on the embedded store.

use async_trait::async_trait;
use bytes::Bytes;

use crate::domain::{Activity, AuditEvent, Denial, Link, LinkId, ObjectRef};
use crate::secret::PresignedUrl;

/// A signed URL that lets its holder store one object without credentials.
#[derive(Clone, Debug)]
pub struct PresignedUpload {
    /// The URL.
    pub url: PresignedUrl,
    /// HTTP method the URL is signed for.
    pub method: &'static str,
    /// Headers the request must carry for the signature to match.
    pub headers: Vec<(String, String)>,
}

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

/// A listing cursor that the store did not make, as the source of a
/// [`StoreError`].
#[derive(Debug, thiserror::Error)]
#[error("cursor was not made by this store")]
pub struct BadCursor;

impl StoreError {
    /// Returns whether the failure is a [`BadCursor`].
    pub fn is_bad_cursor(&self) -> bool {
        self.source.downcast_ref::<BadCursor>().is_some()
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
    /// The link has restrictions the caller has not checked yet; the record
    /// is returned so that they can be.
    #[error("link has restrictions to check first")]
    Restricted(Box<Link>),
    /// The link waits for the bytes of a large upload.
    #[error("the upload has not arrived yet")]
    Pending,
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
    /// record as it is after the count. Unless `restrictions_checked`, a
    /// link with restrictions is not counted but returned as
    /// [`ConsumeError::Restricted`], so that an unrestricted download costs
    /// one store call and a restricted one two.
    ///
    /// # Errors
    ///
    /// Returns why the download may not happen, or the store's failure.
    async fn consume_download(
        &self,
        id: &LinkId,
        file_name: &str,
        now: i64,
        restrictions_checked: bool,
    ) -> Result<Link, ConsumeError>;

    /// Lists a creator's links, newest first, `limit` at a time, optionally
    /// only those with `label`. `after` is the cursor a previous page
    /// returned.
    ///
    /// # Errors
    ///
    /// Returns the store's failure, or a failure for a cursor this store did
    /// not make.
    async fn list_by_creator(
        &self,
        creator: &str,
        label: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Link>, StoreError>;

    /// Counts one wrong password in one atomic step. The failure that
    /// reaches [`crate::domain::LOCK_AFTER_FAILURES`] locks the link until
    /// `now` plus [`crate::domain::LOCK_SECONDS`] and starts the count
    /// again. Returns the counters after the step.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn record_password_failure(&self, id: &LinkId, now: i64) -> Result<Activity, StoreError>;

    /// Sets the count of wrong passwords back to zero after a right one.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn clear_password_failures(&self, id: &LinkId) -> Result<(), StoreError>;

    /// Marks a link opened. Returns `true` only for the call that changed
    /// it, so that exactly one caller announces the first opening.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn mark_opened(&self, id: &LinkId) -> Result<bool, StoreError>;

    /// Marks a link revoked, so that every later view and download is
    /// refused. Returns whether the link existed.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn revoke(&self, id: &LinkId) -> Result<bool, StoreError>;

    /// Records the stored object, size and SHA-256 of a pending upload and
    /// makes the link active, in one step that only succeeds while the link
    /// is still pending. Returns whether this call completed it.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn complete_upload(
        &self,
        id: &LinkId,
        object: &ObjectRef,
        size: u64,
        sha256: &str,
    ) -> Result<bool, StoreError>;

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

    /// Lists the records of one link, newest first, `limit` at a time.
    /// `before` is the cursor a previous page returned.
    ///
    /// # Errors
    ///
    /// Returns the store's failure, or a failure for a cursor this store did
    /// not make.
    async fn page(
        &self,
        id: &LinkId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Page<AuditEvent>, StoreError>;
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The entries of this page.
    pub items: Vec<T>,
    /// Cursor of the next page, or `None` after the last page. The text
    /// is the store's own and goes to clients only encoded.
    pub next: Option<String>,
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

    /// Returns the origin (`scheme://host[:port]`) of the URLs
    /// [`presign_download`](Self::presign_download) makes for `object`, so
    /// that a page whose form response redirects there can allow it.
    /// `None` when downloads are served from the product's own origin.
    fn download_origin(&self, _object: &ObjectRef) -> Option<String> {
        None
    }

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

    /// Signs a URL that lets its holder store the object `key` in the
    /// product's bucket for `ttl_seconds`, with a plain `PUT` of the bytes
    /// and no checksum headers. `max_bytes` is the declared size: the
    /// embedded store refuses larger bodies, S3 takes up to 5 GB and the
    /// finaliser checks the size afterwards.
    ///
    /// # Errors
    ///
    /// Returns the signer's failure.
    async fn presign_upload(
        &self,
        key: &str,
        max_bytes: u64,
        ttl_seconds: u64,
    ) -> Result<PresignedUpload, StoreError>;

    /// Moves an object of the product's bucket to `to_key` without the bytes
    /// passing through this process (S3 `CopyObject` and delete, or a rename),
    /// and returns the pin of the moved object, or `None` when `from_key`
    /// does not exist.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn move_object(
        &self,
        from_key: &str,
        to_key: &str,
    ) -> Result<Option<ObjectRef>, StoreError>;

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
