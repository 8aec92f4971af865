//! The creator's side of links made earlier: list and show them, revoke
//! one or many, and read their audit trail.
//!
//! A creator can read and change only links made with their own API key.
//! Any other link id gets 404, the same as an id that never existed, so ids
//! of other creators cannot be probed.
//!
//! The audit export is JSON lines, oldest first, with a hash chain: each
//! line carries `prev_hash` and `hash`, where `hash` is the SHA-256 (hex) of
//! `prev_hash` followed by the line's record fields as compact JSON in the
//! order written. The first `prev_hash` is 64 zeros. Records are only ever
//! appended, so the `hash` at line N of a later export equals the last
//! `hash` of an earlier export with N lines; a record deleted or edited
//! since then breaks that equality, and an edited line breaks the chain of
//! the file itself.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::App;
use crate::api::{AuditRecord, LinkDetails, Restrictions};
use crate::domain::{AuditAction, AuditEvent, Link, LinkId, LinkState, ParamError};
use crate::http::ApiError;
use crate::ports::Page;
use crate::secret::RawToken;
use crate::service::rfc3339;
use crate::uploads::Finalised;

/// Default page size.
pub const DEFAULT_PAGE: u32 = 50;
/// Largest page size.
pub const MAX_PAGE: u32 = 200;
/// The `prev_hash` of the first exported record.
pub const CHAIN_START: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Reads a `limit` query value.
///
/// # Errors
///
/// 422 for anything but an integer from 1 to [`MAX_PAGE`].
pub fn page_size(value: Option<&str>) -> Result<u32, ParamError> {
    match value {
        None => Ok(DEFAULT_PAGE),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ParamError::new("limit", format!("must be an integer from 1 to {MAX_PAGE}"))
            }),
    }
}

/// Turns a store's cursor into the text clients send back.
pub fn encode_cursor(raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(raw.as_bytes())
}

/// Reads a cursor a client sent back.
///
/// # Errors
///
/// 422 when it is not one this service made.
pub fn decode_cursor(text: &str) -> Result<String, ParamError> {
    URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|raw| raw.len() <= 128)
        .ok_or_else(|| ParamError::new("cursor", "is not a cursor this service returned"))
}

fn cursor_error(error: crate::ports::StoreError) -> ApiError {
    if error.is_bad_cursor() {
        ParamError::new("cursor", "is not a cursor this service returned").into()
    } else {
        error.into()
    }
}

/// Filters of a listing.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// Only links with this label.
    pub label: Option<String>,
    /// Only links in this state.
    pub state: Option<String>,
    /// Cursor of the page to continue from.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: u32,
}

/// States a listing may filter on.
pub const STATES: [&str; 6] = [
    "active",
    "pending",
    "not_yet_available",
    "used_up",
    "expired",
    "revoked",
];

/// Lists the creator's links, newest first.
///
/// # Errors
///
/// 422 for a bad filter or cursor; 500 when the store fails.
pub async fn list(app: &App, creator: &str, query: ListQuery) -> Result<Page<Link>, ApiError> {
    if let Some(state) = &query.state
        && !STATES.contains(&state.as_str())
    {
        return Err(
            ParamError::new("state", format!("must be one of {}", STATES.join(", "))).into(),
        );
    }
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let page = app
        .links
        .list_by_creator(
            creator,
            query.label.as_deref(),
            after.as_deref(),
            query.limit,
        )
        .await
        .map_err(cursor_error)?;
    let now = app.clock.now();
    let items = match &query.state {
        Some(state) => page
            .items
            .into_iter()
            .filter(|link| link.status(now) == state)
            .collect(),
        None => page.items,
    };
    Ok(Page {
        items,
        next: page.next.as_deref().map(encode_cursor),
    })
}

/// Reads one of the creator's links.
///
/// # Errors
///
/// 422 for a malformed id, 404 for an unknown id or another creator's link.
pub async fn own_link(app: &App, creator: &str, id: &str) -> Result<Link, ApiError> {
    let id = LinkId::parse(id)
        .ok_or_else(|| ParamError::new("link_id", "must be 32 lowercase hex digits"))?;
    match app.links.get(&id).await? {
        Some(link) if link.creator == creator => Ok(link),
        Some(_) => {
            tracing::warn!(link_id = %id, creator, "denied: link of another creator");
            Err(no_such_link())
        }
        None => Err(no_such_link()),
    }
}

/// Reads one of the creator's links for `GET /links/{id}`. A pending large
/// upload whose object has arrived is finalised first, as `/access` does, so
/// a creator polling this route finds the link active even when no
/// storage event runs. Counts no view or download.
///
/// # Errors
///
/// As [`own_link`]. A store failure while finalising is logged, and the
/// link is returned still pending so that the caller can poll again.
pub async fn own_link_finalised(app: &App, creator: &str, id: &str) -> Result<Link, ApiError> {
    let link = own_link(app, creator, id).await?;
    if link.state(app.clock.now()) != LinkState::Pending {
        return Ok(link);
    }
    match crate::uploads::finalise_upload(app, &link.object.key).await {
        Ok(Finalised::NotArrived) => Ok(link),
        Ok(_) => Ok(app.links.get(&link.id).await?.unwrap_or(link)),
        Err(error) => {
            tracing::error!(link_id = %link.id, error = %error,
                "finalising a pending upload for its creator failed");
            Ok(link)
        }
    }
}

