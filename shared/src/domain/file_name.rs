use unicode_normalization::UnicodeNormalization;

/// Maximum length of a file name in UTF-8 bytes, the common file system limit.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// A file name that is safe to store, to show and to put in a
/// `Content-Disposition` header: NFC-normalised, no control or bidirectional
/// formatting characters, no path separators or dot segments, no reserved
/// Windows device name, at most [`MAX_FILE_NAME_BYTES`] bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileName(String);

/// Reason a file name was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileNameError {
    /// Nothing left to name the file.
    #[error("file name is empty")]
    Empty,
    /// Longer than [`MAX_FILE_NAME_BYTES`].
    #[error("file name is longer than {MAX_FILE_NAME_BYTES} bytes")]
    TooLong,
    /// Holds a character that could split a header, spoof an extension or
    /// escape a directory.
    #[error("file name contains a forbidden character (U+{0:04X})")]
    ForbiddenChar(u32),
    /// `.`/`..`, leading or trailing space or dot, or a reserved device name.
    #[error("file name is reserved or ambiguous")]
    Reserved,
}

const WINDOWS_DEVICES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '/' | '\\')
        // Bidirectional overrides and isolates make "exe.pdf" read as "fdp.exe".
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
        // Line and paragraph separators break headers in some clients.
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
        // Invisible format characters hide part of a name from the reader:
        // soft hyphen, Arabic letter mark, Mongolian vowel separator, zero
        // width and joiner characters, invisible operators, interlinear
        // annotation and tag characters.
        || matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200D}')
        || matches!(c, '\u{2060}'..='\u{2064}' | '\u{206A}'..='\u{206F}')
        || matches!(c, '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

impl FileName {
    /// Normalises `raw` to NFC and checks it.
    ///
    /// # Errors
    ///
    /// Returns the first rule the name breaks.
    pub fn parse(raw: &str) -> Result<Self, FileNameError> {
        let name: String = raw.nfc().collect();
        if name.is_empty() {
            return Err(FileNameError::Empty);
        }
        if name.len() > MAX_FILE_NAME_BYTES {
            return Err(FileNameError::TooLong);
        }
        if let Some(c) = name.chars().find(|c| is_forbidden(*c)) {
            return Err(FileNameError::ForbiddenChar(u32::from(c)));
        }
        if name.chars().all(|c| c == '.' || c.is_whitespace())
            || name.starts_with(char::is_whitespace)
            || name.ends_with('.')
            || name.ends_with(char::is_whitespace)
        {
            return Err(FileNameError::Reserved);
        }
        let stem = name.split('.').next().unwrap_or_default().trim_end();
        if WINDOWS_DEVICES
            .iter()
            .any(|device| device.eq_ignore_ascii_case(stem))
        {
            return Err(FileNameError::Reserved);
        }
        Ok(Self(name))
    }

    /// Returns the name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the lowercase extension after the last dot, if any.
    pub fn extension(&self) -> Option<String> {
        let (stem, ext) = self.0.rsplit_once('.')?;
        (!stem.is_empty()).then(|| ext.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_accepted() {
        for name in [
            "report.pdf",
            "report \"q\".pdf",
            "rapor ünlü.pdf",
            ".env",
            "a",
        ] {
            assert!(FileName::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn names_are_normalised_to_nfc() {
        let decomposed = "u\u{0308}.txt";
        assert_eq!(
            FileName::parse(decomposed).map(|n| n.as_str().to_owned()),
            Ok("\u{00FC}.txt".to_owned())
        );
    }

    #[test]
    fn header_splitting_characters_are_rejected() {
        for name in [
            "a\r\nSet-Cookie: x=1.pdf",
            "a\0b",
            "tab\there",
            "a\u{2028}b",
        ] {
            assert!(
                matches!(FileName::parse(name), Err(FileNameError::ForbiddenChar(_))),
                "{name:?}"
            );
        }
    }

    #[test]
    fn path_components_are_rejected() {
        for name in [
            "../etc/passwd",
            "a/b",
            "a\\b",
            "..",
            ".",
            " ",
            "name.",
            "name ",
        ] {
            assert!(FileName::parse(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn device_names_are_rejected() {
        for name in ["CON", "con.txt", "LPT1.pdf", "nul"] {
            assert_eq!(
                FileName::parse(name),
                Err(FileNameError::Reserved),
                "{name}"
            );
        }
        assert!(FileName::parse("console.txt").is_ok());
    }

    #[test]
    fn long_names_are_rejected() {
        assert_eq!(
            FileName::parse(&"a".repeat(256)),
            Err(FileNameError::TooLong)
        );
        assert!(FileName::parse(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn bidi_overrides_are_rejected() {
        assert!(FileName::parse("invoice\u{202E}fdp.exe").is_err());
        for name in [
            "x.html\u{200B}",
            "a\u{00AD}b",
            "a\u{061C}b",
            "a\u{E0041}b",
            "a\u{2066}b",
        ] {
            assert!(FileName::parse(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn extension_is_lowercased() {
        assert_eq!(
            FileName::parse("A.PDF").ok().and_then(|n| n.extension()),
            Some("pdf".into())
        );
        assert_eq!(
            FileName::parse(".env").ok().and_then(|n| n.extension()),
            None
        );
    }
}
