//! Configuration, read once at cold start from environment variables.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `LINK_TABLE` | DynamoDB table of links and audit records | unset: embedded store |
//! | `FILE_BUCKET` | S3 bucket of file bytes | unset: embedded store |
//! | `DATA_DIR` | folder of the embedded store | `.data` |
//! | `ALLOWED_BUCKETS` | further buckets `file_url` may name, comma-separated | none |
//! | `ALLOWED_FETCH_HOSTS` | host names whose https `file_url` is fetched and copied in, comma-separated | none |
//! | `SIGNING_KEYS` | `kid:base64url-key,...`, first signs | none |
//! | `SIGNING_KEYS_SECRET_ID` | Secrets Manager secret holding the same text | none |
//! | `API_KEYS` | keys the handlers accept in `x-api-key` when no gateway checked one | none |
//! | `PUBLIC_BASE_URL` | base of `access_url` | taken from the request |
//! | `MAX_EXPIRE_MINUTES` | longest link lifetime | 10080 (7 days) |
//! | `DEFAULT_EXPIRE_MINUTES` | lifetime of an upload without `expire_minutes` | 60 |
//! | `MAX_DOWNLOADS_LIMIT` | highest `max_downloads` a creator may set | 100 |
//! | `MAX_UPLOAD_BYTES` | largest file `/upload-file` takes | 4194304 (4 MiB) |
//! | `MAX_INLINE_DOWNLOAD_BYTES` | largest file served in the response; larger ones get a presigned S3 redirect | 4194304 (4 MiB) |
//! | `MAX_LARGE_UPLOAD_BYTES` | largest `size` `/upload-url` accepts | 5368709120 (5 GiB) |
//! | `UPLOAD_URL_MINUTES` | lifetime of an upload URL from `/upload-url` | 60 |
//! | `AUDIT_RETENTION_DAYS` | how long records outlive their link | 90 |
//! | `API_KEY_TIERS` | plan tier per API key id, `KEYID=tier,...` (see [`crate::quota`]) | none |
//! | `DEFAULT_TIER` | tier of a key not in `API_KEY_TIERS`: `free`, `developer`, `professional` or `enterprise` | `free` |
//!
//! Exactly one of `SIGNING_KEYS` and `SIGNING_KEYS_SECRET_ID` is needed on
//! AWS; the local server makes and keeps a key of its own when neither is set.

use std::path::PathBuf;

use crate::quota::Plans;
use crate::secret::SecretBytes;

/// Storage back end for links and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// DynamoDB table and S3 bucket.
    Aws {
        /// Table name.
        table: String,
        /// Bucket name.
        bucket: String,
    },
    /// SQLite file and a folder of bytes under `data_dir`.
    Embedded {
        /// Store folder.
        data_dir: PathBuf,
    },
}

/// Name the embedded store gives its one bucket, for `s3://` file URLs.
pub const EMBEDDED_BUCKET: &str = "local-files";

/// Source of the signing keys.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// The keyring text itself.
    Inline(SecretBytes),
    /// A Secrets Manager secret id or ARN whose value is the keyring text.
    SecretsManager(String),
    /// Not configured.
    Missing,
}

/// Every setting of the service.
#[derive(Clone, Debug)]
pub struct Config {
    /// Storage back end.
    pub backend: Backend,
    /// Extra buckets `file_url` may name besides the product's own.
    pub allowed_buckets: Vec<String>,
    /// Host names whose https URLs `/generate-link` fetches, lowercase.
    pub allowed_fetch_hosts: Vec<String>,
    /// Signing keys.
    pub keys: KeySource,
    /// Keys the handlers check themselves when no gateway did.
    pub api_keys: Vec<SecretBytes>,
    /// Base of `access_url`, without a trailing slash.
    pub public_base_url: Option<String>,
    /// Maximum lifetime a creator may request, in minutes.
    pub max_expire_minutes: u32,
    /// Lifetime of an upload that names none.
    pub default_expire_minutes: u32,
    /// Highest download limit a creator may ask for.
    pub max_downloads_limit: u32,
    /// Largest file `/upload-file` stores.
    pub max_upload_bytes: u64,
    /// Largest file served inside the response; a Lambda response carries
    /// 6 MB at most, and binary bodies grow by a third in base64.
    pub max_inline_download_bytes: u64,
    /// Largest file a presigned upload from `/upload-url` may declare.
    pub max_large_upload_bytes: u64,
    /// Lifetime of a presigned upload URL, in minutes; never longer than
    /// the link's own lifetime.
    pub upload_url_minutes: u32,
    /// Days audit records are kept after their link expires.
    pub audit_retention_days: u32,
    /// EventBridge bus for notifications (`EVENT_BUS_NAME`); none are sent
    /// on AWS without it.
    pub event_bus: Option<String>,
    /// Plan tier of each API key, which sets its call quotas.
    pub plans: Plans,
}

