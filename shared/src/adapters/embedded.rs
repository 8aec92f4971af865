//! The embedded store: link and audit records in one SQLite file, file bytes
//! in a folder beside it.
//!
//! SQLite runs in WAL mode with a busy timeout, so several processes can
//! share one store: every write is a single statement, and the download count
//! is one `UPDATE ... WHERE downloads < max_downloads ... RETURNING`, which
//! SQLite runs under its write lock, so N concurrent downloads of a link with
//! limit L serve exactly min(N, L).
//!
//! Object files are named by the SHA-256 of bucket and key, so no key, however
//! strange, can name a path outside the folder.
//!
//! # Limitations
//!
//! One connection per process, behind a mutex: writes from one process are
//! serialised, which is ample for a local server but not a shared service.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};

use crate::adapters::local_urls::{DownloadGrant, UploadGrant, UrlSigner};
use crate::config::EMBEDDED_BUCKET;
use crate::domain::{
    Activity, AuditAction, AuditEvent, Denial, LOCK_AFTER_FAILURES, LOCK_SECONDS, Link, LinkId,
    LinkState, ObjectRef,
};
use crate::ports::{
    AuditLog, BadCursor, Clock, ConsumeError, LinkStore, ObjectInfo, ObjectStore, Page,
    PresignedUpload, StoreError, SystemClock,
};
use crate::secret::PresignedUrl;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS links (
    id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    object_key TEXT NOT NULL,
    version_id TEXT,
    etag TEXT,
    file_name TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    creator TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    max_downloads INTEGER NOT NULL,
    downloads INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    link_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    action TEXT NOT NULL,
    reason TEXT,
    source_ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    token_fingerprint TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_link ON audit (link_id, seq);
";

/// Columns added after the first schema, with their definitions. A store
/// made by an older version gets them on open.
const ADDED_COLUMNS: [(&str, &str, &str); 8] = [
    ("links", "label", "TEXT"),
    ("links", "policy", "TEXT NOT NULL DEFAULT '{}'"),
    ("links", "restricted", "INTEGER NOT NULL DEFAULT 0"),
    ("links", "failed_attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("links", "locked_until", "INTEGER NOT NULL DEFAULT 0"),
    ("links", "opened", "INTEGER NOT NULL DEFAULT 0"),
    ("audit", "retain_until", "INTEGER NOT NULL DEFAULT 0"),
    ("links", "upload_deadline", "INTEGER"),
];

const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS links_by_creator ON links (creator, created_at, id);
";

const LINK_COLUMNS: &str = "id, bucket, object_key, version_id, etag, file_name, size, \
    content_type, sha256, creator, created_at, expires_at, max_downloads, downloads, revoked, \
    label, policy, failed_attempts, locked_until, opened, upload_deadline";

fn add_missing_columns(connection: &Connection) -> Result<(), rusqlite::Error> {
    for (table, column, definition) in ADDED_COLUMNS {
        let present: bool = connection.query_row(
            &format!("SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
            params![column],
            |row| row.get(0),
        )?;
        if !present {
            connection.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {definition}"
            ))?;
        }
    }
    connection.execute_batch(INDEXES)
}

/// Link and audit records in SQLite.
#[derive(Clone)]
pub struct EmbeddedStore {
    connection: Arc<Mutex<Connection>>,
}

/// Creates `path` and its missing parents readable by the owner only (mode
/// 0700 on Unix), because the store contains the files being shared.
pub(crate) fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(path)
        .map_err(|e| StoreError::new("create data dir", e))
}

fn sqlite_error(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::new(operation, e)
}

/// Page cache of each SQLite connection, in KiB. SQLite's default is
/// 2,000 KiB, and a process that appends audit records fills it over
/// thousands of requests, which showed as resident memory growing by about
/// 180 KiB per 1,000 requests.
pub(crate) const SQLITE_CACHE_KIB: i64 = 256;

