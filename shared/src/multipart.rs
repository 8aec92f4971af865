//! Parsing of the `multipart/form-data` body of `/upload-file`.
//!
//! The body must hold exactly one part named `file` with a file name, and may
//! hold `expire_minutes`, `max_downloads` and the link settings of
//! [`crate::options`] as text parts. Any other part name is rejected, so
//! that a typo in a field name is reported instead of silently ignored.
//!
//! The file's bytes are a slice of the request body, not a copy: `multer`
//! parses the body from 64 KiB windows, and each chunk it yields for the
//! file is checked against the same range of the body, which
//! [`part_data_ranges`] finds by scanning for the boundary. Only when the two
//! disagree is the file copied out of `multer`'s chunks instead.
//!
//! `multer` copies every window it is given into its own buffer and takes
//! all that are ready. The windows therefore come one per poll ([`Paced`]),
//! so that its buffer stays near one window and never becomes a second copy
//! of the body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::domain::{FileName, ParamError};
use crate::http::ApiError;
use crate::options::{LinkOptions, OPTION_FIELDS};

/// Longest accepted text part; `recipients` is the longest one.
const MAX_TEXT_PART: u64 = 4096;

/// A parsed upload request.
#[derive(Debug)]
pub struct Upload {
    /// Checked file name.
    pub file_name: FileName,
    /// Declared content type of the part, if it was a usable one.
    pub declared_type: Option<String>,
    /// File bytes.
    pub bytes: Bytes,
    /// `expire_minutes` as sent, not yet range-checked.
    pub expire_minutes: Option<i64>,
    /// `max_downloads` as sent, not yet range-checked.
    pub max_downloads: Option<i64>,
    /// Link settings as sent, not yet checked.
    pub options: LinkOptions,
}

/// Parses `body` with the boundary from `content_type`, taking files of at
/// most `max_file_bytes`.
///
/// # Errors
///
/// 415 for a body that is not multipart, 400 for a broken one, 413 for a
/// file over the limit, and 422 naming the part for a missing, empty,
/// repeated or unnamed file or a bad number.
pub async fn parse_upload(
    content_type: Option<&str>,
    body: Bytes,
    max_file_bytes: u64,
) -> Result<Upload, ApiError> {
    let boundary = content_type
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or(ApiError::UnsupportedMediaType {
            expected: "multipart/form-data with a boundary",
        })?;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(max_file_bytes + 64 * 1024)
            .per_field(max_file_bytes),
    );
    let ranges = part_data_ranges(&body, &boundary);
    let windows = Paced::new(body.clone());
    let mut multipart = multer::Multipart::with_constraints(windows, boundary, constraints);
    let mut index = 0usize;

    let mut file: Option<(FileName, Option<String>, Bytes)> = None;
    let mut expire_minutes = None;
    let mut max_downloads = None;
    let mut options = LinkOptions::default();
    let mut seen_options: Vec<String> = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => return Err(multipart_error(&error, max_file_bytes)),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let range = ranges.get(index).cloned();
        index += 1;
        match name.as_str() {
            "file" => {
                if file.is_some() {
                    return Err(twice("file"));
                }
                let raw_name = field
                    .file_name()
                    .map(str::to_owned)
                    .ok_or_else(|| missing_file_name(field.headers()))?;
                let file_name = FileName::parse(&decode_form_file_name(&raw_name))
                    .map_err(|e| ParamError::new("file", format!("has an unusable name: {e}")))?;
                let declared = field.content_type().map(ToString::to_string);
                let bytes = file_bytes(field, &body, range, max_file_bytes).await?;
                if bytes.is_empty() {
                    return Err(ParamError::new("file", "is empty").into());
                }
                file = Some((file_name, declared, bytes));
            }
            "expire_minutes" => {
                if expire_minutes.is_some() {
                    return Err(twice("expire_minutes"));
                }
                let text = field_text(field, "expire_minutes").await?;
                expire_minutes = Some(parse_integer("expire_minutes", &text)?);
            }
            "max_downloads" => {
                if max_downloads.is_some() {
                    return Err(twice("max_downloads"));
                }
                let text = field_text(field, "max_downloads").await?;
                max_downloads = Some(parse_integer("max_downloads", &text)?);
            }
            other if OPTION_FIELDS.contains(&other) => {
                if seen_options.iter().any(|seen| seen == other) {
                    return Err(ParamError::new(
                        "form",
                        format!("part {other} must be sent once, not twice"),
                    )
                    .into());
                }
                seen_options.push(other.to_owned());
                let text = field_text(field, "form").await?;
                options.set_text(other, &text)?;
            }
            other => {
                let shown: String = other.chars().take(64).collect();
                return Err(ParamError::new(
                    "form",
                    format!(
                        "has an unknown part {shown:?}; expected file, expire_minutes, \
                         max_downloads, {}",
                        OPTION_FIELDS.join(", ")
                    ),
                )
                .into());
            }
        }
    }
    let (file_name, declared_type, bytes) = file.ok_or_else(|| {
        ParamError::new("file", "is required: send the file as a part named file")
    })?;
    Ok(Upload {
        file_name,
        declared_type,
        bytes,
        expire_minutes,
        max_downloads,
        options,
    })
}

