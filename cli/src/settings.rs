//! API URL and API key: from flags, the environment or the config file, in
//! that order of precedence.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::failure::{Failure, USAGE};

/// Connection settings: the API's base URL and the API key.
pub struct Settings {
    /// Base URL of the API, without a trailing slash.
    pub api_url: String,
    /// Value of the `x-api-key` header.
    pub api_key: String,
}

/// Values given on the command line.
pub struct Flags<'a> {
    pub api_url: Option<&'a str>,
    pub api_key_file: Option<&'a Path>,
}

/// Contents of `config.toml`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    api_url: Option<String>,
    api_key: Option<String>,
}

/// Resolves the API URL and key. `env` returns an environment variable's
/// value, or `None` when it is unset or empty.
///
/// # Errors
///
/// Fails with the usage exit code when the URL or key is missing, the
/// config or key file is unreadable, or a file holding a key can be read by
/// group or others.
pub fn resolve(
    flags: &Flags<'_>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Settings, Failure> {
    let config_path = config_path(&env);
    let file = match &config_path {
        Some(path) => read_config(path)?,
        None => FileConfig::default(),
    };
    let shown_path = config_path.as_ref().map_or_else(
        || "~/.config/linkctl/config.toml".to_owned(),
        |path| path.display().to_string(),
    );

    let api_url = flags
        .api_url
        .map(str::to_owned)
        .or_else(|| env("LINK_API_URL"))
        .or(file.api_url)
        .ok_or_else(|| {
            Failure::new(
                USAGE,
                format!(
                    "no API URL: pass --api-url, set LINK_API_URL, or set api_url in {shown_path}"
                ),
            )
        })?;
    let api_url = check_url(&api_url)?;

    let api_key = match flags.api_key_file {
        Some(path) => read_key_file(path)?,
        None => match env("LINK_API_KEY") {
            Some(key) => key,
            None => file.api_key.ok_or_else(|| {
                Failure::new(
                    USAGE,
                    format!(
                        "no API key: set LINK_API_KEY, pass --api-key-file FILE, \
                         or set api_key in {shown_path}"
                    ),
                )
            })?,
        },
    };
    let api_key = api_key.trim().to_owned();
    if api_key.is_empty() {
        return Err(Failure::new(USAGE, "the API key is empty"));
    }
    Ok(Settings { api_url, api_key })
}

/// Returns `$XDG_CONFIG_HOME/linkctl/config.toml`, or
/// `$HOME/.config/linkctl/config.toml` when `XDG_CONFIG_HOME` is unset or
/// not absolute, as the XDG Base Directory Specification defines.
fn config_path(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(base.join("linkctl").join("config.toml"))
}

fn read_config(path: &Path) -> Result<FileConfig, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(e) => {
            return Err(Failure::new(
                USAGE,
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    let config: FileConfig = toml::from_str(&text).map_err(|e| {
        Failure::new(
            USAGE,
            format!(
                "invalid config file {}: {e}; it takes api_url and api_key",
                path.display()
            ),
        )
    })?;
    if config.api_key.is_some() {
        check_private(path)?;
    }
    Ok(config)
}

fn read_key_file(path: &Path) -> Result<String, Failure> {
    check_private(path)?;
    std::fs::read_to_string(path)
        .map_err(|e| Failure::new(USAGE, format!("cannot read {}: {e}", path.display())))
}

/// Rejects a file that contains a key when group or others may read it.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| Failure::new(USAGE, format!("cannot read {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Failure::new(
            USAGE,
            format!(
                "{} holds an API key and can be read by others (mode {:o}); \
                 run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), Failure> {
    Ok(())
}

fn check_url(text: &str) -> Result<String, Failure> {
    let trimmed = text.trim().trim_end_matches('/');
    let valid = reqwest::Url::parse(trimmed)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
    if !valid {
        return Err(Failure::new(
            USAGE,
            format!("invalid API URL {text:?}: expected http(s)://HOST[:PORT][/PATH]"),
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn write_config(dir: &Path, text: &str, mode: u32) {
        let folder = dir.join("linkctl");
        std::fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("{e}"));
        let path = folder.join("config.toml");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    const NO_FLAGS: Flags<'static> = Flags {
        api_url: None,
        api_key_file: None,
    };

    #[test]
    fn flag_beats_env_beats_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write_config(
            dir.path(),
            "api_url = \"http://file.test\"\napi_key = \"file-key\"\n",
            0o600,
        );
        let xdg = dir.path().to_string_lossy().into_owned();

        let only_file = resolve(&NO_FLAGS, env_of(&[("XDG_CONFIG_HOME", &xdg)]))
            .unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(only_file.api_url, "http://file.test");
        assert_eq!(only_file.api_key, "file-key");

        let env = env_of(&[
            ("XDG_CONFIG_HOME", &xdg),
            ("LINK_API_URL", "http://env.test/"),
            ("LINK_API_KEY", "env-key"),
        ]);
        let from_env = resolve(&NO_FLAGS, &env).unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(from_env.api_url, "http://env.test");
        assert_eq!(from_env.api_key, "env-key");

        let key_file = dir.path().join("key");
        std::fs::write(&key_file, "flag-key\n").unwrap_or_else(|e| panic!("{e}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let flags = Flags {
            api_url: Some("https://flag.test"),
            api_key_file: Some(&key_file),
        };
        let from_flags = resolve(&flags, &env).unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(from_flags.api_url, "https://flag.test");
        assert_eq!(from_flags.api_key, "flag-key");
    }

    #[cfg(unix)]
    #[test]
    fn readable_key_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write_config(dir.path(), "api_key = \"file-key\"\n", 0o644);
        let xdg = dir.path().to_string_lossy().into_owned();
        let env = env_of(&[
            ("XDG_CONFIG_HOME", &xdg),
            ("LINK_API_URL", "http://127.0.0.1:1"),
        ]);
        let failure = resolve(&NO_FLAGS, env).err().map(|e| (e.code, e.message));
        let (code, message) = failure.unwrap_or_else(|| panic!("a 0644 key file was accepted"));
        assert_eq!(code, USAGE);
        assert!(message.contains("chmod 600"), "{message}");
    }

    #[test]
    fn missing_key_names_the_fixes() {
        let env = env_of(&[
            ("LINK_API_URL", "http://127.0.0.1:1"),
            ("HOME", "/nonexistent"),
        ]);
        let failure = resolve(&NO_FLAGS, env).err().map(|e| e.message);
        let message = failure.unwrap_or_else(|| panic!("no key was accepted"));
        assert!(message.contains("LINK_API_KEY"), "{message}");
        assert!(message.contains("api_key in"), "{message}");
    }

    #[test]
    fn url_must_be_http() {
        for bad in ["ftp://x", "127.0.0.1:3000", "http://", ""] {
            assert!(check_url(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            check_url("http://127.0.0.1:3000/").ok().as_deref(),
            Some("http://127.0.0.1:3000")
        );
    }
}