fn no_such_link() -> ApiError {
    ApiError::NotFound("you have no link with this id".into())
}

/// Makes the token of a live link again, for its creator. Tokens are never
/// stored; signing the same claims again gives a token for the same link.
pub async fn reissue(app: &App, link: &Link) -> Option<RawToken> {
    let keys = app
        .keys
        .get()
        .await
        .map_err(|error| tracing::error!(link_id = %link.id, %error, "signing keys unavailable"))
        .ok()?;
    keys.sign(&link.id, link.created_at, link.expires_at)
        .map_err(|error| tracing::error!(link_id = %link.id, %error, "signing a token failed"))
        .ok()
}

/// Describes a link for its creator. `access_url` is present only when
/// the link can still be used and `base` is given.
pub async fn link_details(app: &App, link: &Link, base: Option<&str>) -> LinkDetails {
    let now = app.clock.now();
    let state = link.status(now);
    let access_url = match base.filter(|_| matches!(state, "active" | "not_yet_available")) {
        Some(base) => reissue(app, link)
            .await
            .map(|token| format!("{base}/access/{}", token.expose())),
        None => None,
    };
    LinkDetails {
        status: None,
        link_id: link.id.as_str().to_owned(),
        filename: link.file_name.clone(),
        size: link.size,
        content_type: link.content_type.clone(),
        sha256: link.sha256.clone(),
        label: link.label.clone(),
        recipient: link.policy.recipient.clone(),
        state,
        created_at: rfc3339(link.created_at),
        expires_at: rfc3339(link.expires_at),
        max_downloads: link.max_downloads,
        downloads: link.downloads,
        downloads_remaining: link.downloads_remaining(),
        restrictions: Restrictions {
            password: link.policy.password_hash.is_some(),
            allowed_cidrs: link.policy.allowed_cidrs.clone(),
            not_before: link.policy.not_before.map(rfc3339),
            notify: link.policy.notify,
        },
        locked_until: (link.activity.locked_until > now)
            .then(|| rfc3339(link.activity.locked_until)),
        access_url,
    }
}

/// Builds the JSON of a link for its creator; see [`link_details`].
pub async fn link_json(app: &App, link: &Link, base: Option<&str>) -> Value {
    serde_json::to_value(link_details(app, link, base).await).unwrap_or_default()
}

/// Revokes one of the creator's links. Revoking a revoked link succeeds.
///
/// # Errors
///
/// 404 for an unknown id or another creator's link.
pub async fn revoke(app: &App, creator: &str, id: &str) -> Result<Link, ApiError> {
    let mut link = own_link(app, creator, id).await?;
    app.links.revoke(&link.id).await?;
    tracing::info!(link_id = %link.id, creator, "link revoked");
    link.revoked = true;
    Ok(link)
}

/// Selection of links for a bulk revocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every link of the creator.
    All,
    /// The creator's links with this label.
    Label(String),
}

