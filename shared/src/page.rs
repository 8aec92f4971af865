//! The recipient page: the HTML response of `GET /access/{token}` to a
//! browser.
//!
//! A [`Page`] is a view model: an HTTP status and a [`PageState`]. Every
//! state, the usable link and each reason it cannot be used, renders into
//! the same self-contained document. The document has one inline style and
//! one inline script, and the `Content-Security-Policy` from
//! [`content_security_policy`] allows exactly those two by their SHA-256
//! hashes and nothing else. Every value that comes from a link or a request
//! goes through [`escape`].

use std::fmt::Write as _;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use lambda_http::{Body, Response};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::http::{ApiError, add_common_headers, encode_path_segment};

/// File details shown to the recipient while the link is usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDetails {
    /// File name.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type stored for the file.
    pub content_type: String,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Number of downloads the link serves in all.
    pub max_downloads: u32,
    /// Downloads left.
    pub downloads_remaining: u32,
    /// Request the download button makes.
    pub download: Download,
}

/// Request the download button makes to fetch the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Download {
    /// A `GET` of the download URL, for links without a password.
    Link {
        /// `/files/{name}?token=...`, absolute.
        url: String,
    },
    /// A form `POST` of the token and password, for links with a password,
    /// so that the password never goes into a URL.
    Form {
        /// `/files/{name}`, absolute.
        action: String,
        /// The link token.
        token: String,
        /// The password the recipient entered.
        password: String,
        /// Origin of the object store's presigned URLs, for files served by
        /// redirect. The page's `form-action` allows it besides its own.
        redirect_origin: Option<String>,
    },
}

/// State of a link as the recipient page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageState {
    /// The link is usable: details and a download button.
    Ready(Box<FileDetails>),
    /// The link has a password; `wrong` after a wrong attempt.
    PasswordRequired {
        /// The last password entered was wrong.
        wrong: bool,
        /// Token for the form's target, `../access/{token}` relative to the
        /// page, which names `/access/{token}` from both `/access/...` and
        /// `/files/...`.
        token: String,
    },
    /// Too many wrong passwords; `retry_at` is RFC 3339 when known.
    Locked {
        /// When a new attempt is allowed.
        retry_at: Option<String>,
    },
    /// The link opens later; `available_at` is RFC 3339 when known.
    NotYetAvailable {
        /// When the link opens.
        available_at: Option<String>,
    },
    /// The request comes from a network the creator did not allow.
    OutsideNetwork,
    /// The file of a large upload has not arrived yet.
    Pending,
    /// Every download was used.
    UsedUp,
    /// The link is past its expiry.
    Expired,
    /// The creator withdrew the link.
    Revoked,
    /// The creator's download quota is used up; `resets_at` is RFC 3339.
    QuotaExceeded {
        /// When the quota resets.
        resets_at: Option<String>,
    },
    /// No link matches the token: forged, unknown, or never made.
    NotFound,
    /// The address holds no well-formed token.
    Malformed,
    /// Any other failure, with the error's message.
    Failed {
        /// Explanation from the error.
        message: String,
    },
}

/// A recipient page: status and state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// HTTP status, the same as the JSON answer to the same request.
    pub status: StatusCode,
    /// What the page shows.
    pub state: PageState,
}

impl Page {
    /// Builds the page of a usable link (200).
    pub fn ready(details: FileDetails) -> Self {
        Self {
            status: StatusCode::OK,
            state: PageState::Ready(Box::new(details)),
        }
    }

    /// Builds the page for a failed request, with the status of the JSON
    /// error. `token` is the path segment of the request, used only as the
    /// target of the password form.
    pub fn for_error(error: &ApiError, token: &str) -> Self {
        let body = serde_json::to_value(error.body()).unwrap_or_default();
        let text = |name: &str| body.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let state = match error.code() {
            "used_up" => PageState::UsedUp,
            "expired" => PageState::Expired,
            "revoked" => PageState::Revoked,
            "not_found" => PageState::NotFound,
            // Other bad fields, such as a badly encoded form password, show
            // the error's own message.
            "invalid_parameter" if text("field").is_none_or(|field| field == "token") => {
                PageState::Malformed
            }
            "password_required" | "wrong_password" => PageState::PasswordRequired {
                wrong: error.code() == "wrong_password",
                token: token.to_owned(),
            },
            "locked" => PageState::Locked {
                retry_at: text("retry_at"),
            },
            "not_yet_available" => PageState::NotYetAvailable {
                available_at: text("available_at"),
            },
            "outside_allowed_network" => PageState::OutsideNetwork,
            "pending" => PageState::Pending,
            "quota_exceeded" => PageState::QuotaExceeded {
                resets_at: text("resets_at"),
            },
            _ => PageState::Failed {
                message: text("message").unwrap_or_default(),
            },
        };
        Self {
            status: error.status(),
            state,
        }
    }

