//! The use cases behind the four endpoints. Each takes parsed input, applies
//! the link rules through the ports, writes the audit record, and returns a
//! domain result or the [`ApiError`] to respond with.

use bytes::Bytes;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::App;
use crate::domain::{
    AuditAction, AuditEvent, Denial, DownloadLimit, ExpireMinutes, FileName, Link, LinkId,
    LinkState, ParamError, content_type_for, served_content_type,
};
use crate::file_url::parse_file_url;
use crate::http::{ApiError, Caller, content_disposition};
use crate::multipart::Upload;
use crate::ports::ConsumeError;
use crate::secret::{PresignedUrl, RawToken};
use crate::token::TokenError;

/// A link that was just made, with the only copy of its token.
#[derive(Debug)]
pub struct Created {
    /// The stored record.
    pub link: Link,
    /// The token to hand to the creator.
    pub token: RawToken,
}

/// Parameters of a `/generate-link` request.
#[derive(Debug)]
pub struct LinkRequest {
    /// `s3://bucket/key` or an S3 https URL.
    pub file_url: String,
    /// Lifetime in minutes.
    pub expire_minutes: i64,
    /// Download limit; 1 when absent.
    pub max_downloads: Option<i64>,
    /// Name to show instead of the key's last segment.
    pub filename: Option<String>,
}

