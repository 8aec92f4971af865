//! Pieces shared by the benchmark programs that `script/bench` runs: an
//! in-memory store, the service state over it, and API Gateway events made
//! from the samples in `events/`.
//!
//! The in-memory store keeps the handlers' storage calls inside the process,
//! so that a benchmark measures the handler's own CPU time (token check,
//! link rules, response) and not a database's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use shared::App;
use shared::Config;
use shared::adapters::S3Objects;
use shared::domain::{
    Activity, AuditEvent, LOCK_AFTER_FAILURES, LOCK_SECONDS, Link, LinkId, ObjectRef, Policy,
};
use shared::fetch::{AddressPolicy, Fetcher, SystemResolver};
use shared::ports::{
    AuditLog, ConsumeError, LinkStore, ObjectInfo, ObjectStore, Page, PresignedUpload, StoreError,
    SystemClock,
};
use shared::secret::{PresignedUrl, RawToken};
use shared::token::Keyring;

/// Name of the emulator's Secrets Manager secret with [`SIGNING_KEYS`] in
/// it, which the functions read as deployed ones do.
pub const SIGNING_KEYS_SECRET: &str = "bench-signing-keys";

/// Signing keyring of every benchmark: one 32-byte key, base64url.
pub const SIGNING_KEYS: &str = "bench-1:YmVuY2gtc2lnbmluZy1rZXktb2YtdGhpcnR5LXR3by1ieXRlcw";

/// Bucket name the benchmarks use for S3 and the in-memory store.
pub const BUCKET: &str = "bench-files";

/// A failure of a benchmark program, as text for its exit message.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

fn poisoned(operation: &'static str) -> StoreError {
    StoreError::new(operation, "in-memory store mutex poisoned")
}

/// Links and file bytes in memory. Audit records are counted and dropped,
/// so that millions of benchmark iterations do not grow the heap.
#[derive(Default)]
pub struct MemoryStore {
    links: Mutex<HashMap<LinkId, Link>>,
    objects: Mutex<HashMap<String, Bytes>>,
    audit_records: AtomicU64,
}