impl EmbeddedStore {
    /// Opens (creating if needed) `links.sqlite3` under `data_dir`.
    ///
    /// # Errors
    ///
    /// Fails when the folder or database cannot be created or opened.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        create_private_dir(data_dir)?;
        let connection = Connection::open(data_dir.join("links.sqlite3"))
            .map_err(sqlite_error("open sqlite"))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sqlite_error("set busy timeout"))?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite_error("enable wal"))?;
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite_error("set synchronous"))?;
        connection
            .pragma_update(None, "cache_size", -SQLITE_CACHE_KIB)
            .map_err(sqlite_error("set cache size"))?;
        connection
            .execute_batch(SCHEMA)
            .map_err(sqlite_error("create schema"))?;
        add_missing_columns(&connection).map_err(sqlite_error("migrate schema"))?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Deletes audit records past their retention and links that expired
    /// more than `retention_seconds` before `now`.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    pub async fn purge(&self, now: i64, retention_seconds: i64) -> Result<(), StoreError> {
        self.with("sqlite purge", move |c| {
            c.execute(
                "DELETE FROM audit WHERE retain_until > 0 AND retain_until < ?1",
                params![now],
            )?;
            c.execute(
                "DELETE FROM links WHERE expires_at + ?2 < ?1",
                params![now, retention_seconds],
            )
            .map(drop)
        })
        .await
    }

    async fn with<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let guard = connection
                .lock()
                .map_err(|_| StoreError::new(operation, "sqlite connection mutex poisoned"))?;
            work(&guard).map_err(sqlite_error(operation))
        })
        .await
        .map_err(|e| StoreError::new(operation, e))?
    }
}

fn row_to_link(row: &Row<'_>) -> Result<Link, rusqlite::Error> {
    let id: String = row.get(0)?;
    let link_id = LinkId::parse(&id).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("stored link id {id:?} is not a link id").into(),
        )
    })?;
    Ok(Link {
        id: link_id,
        object: ObjectRef {
            bucket: row.get(1)?,
            key: row.get(2)?,
            version_id: row.get(3)?,
            etag: row.get(4)?,
        },
        file_name: row.get(5)?,
        size: u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
        content_type: row.get(7)?,
        sha256: row.get(8)?,
        creator: row.get(9)?,
        created_at: row.get(10)?,
        expires_at: row.get(11)?,
        max_downloads: row.get(12)?,
        downloads: row.get(13)?,
        revoked: row.get(14)?,
        label: row.get(15)?,
        policy: serde_json::from_str(&row.get::<_, String>(16)?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(16, rusqlite::types::Type::Text, e.into())
        })?,
        activity: Activity {
            failed_attempts: row.get(17)?,
            locked_until: row.get(18)?,
            opened: row.get(19)?,
        },
        upload_deadline: row.get(20)?,
    })
}