    /// Renders the HTML document.
    pub fn render(&self) -> String {
        let content = Content::of(&self.state);
        let mut html = String::with_capacity(4096);
        html.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n");
        html.push_str("<meta charset=\"utf-8\">\n");
        html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        html.push_str("<meta name=\"referrer\" content=\"no-referrer\">\n");
        html.push_str("<meta name=\"robots\" content=\"noindex, nofollow\">\n");
        let _ = writeln!(
            html,
            "<title>{} · File link</title>",
            escape(&content.heading)
        );
        let _ = writeln!(html, "<style>{STYLE}</style>");
        html.push_str("</head>\n<body>\n");
        html.push_str("<header><p class=\"brand\">Secure file link</p></header>\n");
        let _ = writeln!(
            html,
            "<main aria-labelledby=\"heading\">\n<p class=\"badge badge-{}\">{}</p>",
            content.tone,
            escape(content.badge)
        );
        let _ = writeln!(html, "<h1 id=\"heading\">{}</h1>", escape(&content.heading));
        for paragraph in &content.paragraphs {
            let _ = writeln!(html, "<p>{paragraph}</p>");
        }
        html.push_str(&content.body);
        html.push_str("</main>\n");
        let footer = match self.state {
            PageState::Ready(_) | PageState::PasswordRequired { .. } => {
                "Opening this page never uses a download. Only the download button does."
            }
            _ => "Links from this service expire and serve a set number of downloads.",
        };
        let _ = writeln!(html, "<footer><p>{footer}</p></footer>");
        let _ = writeln!(html, "<script>{SCRIPT}</script>");
        html.push_str("</body>\n</html>\n");
        html
    }