impl MemoryStore {
    /// Returns how many audit records were written.
    pub fn audit_records(&self) -> u64 {
        self.audit_records.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl LinkStore for MemoryStore {
    async fn complete_upload(
        &self,
        _id: &LinkId,
        _object: &ObjectRef,
        _size: u64,
        _sha256: &str,
    ) -> Result<bool, StoreError> {
        Err(StoreError::new(
            "complete_upload",
            "the benchmark store has no uploads",
        ))
    }

    async fn insert(&self, link: &Link) -> Result<(), StoreError> {
        let mut links = self.links.lock().map_err(|_| poisoned("insert"))?;
        if links.contains_key(&link.id) {
            return Err(StoreError::new("insert", "link id exists"));
        }
        links.insert(link.id.clone(), link.clone());
        Ok(())
    }

    async fn get(&self, id: &LinkId) -> Result<Option<Link>, StoreError> {
        let links = self.links.lock().map_err(|_| poisoned("get"))?;
        Ok(links.get(id).cloned())
    }

    async fn consume_download(
        &self,
        id: &LinkId,
        file_name: &str,
        now: i64,
        restrictions_checked: bool,
    ) -> Result<Link, ConsumeError> {
        let mut links = self
            .links
            .lock()
            .map_err(|_| poisoned("consume_download"))?;
        let link = links.get_mut(id).ok_or(ConsumeError::NotFound)?;
        if link.file_name != file_name {
            return Err(ConsumeError::NameMismatch);
        }
        if !restrictions_checked && link.policy != Policy::default() {
            return Err(ConsumeError::Restricted(Box::new(link.clone())));
        }
        if let shared::domain::LinkState::Denied(denial) = link.state(now) {
            return Err(ConsumeError::Denied(denial));
        }
        link.downloads += 1;
        Ok(link.clone())
    }

    // NOTE: listing ignores the cursor and returns one page; the handlers
    // the benchmarks run never list.
    async fn list_by_creator(
        &self,
        creator: &str,
        label: Option<&str>,
        _after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Link>, StoreError> {
        let links = self.links.lock().map_err(|_| poisoned("list"))?;
        let mut items: Vec<Link> = links
            .values()
            .filter(|link| link.creator == creator)
            .filter(|link| label.is_none() || link.label.as_deref() == label)
            .cloned()
            .collect();
        items.sort_by_key(|link| std::cmp::Reverse(link.created_at));
        items.truncate(limit as usize);
        Ok(Page { items, next: None })
    }

    async fn record_password_failure(&self, id: &LinkId, now: i64) -> Result<Activity, StoreError> {
        let mut links = self
            .links
            .lock()
            .map_err(|_| poisoned("password failure"))?;
        let link = links
            .get_mut(id)
            .ok_or_else(|| StoreError::new("password failure", "link not found"))?;
        link.activity.failed_attempts += 1;
        if link.activity.failed_attempts >= LOCK_AFTER_FAILURES {
            link.activity.locked_until = now + LOCK_SECONDS;
            link.activity.failed_attempts = 0;
        }
        Ok(link.activity.clone())
    }

    async fn clear_password_failures(&self, id: &LinkId) -> Result<(), StoreError> {
        let mut links = self.links.lock().map_err(|_| poisoned("clear failures"))?;
        if let Some(link) = links.get_mut(id) {
            link.activity.failed_attempts = 0;
        }
        Ok(())
    }

    async fn mark_opened(&self, id: &LinkId) -> Result<bool, StoreError> {
        let mut links = self.links.lock().map_err(|_| poisoned("mark opened"))?;
        Ok(match links.get_mut(id) {
            Some(link) if !link.activity.opened => {
                link.activity.opened = true;
                true
            }
            _ => false,
        })
    }

    async fn revoke(&self, id: &LinkId) -> Result<bool, StoreError> {
        let mut links = self.links.lock().map_err(|_| poisoned("revoke"))?;
        Ok(links.get_mut(id).map(|link| link.revoked = true).is_some())
    }

    async fn refund_download(&self, id: &LinkId) -> Result<(), StoreError> {
        let mut links = self.links.lock().map_err(|_| poisoned("refund"))?;
        if let Some(link) = links.get_mut(id) {
            link.downloads = link.downloads.saturating_sub(1);
        }
        Ok(())
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record(&self, _event: &AuditEvent) -> Result<(), StoreError> {
        self.audit_records.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn list(&self, _id: &LinkId) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(Vec::new())
    }

    async fn page(
        &self,
        _id: &LinkId,
        _before: Option<&str>,
        _limit: u32,
    ) -> Result<Page<AuditEvent>, StoreError> {
        Ok(Page {
            items: Vec::new(),
            next: None,
        })
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    fn bucket(&self) -> &str {
        BUCKET
    }

    async fn presign_upload(
        &self,
        _key: &str,
        _max_bytes: u64,
        _ttl_seconds: u64,
    ) -> Result<PresignedUpload, StoreError> {
        Err(StoreError::new(
            "presign_upload",
            "the benchmark store has no uploads",
        ))
    }

    async fn move_object(
        &self,
        _from_key: &str,
        _to_key: &str,
    ) -> Result<Option<ObjectRef>, StoreError> {
        Err(StoreError::new(
            "move_object",
            "the benchmark store has no uploads",
        ))
    }

    async fn put(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<ObjectInfo, StoreError> {
        let sha256 = hex_sha256(&bytes);
        let size = bytes.len() as u64;
        let mut objects = self.objects.lock().map_err(|_| poisoned("put"))?;
        objects.insert(key.to_owned(), bytes);
        Ok(ObjectInfo {
            object: object_ref(key, &sha256),
            size,
            content_type: Some(content_type.to_owned()),
            sha256,
        })
    }

    async fn describe(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        if bucket != BUCKET {
            return Ok(None);
        }
        let objects = self.objects.lock().map_err(|_| poisoned("describe"))?;
        Ok(objects.get(key).map(|bytes| {
            let sha256 = hex_sha256(bytes);
            ObjectInfo {
                object: object_ref(key, &sha256),
                size: bytes.len() as u64,
                content_type: None,
                sha256,
            }
        }))
    }

    async fn get(&self, object: &ObjectRef) -> Result<Option<Bytes>, StoreError> {
        let objects = self.objects.lock().map_err(|_| poisoned("get object"))?;
        Ok(objects.get(&object.key).cloned())
    }

    async fn presign_download(
        &self,
        _object: &ObjectRef,
        _content_disposition: &str,
        _content_type: &str,
        _ttl_seconds: u64,
    ) -> Result<Option<PresignedUrl>, StoreError> {
        Ok(None)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut objects = self.objects.lock().map_err(|_| poisoned("delete"))?;
        objects.remove(key);
        Ok(())
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn object_ref(key: &str, sha256: &str) -> ObjectRef {
    ObjectRef {
        bucket: BUCKET.to_owned(),
        key: key.to_owned(),
        version_id: None,
        etag: Some(sha256.to_owned()),
    }
}

/// Reads the configuration from `pairs` alone, ignoring the process
/// environment, with the benchmark signing key.
///
/// # Errors
///
/// Returns the configuration's rejection of a value.
pub fn config_from(pairs: &[(&str, &str)]) -> Result<Config, BenchError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain([("SIGNING_KEYS".to_owned(), SIGNING_KEYS.to_owned())])
        .collect();
    Ok(Config::from_lookup(|name| map.get(name).cloned())?)
}

/// Builds an S3 client with fake static credentials and no endpoint
/// override. Presigning with it is local computation, and it never sends.
pub fn offline_s3_client() -> aws_sdk_s3::Client {
    let credentials = aws_sdk_s3::config::Credentials::new("test", "test", None, None, "bench");
    match shared::adapters::sdk::AwsSettings::new("us-east-1", credentials, None) {
        Ok(settings) => settings.s3(),
        Err(error) => unreachable!("settings without an endpoint are always valid: {error}"),
    }
}

/// Builds a URL signer with the fake credentials of [`offline_s3_client`].
pub fn offline_url_signer() -> shared::adapters::UrlSigner {
    let credentials = aws_sdk_s3::config::Credentials::new("test", "test", None, None, "bench");
    shared::adapters::UrlSigner::new(
        Some(aws_sdk_s3::config::SharedCredentialsProvider::new(
            credentials,
        )),
        "us-east-1",
        None,
    )
}

/// Service state for the handler benchmarks, with the link it serves.
pub struct BenchApp {
    /// State the handlers borrow.
    pub app: App,
    /// The in-memory links and audit counter behind `app`.
    pub store: Arc<MemoryStore>,
    /// Token of the one link, which allows `u32::MAX` downloads.
    pub token: RawToken,
    /// File name of the link.
    pub file_name: String,
}

/// Delivery of the bytes of a benchmark download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bytes1KiB {
    /// Served from memory in the response body.
    Inline,
    /// A redirect to a URL that aws-sdk-s3 presigns.
    Presigned,
}

/// Builds the state over the in-memory store with one 1 KiB file and a
/// link to it. With [`Bytes1KiB::Presigned`], the object store is S3 with
/// fake credentials and `MAX_INLINE_DOWNLOAD_BYTES=0`, so every download
/// takes the presigned-redirect path.
///
/// # Errors
///
/// Fails when the configuration, keyring or link cannot be built.
pub async fn bench_app(delivery: Bytes1KiB) -> Result<BenchApp, BenchError> {
    let inline_limit = match delivery {
        Bytes1KiB::Inline => "4194304",
        Bytes1KiB::Presigned => "0",
    };
    let config = config_from(&[
        ("LINK_TABLE", "bench-links"),
        ("FILE_BUCKET", BUCKET),
        ("MAX_INLINE_DOWNLOAD_BYTES", inline_limit),
    ])?;
    let keys = Keyring::parse(SIGNING_KEYS)?;
    let store = Arc::new(MemoryStore::default());
    let file_name = "report.txt".to_owned();
    let key = format!("bench/{file_name}");
    let info = store
        .put(&key, Bytes::from(vec![b'x'; 1024]), "text/plain")
        .await?;
    let objects: Arc<dyn ObjectStore> = match delivery {
        Bytes1KiB::Inline => store.clone(),
        Bytes1KiB::Presigned => Arc::new(S3Objects::new(
            offline_s3_client(),
            BUCKET,
            offline_url_signer(),
        )),
    };
    let now = shared::ports::Clock::now(&SystemClock);
    let link = Link {
        id: LinkId::generate(),
        object: info.object,
        file_name: file_name.clone(),
        size: info.size,
        content_type: "text/plain".to_owned(),
        sha256: info.sha256,
        creator: "bench".to_owned(),
        created_at: now,
        expires_at: now + 7 * 24 * 3600,
        max_downloads: u32::MAX,
        downloads: 0,
        revoked: false,
        label: None,
        policy: Policy::default(),
        activity: Activity::default(),
        upload_deadline: None,
    };
    store.insert(&link).await?;
    let token = keys.sign(&link.id, link.created_at, link.expires_at)?;
    let fetcher = Fetcher::new(
        Vec::new(),
        Arc::new(SystemResolver),
        AddressPolicy::PublicHttps,
        config.max_upload_bytes,
    );
    let usage_dir = std::env::temp_dir().join(format!("link-bench-usage-{}", std::process::id()));
    let app = App {
        usage: Arc::new(shared::adapters::SqliteUsage::open(&usage_dir)?),
        notifier: None,
        config,
        keys: Arc::new(keys.into()),
        links: store.clone(),
        audit: store.clone(),
        objects,
        clock: Arc::new(SystemClock),
        fetcher,
    };
    Ok(BenchApp {
        app,
        store,
        token,
        file_name,
    })
}

/// Returns the folder of sample events, `events/` in the checkout.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// Builds the JSON of a REST API `GET /access/{token}` event from
/// `events/access.json`.
///
/// # Errors
///
/// Fails when the sample cannot be read or parsed.
pub fn access_event(token: &str) -> Result<String, BenchError> {
    let text = std::fs::read_to_string(events_dir().join("access.json"))?;
    Ok(text.replace("REPLACE_WITH_TOKEN", token))
}

/// Builds the JSON of a REST API `GET /files/{file_name}?token=` event from
/// `events/files.json`.
///
/// # Errors
///
/// Fails when the sample cannot be read or parsed.
pub fn files_event(token: &str, file_name: &str) -> Result<String, BenchError> {
    let text = std::fs::read_to_string(events_dir().join("files.json"))?;
    Ok(text
        .replace("REPLACE_WITH_TOKEN", token)
        .replace("report.pdf", file_name))
}

/// Parses an event the way `lambda_http` does for each invocation.
///
/// # Errors
///
/// Fails when the JSON is not an API Gateway event.
pub fn request_from(event: &str) -> Result<lambda_http::Request, BenchError> {
    Ok(lambda_http::request::from_str(event)?)
}

/// Installs a `tracing` subscriber that formats JSON lines the way
/// `shared::telemetry` does, but writes them to a sink: the formatting
/// costs CPU on every request, the write is I/O and is left out.
pub fn log_to_sink() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::sink)
        .json()
        .flatten_event(true)
        .without_time()
        .try_init();
}