#[async_trait]
impl LinkStore for EmbeddedStore {
    async fn insert(&self, link: &Link) -> Result<(), StoreError> {
        let link = link.clone();
        let policy = serde_json::to_string(&link.policy)
            .map_err(|e| StoreError::new("encode link policy", e))?;
        self.with("sqlite insert link", move |c| {
            c.execute(
                &format!(
                    "INSERT INTO links ({LINK_COLUMNS}, restricted) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
                     ?16, ?17, ?18, ?19, ?20, ?21, ?22)"
                ),
                params![
                    link.id.as_str(),
                    link.object.bucket,
                    link.object.key,
                    link.object.version_id,
                    link.object.etag,
                    link.file_name,
                    i64::try_from(link.size).unwrap_or(i64::MAX),
                    link.content_type,
                    link.sha256,
                    link.creator,
                    link.created_at,
                    link.expires_at,
                    link.max_downloads,
                    link.downloads,
                    link.revoked,
                    link.label,
                    policy,
                    link.activity.failed_attempts,
                    link.activity.locked_until,
                    link.activity.opened,
                    link.upload_deadline,
                    link.policy.is_restricted(),
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn get(&self, id: &LinkId) -> Result<Option<Link>, StoreError> {
        let id = id.as_str().to_owned();
        self.with("sqlite get link", move |c| {
            c.query_row(
                &format!("SELECT {LINK_COLUMNS} FROM links WHERE id = ?1"),
                params![id],
                row_to_link,
            )
            .optional()
        })
        .await
    }

    async fn consume_download(
        &self,
        id: &LinkId,
        file_name: &str,
        now: i64,
        restrictions_checked: bool,
    ) -> Result<Link, ConsumeError> {
        let id_text = id.as_str().to_owned();
        let name = file_name.to_owned();
        let updated = self
            .with("sqlite consume download", move |c| {
                c.query_row(
                    &format!(
                        "UPDATE links SET downloads = downloads + 1 \
                         WHERE id = ?1 AND file_name = ?2 AND revoked = 0 \
                         AND expires_at > ?3 AND downloads < max_downloads \
                         AND (restricted = 0 OR ?4) \
                         AND upload_deadline IS NULL \
                         RETURNING {LINK_COLUMNS}"
                    ),
                    params![id_text, name, now, restrictions_checked],
                    row_to_link,
                )
                .optional()
            })
            .await?;
        if let Some(link) = updated {
            return Ok(link);
        }
        let current = self.get(id).await?.ok_or(ConsumeError::NotFound)?;
        Err(classify_refusal(
            current,
            file_name,
            now,
            restrictions_checked,
        ))
    }

    async fn list_by_creator(
        &self,
        creator: &str,
        label: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Link>, StoreError> {
        let creator = creator.to_owned();
        let label = label.map(str::to_owned);
        let start = match after {
            Some(cursor) => {
                let (created, id) = cursor
                    .split_once(':')
                    .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, LinkId::parse(id)?)))
                    .ok_or_else(|| StoreError::new("sqlite list links", BadCursor))?;
                Some((created, id.as_str().to_owned()))
            }
            None => None,
        };
        self.with("sqlite list links", move |c| {
            let (created, id) = start.unwrap_or((i64::MAX, String::new()));
            let mut statement = c.prepare(&format!(
                "SELECT {LINK_COLUMNS} FROM links WHERE creator = ?1 \
                 AND (?2 IS NULL OR label = ?2) \
                 AND (created_at < ?3 OR (created_at = ?3 AND (?4 = '' OR id < ?4))) \
                 ORDER BY created_at DESC, id DESC LIMIT ?5"
            ))?;
            let rows = statement.query_map(
                params![creator, label, created, id, i64::from(limit) + 1],
                row_to_link,
            )?;
            let mut items = rows.collect::<Result<Vec<_>, _>>()?;
            let next = if items.len() > limit as usize {
                items.truncate(limit as usize);
                items.last().map(|l| format!("{}:{}", l.created_at, l.id))
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn record_password_failure(&self, id: &LinkId, now: i64) -> Result<Activity, StoreError> {
        let id = id.as_str().to_owned();
        self.with("sqlite record password failure", move |c| {
            c.query_row(
                "UPDATE links SET \
                 locked_until = CASE WHEN failed_attempts + 1 >= ?2 THEN ?3 ELSE locked_until END, \
                 failed_attempts = CASE WHEN failed_attempts + 1 >= ?2 THEN 0 \
                     ELSE failed_attempts + 1 END \
                 WHERE id = ?1 RETURNING failed_attempts, locked_until, opened",
                params![id, LOCK_AFTER_FAILURES, now + LOCK_SECONDS],
                |row| {
                    Ok(Activity {
                        failed_attempts: row.get(0)?,
                        locked_until: row.get(1)?,
                        opened: row.get(2)?,
                    })
                },
            )
        })
        .await
    }

    async fn clear_password_failures(&self, id: &LinkId) -> Result<(), StoreError> {
        let id = id.as_str().to_owned();
        self.with("sqlite clear password failures", move |c| {
            c.execute(
                "UPDATE links SET failed_attempts = 0 WHERE id = ?1 AND failed_attempts > 0",
                params![id],
            )
            .map(drop)
        })
        .await
    }

    async fn mark_opened(&self, id: &LinkId) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        self.with("sqlite mark opened", move |c| {
            c.execute(
                "UPDATE links SET opened = 1 WHERE id = ?1 AND opened = 0",
                params![id],
            )
            .map(|changed| changed > 0)
        })
        .await
    }

    async fn revoke(&self, id: &LinkId) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        self.with("sqlite revoke link", move |c| {
            c.execute("UPDATE links SET revoked = 1 WHERE id = ?1", params![id])
                .map(|changed| changed > 0)
        })
        .await
    }

    async fn complete_upload(
        &self,
        id: &LinkId,
        object: &ObjectRef,
        size: u64,
        sha256: &str,
    ) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        let object = object.clone();
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let sha256 = sha256.to_owned();
        self.with("sqlite complete upload", move |c| {
            c.execute(
                "UPDATE links SET object_key = ?2, version_id = ?3, etag = ?4, sha256 = ?5, \
                 upload_deadline = NULL \
                 WHERE id = ?1 AND upload_deadline IS NOT NULL AND revoked = 0 AND size = ?6",
                params![id, object.key, object.version_id, object.etag, sha256, size],
            )
            .map(|changed| changed > 0)
        })
        .await
    }

    async fn refund_download(&self, id: &LinkId) -> Result<(), StoreError> {
        let id = id.as_str().to_owned();
        self.with("sqlite refund download", move |c| {
            c.execute(
                "UPDATE links SET downloads = downloads - 1 WHERE id = ?1 AND downloads > 0",
                params![id],
            )
            .map(drop)
        })
        .await
    }
}

/// Explains why the atomic count did not happen, from the record read after.
pub(crate) fn classify_refusal(
    link: Link,
    file_name: &str,
    now: i64,
    restrictions_checked: bool,
) -> ConsumeError {
    if link.file_name != file_name {
        return ConsumeError::NameMismatch;
    }
    match link.state(now) {
        LinkState::Denied(denial) => ConsumeError::Denied(denial),
        LinkState::Pending => ConsumeError::Pending,
        LinkState::Active if link.policy.is_restricted() && !restrictions_checked => {
            ConsumeError::Restricted(Box::new(link))
        }
        // Another request took the last download between the update and the
        // read; from this request's side the link is used up.
        LinkState::Active => ConsumeError::Denied(Denial::UsedUp),
    }
}

#[async_trait]
impl AuditLog for EmbeddedStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let event = event.clone();
        self.with("sqlite insert audit", move |c| {
            c.execute(
                "INSERT INTO audit (link_id, at_ms, action, reason, source_ip, user_agent, \
                 token_fingerprint, retain_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    event.link_id.as_str(),
                    event.at_ms,
                    event.action.code(),
                    event.reason,
                    event.source_ip,
                    event.user_agent,
                    event.token_fingerprint,
                    event.retain_until,
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn list(&self, id: &LinkId) -> Result<Vec<AuditEvent>, StoreError> {
        let link_id = id.clone();
        self.with("sqlite list audit", move |c| {
            let mut statement = c.prepare(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit WHERE link_id = ?1 ORDER BY seq"
            ))?;
            let rows = statement
                .query_map(params![link_id.as_str()], |row| row_to_event(&link_id, row))?;
            rows.collect()
        })
        .await
    }

    async fn page(
        &self,
        id: &LinkId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Page<AuditEvent>, StoreError> {
        let link_id = id.clone();
        let before = match before {
            Some(cursor) => cursor
                .parse::<i64>()
                .map_err(|_| StoreError::new("sqlite page audit", BadCursor))?,
            None => i64::MAX,
        };
        let checked = before != i64::MAX;
        self.with("sqlite page audit", move |c| {
            // A cursor is the sequence number of a record of this link;
            // any other number was not made here.
            if checked {
                let known: bool = c.query_row(
                    "SELECT COUNT(*) > 0 FROM audit WHERE link_id = ?1 AND seq = ?2",
                    params![link_id.as_str(), before],
                    |row| row.get(0),
                )?;
                if !known {
                    return Ok(None);
                }
            }
            let mut statement = c.prepare(&format!(
                "SELECT {AUDIT_COLUMNS}, seq FROM audit WHERE link_id = ?1 AND seq < ?2 \
                 ORDER BY seq DESC LIMIT ?3"
            ))?;
            let rows = statement.query_map(
                params![link_id.as_str(), before, i64::from(limit) + 1],
                |row| Ok((row_to_event(&link_id, row)?, row.get::<_, i64>(7)?)),
            )?;
            let mut rows = rows.collect::<Result<Vec<_>, _>>()?;
            let next = if rows.len() > limit as usize {
                rows.truncate(limit as usize);
                rows.last().map(|(_, seq)| seq.to_string())
            } else {
                None
            };
            Ok(Some(Page {
                items: rows.into_iter().map(|(event, _)| event).collect(),
                next,
            }))
        })
        .await?
        .ok_or_else(|| StoreError::new("sqlite page audit", BadCursor))
    }
}

const AUDIT_COLUMNS: &str =
    "at_ms, action, reason, source_ip, user_agent, token_fingerprint, retain_until";

fn row_to_event(link_id: &LinkId, row: &Row<'_>) -> Result<AuditEvent, rusqlite::Error> {
    let action: String = row.get(1)?;
    Ok(AuditEvent {
        link_id: link_id.clone(),
        at_ms: row.get(0)?,
        action: AuditAction::from_code(&action).unwrap_or(AuditAction::Denied),
        reason: row.get(2)?,
        source_ip: row.get(3)?,
        user_agent: row.get(4)?,
        token_fingerprint: row.get(5)?,
        retain_until: row.get(6)?,
    })
}

/// File bytes in a folder, one file per object plus a small metadata file.
#[derive(Clone, Debug)]
pub struct EmbeddedObjects {
    root: PathBuf,
    urls: UrlSigner,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ObjectMeta {
    key: String,
    content_type: String,
    /// SHA-256 of the bytes, recorded by the writer; absent in objects
    /// written by older versions.
    #[serde(default)]
    sha256: Option<String>,
}

/// An object opened for streaming.
#[derive(Debug)]
pub struct OpenObject {
    /// The file, positioned at its start.
    pub file: tokio::fs::File,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 the writer recorded, if any.
    pub sha256: Option<String>,
}

/// Reason a streamed upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PutStreamError {
    /// The body is longer than allowed.
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The body could not be read from the client.
    #[error("reading the body failed: {0}")]
    Body(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Size of the chunks a file is hashed and streamed in.
const CHUNK_BYTES: usize = 256 * 1024;

impl EmbeddedObjects {
    /// Uses `data_dir/objects`, creating it if needed, and the URL key in
    /// `data_dir/object-url-key`.
    ///
    /// # Errors
    ///
    /// Fails when the folder or the URL key cannot be created.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let root = data_dir.join("objects");
        create_private_dir(&root)?;
        Ok(Self {
            root,
            urls: UrlSigner::open(data_dir)?,
        })
    }

    /// Returns the signer of this store's download and upload URLs.
    pub fn urls(&self) -> &UrlSigner {
        &self.urls
    }

    fn path_for(&self, key: &str) -> PathBuf {
        let digest = Sha256::digest(format!("{EMBEDDED_BUCKET}/{key}").as_bytes());
        self.root.join(hex::encode(digest))
    }

    async fn read_meta(&self, path: &Path) -> Result<Option<ObjectMeta>, StoreError> {
        match tokio::fs::read(path.with_extension("json")).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::new("parse object metadata", e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::new("read object metadata", e)),
        }
    }

    /// Opens the object `key` for streaming, or returns `None` when there is
    /// no such object.
    ///
    /// # Errors
    ///
    /// Returns the file system's failure.
    pub async fn open_object(&self, key: &str) -> Result<Option<OpenObject>, StoreError> {
        let path = self.path_for(key);
        let Some(meta) = self.read_meta(&path).await? else {
            return Ok(None);
        };
        if meta.key != key {
            return Ok(None);
        }
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::new("open object", e)),
        };
        let size = file
            .metadata()
            .await
            .map_err(|e| StoreError::new("read object size", e))?
            .len();
        Ok(Some(OpenObject {
            file,
            size,
            sha256: meta.sha256,
        }))
    }

    /// Writes the chunks of `body` to the object `key` while hashing them,
    /// holding one chunk in memory at a time. A body of more than
    /// `max_bytes` is rejected and nothing is stored.
    ///
    /// # Errors
    ///
    /// [`PutStreamError::TooLarge`] over the limit, `Body` when the stream
    /// fails, `Store` when the file system does.
    pub async fn put_stream<S, E>(
        &self,
        key: &str,
        content_type: &str,
        max_bytes: u64,
        mut body: S,
    ) -> Result<ObjectInfo, PutStreamError>
    where
        S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;

        let path = self.path_for(key);
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let temp_data = path.with_extension(format!("tmp-{suffix}"));
        let written = async {
            let mut file = tokio::fs::File::create(&temp_data)
                .await
                .map_err(|e| StoreError::new("create object", e))?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| PutStreamError::Body(e.to_string()))?;
                size += chunk.len() as u64;
                if size > max_bytes {
                    return Err(PutStreamError::TooLarge { limit: max_bytes });
                }
                hasher.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(|e| StoreError::new("write object", e))?;
            }
            file.sync_all()
                .await
                .map_err(|e| StoreError::new("sync object", e))?;
            Ok((size, hex::encode(hasher.finalize())))
        }
        .await;
        let (size, sha256) = match written {
            Ok(done) => done,
            Err(error) => {
                let _ = tokio::fs::remove_file(&temp_data).await;
                return Err(error);
            }
        };
        let meta = ObjectMeta {
            key: key.to_owned(),
            content_type: content_type.to_owned(),
            sha256: Some(sha256.clone()),
        };
        if let Err(error) = self.place(&path, &temp_data, &meta).await {
            let _ = tokio::fs::remove_file(&temp_data).await;
            return Err(error.into());
        }
        Ok(ObjectInfo {
            object: ObjectRef {
                bucket: EMBEDDED_BUCKET.to_owned(),
                key: key.to_owned(),
                version_id: None,
                etag: Some(sha256.clone()),
            },
            size,
            content_type: Some(content_type.to_owned()),
            sha256,
        })
    }

