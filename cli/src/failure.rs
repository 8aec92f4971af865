//! Exit codes and the errors that carry them.
//!
//! The codes are part of the command's interface, so scripts can rely on
//! them. 0 is success and 2 a usage or local set-up error (a bad flag, no API
//! key, an unreadable file). 3 is not found (404), 4 refused (401, 403, 410,
//! 423), 5 quota used up (429) and 6 any other 4xx. 7 is a server or network
//! error, and 8 an audit export whose hash chain does not verify.

use serde_json::Value;

pub const USAGE: u8 = 2;
pub const NOT_FOUND: u8 = 3;
pub const REFUSED: u8 = 4;
pub const QUOTA: u8 = 5;
pub const INVALID: u8 = 6;
pub const SERVER: u8 = 7;
pub const BROKEN_CHAIN: u8 = 8;

/// A failed command: the exit code, a message for stderr, and the server's
/// error body when there is one (printed unchanged with `--json`).
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub body: Option<String>,
    /// HTTP status of the error response, if the server sent one.
    pub status: Option<u16>,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            body: None,
            status: None,
        }
    }

    /// Builds the failure for an HTTP error response, with a hint on what to
    /// do next where one applies.
    pub fn from_response(status: u16, body: String) -> Self {
        let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let error = parsed["error"].as_str().unwrap_or("");
        let server_message = parsed["message"]
            .as_str()
            .map_or_else(|| format!("HTTP {status}"), str::to_owned);
        let code = exit_code(status);
        let hint = match (status, error) {
            (401, "missing_api_key") | (403, "invalid_api_key" | "") => {
                "; check the API key in LINK_API_KEY, --api-key-file or the config file".to_owned()
            }
            (401, "password_required" | "wrong_password") => {
                "; pass the link's password with --password-stdin".to_owned()
            }
            (404, _) => "; check the link id (`linkctl list` shows yours) or the URL".to_owned(),
            (423, _) => match parsed["retry_at"].as_str() {
                Some(at) => format!("; try again after {at}"),
                None => String::new(),
            },
            (429, _) => match parsed["resets_at"].as_str() {
                Some(at) => format!("; the quota resets at {at}"),
                None => String::new(),
            },
            (500..=599, _) => "; try again later, or check the server's log".to_owned(),
            _ => String::new(),
        };
        let label = if error.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("{error}, HTTP {status}")
        };
        Self {
            code,
            message: format!("{server_message} ({label}){hint}"),
            body: Some(body),
            status: Some(status),
        }
    }
}

/// Maps an HTTP error status to the exit code.
pub fn exit_code(status: u16) -> u8 {
    match status {
        404 => NOT_FOUND,
        401 | 403 | 410 | 423 => REFUSED,
        429 => QUOTA,
        400..=499 => INVALID,
        _ => SERVER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_documented_codes() {
        let table = [
            (404, NOT_FOUND),
            (401, REFUSED),
            (403, REFUSED),
            (410, REFUSED),
            (423, REFUSED),
            (429, QUOTA),
            (400, INVALID),
            (413, INVALID),
            (422, INVALID),
            (500, SERVER),
            (503, SERVER),
        ];
        for (status, code) in table {
            assert_eq!(exit_code(status), code, "status {status}");
        }
    }

    #[test]
    fn quota_message_names_reset() {
        let body = r#"{"status":"error","error":"quota_exceeded","message":"used up","resets_at":"2026-12-05T00:00:00Z"}"#;
        let failure = Failure::from_response(429, body.to_owned());
        assert_eq!(failure.code, QUOTA);
        assert!(failure.message.contains("2026-12-05T00:00:00Z"));
        assert!(failure.message.contains("quota_exceeded"));
        assert_eq!(failure.body.as_deref(), Some(body));
    }
}