/// A variable that is set but unusable.
#[derive(Debug, thiserror::Error)]
#[error("invalid {name}: {message}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// Problem description.
    pub message: String,
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    ///
    /// Names the first variable that is set but invalid.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, which returns a variable's
    /// value or `None`.
    ///
    /// # Errors
    ///
    /// Names the first variable that is set but invalid.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let backend = match (get("LINK_TABLE"), get("FILE_BUCKET")) {
            (Some(table), Some(bucket)) => Backend::Aws { table, bucket },
            (None, None) => Backend::Embedded {
                data_dir: PathBuf::from(get("DATA_DIR").unwrap_or_else(|| ".data".into())),
            },
            (Some(_), None) => return Err(missing_pair("FILE_BUCKET", "LINK_TABLE")),
            (None, Some(_)) => return Err(missing_pair("LINK_TABLE", "FILE_BUCKET")),
        };
        let keys = match (get("SIGNING_KEYS"), get("SIGNING_KEYS_SECRET_ID")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError {
                    name: "SIGNING_KEYS",
                    message: "set SIGNING_KEYS or SIGNING_KEYS_SECRET_ID, not both".into(),
                });
            }
            (Some(text), None) => KeySource::Inline(SecretBytes::new(text.into_bytes())),
            (None, Some(id)) => KeySource::SecretsManager(id),
            (None, None) => KeySource::Missing,
        };
        let list = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let config = Self {
            backend,
            allowed_buckets: list("ALLOWED_BUCKETS"),
            allowed_fetch_hosts: list("ALLOWED_FETCH_HOSTS")
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            keys,
            api_keys: list("API_KEYS")
                .into_iter()
                .map(|k| SecretBytes::new(k.into_bytes()))
                .collect(),
            public_base_url: get("PUBLIC_BASE_URL").map(|u| u.trim_end_matches('/').to_owned()),
            max_expire_minutes: number(&get, "MAX_EXPIRE_MINUTES", 10_080, 1, 525_600)?,
            default_expire_minutes: number(&get, "DEFAULT_EXPIRE_MINUTES", 60, 1, 525_600)?,
            max_downloads_limit: number(&get, "MAX_DOWNLOADS_LIMIT", 100, 1, 1_000_000)?,
            max_upload_bytes: number(&get, "MAX_UPLOAD_BYTES", 4 << 20, 1, 1 << 40)?,
            max_inline_download_bytes: number(
                &get,
                "MAX_INLINE_DOWNLOAD_BYTES",
                4 << 20,
                0,
                4 << 20,
            )?,
            // A presigned upload URL is one PUT, and S3 documents 5 GB as
            // the most one PUT may carry. NOTE: the bound assumes that this
            // means 5 GiB.
            max_large_upload_bytes: number(&get, "MAX_LARGE_UPLOAD_BYTES", 5 << 30, 1, 5 << 30)?,
            // SigV4 presigned URLs live at most 7 days.
            upload_url_minutes: number(&get, "UPLOAD_URL_MINUTES", 60, 1, 10_080)?,
            audit_retention_days: number(&get, "AUDIT_RETENTION_DAYS", 90, 0, 36_500)?,
            event_bus: get("EVENT_BUS_NAME").filter(|name| !name.trim().is_empty()),
            plans: Plans::parse(
                get("API_KEY_TIERS").as_deref(),
                get("DEFAULT_TIER").as_deref(),
            )?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks settings that depend on each other.
    ///
    /// # Errors
    ///
    /// Names the setting that conflicts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.default_expire_minutes > self.max_expire_minutes {
            return Err(ConfigError {
                name: "DEFAULT_EXPIRE_MINUTES",
                message: format!(
                    "{} is above MAX_EXPIRE_MINUTES ({})",
                    self.default_expire_minutes, self.max_expire_minutes
                ),
            });
        }
        // A raw key in API_KEY_TIERS would never match a key id, and would
        // put the key into one more variable.
        if let Some(key) = self
            .api_keys
            .iter()
            .find(|key| self.plans.tiers.keys().any(|id| key.ct_eq(id.as_bytes())))
        {
            return Err(ConfigError {
                name: "API_KEY_TIERS",
                message: format!(
                    "lists an API key itself; list its id {} instead",
                    crate::http::api_key_id(key.expose())
                ),
            });
        }
        if let Some(url) = &self.public_base_url {
            let parsed = url::Url::parse(url).map_err(|e| ConfigError {
                name: "PUBLIC_BASE_URL",
                message: format!("{url:?} is not a URL: {e}"),
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ConfigError {
                    name: "PUBLIC_BASE_URL",
                    message: format!("{url:?} must start with http:// or https://"),
                });
            }
        }
        Ok(())
    }

    /// Returns the embedded store folder, or `None` on AWS.
    pub fn data_dir(&self) -> Option<&PathBuf> {
        match &self.backend {
            Backend::Embedded { data_dir } => Some(data_dir),
            Backend::Aws { .. } => None,
        }
    }
}

