//! Notifications to a link's creator: when a link with `notify` set is
//! opened for the first time, and when its last download is served.
//!
//! On AWS each notice is an EventBridge event on the bus `EVENT_BUS_NAME`,
//! with source `link-service` and detail type `Link first opened` or
//! `Link used up`, so that a rule can route it to e-mail (SNS), chat, a
//! queue or a Step Functions workflow. The embedded store appends the same
//! detail as one JSON line to `notifications.jsonl` in its data folder.
//!
//! The detail never contains a token:
//!
//! ```json
//! {"event": "first_opened", "link_id": "9e2a...", "creator": "key-...",
//!  "label": "INC-7", "filename": "report.pdf", "at": "2026-12-04T17:15:57Z",
//!  "downloads": 0, "max_downloads": 1}
//! ```
//!
//! A failed notification is logged and does not fail the request that
//! caused it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::App;
use crate::adapters::aws_json::JsonApi;
use crate::adapters::sdk::AwsSettings;
use crate::domain::Link;
use crate::ports::StoreError;

/// Source of every event the service puts on the bus.
pub const EVENT_SOURCE: &str = "link-service";

/// Kind of event that happened to the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The link was opened for the first time.
    FirstOpened,
    /// The last allowed download was served.
    UsedUp,
}

impl Kind {
    /// Returns the code in the event's `event` field.
    pub fn code(self) -> &'static str {
        match self {
            Self::FirstOpened => "first_opened",
            Self::UsedUp => "used_up",
        }
    }

    /// Returns the EventBridge detail type.
    pub fn detail_type(self) -> &'static str {
        match self {
            Self::FirstOpened => "Link first opened",
            Self::UsedUp => "Link used up",
        }
    }
}

/// The detail of one notification.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Notice {
    /// [`Kind::code`].
    pub event: &'static str,
    /// The link.
    pub link_id: String,
    /// The creator's API key id.
    pub creator: String,
    /// The creator's label, if any.
    pub label: Option<String>,
    /// The file name.
    pub filename: String,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Downloads served so far.
    pub downloads: u32,
    /// Download limit.
    pub max_downloads: u32,
}

impl Notice {
    /// Builds the notice of `kind` for `link` at Unix seconds `now`.
    pub fn new(link: &Link, kind: Kind, now: i64) -> Self {
        Self {
            event: kind.code(),
            link_id: link.id.to_string(),
            creator: link.creator.clone(),
            label: link.label.clone(),
            filename: link.file_name.clone(),
            at: crate::service::rfc3339(now),
            downloads: link.downloads,
            max_downloads: link.max_downloads,
        }
    }
}

/// Destination of notices.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Sends one notice.
    ///
    /// # Errors
    ///
    /// Returns the transport's failure.
    async fn send(&self, kind: Kind, notice: &Notice) -> Result<(), StoreError>;
}

/// Sends the notice of `kind` for `link`, when the service has a notifier.
/// Failures are logged, never returned.
pub async fn announce(app: &App, link: &Link, kind: Kind) {
    let Some(notifier) = &app.notifier else {
        return;
    };
    let notice = Notice::new(link, kind, app.clock.now());
    match notifier.send(kind, &notice).await {
        Ok(()) => tracing::info!(link_id = %link.id, event = kind.code(), "notification sent"),
        Err(error) => tracing::error!(link_id = %link.id, event = kind.code(), %error,
            "sending a notification failed"),
    }
}

/// Notices as events on an EventBridge bus.
#[derive(Clone, Debug)]
pub struct EventBridgeNotifier {
    api: JsonApi,
    bus: String,
}

impl EventBridgeNotifier {
    /// Puts events on `bus` with the credentials and endpoint of
    /// `settings`.
    pub fn new(settings: &AwsSettings, bus: impl Into<String>) -> Self {
        Self {
            api: JsonApi::eventbridge(settings),
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl Notifier for EventBridgeNotifier {
    async fn send(&self, kind: Kind, notice: &Notice) -> Result<(), StoreError> {
        let detail =
            serde_json::to_string(notice).map_err(|e| StoreError::new("encode notification", e))?;
        let input = serde_json::json!({
            "Entries": [{
                "EventBusName": self.bus,
                "Source": EVENT_SOURCE,
                "DetailType": kind.detail_type(),
                "Detail": detail,
            }]
        });
        let output = self
            .api
            .call("PutEvents", &input)
            .await
            .map_err(|e| StoreError::new("eventbridge put_events", e))?;
        if output["FailedEntryCount"].as_u64().unwrap_or(0) > 0 {
            return Err(StoreError::new(
                "eventbridge put_events",
                "the bus refused the event",
            ));
        }
        Ok(())
    }
}

/// Notices as JSON lines in a file, for the embedded store.
#[derive(Clone, Debug)]
pub struct FileNotifier {
    path: PathBuf,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl FileNotifier {
    /// Appends to `notifications.jsonl` in `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("notifications.jsonl"),
            lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Returns the file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl Notifier for FileNotifier {
    async fn send(&self, _kind: Kind, notice: &Notice) -> Result<(), StoreError> {
        let mut line =
            serde_json::to_vec(notice).map_err(|e| StoreError::new("encode notification", e))?;
        line.push(b'\n');
        let _guard = self.lock.lock().await;
        let mut options = tokio::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options
            .open(&self.path)
            .await
            .map_err(|e| StoreError::new("open notifications file", e))?;
        file.write_all(&line)
            .await
            .map_err(|e| StoreError::new("write notification", e))
    }
}