/// Revokes every live link of the creator, or those with a label. Returns
/// the ids revoked.
///
/// # Errors
///
/// 500 when the store fails; links revoked before the failure stay revoked.
pub async fn revoke_many(
    app: &App,
    creator: &str,
    selection: &Selection,
) -> Result<Vec<LinkId>, ApiError> {
    let label = match selection {
        Selection::All => None,
        Selection::Label(label) => Some(label.as_str()),
    };
    let now = app.clock.now();
    let mut revoked = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app
            .links
            .list_by_creator(creator, label, after.as_deref(), MAX_PAGE)
            .await?;
        for link in page.items {
            if matches!(link.status(now), "active" | "not_yet_available") {
                app.links.revoke(&link.id).await?;
                revoked.push(link.id);
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    tracing::info!(
        creator,
        count = revoked.len(),
        by_label = label.is_some(),
        "links revoked"
    );
    Ok(revoked)
}

/// Describes one audit record.
pub fn audit_record(event: &AuditEvent) -> AuditRecord {
    AuditRecord {
        at: rfc3339_ms(event.at_ms),
        action: event.action.code(),
        outcome: if event.action == AuditAction::Denied {
            "denied"
        } else {
            "served"
        },
        reason: event.reason.clone(),
        source_ip: event.source_ip.clone(),
        user_agent: event.user_agent.clone(),
        token_fingerprint: event.token_fingerprint.clone(),
    }
}

/// Builds the JSON of one audit record; see [`audit_record`].
pub fn event_json(event: &AuditEvent) -> Value {
    serde_json::to_value(audit_record(event)).unwrap_or_default()
}

fn rfc3339_ms(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Reads one page of a link's audit trail, newest first.
///
/// # Errors
///
/// 404 for another creator's link, 422 for a bad cursor.
pub async fn audit_page(
    app: &App,
    creator: &str,
    id: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<AuditEvent>, ApiError> {
    let link = own_link(app, creator, id).await?;
    let before = cursor.map(decode_cursor).transpose()?;
    let page = app
        .audit
        .page(&link.id, before.as_deref(), limit)
        .await
        .map_err(cursor_error)?;
    Ok(Page {
        items: page.items,
        next: page.next.as_deref().map(encode_cursor),
    })
}

/// Exports a link's audit trail as hash-chained JSON lines. Returns the
/// text and the last hash.
///
/// # Errors
///
/// 404 for another creator's link.
pub async fn audit_export(
    app: &App,
    creator: &str,
    id: &str,
) -> Result<(String, String), ApiError> {
    let link = own_link(app, creator, id).await?;
    let events = app.audit.list(&link.id).await?;
    Ok(chain(&link.id, &events))
}

/// Builds the hash-chained lines for `events`, oldest first.
pub fn chain(id: &LinkId, events: &[AuditEvent]) -> (String, String) {
    let mut text = String::new();
    let mut previous = CHAIN_START.to_owned();
    for (index, event) in events.iter().enumerate() {
        let mut record = event_json(event);
        record["link_id"] = json!(id.as_str());
        record["seq"] = json!(index + 1);
        let body = record.to_string();
        let hash = hex::encode(Sha256::digest(format!("{previous}{body}").as_bytes()));
        record["prev_hash"] = json!(previous);
        record["hash"] = json!(hash);
        text.push_str(&record.to_string());
        text.push('\n');
        previous = hash;
    }
    (text, previous)
}

/// Checks a chain as [`chain`] writes it; returns the last hash, or the
/// 1-based line that breaks it.
///
/// # Errors
///
/// The number of the first line whose hash does not follow.
pub fn verify_chain(text: &str) -> Result<String, usize> {
    let mut previous = CHAIN_START.to_owned();
    for (index, line) in text.lines().enumerate() {
        let mut record: Value = serde_json::from_str(line).map_err(|_| index + 1)?;
        let object = record.as_object_mut().ok_or(index + 1)?;
        let hash = object.remove("hash").ok_or(index + 1)?;
        let prev = object.remove("prev_hash").ok_or(index + 1)?;
        if prev.as_str() != Some(previous.as_str()) {
            return Err(index + 1);
        }
        let body = Value::Object(object.clone()).to_string();
        let expected = hex::encode(Sha256::digest(format!("{previous}{body}").as_bytes()));
        if hash.as_str() != Some(expected.as_str()) {
            return Err(index + 1);
        }
        previous = expected;
    }
    Ok(previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at_ms: i64, action: AuditAction) -> AuditEvent {
        AuditEvent {
            link_id: LinkId::generate(),
            at_ms,
            action,
            reason: None,
            source_ip: "203.0.113.9".into(),
            user_agent: "curl/8".into(),
            token_fingerprint: "0123456789abcdef".into(),
            retain_until: 0,
        }
    }

    #[test]
    fn chain_verifies_and_detects_edits_and_deletions() {
        let id = LinkId::generate();
        let events = [
            event(1_000, AuditAction::View),
            event(2_000, AuditAction::Download),
            event(3_000, AuditAction::Denied),
        ];
        let (text, head) = chain(&id, &events);
        assert_eq!(verify_chain(&text), Ok(head.clone()));

        let edited = text.replacen("203.0.113.9", "198.51.100.1", 1);
        assert_eq!(verify_chain(&edited), Err(1));

        let lines: Vec<&str> = text.lines().collect();
        let without_second = format!("{}\n{}\n", lines[0], lines[2]);
        assert_eq!(verify_chain(&without_second), Err(2));

        // An earlier export's head is the hash at the same line of a later one.
        let (earlier, earlier_head) = chain(&id, &events[..2]);
        assert!(text.starts_with(&earlier));
        assert_ne!(earlier_head, head);
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let raw = "000001700000#0123456789abcdef0123456789abcdef";
        assert_eq!(decode_cursor(&encode_cursor(raw)), Ok(raw.to_owned()));
        assert!(decode_cursor("%%%").is_err());
        assert!(decode_cursor(&encode_cursor(&"x".repeat(200))).is_err());
    }

    #[test]
    fn page_size_is_bounded() {
        assert_eq!(page_size(None), Ok(DEFAULT_PAGE));
        assert_eq!(page_size(Some("7")), Ok(7));
        for bad in ["0", "201", "-1", "ten", ""] {
            assert!(page_size(Some(bad)).is_err(), "{bad}");
        }
    }
}
