//! Large uploads: a link whose bytes go straight to storage through a
//! presigned URL, never through a function.
//!
//! `/upload-url` stores a pending link for the key `pending/{link_id}/{name}`
//! and returns a presigned `PUT` URL for that key. The link returns 409
//! `pending` until [`finalise_upload`] has moved the object to
//! `uploads/{link_id}/{name}`, hashed it and recorded its size and SHA-256.
//! The finaliser runs on the storage event for `pending/` (the link-events
//! function on AWS, the upload route of the local server), and as a fallback
//! when `/access` or `/files` meets a pending link.
//!
//! The upload URL lives `UPLOAD_URL_MINUTES` (at most the link's lifetime).
//! A transfer that started in time may finish up to
//! [`UPLOAD_FINISH_SECONDS`] later; from then on the link is refused as
//! expired and an object that still arrives is deleted.

use crate::App;
use crate::domain::{
    AuditAction, AuditEvent, FileName, Link, LinkId, LinkState, ObjectRef, ParamError,
    content_type_for,
};
use crate::http::ApiError;
use crate::options::LinkOptions;
use crate::ports::{PresignedUpload, StoreError};
use crate::service::{Created, FileFacts, issue_links, plan};

/// Key prefix of objects that wait to be finalised.
pub const PENDING_PREFIX: &str = "pending/";

/// Key prefix of finalised large uploads and of `/upload-file` uploads.
pub const UPLOADS_PREFIX: &str = "uploads/";

/// Time after the upload URL expires during which a transfer that started
/// before may still arrive, in seconds.
pub const UPLOAD_FINISH_SECONDS: i64 = 15 * 60;

/// Parameters of a `/upload-url` request.
#[derive(Debug)]
pub struct UploadUrlRequest {
    /// File name the link serves.
    pub filename: String,
    /// Size in bytes the upload must have.
    pub size: i64,
    /// Declared content type.
    pub content_type: Option<String>,
    /// Link lifetime in minutes; `DEFAULT_EXPIRE_MINUTES` when absent.
    pub expire_minutes: Option<i64>,
    /// Download limit; 1 when absent.
    pub max_downloads: Option<i64>,
    /// Label and restrictions. Recipient links are rejected, because one
    /// upload completes one link.
    pub options: LinkOptions,
}

/// A pending link and the URL its bytes go to.
#[derive(Debug)]
pub struct PendingLink {
    /// The link, with the only copy of its token.
    pub created: Created,
    /// Destination URL, method and headers for the bytes.
    pub upload: PresignedUpload,
    /// Unix second from which the upload URL is refused.
    pub upload_expires_at: i64,
}

/// Makes a pending link and a presigned URL to upload its bytes to.
///
/// # Errors
///
/// 422 for a bad file name, size or limit; 500 when a store fails.
pub async fn create_upload_url(
    app: &App,
    creator: &str,
    request: UploadUrlRequest,
) -> Result<PendingLink, ApiError> {
    let file_name = FileName::parse(&request.filename)
        .map_err(|e| ParamError::new("filename", format!("is not a usable file name: {e}")))?;
    let max = app.config.max_large_upload_bytes;
    let size = u64::try_from(request.size)
        .ok()
        .filter(|size| (1..=max).contains(size))
        .ok_or_else(|| {
            ParamError::new(
                "size",
                format!(
                    "must be an integer from 1 to {max} (bytes), got {}",
                    request.size
                ),
            )
        })?;
    if !request.options.recipients.is_empty() {
        return Err(ParamError::new(
            "recipients",
            "is not supported by /upload-url: make recipient links with /generate-link once the file has arrived",
        )
        .into());
    }
    let expire_minutes = request
        .expire_minutes
        .unwrap_or_else(|| i64::from(app.config.default_expire_minutes));
    let plan = plan(app, expire_minutes, request.max_downloads, request.options)?;
    let content_type = content_type_for(request.content_type.as_deref(), &file_name);

    let id = LinkId::generate();
    let key = format!("{PENDING_PREFIX}{id}/{}", file_name.as_str());
    let url_seconds =
        (i64::from(app.config.upload_url_minutes) * 60).min(plan.expires_at - plan.created_at);
    let upload_expires_at = plan.created_at + url_seconds;
    let upload = app
        .objects
        .presign_upload(&key, size, u64::try_from(url_seconds).unwrap_or(60))
        .await?;

    let facts = FileFacts {
        object: ObjectRef {
            bucket: app.objects.bucket().to_owned(),
            key,
            version_id: None,
            etag: None,
        },
        file_name: file_name.as_str().to_owned(),
        size,
        content_type,
        sha256: String::new(),
        upload_deadline: Some(upload_expires_at + UPLOAD_FINISH_SECONDS),
    };
    let created = issue_links(app, creator, plan, facts, id).await?;
    tracing::info!(link_id = %created.link.id, creator, size, "pending link created");
    Ok(PendingLink {
        created,
        upload,
        upload_expires_at,
    })
}

