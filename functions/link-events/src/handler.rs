//! The link-events function: links made by other AWS services.
//!
//! It takes three kinds of event:
//!
//! - An S3 "Object Created" event from EventBridge (what `template.yaml`
//!   wires) or an S3 event notification (`Records`), for the product's
//!   bucket. A key under `pending/` finalises a large upload from
//!   `/upload-url`. A key `inbox/{creator}/.../{file}` gets a link owned by
//!   `{creator}` (an API key id) with `DEFAULT_EXPIRE_MINUTES`, one
//!   download, and the path below `inbox/{creator}/` as its label. Other keys are ignored. The result lists link ids only: the
//!   creator gets the link from `GET /links`, which signs its token again,
//!   so no token is written anywhere.
//! - A direct invocation (Step Functions, EventBridge Scheduler, another
//!   Lambda) with `{"bucket", "key", "expire_minutes"}` and the optional
//!   `max_downloads`, `filename`, `label` and `creator`. It returns the same JSON as
//!   `/generate-link`, token included, to the invoker only.

use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::App;
use shared::api::LinkCreated;
use shared::domain::{ParamError, parse_label};
use shared::file_url::parse_file_url;
use shared::http::ApiError;
use shared::options::LinkOptions;
use shared::service::{self, LinkRequest};
use shared::uploads::{self, Finalised, PENDING_PREFIX};

/// Key prefix of inbox drops: `inbox/{creator}/...`.
pub const INBOX_PREFIX: &str = "inbox/";

/// Creator of a directly invoked link that names none.
pub const DEFAULT_CREATOR: &str = "link-events";