    /// Builds the HTTP response: the document, its CSP and the headers every
    /// response carries.
    pub fn into_response(self) -> Response<Body> {
        let policy = match &self.state {
            PageState::Ready(details) => match &details.download {
                Download::Form {
                    redirect_origin: Some(origin),
                    ..
                } => content_security_policy_with_form_origin(origin),
                _ => content_security_policy().to_owned(),
            },
            _ => content_security_policy().to_owned(),
        };
        let mut response = Response::new(Body::Text(self.render()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        if let Ok(policy) = HeaderValue::from_str(&policy) {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(header::VARY, HeaderValue::from_static("Accept"));
        add_common_headers(headers);
        response
    }
}

/// Words and markup of one state. `paragraphs` and `body` are HTML, already
/// escaped.
struct Content {
    badge: &'static str,
    tone: &'static str,
    heading: String,
    paragraphs: Vec<String>,
    body: String,
}

impl Content {
    fn of(state: &PageState) -> Self {
        let ask = "Ask the sender for a new link.";
        let simple = |badge, tone, heading: &str, paragraphs: Vec<String>| Self {
            badge,
            tone,
            heading: heading.to_owned(),
            paragraphs,
            body: String::new(),
        };
        match state {
            PageState::Ready(details) => Self {
                badge: "Ready to download",
                tone: "ok",
                heading: details.file_name.clone(),
                paragraphs: vec![
                    "Someone shared this file with you. Check the details, then download it."
                        .into(),
                ],
                body: ready_body(details),
            },
            PageState::PasswordRequired { wrong, token } => Self {
                badge: "Password required",
                tone: "info",
                heading: "Enter the password".into(),
                paragraphs: vec!["The sender protected this link with a password.".into()],
                body: password_form(*wrong, token),
            },
            PageState::Locked { retry_at } => simple(
                "Locked",
                "stop",
                "Too many wrong passwords",
                vec![match retry_at {
                    Some(at) => format!("You can try again after {}.", time_markup(at)),
                    None => "You can try again later.".into(),
                }],
            ),
            PageState::NotYetAvailable { available_at } => simple(
                "Not yet available",
                "info",
                "This link is not open yet",
                vec![match available_at {
                    Some(at) => format!("The file can be downloaded from {}.", time_markup(at)),
                    None => "The sender set a time before which it cannot be used.".into(),
                }],
            ),
            PageState::OutsideNetwork => simple(
                "Network not allowed",
                "stop",
                "This link cannot be used from your network",
                vec![
                    "The sender allowed this link only from certain networks. \
                     Open it from one of them, or ask the sender."
                        .into(),
                ],
            ),
            PageState::Pending => simple(
                "Not ready yet",
                "info",
                "The file is still arriving",
                vec!["The upload has not finished. Try again in a few minutes.".into()],
            ),
            PageState::UsedUp => simple(
                "Used up",
                "stop",
                "This link has no downloads left",
                vec![
                    "The file was downloaded as many times as the link allows.".into(),
                    ask.into(),
                ],
            ),
            PageState::Expired => {
                simple("Expired", "stop", "This link has expired", vec![ask.into()])
            }
            PageState::Revoked => simple(
                "Revoked",
                "stop",
                "This link was revoked",
                vec!["The sender withdrew this link.".into(), ask.into()],
            ),
            PageState::QuotaExceeded { resets_at } => simple(
                "Quota reached",
                "stop",
                "Downloads are paused",
                vec![match resets_at {
                    Some(at) => format!(
                        "The sender's download quota is used up until {}.",
                        time_markup(at)
                    ),
                    None => "The sender's download quota is used up.".into(),
                }],
            ),
            PageState::NotFound => simple(
                "Not found",
                "stop",
                "No file at this address",
                vec![
                    "No link matches this address. Check that you copied all of it.".into(),
                    ask.into(),
                ],
            ),
            PageState::Malformed => simple(
                "Invalid address",
                "stop",
                "This address is not a valid link",
                vec!["Part of the address may be missing. Copy the whole link again.".into()],
            ),
            PageState::Failed { message } => simple(
                "Error",
                "stop",
                "Something went wrong",
                vec![escape(message), "Try again later.".into()],
            ),
        }
    }
}

fn ready_body(details: &FileDetails) -> String {
    let expires = crate::service::rfc3339(details.expires_at);
    let mut body = String::with_capacity(1024);
    body.push_str("<dl>\n");
    let mut row = |term: &str, value: String| {
        let _ = writeln!(body, "<div><dt>{term}</dt><dd>{value}</dd></div>");
    };
    row("File name", escape(&details.file_name));
    row("Size", size_markup(details.size));
    row("Type", escape(&details.content_type));
    row(
        "SHA-256",
        format!("<code class=\"hash\">{}</code>", escape(&details.sha256)),
    );
    row("Expires", time_markup(&expires));
    row(
        "Downloads left",
        format!(
            "{} of {}",
            details.downloads_remaining, details.max_downloads
        ),
    );
    body.push_str("</dl>\n");

    let label = format!("Download {}", escape(&details.file_name));
    let note = match details.downloads_remaining {
        1 => "This uses the last download.".to_owned(),
        n => format!("This uses one of the {n} downloads left."),
    };
    match &details.download {
        Download::Link { url } => {
            let _ = writeln!(
                body,
                "<p><a class=\"button\" id=\"download\" href=\"{}\" rel=\"nofollow noreferrer\" \
                 aria-describedby=\"download-note\">{label}</a></p>",
                escape(url)
            );
        }
        Download::Form {
            action,
            token,
            password,
            ..
        } => {
            let _ = writeln!(
                body,
                "<form method=\"post\" action=\"{}\">\
                 <input type=\"hidden\" name=\"token\" value=\"{}\">\
                 <input type=\"hidden\" name=\"password\" value=\"{}\">\
                 <button type=\"submit\" id=\"download\" aria-describedby=\"download-note\">\
                 {label}</button></form>",
                escape(action),
                escape(token),
                escape(password)
            );
        }
    }
    let _ = writeln!(body, "<p class=\"muted\" id=\"download-note\">{note}</p>");
    body
}

fn password_form(wrong: bool, token: &str) -> String {
    let mut form = String::with_capacity(512);
    // The leading "../" keeps a token from being read as a URL scheme.
    let _ = writeln!(
        form,
        "<form method=\"post\" action=\"../access/{}\">",
        escape(&encode_path_segment(token))
    );
    form.push_str("<label for=\"password\">Password</label>\n");
    let described = if wrong {
        " aria-invalid=\"true\" aria-describedby=\"password-error\""
    } else {
        ""
    };
    let _ = writeln!(
        form,
        "<input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\" required autofocus{described}>"
    );
    if wrong {
        form.push_str(
            "<p class=\"error\" id=\"password-error\" role=\"alert\">\
             That password is not correct.</p>\n",
        );
    }
    form.push_str("<button type=\"submit\">Open the link</button>\n</form>\n");
    form
}

/// Shows an RFC 3339 time in UTC, plus the reader's local time once the
/// page script has run.
fn time_markup(rfc3339: &str) -> String {
    let utc = OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| {
            t.to_offset(time::UtcOffset::UTC)
                .format(format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
                ))
                .ok()
        })
        .unwrap_or_else(|| rfc3339.to_owned());
    let value = escape(rfc3339);
    format!(
        "<time datetime=\"{value}\">{}</time> \
         <span class=\"muted\" data-local-time=\"{value}\" hidden></span>",
        escape(&utc)
    )
}

/// Formats a byte count with binary units, such as `26.7 KiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return if bytes == 1 {
            "1 byte".into()
        } else {
            format!("{bytes} bytes")
        };
    }
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Shows a size in binary units with the exact byte count after it, or the
/// byte count once when it is under 1 KiB.
fn size_markup(bytes: u64) -> String {
    if bytes < 1024 {
        return human_size(bytes);
    }
    format!(
        "{} <span class=\"muted\">({} bytes)</span>",
        human_size(bytes),
        group_digits(bytes)
    )
}

