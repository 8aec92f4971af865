//! Request and response bodies of the HTTP API, as Rust types.
//!
//! The handlers serialize the response types, and [`crate::openapi`] derives
//! the OpenAPI schemas from them, so those schemas follow what the service
//! sends. The request types only describe the bodies, because the handlers
//! read bodies field by field to name each invalid field.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Link;
use crate::secret::RawToken;
use crate::service::{Created, rfc3339};

/// Body of a successful `POST /generate-link` (`status: success`) or
/// `POST /upload-file` (`status: uploaded`, with `file_url`). The top-level
/// fields describe the first link; `recipients` lists every link when the
/// request named recipients.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkCreated {
    /// `success` or `uploaded`.
    #[schema(example = "success")]
    pub status: &'static str,
    /// Link id (32 lowercase hex digits), for logs and audit records.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub link_id: String,
    /// Link token (an HS256 JWT). It is shown only here: store it or send it on.
    pub token: String,
    /// Address to give to the recipient.
    #[schema(format = "uri")]
    pub access_url: String,
    /// Creator's label, such as an incident id.
    pub label: Option<String>,
    /// Name of the recipient, for one of several links to the same file.
    pub recipient: Option<String>,
    /// Number of downloads the link serves.
    #[schema(minimum = 1)]
    pub max_downloads: u32,
    /// Expiry, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// File name shown to the recipient.
    pub filename: String,
    /// File size in bytes.
    pub size: u64,
    /// SHA-256 of the file, lowercase hex; empty for a pending large upload.
    #[schema(pattern = "^([0-9a-f]{64})?$")]
    pub sha256: String,
    /// Media type stored for the file.
    pub content_type: String,
    /// Time before which the link cannot be used, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub not_before: Option<String>,
    /// Whether the link needs a password.
    pub password_protected: bool,
    /// Networks (CIDR) the link may be used from; empty for any.
    pub allowed_cidrs: Vec<String>,
    /// Whether the creator is notified of downloads.
    pub notify: bool,
    /// Every link made, one per recipient, when the request listed recipients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<RecipientLink>>,
    /// Stored object as `s3://bucket/key` (uploads only), usable as
    /// `file_url` in `POST /generate-link` to make more links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_url: Option<String>,
}

/// One recipient's link in [`LinkCreated::recipients`].
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientLink {
    /// Link id (32 lowercase hex digits).
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub link_id: String,
    /// Link token (an HS256 JWT).
    pub token: String,
    /// Address to give to this recipient.
    #[schema(format = "uri")]
    pub access_url: String,
    /// The request's label.
    pub label: Option<String>,
    /// Name of the recipient.
    pub recipient: Option<String>,
    /// Number of downloads this link serves.
    pub max_downloads: u32,
}

impl RecipientLink {
    fn new(link: &Link, token: &RawToken, base: &str) -> Self {
        Self {
            link_id: link.id.as_str().to_owned(),
            token: token.expose().to_owned(),
            access_url: format!("{base}/access/{}", token.expose()),
            label: link.label.clone(),
            recipient: link.policy.recipient.clone(),
            max_downloads: link.max_downloads,
        }
    }
}

impl LinkCreated {
    /// Describes the links one creator request made; `base` is the API's
    /// base URL.
    pub fn new(
        created: &Created,
        base: &str,
        status: &'static str,
        file_url: Option<String>,
    ) -> Self {
        let link = &created.link;
        let first = RecipientLink::new(link, &created.token, base);
        let recipients = (!created.recipients.is_empty()).then(|| {
            created
                .recipients
                .iter()
                .map(|issued| RecipientLink::new(&issued.link, &issued.token, base))
                .collect()
        });
        Self {
            status,
            link_id: first.link_id,
            token: first.token,
            access_url: first.access_url,
            label: first.label,
            recipient: first.recipient,
            max_downloads: first.max_downloads,
            expires_at: rfc3339(link.expires_at),
            filename: link.file_name.clone(),
            size: link.size,
            sha256: link.sha256.clone(),
            content_type: link.content_type.clone(),
            not_before: link.policy.not_before.map(rfc3339),
            password_protected: link.policy.password_hash.is_some(),
            allowed_cidrs: link.policy.allowed_cidrs.clone(),
            notify: link.policy.notify,
            recipients,
            file_url,
        }
    }
}

