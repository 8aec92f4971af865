//! The use cases behind the four endpoints. Each takes parsed input, applies
//! the link rules through the ports, writes the audit record, and returns a
//! domain result or the [`ApiError`] to respond with.

use bytes::Bytes;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::App;
use crate::domain::{
    Activity, AuditAction, AuditEvent, Denial, DownloadLimit, ExpireMinutes, FileName, Link,
    LinkId, LinkState, ParamError, Policy, content_type_for, hash_password, served_content_type,
    verify_password,
};
use crate::file_url::parse_file_url;
use crate::http::{ApiError, Caller, content_disposition};
use crate::multipart::Upload;
use crate::options::{LinkOptions, Password, Prepared};
use crate::ports::ConsumeError;
use crate::secret::{PresignedUrl, RawToken};
use crate::token::TokenError;

/// A link that was just made, with the only copy of its token.
#[derive(Debug)]
pub struct Issued {
    /// The stored record.
    pub link: Link,
    /// The token to hand to the creator.
    pub token: RawToken,
}

/// The links one creator request made: one, or one per recipient.
#[derive(Debug)]
pub struct Created {
    /// The first (often the only) link.
    pub link: Link,
    /// Its token.
    pub token: RawToken,
    /// Every link made, the first included, when the request listed
    /// recipients; empty otherwise.
    pub recipients: Vec<Issued>,
}

impl Created {
    fn from_issued(mut issued: Vec<Issued>, listed: bool) -> Option<Self> {
        if issued.is_empty() {
            return None;
        }
        let first = issued.remove(0);
        let recipients = if listed {
            let mut all = vec![Issued {
                link: first.link.clone(),
                token: first.token.clone(),
            }];
            all.append(&mut issued);
            all
        } else {
            Vec::new()
        };
        Some(Self {
            link: first.link,
            token: first.token,
            recipients,
        })
    }
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
    /// Label, restrictions and recipients.
    pub options: LinkOptions,
}