/// Writes `27346` as `27,346`.
fn group_digits(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Returns whether a client prefers HTML to JSON, by its `Accept` headers.
///
/// HTML is chosen only when `text/html` (or `application/xhtml+xml`) gets a
/// higher quality than `application/json`, each judged by its most specific
/// matching range. A missing header, `*/*` and `application/json` keep JSON,
/// and a browser's `text/html,...,*/*;q=0.8` gets HTML.
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let ranges: Vec<(String, f32)> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(parse_media_range)
        .collect();
    let html = quality("text/html", &ranges).max(quality("application/xhtml+xml", &ranges));
    let json = quality("application/json", &ranges);
    html > json
}

fn parse_media_range(text: &str) -> Option<(String, f32)> {
    let mut parts = text.split(';');
    let range = parts.next()?.trim().to_ascii_lowercase();
    if range.is_empty() {
        return None;
    }
    let mut q = 1.0;
    for parameter in parts {
        if let Some((name, value)) = parameter.split_once('=')
            && name.trim().eq_ignore_ascii_case("q")
        {
            q = value
                .trim()
                .parse::<f32>()
                .ok()
                .filter(|q| (0.0..=1.0).contains(q))?;
        }
    }
    Some((range, q))
}

/// Quality of `media` under `ranges`: the exact range wins over `type/*`,
/// which wins over `*/*`; 0 when none matches.
fn quality(media: &str, ranges: &[(String, f32)]) -> f32 {
    let wildcard = media
        .split_once('/')
        .map(|(kind, _)| format!("{kind}/*"))
        .unwrap_or_default();
    for candidate in [media, wildcard.as_str(), "*/*"] {
        if let Some((_, q)) = ranges.iter().find(|(range, _)| range == candidate) {
            return *q;
        }
    }
    0.0
}