    /// Writes the metadata and renames the finished data file into place,
    /// so a reader never sees half a file.
    async fn place(
        &self,
        path: &Path,
        temp_data: &Path,
        meta: &ObjectMeta,
    ) -> Result<(), StoreError> {
        let encoded =
            serde_json::to_vec(meta).map_err(|e| StoreError::new("encode object metadata", e))?;
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let temp_meta = path.with_extension(format!("meta-{suffix}"));
        let result = async {
            tokio::fs::write(&temp_meta, &encoded).await?;
            tokio::fs::rename(&temp_meta, path.with_extension("json")).await?;
            tokio::fs::rename(temp_data, path).await
        }
        .await;
        if let Err(error) = result {
            let _ = tokio::fs::remove_file(&temp_meta).await;
            return Err(StoreError::new("write object", error));
        }
        Ok(())
    }
}

/// Returns the size and SHA-256 of the file at `path`, read in chunks so
/// that memory stays flat whatever its size, or `None` when it is missing.
async fn hash_file(path: PathBuf) -> Result<Option<(u64, String)>, StoreError> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::new("open object", e)),
        };
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; CHUNK_BYTES];
        let mut size = 0u64;
        loop {
            let read = file
                .read(&mut buffer)
                .map_err(|e| StoreError::new("read object", e))?;
            if read == 0 {
                break;
            }
            size += read as u64;
            hasher.update(&buffer[..read]);
        }
        Ok(Some((size, hex::encode(hasher.finalize()))))
    })
    .await
    .map_err(|e| StoreError::new("hash object", e))?
}