/// Outcome of [`finalise_upload`] for one object key.
#[derive(Debug, PartialEq, Eq)]
pub enum Finalised {
    /// The object was moved and hashed, and the link is active.
    Completed(Box<Link>),
    /// Another run already completed the link; a leftover object under the
    /// pending key was deleted.
    AlreadyDone,
    /// No object has arrived yet.
    NotArrived,
    /// The object was deleted, and the link (if any) is refused, for the
    /// given reason: `no_link`, `size_mismatch`, or the link's denial code
    /// (`expired` for an upload that missed its deadline, `revoked`).
    Rejected(&'static str),
    /// The key is not a pending upload's key.
    Ignored,
}

/// Splits `pending/{link_id}/{name}` into the link id and the name.
pub fn parse_pending_key(key: &str) -> Option<(LinkId, &str)> {
    let rest = key.strip_prefix(PENDING_PREFIX)?;
    let (id, name) = rest.split_once('/')?;
    let id = LinkId::parse(id)?;
    FileName::parse(name).ok()?;
    Some((id, name))
}

/// Finalises the large upload stored under `key`: moves it out of
/// `pending/`, hashes it while streaming (constant memory), checks its size
/// against the declared one and makes the link active. Running it twice, or
/// at once from two places, completes the link once.
///
/// # Errors
///
/// Returns the store's failure; the object and link are then left for a
/// later run.
pub async fn finalise_upload(app: &App, key: &str) -> Result<Finalised, StoreError> {
    let Some((id, name)) = parse_pending_key(key) else {
        tracing::warn!(
            key_hash = %crate::secret::fingerprint(key.as_bytes()),
            "ignored an object that is not a pending upload"
        );
        return Ok(Finalised::Ignored);
    };
    let Some(link) = app.links.get(&id).await? else {
        app.objects.delete(key).await?;
        tracing::warn!(link_id = %id, "deleted an upload that has no link");
        return Ok(Finalised::Rejected("no_link"));
    };
    if link.upload_deadline.is_none() {
        // The first object was moved away, so whatever is under the pending
        // key now is a second PUT with the same URL.
        app.objects.delete(key).await?;
        return Ok(Finalised::AlreadyDone);
    }
    if let LinkState::Denied(denial) = link.state(app.clock.now()) {
        app.objects.delete(key).await?;
        tracing::warn!(link_id = %id, reason = denial.code(), "deleted an upload for a rejected link");
        record(app, &id, denial.code()).await;
        return Ok(Finalised::Rejected(denial.code()));
    }

    let final_key = format!("{UPLOADS_PREFIX}{id}/{name}");
    if app.objects.move_object(key, &final_key).await?.is_none() {
        let current = app.links.get(&id).await?;
        return Ok(match current {
            Some(current) if current.upload_deadline.is_none() => Finalised::AlreadyDone,
            _ => Finalised::NotArrived,
        });
    }
    // Hash the moved object, which no presigned URL can overwrite.
    let Some(info) = app
        .objects
        .describe(app.objects.bucket(), &final_key)
        .await?
    else {
        return Ok(Finalised::NotArrived);
    };
    if info.size != link.size {
        app.objects.delete(&final_key).await?;
        app.links.revoke(&id).await?;
        tracing::warn!(link_id = %id, declared = link.size, received = info.size,
            "upload rejected: its size differs from the declared size");
        record(app, &id, "size_mismatch").await;
        return Ok(Finalised::Rejected("size_mismatch"));
    }
    if !app
        .links
        .complete_upload(&id, &info.object, info.size, &info.sha256)
        .await?
    {
        return Ok(Finalised::AlreadyDone);
    }
    tracing::info!(link_id = %id, size = info.size, "upload finalised");
    let completed = app.links.get(&id).await?.unwrap_or(link);
    Ok(Finalised::Completed(Box::new(completed)))
}

/// Rejects an upload to `key` whose body is larger than the link's declared
/// size, before any of it is stored. The link is revoked, as for a body of
/// any other wrong size. The local server calls this, because its upload URL
/// signs the declared size and so knows a body is too long as it arrives.
///
/// # Errors
///
/// Returns the store's failure; the link is then left pending.
pub async fn reject_oversized_upload(app: &App, key: &str) -> Result<Finalised, StoreError> {
    let Some((id, _)) = parse_pending_key(key) else {
        return Ok(Finalised::Ignored);
    };
    let Some(link) = app.links.get(&id).await? else {
        return Ok(Finalised::Rejected("no_link"));
    };
    if link.upload_deadline.is_none() {
        return Ok(Finalised::AlreadyDone);
    }
    if let LinkState::Denied(denial) = link.state(app.clock.now()) {
        tracing::warn!(link_id = %id, reason = denial.code(), "rejected an upload for a link that can no longer be used");
        return Ok(Finalised::Rejected(denial.code()));
    }
    app.links.revoke(&id).await?;
    tracing::warn!(link_id = %id, declared = link.size,
        "upload rejected: its body is larger than the declared size");
    record(app, &id, "size_mismatch").await;
    Ok(Finalised::Rejected("size_mismatch"))
}

/// Records a refused upload in the link's audit trail. No token is involved,
/// so the record carries none.
async fn record(app: &App, id: &LinkId, reason: &str) {
    let at_ms = app.clock.now_ms();
    let event = AuditEvent {
        link_id: id.clone(),
        at_ms,
        retain_until: at_ms.div_euclid(1000) + i64::from(app.config.audit_retention_days) * 86_400,
        action: AuditAction::Denied,
        reason: Some(format!("upload_{reason}")),
        source_ip: "storage-event".into(),
        user_agent: String::new(),
        token_fingerprint: String::new(),
    };
    if let Err(error) = app.audit.record(&event).await {
        tracing::error!(link_id = %id, %error, "writing the audit record failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_key_names_link_and_file() {
        let id = LinkId::generate();
        let key = format!("pending/{id}/report.pdf");
        assert_eq!(parse_pending_key(&key), Some((id, "report.pdf")));
    }

    #[test]
    fn other_keys_are_not_pending_uploads() {
        let id = LinkId::generate();
        assert_eq!(parse_pending_key(&format!("uploads/{id}/a.pdf")), None);
        assert_eq!(parse_pending_key("pending/not-an-id/a.pdf"), None);
        assert_eq!(parse_pending_key(&format!("pending/{id}/a/b.pdf")), None);
        assert_eq!(parse_pending_key(&format!("pending/{id}/..")), None);
    }
}