/// The page's one style sheet; its hash is in the CSP.
const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#f4f5f7;--card:#fff;--muted:#57606a;\
--line:#d0d7de;--accent:#0550ae;--accent-fg:#fff;--ok:#1a7f37;--stop:#b42318;--info:#0550ae}\
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--card:#161b22;\
--muted:#9ea7b3;--line:#30363d;--accent:#4493f8;--accent-fg:#0d1117;--ok:#3fb950;\
--stop:#f85149;--info:#4493f8}}\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;\
color:var(--fg);background:var(--bg);padding:1rem}\
header,main,footer{max-width:40rem;margin:0 auto}\
.brand{margin:.5rem 0 1rem;font-weight:600;color:var(--muted)}\
main{background:var(--card);border:1px solid var(--line);border-radius:12px;\
padding:1.25rem 1.25rem 1.5rem}\
h1{font-size:1.5rem;line-height:1.25;margin:.5rem 0 1rem;overflow-wrap:anywhere}\
.badge{display:inline-block;margin:0;padding:.15rem .6rem;border-radius:999px;\
font-size:.875rem;font-weight:600;border:1px solid currentColor}\
.badge-ok{color:var(--ok)}.badge-stop{color:var(--stop)}.badge-info{color:var(--info)}\
dl{margin:1rem 0;display:grid;gap:.75rem}\
dl div{display:grid;grid-template-columns:9rem 1fr;gap:.25rem 1rem}\
dt{font-weight:600;color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}\
@media (max-width:30rem){dl div{grid-template-columns:1fr}}\
.hash{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875rem;\
word-break:break-all}\
.muted{color:var(--muted)}\
.button,button{display:inline-block;font:inherit;font-weight:600;padding:.75rem 1.25rem;\
border-radius:8px;border:0;background:var(--accent);color:var(--accent-fg);\
text-decoration:none;cursor:pointer;min-height:44px}\
.button:hover,button:hover{filter:brightness(1.1)}\
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid var(--accent);\
outline-offset:3px}\
form{display:grid;gap:.5rem;max-width:24rem}\
label{font-weight:600}\
input{font:inherit;padding:.6rem;border:1px solid var(--line);border-radius:8px;\
background:var(--bg);color:var(--fg)}\
.error{color:var(--stop);font-weight:600;margin:0}\
footer{margin-top:1rem;font-size:.875rem;color:var(--muted)}";

/// The page's one script: it writes each expiry in the reader's local time.
const SCRIPT: &str = "\
document.querySelectorAll('[data-local-time]').forEach(function (el) {\
var when = new Date(el.getAttribute('data-local-time'));\
if (isNaN(when.getTime())) { return; }\
el.textContent = '(your time: ' + when.toLocaleString(undefined, \
{ dateStyle: 'medium', timeStyle: 'short' }) + ')';\
el.hidden = false;\
});";

/// Returns the page's `Content-Security-Policy`: nothing but the one style
/// and the one script, by hash; forms post to this origin only; no framing.
pub fn content_security_policy() -> &'static str {
    static POLICY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "default-src 'none'; style-src '{}'; script-src '{}'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
            csp_hash(STYLE),
            csp_hash(SCRIPT)
        )
    });
    &POLICY
}

/// Returns the page's policy with `origin` added to `form-action`, for a
/// download form whose response redirects to that origin. Browsers apply
/// `form-action` to the redirects that follow a form submission too.
/// An origin that is not a plain `scheme://host[:port]` is left out.
pub fn content_security_policy_with_form_origin(origin: &str) -> String {
    let plain = origin.starts_with("https://") || origin.starts_with("http://");
    let safe = origin
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-:/[]".contains(&b));
    if !(plain && safe) {
        return content_security_policy().to_owned();
    }
    content_security_policy().replacen(
        "form-action 'self';",
        &format!("form-action 'self' {origin};"),
        1,
    )
}