/// Formats Unix seconds as RFC 3339 UTC with `Z`.
pub fn rfc3339(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn limits(
    app: &App,
    expire_minutes: i64,
    max_downloads: Option<i64>,
) -> Result<(ExpireMinutes, DownloadLimit), ParamError> {
    let expire = ExpireMinutes::new(expire_minutes, app.config.max_expire_minutes)?;
    let limit = DownloadLimit::new(max_downloads.unwrap_or(1), app.config.max_downloads_limit)?;
    Ok((expire, limit))
}

/// Makes a link for an object that already exists.
///
/// # Errors
///
/// 422 for a URL outside the allowed buckets, a missing object or bad
/// limits; 500 when a store fails.
pub async fn create_link(
    app: &App,
    creator: &str,
    request: LinkRequest,
) -> Result<Created, ApiError> {
    let (expire, limit) = limits(app, request.expire_minutes, request.max_downloads)?;
    let location = match parse_file_url(
        &request.file_url,
        app.objects.bucket(),
        &app.config.allowed_buckets,
    ) {
        Ok(location) => location,
        Err(rejection) => {
            let fetchable = url::Url::parse(&request.file_url)
                .ok()
                .filter(|url| app.fetcher.is_allowed_host(url));
            let Some(url) = fetchable else {
                return Err(rejection.into());
            };
            return create_link_from_fetch(app, creator, &request, &url, expire, limit).await;
        }
    };
    let name_source = match &request.filename {
        Some(name) => name.as_str(),
        None => location.key.rsplit('/').next().unwrap_or_default(),
    };
    let field = if request.filename.is_some() {
        "filename"
    } else {
        "file_url"
    };
    let file_name = FileName::parse(name_source)
        .map_err(|e| ParamError::new(field, format!("does not give a usable file name: {e}")))?;

    let info = app
        .objects
        .describe(&location.bucket, &location.key)
        .await?
        .ok_or_else(|| ParamError::new("file_url", "names no existing object"))?;
    let content_type = content_type_for(info.content_type.as_deref(), &file_name);

    let now = app.clock.now();
    let link = Link {
        id: LinkId::generate(),
        object: info.object,
        file_name: file_name.as_str().to_owned(),
        size: info.size,
        content_type,
        sha256: info.sha256,
        creator: creator.to_owned(),
        created_at: now,
        expires_at: now + expire.seconds(),
        max_downloads: limit.get(),
        downloads: 0,
        revoked: false,
    };
    let token = sign(app, &link)?;
    app.links.insert(&link).await?;
    tracing::info!(link_id = %link.id, creator, size = link.size, "link created");
    Ok(Created { link, token })
}

/// Stores an uploaded file and makes a link for it. A failure at any step
/// leaves neither object nor link behind.
///
/// # Errors
///
/// 422 for bad limits; 500 when a store fails.
pub async fn upload(app: &App, creator: &str, upload: Upload) -> Result<Created, ApiError> {
    let expire_minutes = upload
        .expire_minutes
        .unwrap_or_else(|| i64::from(app.config.default_expire_minutes));
    let (expire, limit) = limits(app, expire_minutes, upload.max_downloads)?;
    let content_type = content_type_for(upload.declared_type.as_deref(), &upload.file_name);
    let new = NewFile {
        prefix: "uploads",
        file_name: upload.file_name,
        content_type,
        bytes: upload.bytes,
        expire,
        limit,
    };
    store_with_link(app, creator, new).await
}

/// A file to store in the product's bucket together with its first link.
struct NewFile {
    prefix: &'static str,
    file_name: FileName,
    content_type: String,
    bytes: Bytes,
    expire: ExpireMinutes,
    limit: DownloadLimit,
}

/// Stores the bytes under `PREFIX/LINK_ID/NAME` and then the link record.
/// When the link cannot be stored, the object is deleted again, so there is
/// never an object without its link.
async fn store_with_link(app: &App, creator: &str, new: NewFile) -> Result<Created, ApiError> {
    let id = LinkId::generate();
    let key = format!("{}/{id}/{}", new.prefix, new.file_name.as_str());
    let now = app.clock.now();

    let info = app.objects.put(&key, new.bytes, &new.content_type).await?;
    let link = Link {
        id,
        object: info.object,
        file_name: new.file_name.as_str().to_owned(),
        size: info.size,
        content_type: new.content_type,
        sha256: info.sha256,
        creator: creator.to_owned(),
        created_at: now,
        expires_at: now + new.expire.seconds(),
        max_downloads: new.limit.get(),
        downloads: 0,
        revoked: false,
    };
    let stored = match sign(app, &link) {
        Ok(token) => app
            .links
            .insert(&link)
            .await
            .map(|()| token)
            .map_err(ApiError::from),
        Err(error) => Err(error),
    };
    match stored {
        Ok(token) => {
            tracing::info!(link_id = %link.id, creator, size = link.size, source = new.prefix,
                "file stored");
            Ok(Created { link, token })
        }
        Err(error) => {
            if let Err(cleanup) = app.objects.delete(&key).await {
                tracing::error!(link_id = %link.id, error = %cleanup,
                    "removing the object of a failed link failed");
            }
            Err(error)
        }
    }
}

/// Fetches a file from an allowed host, copies it into the product's bucket
/// and makes a link for the copy, so that the link serves exactly the
/// fetched bytes.
async fn create_link_from_fetch(
    app: &App,
    creator: &str,
    request: &LinkRequest,
    url: &url::Url,
    expire: ExpireMinutes,
    limit: DownloadLimit,
) -> Result<Created, ApiError> {
    let name_source = match &request.filename {
        Some(name) => name.clone(),
        None => {
            let segment = url
                .path_segments()
                .and_then(Iterator::last)
                .unwrap_or_default();
            percent_encoding::percent_decode_str(segment)
                .decode_utf8_lossy()
                .into_owned()
        }
    };
    let field = if request.filename.is_some() {
        "filename"
    } else {
        "file_url"
    };
    let file_name = FileName::parse(&name_source)
        .map_err(|e| ParamError::new(field, format!("does not give a usable file name: {e}")))?;

    let host = url.host_str().unwrap_or_default().to_owned();
    let (bytes, declared) = app.fetcher.fetch(url).await.map_err(|error| {
        tracing::warn!(%host, creator, %error, "denied: fetching file_url failed");
        ParamError::new("file_url", format!("could not be fetched: {error}"))
    })?;
    if bytes.is_empty() {
        return Err(ParamError::new("file_url", "names an empty file").into());
    }
    let content_type = content_type_for(declared.as_deref(), &file_name);
    let new = NewFile {
        prefix: "fetched",
        file_name,
        content_type,
        bytes,
        expire,
        limit,
    };
    store_with_link(app, creator, new).await
}

fn sign(app: &App, link: &Link) -> Result<RawToken, ApiError> {
    app.keys
        .sign(&link.id, link.created_at, link.expires_at)
        .map_err(|error| {
            tracing::error!(link_id = %link.id, %error, "signing a token failed");
            ApiError::Internal
        })
}

/// Returns the link a token names, for showing its metadata. Never counts
/// a download.
///
/// # Errors
///
/// 422 malformed token, 404 forged or unknown, 410 expired, revoked or used
/// up; 500 when a store fails.
pub async fn view(app: &App, token: &RawToken, caller: &Caller) -> Result<Link, ApiError> {
    let now = app.clock.now();
    let id = verify(app, token, caller, AuditAction::View).await?;
    let Some(link) = app.links.get(&id).await? else {
        deny_unknown(&id, token, caller, "link record not found");
        return Err(not_found());
    };
    if let LinkState::Denied(denial) = link.state(now) {
        audit(
            app,
            &id,
            AuditAction::Denied,
            Some(denial.code()),
            caller,
            token,
        )
        .await;
        return Err(ApiError::Gone(denial));
    }
    audit(app, &id, AuditAction::View, None, caller, token).await;
    Ok(link)
}

/// Maximum lifetime of a presigned download URL, in seconds.
pub const PRESIGN_SECONDS: i64 = 60;

/// Delivery method for the bytes of a counted download.
#[derive(Debug)]
pub enum Delivery {
    /// In the response body.
    Bytes(Bytes),
    /// Through a redirect to a short-lived presigned URL.
    Redirect(PresignedUrl),
}

/// Counts one download and returns the link and how to deliver its bytes.
/// Files above `MAX_INLINE_DOWNLOAD_BYTES` go through a presigned URL that
/// lives at most [`PRESIGN_SECONDS`] and never past the link's expiry.
///
/// # Errors
///
/// 422 malformed token or file name, 404 forged token, unknown link or a
/// name that is not the link's, 410 expired, revoked or used up; 500 when a
/// store fails. A download that could not be served is not counted.
pub async fn download(
    app: &App,
    token: &RawToken,
    path_name: &str,
    caller: &Caller,
) -> Result<(Link, Delivery), ApiError> {
    let id = verify(app, token, caller, AuditAction::Download).await?;
    let name = FileName::parse(path_name)
        .map_err(|e| ParamError::new("filename", format!("is not a valid file name: {e}")))?;
    let now = app.clock.now();

    let link = match app.links.consume_download(&id, name.as_str(), now).await {
        Ok(link) => link,
        Err(ConsumeError::NotFound) => {
            deny_unknown(&id, token, caller, "link record not found");
            return Err(not_found());
        }
        Err(ConsumeError::NameMismatch) => {
            audit(
                app,
                &id,
                AuditAction::Denied,
                Some("file_name_mismatch"),
                caller,
                token,
            )
            .await;
            return Err(ApiError::NotFound(
                "this link does not serve a file of that name".into(),
            ));
        }
        Err(ConsumeError::Denied(denial)) => {
            audit(
                app,
                &id,
                AuditAction::Denied,
                Some(denial.code()),
                caller,
                token,
            )
            .await;
            return Err(ApiError::Gone(denial));
        }
        Err(ConsumeError::Store(error)) => return Err(error.into()),
    };

    if link.size > app.config.max_inline_download_bytes {
        let remaining = (link.expires_at - now).clamp(1, PRESIGN_SECONDS);
        let disposition = content_disposition(&link.file_name);
        let presigned = app
            .objects
            .presign_download(
                &link.object,
                disposition.to_str().unwrap_or("attachment"),
                served_content_type(&link.content_type, &link.file_name),
                u64::try_from(remaining).unwrap_or(1),
            )
            .await;
        match presigned {
            Ok(Some(url)) => {
                audit(
                    app,
                    &id,
                    AuditAction::Download,
                    Some("redirect"),
                    caller,
                    token,
                )
                .await;
                return Ok((link, Delivery::Redirect(url)));
            }
            Ok(None) => {}
            Err(error) => {
                refund(app, &id).await;
                return Err(error.into());
            }
        }
    }
    let bytes = match app.objects.get(&link.object).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            refund(app, &id).await;
            audit(
                app,
                &id,
                AuditAction::Denied,
                Some("file_unavailable"),
                caller,
                token,
            )
            .await;
            return Err(ApiError::NotFound(
                "the file behind this link is no longer available".into(),
            ));
        }
        Err(error) => {
            refund(app, &id).await;
            return Err(error.into());
        }
    };
    audit(app, &id, AuditAction::Download, None, caller, token).await;
    Ok((link, Delivery::Bytes(bytes)))
}