#[async_trait]
impl ObjectStore for EmbeddedObjects {
    fn bucket(&self) -> &str {
        EMBEDDED_BUCKET
    }

    async fn put(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<ObjectInfo, StoreError> {
        let path = self.path_for(key);
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let size = bytes.len() as u64;
        // Write to a temporary name and rename, so a reader never sees half
        // a file and a crash leaves no object under the real name.
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let temp_data = path.with_extension(format!("tmp-{suffix}"));
        // `tokio::fs::write` would copy the bytes for its blocking thread;
        // a clone of `Bytes` shares them instead.
        let shared_bytes = bytes.clone();
        let target = temp_data.clone();
        let written = tokio::task::spawn_blocking(move || std::fs::write(target, &shared_bytes))
            .await
            .unwrap_or_else(|join| Err(std::io::Error::other(join)));
        if let Err(error) = written {
            let _ = tokio::fs::remove_file(&temp_data).await;
            return Err(StoreError::new("write object", error));
        }
        let meta = ObjectMeta {
            key: key.to_owned(),
            content_type: content_type.to_owned(),
            sha256: Some(sha256.clone()),
        };
        if let Err(error) = self.place(&path, &temp_data, &meta).await {
            let _ = tokio::fs::remove_file(&temp_data).await;
            return Err(error);
        }
        Ok(ObjectInfo {
            object: ObjectRef {
                bucket: EMBEDDED_BUCKET.to_owned(),
                key: key.to_owned(),
                version_id: None,
                etag: Some(sha256.clone()),
            },
            size,
            content_type: Some(content_type.to_owned()),
            sha256,
        })
    }

    async fn describe(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        if bucket != EMBEDDED_BUCKET {
            return Ok(None);
        }
        let path = self.path_for(key);
        let Some(meta) = self.read_meta(&path).await? else {
            return Ok(None);
        };
        if meta.key != key {
            return Ok(None);
        }
        let Some((size, sha256)) = hash_file(path).await? else {
            return Ok(None);
        };
        Ok(Some(ObjectInfo {
            object: ObjectRef {
                bucket: EMBEDDED_BUCKET.to_owned(),
                key: key.to_owned(),
                version_id: None,
                etag: Some(sha256.clone()),
            },
            size,
            content_type: Some(meta.content_type),
            sha256,
        }))
    }

    async fn get(&self, object: &ObjectRef) -> Result<Option<Bytes>, StoreError> {
        if object.bucket != EMBEDDED_BUCKET {
            return Ok(None);
        }
        let bytes = match tokio::fs::read(self.path_for(&object.key)).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::new("read object", e)),
        };
        // The ETag of an embedded object is its SHA-256, so this check pins
        // the download to the exact bytes the link was made for.
        if let Some(etag) = &object.etag
            && hex::encode(Sha256::digest(&bytes)) != *etag
        {
            tracing::warn!(key_hash = %crate::secret::fingerprint(object.key.as_bytes()),
                "object changed since the link was made");
            return Ok(None);
        }
        Ok(Some(Bytes::from(bytes)))
    }

    async fn presign_download(
        &self,
        object: &ObjectRef,
        content_disposition: &str,
        content_type: &str,
        ttl_seconds: u64,
    ) -> Result<Option<PresignedUrl>, StoreError> {
        if object.bucket != EMBEDDED_BUCKET {
            return Ok(None);
        }
        let grant = DownloadGrant {
            key: object.key.clone(),
            etag: object.etag.clone(),
            disposition: content_disposition.to_owned(),
            content_type: content_type.to_owned(),
            expires: SystemClock.now() + i64::try_from(ttl_seconds).unwrap_or(60),
        };
        Ok(Some(PresignedUrl::new(self.urls.download_url(&grant))))
    }

    async fn presign_upload(
        &self,
        key: &str,
        max_bytes: u64,
        ttl_seconds: u64,
    ) -> Result<PresignedUpload, StoreError> {
        let grant = UploadGrant {
            key: key.to_owned(),
            max_bytes,
            expires: SystemClock.now() + i64::try_from(ttl_seconds).unwrap_or(60),
        };
        Ok(PresignedUpload {
            url: PresignedUrl::new(self.urls.upload_url(&grant)),
            method: "PUT",
            headers: Vec::new(),
        })
    }

    async fn move_object(
        &self,
        from_key: &str,
        to_key: &str,
    ) -> Result<Option<ObjectRef>, StoreError> {
        let from = self.path_for(from_key);
        let Some(meta) = self.read_meta(&from).await? else {
            return Ok(None);
        };
        if meta.key != from_key {
            return Ok(None);
        }
        // Claim the data file first with a rename, which only one of two
        // concurrent movers can win.
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let to = self.path_for(to_key);
        let claimed = to.with_extension(format!("tmp-{suffix}"));
        match tokio::fs::rename(&from, &claimed).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::new("move object", e)),
        }
        let moved = ObjectMeta {
            key: to_key.to_owned(),
            content_type: meta.content_type,
            sha256: meta.sha256,
        };
        if let Err(error) = self.place(&to, &claimed, &moved).await {
            let _ = tokio::fs::remove_file(&claimed).await;
            return Err(error);
        }
        let _ = tokio::fs::remove_file(from.with_extension("json")).await;
        Ok(Some(ObjectRef {
            bucket: EMBEDDED_BUCKET.to_owned(),
            key: to_key.to_owned(),
            version_id: None,
            etag: moved.sha256,
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_for(key);
        for target in [path.with_extension("json"), path] {
            match tokio::fs::remove_file(&target).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::new("delete object", e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn link(max_downloads: u32) -> Link {
        Link {
            id: LinkId::generate(),
            object: ObjectRef {
                bucket: EMBEDDED_BUCKET.into(),
                key: "k".into(),
                version_id: None,
                etag: None,
            },
            file_name: "a.bin".into(),
            size: 1,
            content_type: "application/octet-stream".into(),
            sha256: String::new(),
            creator: "c".into(),
            created_at: 0,
            expires_at: 100,
            max_downloads,
            downloads: 0,
            revoked: false,
            label: None,
            policy: crate::domain::Policy::default(),
            activity: Activity::default(),
            upload_deadline: None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any sequence of downloads and refunds at any times leaves the
        /// store's count equal to a simple counter model's.
        #[test]
        fn download_count_follows_the_model(
            max in 1u32..5,
            steps in proptest::collection::vec((0i64..200, any::<bool>()), 1..25),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build();
            let runtime = runtime.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
            runtime.block_on(async {
                let store = EmbeddedStore::open(dir.path())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let link = link(max);
                store.insert(&link).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                let mut model = 0u32;
                for (now, refund) in steps {
                    if refund {
                        store.refund_download(&link.id).await
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        model = model.saturating_sub(1);
                        continue;
                    }
                    let result = store.consume_download(&link.id, "a.bin", now, false).await;
                    let allowed = now < 100 && model < max;
                    prop_assert_eq!(result.is_ok(), allowed, "now {} model {}", now, model);
                    if allowed {
                        model += 1;
                    } else if now >= 100 {
                        prop_assert!(matches!(result, Err(ConsumeError::Denied(Denial::Expired))));
                    } else {
                        prop_assert!(matches!(result, Err(ConsumeError::Denied(Denial::UsedUp))));
                    }
                }
                let stored = store.get(&link.id).await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(stored.map(|l| l.downloads), Some(model));
                Ok(())
            })?;
        }
    }

    #[tokio::test]
    async fn purge_removes_only_records_past_retention() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = EmbeddedStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let old = link(1);
        let mut recent = link(1);
        recent.expires_at = 10_000;
        for (candidate, retain_until) in [(&old, 150), (&recent, 20_000)] {
            store
                .insert(candidate)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let event = AuditEvent {
                link_id: candidate.id.clone(),
                at_ms: 0,
                action: AuditAction::View,
                reason: None,
                source_ip: "192.0.2.1".into(),
                user_agent: String::new(),
                token_fingerprint: "0123456789abcdef".into(),
                retain_until,
            };
            store.record(&event).await.unwrap_or_else(|e| panic!("{e}"));
        }

        // The old link expired at 100 and is kept 50 seconds; now is 200.
        store.purge(200, 50).await.unwrap_or_else(|e| panic!("{e}"));

        let gone = store.get(&old.id).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(gone.is_none());
        let kept = store
            .get(&recent.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(kept.is_some());
        let old_events = store.list(&old.id).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(old_events.is_empty());
        let recent_events = store
            .list(&recent.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(recent_events.len(), 1);
    }

    #[tokio::test]
    async fn wrong_name_is_refused_without_counting() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = EmbeddedStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let link = link(1);
        store.insert(&link).await.unwrap_or_else(|e| panic!("{e}"));
        let result = store.consume_download(&link.id, "b.bin", 1, false).await;
        assert!(matches!(result, Err(ConsumeError::NameMismatch)));
        let stored = store.get(&link.id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stored.map(|l| l.downloads), Some(0));
    }
}