/// Formats Unix seconds as RFC 3339 UTC with `Z`.
pub fn rfc3339(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Prefixes of the product's bucket under which each file belongs to the
/// creator of the link whose id is the next path segment.
const LINKED_PREFIXES: [&str; 3] = ["uploads/", "fetched/", "pending/"];

/// Returns whether `creator` may link the object `key` of the product's own
/// bucket. A file stored for a link belongs to that link's creator, so
/// another creator who learns its key (from a recipient's view of the link,
/// say) cannot make fresh links to it, also after its links were revoked.
/// Other keys are objects an operator put into the bucket.
async fn owns_key(app: &App, creator: &str, key: &str) -> Result<bool, ApiError> {
    for prefix in LINKED_PREFIXES {
        if let Some(rest) = key.strip_prefix(prefix) {
            let Some(id) = rest.split('/').next().and_then(LinkId::parse) else {
                return Ok(false);
            };
            let owner = app.links.get(&id).await?.map(|link| link.creator);
            return Ok(owner.as_deref() == Some(creator));
        }
    }
    Ok(true)
}

/// Everything checked about a new link before any store is touched.
pub(crate) struct Plan {
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    prepared: Prepared,
    password: Option<Password>,
    listed_recipients: bool,
}

pub(crate) fn plan(
    app: &App,
    expire_minutes: i64,
    max_downloads: Option<i64>,
    options: LinkOptions,
) -> Result<Plan, ParamError> {
    let expire = ExpireMinutes::new(expire_minutes, app.config.max_expire_minutes)?;
    let limit = DownloadLimit::new(max_downloads.unwrap_or(1), app.config.max_downloads_limit)?;
    let created_at = app.clock.now();
    let expires_at = created_at + expire.seconds();
    let listed_recipients = !options.recipients.is_empty();
    let (prepared, password) =
        options.prepare(expires_at, limit, app.config.max_downloads_limit)?;
    Ok(Plan {
        created_at,
        expires_at,
        prepared,
        password,
        listed_recipients,
    })
}

/// File facts that every link of one request shares, with the object pin.
pub(crate) struct FileFacts {
    pub(crate) object: crate::domain::ObjectRef,
    pub(crate) file_name: String,
    pub(crate) size: u64,
    pub(crate) content_type: String,
    pub(crate) sha256: String,
    /// Deadline of a large upload that has not arrived; `None` for a file
    /// that is already stored.
    pub(crate) upload_deadline: Option<i64>,
}

/// Hashes the password (off the async threads: Argon2 is slow on purpose)
/// and stores one link per recipient. When a link cannot be stored, those
/// already stored are revoked, so that a failed request leaves no live link.
pub(crate) async fn issue_links(
    app: &App,
    creator: &str,
    plan: Plan,
    facts: FileFacts,
    first_id: LinkId,
) -> Result<Created, ApiError> {
    let mut policy = plan.prepared.policy;
    if let Some(password) = plan.password {
        let hashed = tokio::task::spawn_blocking(move || hash_password(password.expose()))
            .await
            .map_err(|error| {
                tracing::error!(%error, "password hashing task failed");
                ApiError::Internal
            })?
            .map_err(|error| {
                tracing::error!(%error, "hashing a link password failed");
                ApiError::Internal
            })?;
        policy.password_hash = Some(hashed);
    }
    let mut issued: Vec<Issued> = Vec::new();
    let mut first_id = Some(first_id);
    let label = plan.prepared.label;
    for link_plan in plan.prepared.plans {
        let link = Link {
            id: first_id.take().unwrap_or_else(LinkId::generate),
            object: facts.object.clone(),
            file_name: facts.file_name.clone(),
            size: facts.size,
            content_type: facts.content_type.clone(),
            sha256: facts.sha256.clone(),
            creator: creator.to_owned(),
            created_at: plan.created_at,
            expires_at: plan.expires_at,
            max_downloads: link_plan.limit.get(),
            downloads: 0,
            revoked: false,
            label: label.clone(),
            policy: Policy {
                recipient: link_plan.recipient,
                ..policy.clone()
            },
            activity: Activity::default(),
            upload_deadline: facts.upload_deadline,
        };
        let stored = match sign(app, &link).await {
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
                tracing::info!(link_id = %link.id, creator, size = link.size,
                    restricted = link.policy.is_restricted(), "link created");
                issued.push(Issued { link, token });
            }
            Err(error) => {
                for done in &issued {
                    if let Err(revoke_error) = app.links.revoke(&done.link.id).await {
                        tracing::error!(link_id = %done.link.id, error = %revoke_error,
                            "revoking a link of a failed request failed");
                    }
                }
                return Err(error);
            }
        }
    }
    Created::from_issued(issued, plan.listed_recipients).ok_or(ApiError::Internal)
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
    let plan = plan(
        app,
        request.expire_minutes,
        request.max_downloads,
        request.options.clone(),
    )?;
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
            return create_link_from_fetch(app, creator, &request, &url, plan).await;
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

    if location.bucket == app.objects.bucket() && !owns_key(app, creator, &location.key).await? {
        tracing::warn!(creator, "denied: file_url names a file of another creator");
        return Err(ParamError::new("file_url", "names no existing object").into());
    }
    let info = app
        .objects
        .describe(&location.bucket, &location.key)
        .await?
        .ok_or_else(|| ParamError::new("file_url", "names no existing object"))?;
    let content_type = content_type_for(info.content_type.as_deref(), &file_name);
    let facts = FileFacts {
        object: info.object,
        file_name: file_name.as_str().to_owned(),
        size: info.size,
        content_type,
        sha256: info.sha256,
        upload_deadline: None,
    };
    issue_links(app, creator, plan, facts, LinkId::generate()).await
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
    let plan = plan(app, expire_minutes, upload.max_downloads, upload.options)?;
    let content_type = content_type_for(upload.declared_type.as_deref(), &upload.file_name);
    let new = NewFile {
        prefix: "uploads",
        file_name: upload.file_name,
        content_type,
        bytes: upload.bytes,
        plan,
    };
    store_with_link(app, creator, new).await
}

/// A file to store in the product's bucket together with its first link.
struct NewFile {
    prefix: &'static str,
    file_name: FileName,
    content_type: String,
    bytes: Bytes,
    plan: Plan,
}

