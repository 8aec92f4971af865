//! The link rules: what a link is, when it may be viewed or downloaded, and
//! which parameters a creator may set. Pure and synchronous; no I/O.
//!
//! A link is usable while it is not revoked, the current time is before its
//! expiry, and fewer downloads than its limit have been served. Viewing the
//! metadata never counts as a download, so mail scanners and chat previews
//! that open a link do not use it up.
//!
//! Refusals of a genuine link return 410 Gone (expired, revoked, used up),
//! which confirms to the holder that the link existed. A token that does not verify
//! answers 404, the same as a link that was never made, so a forger learns
//! nothing about which links exist.

mod file_name;
mod link;
mod media;
mod policy;

pub use file_name::{FileName, FileNameError};
pub use link::{
    AuditAction, AuditEvent, Denial, DownloadLimit, ExpireMinutes, Link, LinkId, LinkState,
    ObjectRef, ParamError,
};
pub use media::{content_type_for, served_content_type};
pub use policy::{
    Activity, HashError, LOCK_AFTER_FAILURES, LOCK_SECONDS, Policy, check_password, hash_password,
    parse_cidrs, parse_label, verify_password,
};
