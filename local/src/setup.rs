//! Defaults that make the local server usable with no configuration at all.

use std::io::Write;
use std::path::Path;

use shared::Config;
use shared::config::KeySource;
use shared::secret::SecretBytes;
use shared::token::{Keyring, MIN_KEY_BYTES, encode_key_entry};

/// File under `DATA_DIR` that keeps the local signing key.
pub const KEY_FILE: &str = "signing-keys";

/// Fills what a local run leaves unset: the public base URL, a signing key
/// kept in the data folder, and an API key for this run, which is returned
/// so that it can be shown once.
///
/// # Errors
///
/// Fails when the key file cannot be read or written.
pub fn fill_local_defaults(
    config: &mut Config,
    port: u16,
) -> Result<Option<SecretBytes>, std::io::Error> {
    if config.public_base_url.is_none() {
        config.public_base_url = Some(format!("http://127.0.0.1:{port}"));
    }
    if matches!(config.keys, KeySource::Missing)
        && let Some(dir) = config.data_dir().cloned()
    {
        config.keys = KeySource::Inline(load_or_create_keys(&dir)?);
    }
    if !config.api_keys.is_empty() {
        return Ok(None);
    }
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    let key = SecretBytes::new(format!("local-{}", hex::encode(bytes)).into_bytes());
    config.api_keys.push(key.clone());
    Ok(Some(key))
}

/// Reads `DATA_DIR/signing-keys`, or writes a new random key there (mode
/// 0600 on Unix) when there is none.
///
/// # Errors
///
/// Fails when the file cannot be read or created, or contains no valid keyring.
pub fn load_or_create_keys(data_dir: &Path) -> Result<SecretBytes, std::io::Error> {
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            Keyring::parse(text.trim()).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            return Ok(SecretBytes::new(text.trim().as_bytes().to_vec()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(data_dir)?;
    let mut secret = [0u8; MIN_KEY_BYTES];
    rand::fill(&mut secret);
    let entry = encode_key_entry("local-1", &secret);
    // Write a private temporary file, then hard-link it into place: the link
    // fails if another process got there first, and then its key is used,
    // so servers sharing one folder always agree on the key.
    let temp = data_dir.join(format!("{KEY_FILE}.{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(&temp)?.write_all(entry.as_bytes())?;
    let linked = std::fs::hard_link(&temp, &path);
    std::fs::remove_file(&temp)?;
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return load_or_create_keys(data_dir);
        }
        Err(e) => return Err(e),
    }
    tracing::info!(path = %path.display(), "created a local signing key");
    Ok(SecretBytes::new(entry.into_bytes()))
}