/// Body of `POST /generate-link`. The handler reads it field by field, so
/// that each invalid field is named; any field not listed is rejected.
// NOTE: the handler's list of accepted fields is kept by hand in step with
// this type; `generate_link_schema_lists_fields` checks the option names.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateLinkBody {
    /// `s3://bucket/key`, `https://bucket.s3[.region].amazonaws.com/key`,
    /// `https://s3[.region].amazonaws.com/bucket/key`, or an https URL on a
    /// host in `ALLOWED_FETCH_HOSTS`.
    #[schema(example = "s3://local-files/uploads/report.pdf")]
    pub file_url: String,
    /// Link lifetime in minutes, from 1 to `MAX_EXPIRE_MINUTES` (10080).
    #[schema(minimum = 1, example = 30)]
    pub expire_minutes: i64,
    /// Number of downloads, from 1 to `MAX_DOWNLOADS_LIMIT` (100); 1 when absent.
    #[schema(minimum = 1)]
    pub max_downloads: Option<i64>,
    /// File name to show instead of the key's last segment.
    pub filename: Option<String>,
    /// Creator's label, such as an incident id.
    pub label: Option<String>,
    /// Password the recipient must send (`X-Link-Password` or the page form).
    pub password: Option<String>,
    /// Networks (CIDR) the link may be used from.
    pub allowed_cidrs: Option<Vec<String>>,
    /// Time before which the link cannot be used, RFC 3339.
    #[schema(format = DateTime)]
    pub not_before: Option<String>,
    /// Notify the creator of downloads.
    pub notify: Option<bool>,
    /// One link per recipient instead of one link.
    pub recipients: Option<Vec<RecipientRequestBody>>,
}

/// One recipient in a creator request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientRequestBody {
    /// The recipient's label.
    pub label: Option<String>,
    /// Downloads for this recipient; the request's `max_downloads` when absent.
    #[schema(minimum = 1)]
    pub max_downloads: Option<i64>,
}

/// Form parts of `POST /upload-file` (`multipart/form-data`). Any other
/// part name is rejected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadForm {
    /// The file, with a file name in its `Content-Disposition`.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// Link lifetime in minutes; `DEFAULT_EXPIRE_MINUTES` (60) when absent.
    #[schema(value_type = Option<String>, pattern = "^[0-9]+$", example = "60")]
    pub expire_minutes: Option<i64>,
    /// Number of downloads; 1 when absent.
    #[schema(value_type = Option<String>, pattern = "^[0-9]+$", example = "1")]
    pub max_downloads: Option<i64>,
    /// Creator's label.
    pub label: Option<String>,
    /// Password the recipient must send.
    pub password: Option<String>,
    /// Comma-separated CIDR networks the link may be used from.
    pub allowed_cidrs: Option<String>,
    /// Time before which the link cannot be used, RFC 3339.
    pub not_before: Option<String>,
    /// `true` or `false`: notify the creator of downloads.
    pub notify: Option<String>,
    /// JSON array of `{"label", "max_downloads"}` objects.
    pub recipients: Option<String>,
}

/// Body of a successful `GET /access/{token}` for a JSON client.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    /// Always `active`: a link that cannot be used gets an error instead.
    #[schema(example = "active")]
    pub status: &'static str,
    /// Link id (32 lowercase hex digits).
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub link_id: String,
    /// File name.
    pub filename: String,
    /// File size in bytes.
    pub size: u64,
    /// Media type stored for the file.
    pub content_type: String,
    /// SHA-256 of the file, lowercase hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: String,
    /// Expiry, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Number of downloads the link serves in all.
    pub max_downloads: u32,
    /// Downloads left.
    pub downloads_remaining: u32,
    /// `GET` this address to download the file; each `GET` uses one download.
    #[schema(format = "uri")]
    pub download_url: String,
}

