//! The signing keyring of a process: given at start, or read from Secrets
//! Manager by the first request that signs or verifies a token.
//!
//! Reading the secret on first use keeps a function's start-up free of
//! network calls. A failed read is not kept: the next request tries again,
//! so a passing Secrets Manager error costs one request, not the execution
//! environment.

use tokio::sync::OnceCell;

use crate::adapters::aws_json::JsonApi;
use crate::adapters::sdk::AwsSettings;
use crate::token::{Keyring, KeyringError};

/// The origin of the keyring.
enum Source {
    /// Given at start.
    Given,
    /// The `SecretString` of a Secrets Manager secret.
    Secret { api: JsonApi, id: String },
}

/// The keyring could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The secret could not be read.
    #[error("reading signing key secret {id} failed: {reason}")]
    Secret {
        /// The secret id.
        id: String,
        /// Why the read failed.
        reason: String,
    },
    /// The secret's text is not a valid keyring.
    #[error("signing key secret {id}: {error}")]
    Invalid {
        /// The secret id.
        id: String,
        /// The keyring error.
        error: KeyringError,
    },
}

/// The keyring, ready or to be read once.
pub struct Keys {
    ring: OnceCell<Keyring>,
    source: Source,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Given => "given",
            Source::Secret { .. } => "secret",
        };
        f.debug_struct("Keys")
            .field("source", &source)
            .field("loaded", &self.ring.initialized())
            .finish()
    }
}

impl From<Keyring> for Keys {
    fn from(ring: Keyring) -> Self {
        Self::given(ring)
    }
}

impl Keys {
    /// Wraps a keyring known at start.
    pub fn given(ring: Keyring) -> Self {
        Self {
            ring: OnceCell::new_with(Some(ring)),
            source: Source::Given,
        }
    }

    /// Sets up a keyring to read from secret `id` on first use, with the
    /// credentials and endpoint of `sdk`.
    pub fn from_secret(sdk: AwsSettings, id: impl Into<String>) -> Self {
        Self {
            ring: OnceCell::new(),
            source: Source::Secret {
                api: JsonApi::secrets_manager(&sdk),
                id: id.into(),
            },
        }
    }

    /// Returns the keyring. The first call reads the secret, and so does the
    /// next call after a failed read.
    ///
    /// # Errors
    ///
    /// Fails when the secret cannot be read or is not a valid keyring.
    pub async fn get(&self) -> Result<&Keyring, KeysError> {
        // Boxed, so that the Secrets Manager call's large future is not
        // inlined into every handler that signs or verifies.
        self.ring.get_or_try_init(|| Box::pin(self.read())).await
    }

    async fn read(&self) -> Result<Keyring, KeysError> {
        let Source::Secret { api, id } = &self.source else {
            // `given` fills the cell, so this is never reached for it.
            unreachable!("a given keyring is always set");
        };
        tracing::info!(secret_id = %id, "reading the signing keys");
        let output = api
            .call("GetSecretValue", &serde_json::json!({ "SecretId": id }))
            .await
            .map_err(|e| KeysError::Secret {
                id: id.clone(),
                reason: e.to_string(),
            })?;
        let text = output["SecretString"]
            .as_str()
            .ok_or_else(|| KeysError::Secret {
                id: id.clone(),
                reason: "the secret has no SecretString value".into(),
            })?;
        Keyring::parse(text).map_err(|error| KeysError::Invalid {
            id: id.clone(),
            error,
        })
    }
}
