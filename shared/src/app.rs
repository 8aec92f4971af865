//! The service's state, built once at cold start and borrowed by every
//! request: configuration, signing keys, stores and clock.

use std::path::Path;
use std::sync::Arc;

use crate::adapters::sdk::{AwsSettings, SdkSettingsError};
use crate::adapters::{
    DynamoStore, DynamoUsage, EmbeddedObjects, EmbeddedStore, S3Objects, SqliteUsage,
};
use crate::config::{Backend, Config, ConfigError, KeySource};
use crate::fetch::{AddressPolicy, Fetcher, SystemResolver};
use crate::keys::Keys;
use crate::notify::{EventBridgeNotifier, FileNotifier, Notifier};
use crate::ports::{AuditLog, Clock, LinkStore, ObjectStore, StoreError, SystemClock};
use crate::quota::UsageCounter;
use crate::token::{Keyring, KeyringError};

fn fetcher_for(config: &Config) -> Fetcher {
    Fetcher::new(
        config.allowed_fetch_hosts.clone(),
        Arc::new(SystemResolver),
        AddressPolicy::PublicHttps,
        config.max_upload_bytes,
    )
}

/// Everything a handler needs.
#[derive(Clone)]
pub struct App {
    /// Settings.
    pub config: Config,
    /// Signing and verification keys.
    pub keys: Arc<Keys>,
    /// Link records.
    pub links: Arc<dyn LinkStore>,
    /// Audit records.
    pub audit: Arc<dyn AuditLog>,
    /// File bytes.
    pub objects: Arc<dyn ObjectStore>,
    /// Call counters for the plan quotas.
    pub usage: Arc<dyn UsageCounter>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Fetcher for `file_url`s on allowed hosts.
    pub fetcher: Fetcher,
    /// Destination of notifications, or `None` when none is configured.
    pub notifier: Option<Arc<dyn Notifier>>,
}

/// Start-up failure of the service.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A variable is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The signing keys are unusable.
    #[error("signing keys: {0}")]
    Keys(#[from] KeyringError),
    /// Neither `SIGNING_KEYS` nor `SIGNING_KEYS_SECRET_ID` is set.
    #[error("no signing keys: set SIGNING_KEYS or SIGNING_KEYS_SECRET_ID")]
    NoKeys,
    /// The signing key secret could not be read.
    #[error("reading the signing key secret failed: {0}")]
    Secret(String),
    /// A store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The AWS client settings are missing or invalid.
    #[error("AWS settings: {0}")]
    Aws(#[from] SdkSettingsError),
}

impl App {
    /// Builds the state for `config`: AWS clients from the environment (see
    /// [`crate::adapters::sdk`]), or the embedded store.
    ///
    /// # Errors
    ///
    /// Fails when keys are missing or invalid or a store cannot be opened.
    pub async fn from_config(config: Config) -> Result<Self, StartError> {
        match config.backend.clone() {
            Backend::Aws { table, bucket } => {
                let sdk = AwsSettings::from_env()?;
                let keys = load_keys(&config.keys, Some(&sdk))?;
                Ok(Self::aws(config, &sdk, &table, &bucket, keys))
            }
            Backend::Embedded { data_dir } => {
                let keys = load_keys(&config.keys, None)?;
                // The embedded store has no TTL sweep, so records past their
                // retention are removed at each start.
                let retention = i64::from(config.audit_retention_days) * 86_400;
                EmbeddedStore::open(&data_dir)?
                    .purge(SystemClock.now(), retention)
                    .await?;
                Self::embedded(config, &data_dir, keys)
            }
        }
    }

    /// Builds the state over DynamoDB and S3 with the given SDK settings.
    pub fn aws(
        config: Config,
        sdk: &AwsSettings,
        table: &str,
        bucket: &str,
        keys: impl Into<Keys>,
    ) -> Self {
        let dynamo = sdk.dynamodb();
        let usage = Arc::new(DynamoUsage::new(dynamo.clone(), table));
        let store = Arc::new(DynamoStore::new(dynamo, table, config.audit_retention_days));
        let notifier = config
            .event_bus
            .as_ref()
            .map(|bus| Arc::new(EventBridgeNotifier::new(sdk, bus)) as Arc<dyn Notifier>);
        Self {
            keys: Arc::new(keys.into()),
            links: store.clone(),
            audit: store,
            objects: Arc::new(S3Objects::from_settings(sdk, bucket)),
            usage,
            clock: Arc::new(SystemClock),
            fetcher: fetcher_for(&config),
            notifier,
            config,
        }
    }

    /// Builds the state over the embedded store in `data_dir`.
    ///
    /// # Errors
    ///
    /// Fails when the store cannot be opened.
    pub fn embedded(
        config: Config,
        data_dir: &Path,
        keys: impl Into<Keys>,
    ) -> Result<Self, StartError> {
        let store = Arc::new(EmbeddedStore::open(data_dir)?);
        Ok(Self {
            keys: Arc::new(keys.into()),
            links: store.clone(),
            audit: store,
            objects: Arc::new(EmbeddedObjects::open(data_dir)?),
            usage: Arc::new(SqliteUsage::open(data_dir)?),
            clock: Arc::new(SystemClock),
            fetcher: fetcher_for(&config),
            notifier: Some(Arc::new(FileNotifier::new(data_dir))),
            config,
        })
    }
}

/// Prepares the keyring of `source`. A Secrets Manager secret is read by
/// the first request that needs it, not here, so that start-up makes no
/// network call.
fn load_keys(source: &KeySource, sdk: Option<&AwsSettings>) -> Result<Keys, StartError> {
    match source {
        KeySource::Inline(text) => {
            let text = std::str::from_utf8(text.expose())
                .map_err(|_| StartError::Secret("SIGNING_KEYS is not UTF-8".into()))?;
            Ok(Keys::given(Keyring::parse(text)?))
        }
        KeySource::SecretsManager(id) => {
            let sdk = match sdk {
                Some(sdk) => sdk.clone(),
                None => AwsSettings::from_env()?,
            };
            Ok(Keys::from_secret(sdk, id.clone()))
        }
        KeySource::Missing => Err(StartError::NoKeys),
    }
}
