//! The optional settings a creator may send with a new link, as read from
//! JSON fields or multipart text parts, and their checked form.

use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::{DownloadLimit, ParamError, Policy, check_password, parse_cidrs, parse_label};
use crate::http::Fields;

/// Names of the JSON fields and form parts this module reads.
pub const OPTION_FIELDS: [&str; 6] = [
    "label",
    "password",
    "allowed_cidrs",
    "not_before",
    "notify",
    "recipients",
];

/// Most recipient links one request may make.
pub const MAX_RECIPIENTS: usize = 20;

/// A password as sent by a creator or recipient; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the password, for hashing or checking only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(redacted)")
    }
}

/// One recipient link asked for: its recipient's name and download limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecipientRequest {
    /// Name of the recipient, sent as the entry's `label`.
    pub label: Option<String>,
    /// Downloads for this recipient; the request's limit when absent.
    pub max_downloads: Option<i64>,
}

/// Settings as sent, not yet checked.
#[derive(Clone, Debug, Default)]
pub struct LinkOptions {
    /// Label for listing and revoking together.
    pub label: Option<String>,
    /// Password the recipient must give.
    pub password: Option<Password>,
    /// Networks the recipient must come from.
    pub allowed_cidrs: Vec<String>,
    /// RFC 3339 time before which the link is closed.
    pub not_before: Option<String>,
    /// Whether to announce the first opening and the last download.
    pub notify: bool,
    /// Several recipient links for the same file.
    pub recipients: Vec<RecipientRequest>,
}

/// One link to make, with its recipient's name and limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkPlan {
    /// The recipient's name, when the request listed recipients.
    pub recipient: Option<String>,
    /// The link's download limit.
    pub limit: DownloadLimit,
}

/// Checked settings: the policy shared by every link of the request and
/// one plan per link.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Label of every link made.
    pub label: Option<String>,
    /// Restrictions of every link made.
    pub policy: Policy,
    /// The links to make; at least one.
    pub plans: Vec<LinkPlan>,
}

impl LinkOptions {
    /// Reads the optional settings from a JSON body.
    ///
    /// # Errors
    ///
    /// 422 naming the field with the wrong type.
    pub fn from_fields(fields: &Fields<'_>) -> Result<Self, ParamError> {
        Ok(Self {
            label: fields.string("label")?,
            password: fields.string("password")?.map(Password::new),
            allowed_cidrs: fields.strings("allowed_cidrs")?.unwrap_or_default(),
            not_before: fields.string("not_before")?,
            notify: fields.boolean("notify")?.unwrap_or(false),
            recipients: match fields.value("recipients") {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(value) => parse_recipients(value)?,
            },
        })
    }