impl LinkView {
    /// Describes a usable link; `download_url` carries the token.
    pub fn new(link: &Link, download_url: String) -> Self {
        Self {
            status: "active",
            link_id: link.id.as_str().to_owned(),
            filename: link.file_name.clone(),
            size: link.size,
            content_type: link.content_type.clone(),
            sha256: link.sha256.clone(),
            expires_at: rfc3339(link.expires_at),
            max_downloads: link.max_downloads,
            downloads_remaining: link.downloads_remaining(),
            download_url,
        }
    }
}

/// Body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `error`.
    #[schema(example = "error")]
    pub status: &'static str,
    /// Stable code to branch on, such as `not_found`, `used_up` or
    /// `invalid_parameter`. The table in the README lists every code.
    #[schema(example = "invalid_parameter")]
    pub error: &'static str,
    /// Explanation for people.
    pub message: String,
    /// The request field that is missing or invalid (422 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// When a new password attempt is allowed, RFC 3339 (423 `locked` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub retry_at: Option<String>,
    /// When the link opens, RFC 3339 (403 `not_yet_available` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub available_at: Option<String>,
    /// The plan's request limit for `period` (429 `quota_exceeded` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// The quota period that is used up, such as `day` (429 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<&'static str>,
    /// When the quota resets, RFC 3339 (429 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub resets_at: Option<String>,
}

/// Creator's view of a link, returned by `GET /links/{link_id}`, in each
/// entry of `GET /links`, and by `DELETE /links/{link_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkDetails {
    /// `revoked` in the response to `DELETE /links/{link_id}`, and absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "revoked")]
    pub status: Option<&'static str>,
    /// Link id (32 lowercase hex digits).
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub link_id: String,
    /// File name shown to the recipient.
    pub filename: String,
    /// File size in bytes (the declared size while a large upload is pending).
    pub size: u64,
    /// Media type stored for the file.
    pub content_type: String,
    /// SHA-256 of the file, lowercase hex; empty while a large upload is pending.
    #[schema(pattern = "^([0-9a-f]{64})?$")]
    pub sha256: String,
    /// Creator's label.
    pub label: Option<String>,
    /// Name of the recipient, for one of several links to the same file.
    pub recipient: Option<String>,
    /// State now: `active`, `pending`, `not_yet_available`, `used_up`,
    /// `expired` or `revoked`.
    #[schema(example = "active")]
    pub state: &'static str,
    /// Creation time, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Expiry, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Number of downloads the link serves in all.
    pub max_downloads: u32,
    /// Downloads served.
    pub downloads: u32,
    /// Downloads left.
    pub downloads_remaining: u32,
    /// The link's restrictions.
    pub restrictions: Restrictions,
    /// End of a lock after too many wrong passwords, RFC 3339 UTC; present
    /// only while the link is locked.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub locked_until: Option<String>,
    /// Address for the recipient, signed again from the stored record;
    /// present only in `GET /links/{link_id}` while the link can be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uri")]
    pub access_url: Option<String>,
}

/// Restrictions of a link, in [`LinkDetails`].
#[derive(Debug, Serialize, ToSchema)]
pub struct Restrictions {
    /// Whether the link needs a password (the hash is never shown).
    pub password: bool,
    /// Networks (CIDR) the link may be used from; empty for any.
    pub allowed_cidrs: Vec<String>,
    /// Time before which the link cannot be used, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub not_before: Option<String>,
    /// Whether the creator is notified of the first opening and last download.
    pub notify: bool,
}

/// Body of `GET /links`: one page of the creator's links, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkList {
    /// The links of this page.
    pub links: Vec<LinkDetails>,
    /// Send as `cursor` for the next page; `null` after the last page.
    pub next_cursor: Option<String>,
}

