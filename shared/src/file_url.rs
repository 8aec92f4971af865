//! Which `file_url` values `/generate-link` accepts.
//!
//! SECURITY: the service must never become a way to read arbitrary URLs from
//! inside AWS. A `file_url` is accepted only when it names an object in the
//! product's own bucket or in a bucket listed in `ALLOWED_BUCKETS`, written as
//! `s3://bucket/key` or in one of the S3 https forms (virtual-hosted or path
//! style, with or without a region). Every other scheme and host is rejected
//! before any connection is made, and the object is then read through the S3
//! client only, never by fetching the URL.

use percent_encoding::percent_decode_str;

use crate::domain::ParamError;

/// Longest S3 key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// A bucket and key named by a `file_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectLocation {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
}

fn invalid(message: impl Into<String>) -> ParamError {
    ParamError::new("file_url", message)
}

/// Parses `file_url` and checks that its bucket is `own_bucket` or one of
/// `allowed`.
///
/// # Errors
///
/// Returns a `file_url` [`ParamError`] saying which rule the URL breaks.
pub fn parse_file_url(
    file_url: &str,
    own_bucket: &str,
    allowed: &[String],
) -> Result<ObjectLocation, ParamError> {
    if file_url.len() > 2048 {
        return Err(invalid("must be at most 2048 characters"));
    }
    // URL schemes are case-insensitive (RFC 3986), so S3:// is s3:// too.
    let s3_rest = file_url
        .get(..5)
        .filter(|scheme| scheme.eq_ignore_ascii_case("s3://"))
        .and_then(|_| file_url.get(5..));
    let location = if let Some(rest) = s3_rest {
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| invalid("must name an object: s3://bucket/key"))?;
        ObjectLocation {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        }
    } else {
        parse_https(file_url)?
    };
    check_bucket_name(&location.bucket)?;
    check_key(&location.key)?;
    let permitted = location.bucket == own_bucket || allowed.contains(&location.bucket);
    if !permitted {
        return Err(invalid(format!(
            "bucket {:?} is not one this service may share from",
            location.bucket
        )));
    }
    Ok(location)
}

fn parse_https(file_url: &str) -> Result<ObjectLocation, ParamError> {
    let url = url::Url::parse(file_url).map_err(|e| invalid(format!("is not a URL: {e}")))?;
    if url.scheme() != "https" {
        return Err(invalid(format!(
            "scheme {:?} is not accepted; use s3://bucket/key or an https S3 URL",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() || url.port().is_some() {
        return Err(invalid("must not carry credentials or a port"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not carry a query or fragment"));
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Err(invalid("host is not an S3 endpoint"));
    };
    let host = host.to_ascii_lowercase();
    let path = url.path().strip_prefix('/').unwrap_or_default();
    let decode = |raw: &str| {
        percent_decode_str(raw)
            .decode_utf8()
            .map(|k| k.into_owned())
            .map_err(|_| invalid("key is not valid UTF-8 after percent-decoding"))
    };
    let Some(prefix) = host.strip_suffix(".amazonaws.com") else {
        return Err(invalid(format!("host {host:?} is not an S3 endpoint")));
    };
    if is_s3_service_label(prefix) {
        // Path style: https://s3.region.amazonaws.com/bucket/key
        let (bucket, key) = path
            .split_once('/')
            .ok_or_else(|| invalid("must name an object: /bucket/key"))?;
        return Ok(ObjectLocation {
            bucket: bucket.to_owned(),
            key: decode(key)?,
        });
    }
    // Virtual-hosted style: https://bucket.s3.region.amazonaws.com/key
    for marker in [".s3.", ".s3-"] {
        if let Some(index) = prefix.find(marker) {
            let service = &prefix[index + 1..];
            if is_s3_service_label(service) {
                return Ok(ObjectLocation {
                    bucket: prefix[..index].to_owned(),
                    key: decode(path)?,
                });
            }
        }
    }
    if let Some(bucket) = prefix.strip_suffix(".s3") {
        return Ok(ObjectLocation {
            bucket: bucket.to_owned(),
            key: decode(path)?,
        });
    }
    Err(invalid(format!("host {host:?} is not an S3 endpoint")))
}

/// Returns whether `label` is `s3`, `s3.<region>` or `s3-<region>`.
fn is_s3_service_label(label: &str) -> bool {
    let region_ok = |r: &str| {
        !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    label == "s3"
        || label.strip_prefix("s3.").is_some_and(region_ok)
        || label.strip_prefix("s3-").is_some_and(region_ok)
}

fn check_bucket_name(bucket: &str) -> Result<(), ParamError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("{bucket:?} is not a valid bucket name")))
    }
}

fn check_key(key: &str) -> Result<(), ParamError> {
    if key.is_empty() {
        return Err(invalid("must name an object, not a bucket"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(invalid(format!("key is longer than {MAX_KEY_BYTES} bytes")));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid("key contains a control character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<ObjectLocation, ParamError> {
        parse_file_url(url, "own-bucket", &["partner-bucket".to_owned()])
    }

    fn location(bucket: &str, key: &str) -> Result<ObjectLocation, ParamError> {
        Ok(ObjectLocation {
            bucket: bucket.into(),
            key: key.into(),
        })
    }

    #[test]
    fn s3_scheme_is_accepted() {
        assert_eq!(
            parse("s3://own-bucket/a/b c.pdf"),
            location("own-bucket", "a/b c.pdf")
        );
        assert_eq!(
            parse("s3://partner-bucket/x"),
            location("partner-bucket", "x")
        );
        assert_eq!(parse("S3://own-bucket/x"), location("own-bucket", "x"));
    }

    #[test]
    fn https_forms_are_accepted() {
        let expected = location("own-bucket", "dir/report 1.pdf");
        for url in [
            "https://own-bucket.s3.amazonaws.com/dir/report%201.pdf",
            "https://own-bucket.s3.eu-west-1.amazonaws.com/dir/report%201.pdf",
            "https://own-bucket.s3-eu-west-1.amazonaws.com/dir/report%201.pdf",
            "https://s3.amazonaws.com/own-bucket/dir/report%201.pdf",
            "https://s3.eu-west-1.amazonaws.com/own-bucket/dir/report%201.pdf",
        ] {
            assert_eq!(parse(url), expected, "{url}");
        }
    }

    #[test]
    fn other_buckets_are_rejected() {
        assert!(parse("s3://someone-else/x").is_err());
        assert!(parse("https://someone-else.s3.amazonaws.com/x").is_err());
    }

    #[test]
    fn internal_and_foreign_urls_are_rejected() {
        for url in [
            "file:///proc/self/environ",
            "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:7f00:1]/",
            "http://0x7f.1/",
            "gopher://x/",
            "https://169.254.169.254/latest/meta-data/",
            "https://example.com/own-bucket/x",
            "https://own-bucket.s3.amazonaws.com.evil.example/x",
            "https://user:pw@own-bucket.s3.amazonaws.com/x",
            "https://own-bucket.s3.amazonaws.com:8443/x",
            "https://own-bucket.s3.amazonaws.com/x?versionId=1",
            "http://own-bucket.s3.amazonaws.com/x",
            "s3://own-bucket",
            "s3://own-bucket/",
            "s3://Own_Bucket/x",
            "s3://own-bucket/a\nb",
            "",
        ] {
            let result = parse(url);
            assert!(result.is_err(), "{url:?} was accepted: {result:?}");
            assert_eq!(result.err().map(|e| e.field), Some("file_url"));
        }
    }
}