/// Failure that makes the invocation fail, so that Lambda retries an
/// asynchronous event and a workflow sees the error.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The event is not one this function takes.
    #[error("unrecognised event: {0}")]
    Unrecognised(&'static str),
    /// A direct invocation was rejected; the text is the API's error code
    /// and message.
    #[error("{code}: {message}")]
    Rejected {
        /// The API's error code, such as `invalid_parameter`.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A store failed.
    #[error("a store failed while handling {0}")]
    Store(String),
}

impl From<ApiError> for EventError {
    fn from(error: ApiError) -> Self {
        Self::Rejected {
            code: error.code(),
            message: match &error {
                ApiError::Invalid(param) => format!("{} {}", param.field, param.message),
                other => other.to_string(),
            },
        }
    }
}

impl From<EventError> for lambda_runtime::Diagnostic {
    /// Reports the API's error code (or `unrecognised_event`,
    /// `internal_error`) as the Lambda error type, so a workflow can match
    /// on it.
    fn from(error: EventError) -> Self {
        let error_type = match &error {
            EventError::Unrecognised(_) => "unrecognised_event",
            EventError::Rejected { code, .. } => code,
            EventError::Store(_) => "internal_error",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// One object that was created.
#[derive(Debug, PartialEq, Eq)]
pub struct CreatedObject {
    /// Bucket name.
    pub bucket: String,
    /// Object key, decoded.
    pub key: String,
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records")]
    records: Vec<NotificationRecord>,
}

#[derive(Deserialize)]
struct NotificationRecord {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: NotificationEntity,
}

#[derive(Deserialize)]
struct NotificationEntity {
    bucket: Named,
    object: Keyed,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Keyed {
    key: String,
}

#[derive(Deserialize)]
struct BridgeEvent {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: NotificationEntity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectRequest {
    bucket: String,
    key: String,
    expire_minutes: Option<i64>,
    max_downloads: Option<i64>,
    filename: Option<String>,
    creator: Option<String>,
    label: Option<String>,
}

/// Returns the objects an S3 event names as created, or `None` when the
/// payload is not an S3 event.
///
/// Keys in S3 event notifications are URL-encoded with `+` for a space.
/// Keys in EventBridge events are taken as they are. NOTE: that follows
/// the examples in the S3 EventBridge documentation, where a key with `:`
/// arrives unencoded; it has not been checked against a live bucket.
pub fn created_objects(payload: &Value) -> Option<Vec<CreatedObject>> {
    if payload.get("Records").is_some() {
        let notification: Notification = serde_json::from_value(payload.clone()).ok()?;
        let objects = notification
            .records
            .into_iter()
            .filter(|record| record.event_name.starts_with("ObjectCreated:"))
            .filter_map(|record| {
                let plus_as_space = record.s3.object.key.replace('+', " ");
                let key = percent_decode_str(&plus_as_space).decode_utf8().ok()?;
                Some(CreatedObject {
                    bucket: record.s3.bucket.name,
                    key: key.into_owned(),
                })
            })
            .collect();
        return Some(objects);
    }
    if payload.get("detail-type").is_some() {
        let event: BridgeEvent = serde_json::from_value(payload.clone()).ok()?;
        if event.source != "aws.s3" || event.detail_type != "Object Created" {
            return Some(Vec::new());
        }
        return Some(vec![CreatedObject {
            bucket: event.detail.bucket.name,
            key: event.detail.object.key,
        }]);
    }
    None
}

/// Handles one invocation.
///
/// # Errors
///
/// Fails for a payload that is neither an S3 event nor a direct request, a
/// rejected direct request, or a store failure.
#[tracing::instrument(skip_all, fields(route = "link-events"))]
pub async fn handle(app: &App, payload: Value) -> Result<Value, EventError> {
    if let Some(objects) = created_objects(&payload) {
        let mut results = Vec::new();
        for object in objects {
            results.push(handle_object(app, &object).await?);
        }
        return Ok(json!({"status": "processed", "results": results}));
    }
    if payload.get("bucket").is_some() {
        return create_direct(app, payload).await;
    }
    Err(EventError::Unrecognised(
        "expected an S3 event or {\"bucket\", \"key\", \"expire_minutes\"}",
    ))
}

async fn handle_object(app: &App, object: &CreatedObject) -> Result<Value, EventError> {
    if object.bucket != app.objects.bucket() {
        tracing::warn!(bucket = %object.bucket, "ignored an event for another bucket");
        return Ok(json!({"outcome": "ignored"}));
    }
    if object.key.starts_with(PENDING_PREFIX) {
        let outcome = uploads::finalise_upload(app, &object.key)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, cause = %e.source, "finalising an upload failed");
                EventError::Store(format!("a pending upload ({e})"))
            })?;
        return Ok(match outcome {
            Finalised::Completed(link) => {
                json!({"outcome": "finalised", "link_id": link.id.as_str()})
            }
            Finalised::AlreadyDone => json!({"outcome": "already_finalised"}),
            Finalised::NotArrived => json!({"outcome": "not_arrived"}),
            Finalised::Rejected(reason) => json!({"outcome": "rejected", "reason": reason}),
            Finalised::Ignored => json!({"outcome": "ignored"}),
        });
    }
    if let Some(creator) = inbox_creator(&object.key) {
        return create_inbox_link(app, creator, object).await;
    }
    Ok(json!({"outcome": "ignored"}))
}

/// Returns the creator an inbox key names: `inbox/{creator}/.../{file}`,
/// where the creator is an API key id of 1 to 128 letters, digits, `-` or
/// `_`.
pub fn inbox_creator(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(INBOX_PREFIX)?;
    let (creator, path) = rest.split_once('/')?;
    let valid = !creator.is_empty()
        && creator.len() <= 128
        && creator
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (valid && !path.is_empty() && !path.ends_with('/')).then_some(creator)
}

async fn create_inbox_link(
    app: &App,
    creator: &str,
    object: &CreatedObject,
) -> Result<Value, EventError> {
    // The label is the path below the creator's folder, so that the owner
    // finds the link with GET /links?label=PATH.
    let path = object
        .key
        .strip_prefix(INBOX_PREFIX)
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, path)| path)
        .unwrap_or_default();
    let request = LinkRequest {
        file_url: format!("s3://{}/{}", object.bucket, object.key),
        expire_minutes: i64::from(app.config.default_expire_minutes),
        max_downloads: None,
        filename: None,
        options: LinkOptions {
            label: parse_label(path).ok(),
            ..LinkOptions::default()
        },
    };
    match service::create_link(app, creator, request).await {
        Ok(created) => {
            // The token goes nowhere: the owner reads the link back with
            // GET /links, which signs it again.
            tracing::info!(link_id = %created.link.id, creator, "inbox link created");
            Ok(json!({"outcome": "link_created", "link_id": created.link.id.as_str()}))
        }
        Err(ApiError::Internal) => Err(EventError::Store("an inbox object".into())),
        Err(rejected) => {
            // A bad name or a vanished object will not get better on retry.
            tracing::warn!(creator, error = %rejected, "inbox object rejected");
            Ok(json!({"outcome": "rejected", "reason": rejected.code()}))
        }
    }
}

async fn create_direct(app: &App, payload: Value) -> Result<Value, EventError> {
    let request: DirectRequest = serde_json::from_value(payload).map_err(|e| {
        EventError::from(ApiError::from(ParamError::new(
            "event",
            format!("is not a valid direct request: {e}"),
        )))
    })?;
    let expire_minutes = request
        .expire_minutes
        .ok_or_else(|| ParamError::new("expire_minutes", "is required"))
        .map_err(ApiError::from)?;
    let file_url = format!("s3://{}/{}", request.bucket, request.key);
    // The invoker's own mistakes (a bucket outside the allowed ones, a
    // missing object) are reported before the missing setting. The check
    // creates nothing, so no link is left without a returned token.
    let location = parse_file_url(&file_url, app.objects.bucket(), &app.config.allowed_buckets)
        .map_err(ApiError::from)?;
    let found = app
        .objects
        .describe(&location.bucket, &location.key)
        .await
        .map_err(|error| {
            tracing::error!(%error, "checking the object of a direct invocation failed");
            EventError::Store("the object of a direct invocation".into())
        })?;
    if found.is_none() {
        return Err(ApiError::from(ParamError::new("file_url", "names no existing object")).into());
    }
    let base = app.config.public_base_url.clone().ok_or_else(|| {
        tracing::error!("direct invocation rejected: PUBLIC_BASE_URL is not set");
        EventError::from(ApiError::from(ParamError::new(
            "PUBLIC_BASE_URL",
            "must be set for direct invocations, which have no request to take it from",
        )))
    })?;
    let creator = request.creator.as_deref().unwrap_or(DEFAULT_CREATOR);
    let link_request = LinkRequest {
        file_url,
        expire_minutes,
        max_downloads: request.max_downloads,
        filename: request.filename,
        options: LinkOptions {
            label: request.label,
            ..LinkOptions::default()
        },
    };
    let created = service::create_link(app, creator, link_request).await?;
    tracing::info!(link_id = %created.link.id, creator, "link created by direct invocation");
    let body = LinkCreated::new(&created, &base, "success", None);
    serde_json::to_value(&body).map_err(|error| {
        tracing::error!(%error, "encoding the created link failed");
        EventError::Store(format!("encoding the created link: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_key_names_its_creator() {
        assert_eq!(inbox_creator("inbox/key-1f/report.pdf"), Some("key-1f"));
        assert_eq!(inbox_creator("inbox/abc_9/2025/12/r.pdf"), Some("abc_9"));
        assert_eq!(inbox_creator("inbox//report.pdf"), None);
        assert_eq!(inbox_creator("inbox/a b/report.pdf"), None);
        assert_eq!(inbox_creator("inbox/key/"), None);
        assert_eq!(inbox_creator("inbox/key"), None);
        assert_eq!(inbox_creator("uploads/key/report.pdf"), None);
    }

    #[test]
    fn notification_keys_are_decoded() {
        let payload = json!({"Records": [
            {"eventName": "ObjectCreated:Put",
             "s3": {"bucket": {"name": "b"}, "object": {"key": "inbox/k/Q3+report%C3%BC.pdf"}}},
            {"eventName": "ObjectRemoved:Delete",
             "s3": {"bucket": {"name": "b"}, "object": {"key": "inbox/k/gone.pdf"}}}
        ]});
        assert_eq!(
            created_objects(&payload),
            Some(vec![CreatedObject {
                bucket: "b".into(),
                key: "inbox/k/Q3 reportü.pdf".into()
            }])
        );
    }

    #[test]
    fn eventbridge_keys_are_taken_as_they_are() {
        let payload = json!({"source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "inbox/k/a+b.pdf"}}});
        let objects = created_objects(&payload).unwrap_or_default();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].key, "inbox/k/a+b.pdf");
    }

    #[test]
    fn direct_request_is_not_an_s3_event() {
        let payload = json!({"bucket": "b", "key": "k", "expire_minutes": 5});
        assert_eq!(created_objects(&payload), None);
    }
}
