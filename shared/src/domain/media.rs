use super::FileName;

/// Types a browser may run or render as a document: served only as
/// `application/octet-stream`, whatever was stored.
const ACTIVE_TYPES: [&str; 12] = [
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
    "application/ecmascript",
    "text/ecmascript",
    "application/x-shockwave-flash",
    "text/xsl",
    "application/pdf+html",
];

/// Picks the stored content type of a file: the declared one when it is a
/// well-formed `type/subtype`, else a guess from the extension, else
/// `application/octet-stream`.
pub fn content_type_for(declared: Option<&str>, name: &FileName) -> String {
    if let Some(declared) = declared.map(|d| d.trim().to_ascii_lowercase()) {
        let essence = declared.split(';').next().unwrap_or_default().trim();
        if is_media_type(essence) && essence != "application/octet-stream" {
            return essence.to_owned();
        }
    }
    guess_from_extension(name).to_owned()
}

fn is_media_type(text: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    matches!(text.split_once('/'), Some((kind, sub)) if token(kind) && token(sub))
}

fn guess_from_extension(name: &FileName) -> &'static str {
    match name.extension().as_deref() {
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("txt" | "log") => "text/plain",
        Some("csv") => "text/csv",
        Some("md") => "text/markdown",
        Some("json") => "application/json",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        Some("tar") => "application/x-tar",
        Some("html" | "htm") => "text/html",
        Some("svg") => "image/svg+xml",
        Some("xml") => "application/xml",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

fn is_active(essence: &str) -> bool {
    ACTIVE_TYPES.iter().any(|t| t.eq_ignore_ascii_case(essence))
        || essence.ends_with("+xml")
        || essence.to_ascii_lowercase().starts_with("multipart/")
        || !is_media_type(essence)
}

/// Returns the `Content-Type` to serve a file with: scriptable and document
/// types become `application/octet-stream`, so nothing a recipient downloads
/// can run in the service's origin. A name whose extension means such a
/// type (`.html`, `.svg`, ...) is treated the same whatever type the
/// uploader declared.
pub fn served_content_type<'a>(stored: &'a str, file_name: &str) -> &'a str {
    let essence = stored.split(';').next().unwrap_or_default().trim();
    let by_name = FileName::parse(file_name)
        .map(|name| is_active(guess_from_extension(&name)))
        .unwrap_or(true);
    if by_name || is_active(essence) {
        "application/octet-stream"
    } else {
        essence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> FileName {
        FileName::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn declared_type_wins_when_well_formed() {
        assert_eq!(
            content_type_for(Some("image/png"), &name("a.bin")),
            "image/png"
        );
        assert_eq!(
            content_type_for(Some("bogus"), &name("a.pdf")),
            "application/pdf"
        );
        assert_eq!(
            content_type_for(Some("application/octet-stream"), &name("a.png")),
            "image/png"
        );
    }

    #[test]
    fn scriptable_types_are_served_as_octet_stream() {
        for stored in [
            "text/html",
            "image/svg+xml",
            "TEXT/HTML; charset=utf-8",
            "application/rss+xml",
            "multipart/x-mixed-replace",
            "x",
        ] {
            assert_eq!(
                served_content_type(stored, "a.bin"),
                "application/octet-stream",
                "{stored}"
            );
        }
        assert_eq!(served_content_type("image/png", "a.png"), "image/png");
    }

    #[test]
    fn scriptable_extension_overrides_declared_type() {
        for name in ["evil.html", "evil.HTM", "x.svg", "x.xml"] {
            assert_eq!(
                served_content_type("image/png", name),
                "application/octet-stream",
                "{name}"
            );
        }
    }
}