async fn refund(app: &App, id: &LinkId) {
    if let Err(error) = app.links.refund_download(id).await {
        tracing::error!(link_id = %id, error = %error, "taking back an unserved download failed");
    }
}

async fn verify(
    app: &App,
    token: &RawToken,
    caller: &Caller,
    action: AuditAction,
) -> Result<LinkId, ApiError> {
    match app.keys.verify(token, app.clock.now()) {
        Ok(id) => Ok(id),
        Err(TokenError::Malformed) => {
            tracing::info!(token = %token.fingerprint(), source_ip = %caller.source_ip,
                action = action.code(), "denied: malformed token");
            Err(ParamError::new("token", "is not a well-formed link token").into())
        }
        Err(TokenError::Invalid) => {
            tracing::warn!(token = %token.fingerprint(), source_ip = %caller.source_ip,
                action = action.code(), "denied: token failed verification");
            Err(not_found())
        }
        Err(TokenError::Expired(id)) => {
            audit(
                app,
                &id,
                AuditAction::Denied,
                Some(Denial::Expired.code()),
                caller,
                token,
            )
            .await;
            Err(ApiError::Gone(Denial::Expired))
        }
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no link matches this token".into())
}

fn deny_unknown(id: &LinkId, token: &RawToken, caller: &Caller, why: &str) {
    tracing::warn!(link_id = %id, token = %token.fingerprint(), source_ip = %caller.source_ip,
        "denied: {why}");
}

async fn audit(
    app: &App,
    id: &LinkId,
    action: AuditAction,
    reason: Option<&str>,
    caller: &Caller,
    token: &RawToken,
) {
    let event = AuditEvent {
        link_id: id.clone(),
        at_ms: app.clock.now_ms(),
        action,
        reason: reason.map(str::to_owned),
        source_ip: caller.source_ip.clone(),
        user_agent: caller.user_agent.clone(),
        token_fingerprint: token.fingerprint(),
    };
    match action {
        AuditAction::Denied => tracing::info!(link_id = %id, reason, source_ip = %caller.source_ip,
            request_id = %caller.request_id, "denied"),
        _ => tracing::info!(link_id = %id, action = action.code(), source_ip = %caller.source_ip,
            request_id = %caller.request_id, "served"),
    }
    if let Err(error) = app.audit.record(&event).await {
        tracing::error!(link_id = %id, error = %error, "writing the audit record failed");
    }
}
