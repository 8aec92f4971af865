use super::FileName;

/// Types served under their own name. Every other type, HTML, SVG, XML
/// and script types included, is served as `application/octet-stream`, so
/// nothing a recipient downloads can run in the service's origin.
const PASSIVE_TYPES: [&str; 20] = [
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "text/csv",
    "text/markdown",
    "application/json",
    "application/zip",
    "application/gzip",
    "application/x-tar",
    "application/x-7z-compressed",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/octet-stream",
];

/// Extensions that make a browser or the operating system treat a saved
/// file as a page or a script, whatever type it was served with.
const ACTIVE_EXTENSIONS: [&str; 20] = [
    "html", "htm", "xhtml", "xht", "shtml", "svg", "svgz", "xml", "xsl", "xslt", "js", "mjs",
    "cjs", "mht", "mhtml", "hta", "htc", "xul", "rdf", "swf",
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

/// Returns the `Content-Type` to serve a file with: its stored type when
/// that is one of [`PASSIVE_TYPES`] and the name has none of the
/// [`ACTIVE_EXTENSIONS`], else `application/octet-stream`.
pub fn served_content_type<'a>(stored: &'a str, file_name: &str) -> &'a str {
    let essence = stored.split(';').next().unwrap_or_default().trim();
    let active_name = FileName::parse(file_name)
        .map(|name| {
            name.extension()
                .is_some_and(|ext| ACTIVE_EXTENSIONS.contains(&ext.as_str()))
        })
        .unwrap_or(true);
    let passive_type = PASSIVE_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(essence));
    if passive_type && !active_name {
        essence
    } else {
        "application/octet-stream"
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
            "application/x-javascript",
            "text/jscript",
            "text/x-component",
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
        for name in [
            "evil.html",
            "evil.HTM",
            "x.svg",
            "x.xml",
            "x.xhtml",
            "x.js",
            "x.mhtml",
            "x.hta",
        ] {
            assert_eq!(
                served_content_type("image/png", name),
                "application/octet-stream",
                "{name}"
            );
        }
    }
}