/// Returns the CSP source expression `sha256-BASE64` of `content`.
pub fn csp_hash(content: &str) -> String {
    format!(
        "sha256-{}",
        STANDARD.encode(Sha256::digest(content.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Denial, ParamError};

    fn details(download: Download) -> FileDetails {
        FileDetails {
            file_name: "report <Q3>.pdf".into(),
            size: 27_346,
            content_type: "application/pdf".into(),
            sha256: "ab".repeat(32),
            expires_at: 1_796_404_557,
            max_downloads: 3,
            downloads_remaining: 2,
            download,
        }
    }

    fn link_download() -> Download {
        Download::Link {
            url: "https://x.test/files/a.pdf?token=t&x=\"1\"".into(),
        }
    }

    fn accept(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.append(header::ACCEPT, value);
            }
        }
        headers
    }

    #[test]
    fn ready_page_shows_details_escaped() {
        let html = Page::ready(details(link_download())).render();
        assert!(html.contains("<h1 id=\"heading\">report &lt;Q3&gt;.pdf</h1>"));
        assert!(!html.contains("<Q3>"));
        assert!(html.contains("26.7 KiB"));
        assert!(html.contains("(27,346 bytes)"));
        assert!(html.contains(&"ab".repeat(32)));
        assert!(html.contains("application/pdf"));
        assert!(html.contains("2 of 3"));
        assert!(html.contains("datetime=\"2026-12-04T17:15:57Z\""));
        assert!(html.contains("2026-12-04 17:15:57 UTC"));
        assert!(html.contains("href=\"https://x.test/files/a.pdf?token=t&amp;x=&quot;1&quot;\""));
        assert!(html.contains("<a class=\"button\" id=\"download\""));
    }

    #[test]
    fn password_download_posts_a_form() {
        let html = Page::ready(details(Download::Form {
            action: "https://x.test/files/a.pdf".into(),
            token: "tok".into(),
            password: "p\"w<".into(),
            redirect_origin: None,
        }))
        .render();
        assert!(html.contains("<form method=\"post\" action=\"https://x.test/files/a.pdf\">"));
        assert!(html.contains("name=\"token\" value=\"tok\""));
        assert!(html.contains("name=\"password\" value=\"p&quot;w&lt;\""));
        assert!(html.contains("<button type=\"submit\" id=\"download\""));
    }

    #[test]
    fn page_has_landmarks_and_viewport() {
        let html = Page::ready(details(link_download())).render();
        for needle in [
            "<html lang=\"en\">",
            "name=\"viewport\"",
            "<header>",
            "<main aria-labelledby=\"heading\">",
            "<footer>",
            "focus-visible",
        ] {
            assert!(html.contains(needle), "page lacks {needle}");
        }
    }

    #[test]
    fn csp_hashes_match_the_inline_style_and_script() {
        let html = Page::ready(details(link_download())).render();
        let style = between(&html, "<style>", "</style>");
        let script = between(&html, "<script>", "</script>");
        let policy = content_security_policy();
        assert!(policy.starts_with("default-src 'none';"));
        assert!(policy.contains(&format!("style-src '{}'", csp_hash(style))));
        assert!(policy.contains(&format!("script-src '{}'", csp_hash(script))));
        assert!(policy.contains("form-action 'self'"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert_eq!(html.matches("<style>").count(), 1);
        assert_eq!(html.matches("<script>").count(), 1);
        assert!(!html.contains(" style="));
        assert!(!html.contains("http://"));
    }

    fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
        let from = text
            .find(start)
            .map(|i| i + start.len())
            .unwrap_or_default();
        let to = text[from..].find(end).map(|i| i + from).unwrap_or(from);
        &text[from..to]
    }

    #[test]
    fn denials_keep_the_json_status() {
        let cases: Vec<(ApiError, u16, PageState, &str)> = vec![
            (
                ApiError::Gone(Denial::UsedUp),
                410,
                PageState::UsedUp,
                "no downloads left",
            ),
            (
                ApiError::Gone(Denial::Expired),
                410,
                PageState::Expired,
                "has expired",
            ),
            (
                ApiError::Gone(Denial::Revoked),
                410,
                PageState::Revoked,
                "was revoked",
            ),
            (
                ApiError::NotFound("x".into()),
                404,
                PageState::NotFound,
                "No file at this address",
            ),
            (
                ApiError::Invalid(ParamError::new("token", "bad")),
                422,
                PageState::Malformed,
                "not a valid link",
            ),
            (
                ApiError::Invalid(ParamError::new("password", "is badly encoded")),
                422,
                PageState::Failed {
                    message: "password is badly encoded".into(),
                },
                "password is badly encoded",
            ),
            (
                ApiError::Internal,
                500,
                PageState::Failed {
                    message: "the service failed; try again later".into(),
                },
                "Something went wrong",
            ),
        ];
        for (error, status, state, words) in cases {
            let page = Page::for_error(&error, "tok");
            assert_eq!(page.status.as_u16(), status, "{state:?}");
            assert_eq!(page.state, state);
            let html = page.render();
            assert!(html.contains(words), "{state:?} page lacks {words:?}");
            assert!(
                !html.contains("id=\"download\""),
                "{state:?} offers a download"
            );
        }
    }

    #[test]
    fn later_states_render_their_details() {
        let at = "2026-12-04T17:15:57Z".to_owned();
        let cases = [
            (
                PageState::PasswordRequired {
                    wrong: false,
                    token: "a.b.c".into(),
                },
                vec![
                    "<form method=\"post\" action=\"../access/a.b.c\">",
                    "type=\"password\"",
                ],
            ),
            (
                PageState::PasswordRequired {
                    wrong: true,
                    token: "a.b.c".into(),
                },
                vec!["role=\"alert\"", "aria-invalid=\"true\""],
            ),
            (
                PageState::Locked {
                    retry_at: Some(at.clone()),
                },
                vec!["Too many wrong passwords", "2026-12-04 17:15:57 UTC"],
            ),
            (
                PageState::NotYetAvailable {
                    available_at: Some(at.clone()),
                },
                vec!["not open yet", "data-local-time=\"2026-12-04T17:15:57Z\""],
            ),
            (PageState::Pending, vec!["still arriving"]),
            (PageState::OutsideNetwork, vec!["your network"]),
            (
                PageState::QuotaExceeded {
                    resets_at: Some(at),
                },
                vec!["quota", "2026-12-04 17:15:57 UTC"],
            ),
        ];
        for (state, needles) in cases {
            let html = Page {
                status: StatusCode::FORBIDDEN,
                state: state.clone(),
            }
            .render();
            for needle in needles {
                assert!(html.contains(needle), "{state:?} page lacks {needle:?}");
            }
            assert!(
                !html.contains("id=\"download\""),
                "{state:?} offers a download"
            );
        }
    }

    #[test]
    fn password_form_target_cannot_become_a_scheme() {
        let html = Page {
            status: StatusCode::UNAUTHORIZED,
            state: PageState::PasswordRequired {
                wrong: false,
                token: "javascript:alert(1)\"".into(),
            },
        }
        .render();
        assert!(html.contains("action=\"../access/javascript%3Aalert%281%29%22\""));
    }

    #[test]
    fn failed_page_escapes_the_message() {
        let html = Page {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            state: PageState::Failed {
                message: "<img src=x onerror=alert(1)>".into(),
            },
        }
        .render();
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(!html.contains("<img"));
    }

    #[test]
    fn response_carries_csp_and_html_type() {
        let response = Page::ready(details(link_download())).into_response();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            header("content-type").as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(
            header("content-security-policy").as_deref(),
            Some(content_security_policy())
        );
        assert_eq!(header("cache-control").as_deref(), Some("no-store"));
        assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"));
    }

    #[test]
    fn redirecting_form_allows_the_store_origin() {
        let form = |origin: &str| {
            details(Download::Form {
                action: "https://x.test/files/a.pdf".into(),
                token: "tok".into(),
                password: "pw".into(),
                redirect_origin: Some(origin.into()),
            })
        };
        let policy = |page: Page| {
            page.into_response()
                .headers()
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let allowed = policy(Page::ready(form(
            "https://files.s3.us-east-1.amazonaws.com",
        )));
        assert!(
            allowed.contains("form-action 'self' https://files.s3.us-east-1.amazonaws.com;"),
            "{allowed}"
        );
        assert!(allowed.contains("default-src 'none';"));
        let injected = policy(Page::ready(form("https://a.test; script-src *")));
        assert_eq!(injected, content_security_policy());
        let plain = policy(Page::ready(details(link_download())));
        assert_eq!(plain, content_security_policy());
    }

    #[test]
    fn accept_header_picks_html_only_when_preferred() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,\
                       image/avif,image/webp,*/*;q=0.8";
        let cases: [(&[&str], bool); 9] = [
            (&[], false),
            (&["*/*"], false),
            (&["application/json"], false),
            (&[browser], true),
            (&["text/html"], true),
            (&["application/json, text/html;q=0.5"], false),
            (&["text/html, application/json"], false),
            (&["text/*;q=0.9, application/json;q=0.1"], true),
            (&["application/json;q=0.2", "text/html"], true),
        ];
        for (values, html) in cases {
            assert_eq!(prefers_html(&accept(values)), html, "Accept: {values:?}");
        }
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(1023), "1023 bytes");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(5 * 1024 * 1024 + 200 * 1024), "5.2 MiB");
        assert_eq!(group_digits(1_234_567), "1,234,567");
        assert_eq!(group_digits(999), "999");
    }

    #[test]
    fn small_sizes_show_the_byte_count_once() {
        let mut small = details(link_download());
        small.size = 207;
        let html = Page::ready(small).render();
        assert!(html.contains("<dd>207 bytes</dd>"), "{html}");
        assert_eq!(html.matches("207 bytes").count(), 1, "{html}");
        assert_eq!(size_markup(1), "1 byte");
        assert_eq!(size_markup(1023), "1023 bytes");
        assert_eq!(
            size_markup(1024),
            "1.0 KiB <span class=\"muted\">(1,024 bytes)</span>"
        );
    }
}