/// Body of `POST /links/revoke`: exactly one of `label` or `all: true`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// Revoke the creator's live links with this label.
    #[schema(example = "INC-2041")]
    pub label: Option<String>,
    /// `true` to revoke every live link of the creator.
    pub all: Option<bool>,
}

/// Body of a successful `POST /links/revoke`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedLinks {
    /// Always `revoked`.
    #[schema(example = "revoked")]
    pub status: &'static str,
    /// Number of links revoked.
    pub revoked: usize,
    /// Ids of the links revoked; links that could no longer be used are left out.
    pub link_ids: Vec<String>,
}

/// One audit record of a link.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecord {
    /// Time of the request, RFC 3339 UTC with milliseconds.
    #[schema(format = DateTime)]
    pub at: String,
    /// `view`, `download` or `denied`.
    #[schema(example = "view")]
    pub action: &'static str,
    /// `served` or `denied`.
    #[schema(example = "served")]
    pub outcome: &'static str,
    /// Why, such as `used_up`, `wrong_password` or `redirect`.
    pub reason: Option<String>,
    /// Source IP the gateway saw.
    pub source_ip: String,
    /// The request's user agent.
    pub user_agent: String,
    /// 16 hex digits naming the token used, never the token.
    pub token_fingerprint: String,
}

/// Body of `GET /links/{link_id}/audit`: one page of records, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// The link's id.
    pub link_id: String,
    /// The records of this page.
    pub events: Vec<AuditRecord>,
    /// Send as `cursor` for the next page; `null` after the last page.
    pub next_cursor: Option<String>,
}

/// Body of `POST /upload-url`. Any field not listed is rejected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadUrlBody {
    /// File name the link serves.
    #[schema(example = "dump.tar.gz")]
    pub filename: String,
    /// Size in bytes the upload must have, from 1 to `MAX_LARGE_UPLOAD_BYTES`.
    #[schema(minimum = 1, example = 1_073_741_824)]
    pub size: i64,
    /// Media type to store; guessed from the name when absent.
    pub content_type: Option<String>,
    /// Link lifetime in minutes; `DEFAULT_EXPIRE_MINUTES` (60) when absent.
    #[schema(minimum = 1)]
    pub expire_minutes: Option<i64>,
    /// Number of downloads; 1 when absent.
    #[schema(minimum = 1)]
    pub max_downloads: Option<i64>,
    /// Creator's label.
    pub label: Option<String>,
    /// Password the recipient must send.
    pub password: Option<String>,
    /// Networks (CIDR) the link may be used from.
    pub allowed_cidrs: Option<Vec<String>>,
    /// Time before which the link cannot be used, RFC 3339.
    #[schema(format = DateTime)]
    pub not_before: Option<String>,
    /// Notify the creator of the first opening and last download.
    pub notify: Option<bool>,
    /// Not supported here (422): make recipient links with
    /// `POST /generate-link` once the file has arrived.
    pub recipients: Option<Vec<RecipientRequestBody>>,
}

/// Body of a successful `POST /upload-url`: a pending link (`status:
/// pending`, empty `sha256`) and where to send the bytes.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadUrlCreated {
    /// The pending link.
    #[serde(flatten)]
    pub link: LinkCreated,
    /// Send the file's bytes here with `upload_method`.
    #[schema(format = "uri")]
    pub upload_url: String,
    /// Always `PUT`.
    #[schema(example = "PUT")]
    pub upload_method: String,
    /// Headers to send with the upload.
    pub upload_headers: std::collections::BTreeMap<String, String>,
    /// Time from which the upload URL is refused, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub upload_expires_at: String,
}

/// Form of `POST /access/{token}` (`application/x-www-form-urlencoded`),
/// as the recipient page's password prompt sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordForm {
    /// The link's password.
    #[schema(format = Password)]
    pub password: String,
}

/// Form of `POST /files/{filename}` (`application/x-www-form-urlencoded`),
/// as the recipient page's download button sends it for a password link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadForm {
    /// The link token.
    pub token: String,
    /// The link's password, when it has one.
    #[schema(format = Password)]
    pub password: Option<String>,
}