    /// Takes one multipart text part named `name`. Returns `false` when
    /// the name is not an option.
    ///
    /// # Errors
    ///
    /// 422 for a bad value.
    pub fn set_text(&mut self, name: &str, text: &str) -> Result<bool, ParamError> {
        match name {
            "label" => self.label = Some(text.to_owned()),
            "password" => self.password = Some(Password::new(text)),
            "allowed_cidrs" => {
                self.allowed_cidrs = text
                    .split(',')
                    .map(str::trim)
                    .filter(|part| !part.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "not_before" => self.not_before = Some(text.to_owned()),
            "notify" => {
                self.notify = match text.trim() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(ParamError::new("notify", "must be true or false")),
                }
            }
            "recipients" => {
                let value: serde_json::Value = serde_json::from_str(text).map_err(|_| {
                    ParamError::new("recipients", "must be a JSON array of objects")
                })?;
                self.recipients = parse_recipients(&value)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks every setting against `expires_at` and the limits.
    /// `default_limit` is the request's own download limit.
    ///
    /// # Errors
    ///
    /// 422 naming the first bad field.
    pub fn prepare(
        self,
        expires_at: i64,
        default_limit: DownloadLimit,
        max_downloads: u32,
    ) -> Result<(Prepared, Option<Password>), ParamError> {
        let label = self.label.as_deref().map(parse_label).transpose()?;
        if let Some(password) = &self.password {
            check_password(password.expose())?;
        }
        let not_before = self
            .not_before
            .as_deref()
            .map(|text| {
                OffsetDateTime::parse(text, &Rfc3339)
                    .map(OffsetDateTime::unix_timestamp)
                    .map_err(|_| {
                        ParamError::new(
                            "not_before",
                            "must be an RFC 3339 time such as 2026-01-15T09:00:00Z",
                        )
                    })
            })
            .transpose()?;
        if not_before.is_some_and(|t| t >= expires_at) {
            return Err(ParamError::new(
                "not_before",
                "must be before the link expires",
            ));
        }
        let policy = Policy {
            password_hash: None,
            allowed_cidrs: parse_cidrs(&self.allowed_cidrs)?,
            not_before,
            notify: self.notify,
            recipient: None,
        };
        let plans = if self.recipients.is_empty() {
            vec![LinkPlan {
                recipient: None,
                limit: default_limit,
            }]
        } else {
            self.recipients
                .into_iter()
                .map(|recipient| {
                    Ok(LinkPlan {
                        recipient: recipient
                            .label
                            .as_deref()
                            .map(parse_label)
                            .transpose()
                            .map_err(|e| {
                                ParamError::new("recipients", format!("label {}", e.message))
                            })?,
                        limit: match recipient.max_downloads {
                            Some(value) => {
                                DownloadLimit::new(value, max_downloads).map_err(|e| {
                                    ParamError::new(
                                        "recipients",
                                        format!("max_downloads {}", e.message),
                                    )
                                })?
                            }
                            None => default_limit,
                        },
                    })
                })
                .collect::<Result<Vec<_>, ParamError>>()?
        };
        Ok((
            Prepared {
                label,
                policy,
                plans,
            },
            self.password,
        ))
    }
}

fn parse_recipients(value: &serde_json::Value) -> Result<Vec<RecipientRequest>, ParamError> {
    let invalid = |message: &str| ParamError::new("recipients", message.to_owned());
    let items = value
        .as_array()
        .ok_or_else(|| invalid("must be an array of {\"label\", \"max_downloads\"} objects"))?;
    if items.is_empty() || items.len() > MAX_RECIPIENTS {
        return Err(invalid(&format!(
            "must list 1 to {MAX_RECIPIENTS} recipients, got {}",
            items.len()
        )));
    }
    items
        .iter()
        .map(|item| {
            let map = item
                .as_object()
                .ok_or_else(|| invalid("entries must be objects"))?;
            if let Some(unknown) = map
                .keys()
                .find(|k| !["label", "max_downloads"].contains(&k.as_str()))
            {
                let shown: String = unknown.chars().take(64).collect();
                return Err(invalid(&format!(
                    "entry has an unknown field {shown:?}; accepted: label, max_downloads"
                )));
            }
            let label = match map.get("label") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(invalid("label must be a string")),
            };
            let max_downloads = match map.get("max_downloads") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(
                    v.as_i64()
                        .ok_or_else(|| invalid("max_downloads must be an integer"))?,
                ),
            };
            Ok(RecipientRequest {
                label,
                max_downloads,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(n: i64) -> DownloadLimit {
        DownloadLimit::new(n, 100).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn password_debug_is_redacted() {
        let shown = format!("{:?}", Password::new("hunter22hunter22"));
        assert!(!shown.contains("hunter22"));
    }

    #[test]
    fn recipients_get_their_own_labels_and_limits() {
        let options = LinkOptions {
            label: Some("INC-1".into()),
            recipients: vec![
                RecipientRequest {
                    label: Some("legal".into()),
                    max_downloads: Some(3),
                },
                RecipientRequest::default(),
            ],
            ..LinkOptions::default()
        };
        let Ok((prepared, _)) = options.prepare(1_000, limit(1), 100) else {
            panic!("options were refused");
        };
        assert_eq!(prepared.label.as_deref(), Some("INC-1"));
        assert_eq!(
            prepared.plans,
            vec![
                LinkPlan {
                    recipient: Some("legal".into()),
                    limit: limit(3)
                },
                LinkPlan {
                    recipient: None,
                    limit: limit(1)
                },
            ]
        );
    }

    #[test]
    fn not_before_must_parse_and_precede_expiry() {
        let at = |text: &str| LinkOptions {
            not_before: Some(text.into()),
            ..LinkOptions::default()
        };
        assert!(at("tomorrow").prepare(1_000, limit(1), 100).is_err());
        assert!(
            at("1970-01-01T00:16:40Z")
                .prepare(1_000, limit(1), 100)
                .is_err()
        );
        let Ok((prepared, _)) = at("1970-01-01T00:10:00Z").prepare(1_000, limit(1), 100) else {
            panic!("a time before expiry was refused");
        };
        assert_eq!(prepared.policy.not_before, Some(600));
    }

    #[test]
    fn bad_text_parts_are_refused() {
        let mut options = LinkOptions::default();
        assert!(options.set_text("notify", "yes").is_err());
        assert!(options.set_text("recipients", "[]").is_err());
        assert!(options.set_text("recipients", "[{\"x\":1}]").is_err());
        assert_eq!(options.set_text("colour", "red"), Ok(false));
        assert_eq!(
            options.set_text("allowed_cidrs", "10.0.0.0/8, 192.0.2.1"),
            Ok(true)
        );
        assert_eq!(options.allowed_cidrs, vec!["10.0.0.0/8", "192.0.2.1"]);
    }
}