fn missing_pair(missing: &'static str, present: &str) -> ConfigError {
    ConfigError {
        name: missing,
        message: format!("must be set together with {present}"),
    }
}

fn number<T>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(text) = get(name) else {
        return Ok(default);
    };
    let value: T = text.trim().parse().map_err(|_| ConfigError {
        name,
        message: format!("{text:?} is not a whole number"),
    })?;
    if value < min || value > max {
        return Err(ConfigError {
            name,
            message: format!("{value} is outside {min}..={max}"),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn embedded_store_is_the_default() {
        let config = config(&[]).map_err(|e| e.to_string());
        assert!(matches!(
            config.map(|c| c.backend),
            Ok(Backend::Embedded { .. })
        ));
    }

    #[test]
    fn table_without_bucket_is_rejected() {
        let error = config(&[("LINK_TABLE", "t")]).err().map(|e| e.name);
        assert_eq!(error, Some("FILE_BUCKET"));
    }

    #[test]
    fn non_numeric_limit_names_the_variable() {
        let error = config(&[("MAX_EXPIRE_MINUTES", "lots")])
            .err()
            .map(|e| e.name);
        assert_eq!(error, Some("MAX_EXPIRE_MINUTES"));
    }

    #[test]
    fn bad_tier_names_the_variable() {
        let tiers = config(&[("API_KEY_TIERS", "key-1=gold")])
            .err()
            .map(|e| e.name);
        assert_eq!(tiers, Some("API_KEY_TIERS"));
        let default = config(&[("DEFAULT_TIER", "gold")]).err().map(|e| e.name);
        assert_eq!(default, Some("DEFAULT_TIER"));
    }

    #[test]
    fn raw_api_key_in_tiers_is_rejected() {
        let error = config(&[
            ("API_KEYS", "local-secret"),
            ("API_KEY_TIERS", "local-secret=developer"),
        ])
        .err();
        assert_eq!(error.as_ref().map(|e| e.name), Some("API_KEY_TIERS"));
        let message = error.map(|e| e.message).unwrap_or_default();
        assert!(!message.contains("local-secret"), "{message}");
        assert!(
            message.contains(&crate::http::api_key_id(b"local-secret")),
            "{message}"
        );
    }

    #[test]
    fn listed_key_id_gets_its_tier() {
        let config = config(&[
            ("API_KEY_TIERS", "key-0123456789abcdef=professional"),
            ("DEFAULT_TIER", "developer"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.plans.tier_for("key-0123456789abcdef"),
            crate::quota::Tier::Professional
        );
        assert_eq!(
            config.plans.tier_for("key-ffffffffffffffff"),
            crate::quota::Tier::Developer
        );
    }

    #[test]
    fn default_above_max_is_rejected() {
        let error = config(&[
            ("MAX_EXPIRE_MINUTES", "10"),
            ("DEFAULT_EXPIRE_MINUTES", "20"),
        ])
        .err()
        .map(|e| e.name);
        assert_eq!(error, Some("DEFAULT_EXPIRE_MINUTES"));
    }
}