/// Stores the bytes under `PREFIX/LINK_ID/NAME` and then the link record.
/// When the link cannot be stored, the object is deleted again, so there is
/// never an object without its link.
async fn store_with_link(app: &App, creator: &str, new: NewFile) -> Result<Created, ApiError> {
    let id = LinkId::generate();
    let key = format!("{}/{id}/{}", new.prefix, new.file_name.as_str());

    let info = app.objects.put(&key, new.bytes, &new.content_type).await?;
    let facts = FileFacts {
        object: info.object,
        file_name: new.file_name.as_str().to_owned(),
        size: info.size,
        content_type: new.content_type,
        sha256: info.sha256,
        upload_deadline: None,
    };
    let size = facts.size;
    match issue_links(app, creator, new.plan, facts, id.clone()).await {
        Ok(created) => {
            tracing::info!(link_id = %id, creator, size, source = new.prefix, "file stored");
            Ok(created)
        }
        Err(error) => {
            if let Err(cleanup) = app.objects.delete(&key).await {
                tracing::error!(link_id = %id, error = %cleanup,
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
    plan: Plan,
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
        plan,
    };
    store_with_link(app, creator, new).await
}

pub(crate) async fn sign(app: &App, link: &Link) -> Result<RawToken, ApiError> {
    let keys = app.keys.get().await.map_err(|error| {
        tracing::error!(link_id = %link.id, %error, "signing keys unavailable");
        ApiError::Internal
    })?;
    keys.sign(&link.id, link.created_at, link.expires_at)
        .map_err(|error| {
            tracing::error!(link_id = %link.id, %error, "signing a token failed");
            ApiError::Internal
        })
}

/// Returns the link a token names, for showing its metadata. Never counts
/// a download. A link with restrictions is shown only to a caller who meets
/// them: inside its networks, after its opening time, with its password.
///
/// # Errors
///
/// 422 malformed token, 404 forged or unknown, 410 expired, revoked or used
/// up, 401, 403 or 423 for an unmet restriction; 500 when a store fails.
pub async fn view(
    app: &App,
    token: &RawToken,
    caller: &Caller,
    password: Option<&Password>,
) -> Result<Link, ApiError> {
    let now = app.clock.now();
    let id = verify(app, token, caller, AuditAction::View).await?;
    let Some(mut link) = app.links.get(&id).await? else {
        deny_unknown(&id, token, caller, "link record not found");
        return Err(not_found());
    };
    if link.state(now) == LinkState::Pending {
        link = finalise_or_refuse(app, &link, caller, token).await?;
    }
    let seen = Seen {
        app,
        link: &link,
        caller,
        token,
    };
    if let LinkState::Denied(denial) = link.state(now) {
        seen.record(AuditAction::Denied, Some(denial.code())).await;
        return Err(ApiError::Gone(denial));
    }
    check_restrictions(&seen, password, now).await?;
    seen.record(AuditAction::View, None).await;
    if link.policy.notify && !link.activity.opened {
        match app.links.mark_opened(&link.id).await {
            Ok(true) => crate::notify::announce(app, &link, crate::notify::Kind::FirstOpened).await,
            Ok(false) => {}
            Err(error) => {
                tracing::error!(link_id = %link.id, %error, "marking a link opened failed");
            }
        }
    }
    Ok(link)
}

/// One request's view of a link, for audit records.
struct Seen<'a> {
    app: &'a App,
    link: &'a Link,
    caller: &'a Caller,
    token: &'a RawToken,
}

impl Seen<'_> {
    async fn record(&self, action: AuditAction, reason: Option<&str>) {
        audit(
            self.app,
            &self.link.id,
            action,
            reason,
            self.caller,
            self.token,
            self.link.expires_at,
        )
        .await;
    }
}

/// Checks the opening time, the caller's network and the password, in that
/// order, and records each refusal. A wrong password counts towards the
/// lock; a right one clears the count.
async fn check_restrictions(
    seen: &Seen<'_>,
    password: Option<&Password>,
    now: i64,
) -> Result<(), ApiError> {
    let link = seen.link;
    if let Some(at) = link.policy.not_before
        && now < at
    {
        seen.record(AuditAction::Denied, Some("not_yet_available"))
            .await;
        return Err(ApiError::NotYetAvailable { at });
    }
    if !link.policy.allows_ip(&seen.caller.source_ip) {
        seen.record(AuditAction::Denied, Some("outside_allowed_network"))
            .await;
        return Err(ApiError::OutsideNetwork);
    }
    let Some(hash) = &link.policy.password_hash else {
        return Ok(());
    };
    if link.activity.locked_until > now {
        seen.record(AuditAction::Denied, Some("locked")).await;
        return Err(ApiError::Locked {
            until: link.activity.locked_until,
        });
    }
    let Some(password) = password else {
        seen.record(AuditAction::Denied, Some("password_required"))
            .await;
        return Err(ApiError::PasswordRequired);
    };
    let (hash, given) = (hash.clone(), password.expose().to_owned());
    let matches = tokio::task::spawn_blocking(move || verify_password(&hash, &given))
        .await
        .unwrap_or(false);
    if matches {
        if link.activity.failed_attempts > 0 {
            seen.app.links.clear_password_failures(&link.id).await?;
        }
        return Ok(());
    }
    let activity = seen
        .app
        .links
        .record_password_failure(&link.id, now)
        .await?;
    if activity.locked_until > now {
        // This wrong password is the one that locked the link.
        seen.record(AuditAction::Denied, Some("wrong_password_locked"))
            .await;
        tracing::warn!(link_id = %link.id, source_ip = %seen.caller.source_ip,
            "link locked after repeated wrong passwords");
        return Err(ApiError::Locked {
            until: activity.locked_until,
        });
    }
    seen.record(AuditAction::Denied, Some("wrong_password"))
        .await;
    Err(ApiError::WrongPassword)
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
    password: Option<&Password>,
) -> Result<(Link, Delivery), ApiError> {
    let id = verify(app, token, caller, AuditAction::Download).await?;
    let name = FileName::parse(path_name)
        .map_err(|e| ParamError::new("filename", format!("is not a valid file name: {e}")))?;
    let now = app.clock.now();

    let mut counted = app
        .links
        .consume_download(&id, name.as_str(), now, false)
        .await;
    if matches!(counted, Err(ConsumeError::Pending)) {
        let pending = app.links.get(&id).await?.ok_or_else(not_found)?;
        finalise_or_refuse(app, &pending, caller, token).await?;
        counted = app
            .links
            .consume_download(&id, name.as_str(), now, false)
            .await;
    }
    if let Err(ConsumeError::Restricted(link)) = &counted {
        let seen = Seen {
            app,
            link,
            caller,
            token,
        };
        check_restrictions(&seen, password, now).await?;
        counted = app
            .links
            .consume_download(&id, name.as_str(), now, true)
            .await;
    }
    let link = match counted {
        Ok(link) => link,
        Err(ConsumeError::Restricted(_)) => {
            tracing::error!(link_id = %id, "store rejected a checked download as restricted");
            return Err(ApiError::Internal);
        }
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
                latest_expiry(app),
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
                latest_expiry(app),
            )
            .await;
            return Err(ApiError::Gone(denial));
        }
        Err(ConsumeError::Pending) => return Err(ApiError::Pending),
        Err(ConsumeError::Store(error)) => return Err(error.into()),
    };
    let seen = Seen {
        app,
        link: &link,
        caller,
        token,
    };
    if link.policy.notify && link.downloads_remaining() == 0 {
        crate::notify::announce(app, &link, crate::notify::Kind::UsedUp).await;
    }

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
                seen.record(AuditAction::Download, Some("redirect")).await;
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
            seen.record(AuditAction::Denied, Some("file_unavailable"))
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
    seen.record(AuditAction::Download, None).await;
    Ok((link, Delivery::Bytes(bytes)))
}