/// Size of the windows the body is handed to `multer` in, which bounds its
/// own buffer.
const WINDOW_BYTES: usize = 64 * 1024;

/// Windows of a body, which share its bytes. Between two windows the
/// stream returns one `Pending` that wakes the task at once, so a reader
/// that takes every ready item receives one window per poll. The end comes
/// right after the last window, because `multer` reports an incomplete
/// stream when it reads the end in a later poll than its data while it
/// looks for the first boundary.
struct Paced {
    body: Bytes,
    offset: usize,
    pause: bool,
}

impl Paced {
    fn new(body: Bytes) -> Self {
        Self {
            body,
            offset: 0,
            pause: false,
        }
    }
}

impl futures_util::Stream for Paced {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.offset >= self.body.len() {
            return Poll::Ready(None);
        }
        if self.pause {
            self.pause = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let end = (self.offset + WINDOW_BYTES).min(self.body.len());
        let window = self.body.slice(self.offset..end);
        self.offset = end;
        self.pause = true;
        Poll::Ready(Some(Ok(window)))
    }
}

/// Reads the file part. When every chunk equals the expected range of the
/// body, returns that range as a slice of `body`; otherwise collects a copy.
async fn file_bytes(
    mut field: multer::Field<'_>,
    body: &Bytes,
    range: Option<std::ops::Range<usize>>,
    max_file_bytes: u64,
) -> Result<Bytes, ApiError> {
    let mut position = range.as_ref().map(|r| r.start);
    let mut copied: Option<Vec<u8>> = None;
    let mut consumed = 0usize;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| multipart_error(&e, max_file_bytes))?
    {
        if let Some(collected) = copied.as_mut() {
            collected.extend_from_slice(&chunk);
            continue;
        }
        let matches = position.is_some_and(|at| body.get(at..at + chunk.len()) == Some(&chunk[..]));
        if matches {
            position = position.map(|at| at + chunk.len());
        } else {
            let start = range.as_ref().map_or(0, |r| r.start);
            let mut collected = body[start..start + consumed].to_vec();
            collected.extend_from_slice(&chunk);
            copied = Some(collected);
        }
        consumed += chunk.len();
    }
    if let Some(collected) = copied {
        return Ok(Bytes::from(collected));
    }
    match (range, position) {
        (Some(range), Some(end)) if end == range.end => Ok(body.slice(range)),
        (Some(range), Some(end)) => Ok(body.slice(range.start..end)),
        _ => Ok(Bytes::new()),
    }
}

/// Returns the data range of each part of a multipart `body`, in order: from
/// the blank line after the part's headers to the CRLF before the next
/// delimiter. A delimiter is `CRLF--boundary` followed by `--`, CRLF, space
/// or tab, as RFC 2046 has it. A part without a complete header block ends
/// the list.
pub fn part_data_ranges(body: &[u8], boundary: &str) -> Vec<std::ops::Range<usize>> {
    let delimiter = format!("\r\n--{boundary}");
    let finder = memchr::memmem::Finder::new(delimiter.as_bytes());
    let next_delimiter = |from: usize| -> Option<usize> {
        let mut at = from;
        while let Some(found) = finder.find(&body[at..]) {
            let position = at + found;
            let after = &body[position + delimiter.len()..];
            if after.starts_with(b"--")
                || after.starts_with(b"\r\n")
                || after.starts_with(b" ")
                || after.starts_with(b"\t")
            {
                return Some(position);
            }
            at = position + 1;
        }
        None
    };
    let line_end = memchr::memmem::Finder::new(b"\r\n");
    let header_end = memchr::memmem::Finder::new(b"\r\n\r\n");
    // The first delimiter may open the body without a CRLF before it.
    let first = format!("--{boundary}");
    let mut after = if body.starts_with(first.as_bytes()) {
        first.len()
    } else {
        match next_delimiter(0) {
            Some(at) => at + delimiter.len(),
            None => return Vec::new(),
        }
    };
    let mut ranges = Vec::new();
    loop {
        if body[after..].starts_with(b"--") {
            break;
        }
        // Skip the rest of the delimiter line (transport padding and CRLF).
        let Some(line) = line_end.find(&body[after..]) else {
            break;
        };
        let headers = after + line + 2;
        let start = if body[headers..].starts_with(b"\r\n") {
            headers + 2
        } else {
            match header_end.find(&body[headers..]) {
                Some(end) => headers + end + 4,
                None => break,
            }
        };
        let Some(end) = next_delimiter(start) else {
            break;
        };
        ranges.push(start..end);
        after = end + delimiter.len();
    }
    ranges
}