/// Finalises the upload of a pending link whose object has arrived, the
/// fallback for a storage event that is late or lost, and returns the link
/// as it is afterwards.
///
/// # Errors
///
/// 409 while the object has not arrived; 500 when a store fails.
async fn finalise_or_refuse(
    app: &App,
    link: &Link,
    caller: &Caller,
    token: &RawToken,
) -> Result<Link, ApiError> {
    let outcome = crate::uploads::finalise_upload(app, &link.object.key).await?;
    if matches!(outcome, crate::uploads::Finalised::NotArrived) {
        audit(
            app,
            &link.id,
            AuditAction::Denied,
            Some("pending"),
            caller,
            token,
            link.expires_at,
        )
        .await;
        return Err(ApiError::Pending);
    }
    app.links.get(&link.id).await?.ok_or_else(not_found)
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
    let keys = app.keys.get().await.map_err(|error| {
        tracing::error!(token = %token.fingerprint(), %error, "signing keys unavailable");
        ApiError::Internal
    })?;
    match keys.verify(token, app.clock.now()) {
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
                app.clock.now(),
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

/// Returns the latest expiry a link made now could have, as the retention
/// base of a rejection whose record was not read.
fn latest_expiry(app: &App) -> i64 {
    app.clock.now() + i64::from(app.config.max_expire_minutes) * 60
}

/// Records one audit event, kept until `link_expires_at` (or now, when
/// later) plus the retention period.
pub(crate) async fn audit(
    app: &App,
    id: &LinkId,
    action: AuditAction,
    reason: Option<&str>,
    caller: &Caller,
    token: &RawToken,
    link_expires_at: i64,
) {
    let at_ms = app.clock.now_ms();
    let retain_until = link_expires_at.max(at_ms.div_euclid(1000))
        + i64::from(app.config.audit_retention_days) * 86_400;
    let event = AuditEvent {
        link_id: id.clone(),
        at_ms,
        retain_until,
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