fn twice(field: &'static str) -> ApiError {
    ParamError::new(field, "must be sent once, not twice").into()
}

async fn field_text(field: multer::Field<'_>, name: &'static str) -> Result<String, ApiError> {
    let bytes = field
        .bytes()
        .await
        .map_err(|_| ParamError::new(name, "could not be read"))?;
    if bytes.len() as u64 > MAX_TEXT_PART {
        return Err(ParamError::new(name, "is too long").into());
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| ParamError::new(name, "is not UTF-8 text").into())
}

/// Parses a decimal integer field.
///
/// # Errors
///
/// Returns a [`ParamError`] for `field` when `text` is not a whole number.
pub fn parse_integer(field: &'static str, text: &str) -> Result<i64, ParamError> {
    text.trim().parse::<i64>().map_err(|_| {
        ParamError::new(
            field,
            format!("must be an integer, got {:?}", truncate(text)),
        )
    })
}

fn truncate(text: &str) -> String {
    text.chars().take(32).collect()
}

/// Decodes the escapes that browsers and curl write in a multipart file
/// name: the HTML standard's form encoding sends `"` as `%22`, CR as `%0D`
/// and LF as `%0A`, and leaves every other character, `%` included, as it
/// is. A name that really contains `%22` therefore reads as a quote, the
/// same ambiguity every server that follows the standard has.
fn decode_form_file_name(raw: &str) -> std::borrow::Cow<'_, str> {
    if !raw.contains('%') {
        return raw.into();
    }
    raw.replace("%22", "\"")
        .replace("%0D", "\r")
        .replace("%0A", "\n")
        .into()
}

/// Explains why the `file` part's Content-Disposition gave no file name.
fn missing_file_name(headers: &http::HeaderMap) -> ParamError {
    let disposition = headers
        .get(http::header::CONTENT_DISPOSITION)
        .map(http::HeaderValue::as_bytes)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let has = |needle: &[u8]| memchr::memmem::find(&disposition, needle).is_some();
    let message = if has(b"filename*=") {
        "part has filename* in its Content-Disposition, which multipart/form-data \
         does not use (RFC 7578); send only filename=\"...\" with the UTF-8 name"
    } else if has(b"filename=") {
        if std::str::from_utf8(&disposition).is_err() {
            "part has a filename in its Content-Disposition that is not valid UTF-8"
        } else {
            "part has a filename in its Content-Disposition that cannot be read; \
             send it in double quotes, with no raw control characters"
        }
    } else {
        "part has no filename in its Content-Disposition"
    };
    ParamError::new("file", message)
}

fn multipart_error(error: &multer::Error, max_file_bytes: u64) -> ApiError {
    match error {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            ApiError::PayloadTooLarge {
                limit: max_file_bytes,
            }
        }
        other => ApiError::BadRequest {
            code: "invalid_multipart",
            message: format!("the multipart body could not be parsed: {other}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Bytes {
        let mut out = Vec::new();
        for (name, file_name, data) in parts {
            out.extend_from_slice(b"--XyZ\r\n");
            let disposition = match file_name {
                Some(f) => {
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n")
                }
                None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n"),
            };
            out.extend_from_slice(disposition.as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XyZ--\r\n");
        Bytes::from(out)
    }

    async fn status(parts: &[(&str, Option<&str>, &[u8])]) -> u16 {
        match parse_upload(Some(CT), body(parts), 1024).await {
            Ok(_) => 200,
            Err(e) => e.status().as_u16(),
        }
    }

    #[tokio::test]
    async fn file_with_options_is_parsed() {
        let parsed = parse_upload(
            Some(CT),
            body(&[
                ("file", Some("a.bin"), &[0, 1, 2, 255]),
                ("expire_minutes", None, b"15"),
                ("max_downloads", None, b"3"),
            ]),
            1024,
        )
        .await;
        let upload = parsed.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(upload.file_name.as_str(), "a.bin");
        assert_eq!(&upload.bytes[..], &[0, 1, 2, 255]);
        assert_eq!(upload.expire_minutes, Some(15));
        assert_eq!(upload.max_downloads, Some(3));
    }

    #[tokio::test]
    async fn bad_bodies_get_client_errors() {
        assert_eq!(status(&[]).await, 422);
        assert_eq!(status(&[("file", None, b"x")]).await, 422);
        assert_eq!(status(&[("file", Some("a"), b"")]).await, 422);
        assert_eq!(
            status(&[("file", Some("a"), b"x"), ("file", Some("b"), b"y")]).await,
            422
        );
        assert_eq!(status(&[("file", Some(".."), b"x")]).await, 422);
        assert_eq!(
            status(&[("file", Some("a"), b"x"), ("other", None, b"1")]).await,
            422
        );
        assert_eq!(
            status(&[("file", Some("a"), b"x"), ("expire_minutes", None, b"1.5")]).await,
            422
        );
        assert_eq!(status(&[("file", Some("a"), &[7u8; 2048])]).await, 413);
        let repeated: [(&str, Option<&str>, &[u8]); 3] = [
            ("file", Some("a"), b"x"),
            ("max_downloads", None, b"1"),
            ("max_downloads", None, b"5"),
        ];
        assert_eq!(status(&repeated).await, 422);
    }

    #[tokio::test]
    async fn file_is_a_slice_of_the_body() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let body = body(&[
            ("expire_minutes", None, b"15"),
            ("file", Some("a.bin"), &data),
        ]);
        let upload = parse_upload(Some(CT), body.clone(), 1 << 20).await;
        let upload = upload.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&upload.bytes[..], &data[..]);
        let start = body.as_ptr() as usize;
        let file = upload.bytes.as_ptr() as usize;
        assert!(
            file > start && file < start + body.len(),
            "the file was copied"
        );
    }

    /// Parses one `file` part whose Content-Disposition is `disposition`
    /// (raw bytes) and returns the file name or the error's message.
    async fn name_or_error(disposition: &[u8]) -> Result<String, String> {
        let mut raw = b"--XyZ\r\nContent-Disposition: ".to_vec();
        raw.extend_from_slice(disposition);
        raw.extend_from_slice(b"\r\n\r\nx\r\n--XyZ--\r\n");
        parse_upload(Some(CT), Bytes::from(raw), 1024)
            .await
            .map(|upload| upload.file_name.as_str().to_owned())
            .map_err(|error| error.to_string())
    }

    #[tokio::test]
    async fn form_encoded_file_names_are_decoded() {
        let quoted =
            name_or_error(br#"form-data; name="file"; filename="report %22q%22.pdf""#).await;
        assert_eq!(quoted.as_deref(), Ok(r#"report "q".pdf"#));
        let escaped = name_or_error(br#"form-data; name="file"; filename="a \"b\".pdf""#).await;
        assert_eq!(escaped.as_deref(), Ok(r#"a "b".pdf"#));
        let percent = name_or_error(br#"form-data; name="file"; filename="100% done.txt""#).await;
        assert_eq!(percent.as_deref(), Ok("100% done.txt"));
        let newline = name_or_error(br#"form-data; name="file"; filename="a%0D%0Ab.pdf""#).await;
        let message = newline.err().unwrap_or_default();
        assert!(message.contains("unusable name"), "{message}");
    }

    #[tokio::test]
    async fn unreadable_file_names_are_explained() {
        let cases: [(&[u8], &str); 4] = [
            (
                b"form-data; name=\"file\"; filename*=UTF-8''a.pdf",
                "filename*",
            ),
            (
                b"form-data; name=\"file\"; filename=\"\xff\xfe.pdf\"",
                "not valid UTF-8",
            ),
            (
                b"form-data; name=\"file\"; filename=\"unterminated",
                "double quotes",
            ),
            (b"form-data; name=\"file\"", "no filename"),
        ];
        for (disposition, expected) in cases {
            let result = name_or_error(disposition).await;
            let message = result.err().unwrap_or_default();
            assert!(
                message.contains(expected),
                "{}: {message}",
                String::from_utf8_lossy(disposition)
            );
        }
    }

    #[test]
    fn part_ranges_follow_the_boundaries() {
        let body = body(&[("a", None, b"one"), ("file", Some("f"), b"\r\n--XyZx")]);
        let ranges = part_data_ranges(&body, "XyZ");
        let parts: Vec<&[u8]> = ranges.iter().map(|r| &body[r.clone()]).collect();
        assert_eq!(parts, vec![&b"one"[..], &b"\r\n--XyZx"[..]]);
    }

    #[tokio::test]
    async fn wrong_content_type_is_unsupported() {
        let result = parse_upload(Some("application/json"), Bytes::from_static(b"{}"), 10).await;
        assert_eq!(result.err().map(|e| e.status().as_u16()), Some(415));
    }

    #[tokio::test]
    async fn wrong_boundary_is_a_client_error() {
        let result = parse_upload(
            Some("multipart/form-data; boundary=Other"),
            body(&[("file", Some("a"), b"x")]),
            1024,
        )
        .await;
        let status = result.err().map(|e| e.status().as_u16());
        assert!(matches!(status, Some(400 | 422)), "{status:?}");
    }
}
