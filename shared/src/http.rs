//! Request parsing and the one mapping from errors to HTTP responses.
//!
//! | status | when |
//! |---|---|
//! | 400 | the body is not JSON, or not a JSON object |
//! | 401 | no API key was presented (local server and `cargo lambda watch` only); or the link needs a password (`password_required`) or got a wrong one (`wrong_password`) |
//! | 403 | the API key is not one of `API_KEYS` (same); or the recipient's address is outside the link's networks (`outside_allowed_network`), or the link opens later (`not_yet_available`); or a signed object URL of the local server is forged or expired (`invalid_signed_url`) |
//! | 404 | the token is forged, unknown, or names another file; a link id of another creator |
//! | 405 | the method is not served on the route |
//! | 409 | the link waits for a large upload that has not arrived, or its upload has already arrived |
//! | 410 | the link is expired, revoked or used up |
//! | 413 | the body is larger than one request may carry |
//! | 415 | the body has the wrong content type |
//! | 422 | a parameter, file name or token is missing or malformed |
//! | 423 | too many wrong passwords locked the link for a while (`locked`) |
//! | 429 | the API key's daily or monthly quota is used up (see [`crate::quota`]) |
//! | 500 | a store failed; the body is generic and the log has the cause |
//!
//! Every error body is JSON: `{"status": "error", "error": CODE, "message":
//! TEXT}` plus `field` for a bad parameter. Every response carries
//! `Cache-Control: no-store`, `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer`, because most of them carry or concern a
//! token.

use http::header::{self, HeaderValue};
use http::{HeaderMap, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use crate::api::ErrorBody;
use crate::config::Config;
use crate::domain::{Denial, ParamError};
use crate::secret::{RawToken, fingerprint};

/// Every failure a handler responds with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body cannot be read as the route expects.
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// No API key presented.
    #[error("missing API key")]
    Unauthorized,
    /// API key not recognised.
    #[error("invalid API key")]
    Forbidden,
    /// Nothing here for this request.
    #[error("{0}")]
    NotFound(String),
    /// Method not served; `allow` lists the ones that are.
    #[error("method not allowed; this route serves {allow}")]
    MethodNotAllowed {
        /// Value of the `Allow` header.
        allow: &'static str,
    },
    /// A genuine link that may no longer be used.
    #[error("link is {}", .0.code())]
    Gone(Denial),
    /// A link whose large upload has not arrived yet.
    #[error("the file of this link has not been uploaded yet")]
    Pending,
    /// A second upload to a link whose file has already arrived.
    #[error("the file of this link has already been uploaded")]
    AlreadyUploaded,
    /// A signed object URL of the local server that is forged or expired.
    #[error("{0}")]
    InvalidSignedUrl(String),
    /// Body over the limit.
    #[error("body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Wrong body type.
    #[error("content type must be {expected}")]
    UnsupportedMediaType {
        /// Media type the route accepts.
        expected: &'static str,
    },
    /// A parameter is missing or invalid.
    #[error(transparent)]
    Invalid(#[from] ParamError),
    /// The link needs a password and none was sent.
    #[error("this link needs a password; send it in the X-Link-Password header")]
    PasswordRequired,
    /// The password sent is not the link's.
    #[error("the password is wrong")]
    WrongPassword,
    /// Too many wrong passwords; every password is refused until `until`.
    #[error("too many wrong passwords; the link is locked for a while")]
    Locked {
        /// Unix seconds when the lock ends.
        until: i64,
    },
    /// The caller's address is outside the link's allowed networks.
    #[error("this link cannot be used from your network")]
    OutsideNetwork,
    /// The link opens at `at`.
    #[error("this link is not available yet")]
    NotYetAvailable {
        /// Unix seconds when the link opens.
        at: i64,
    },
    /// The API key's quota for a period is used up.
    #[error("{} quota exceeded", .0.period.name())]
    QuotaExceeded(crate::quota::QuotaExceeded),
    /// The store or another dependency failed.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// Returns the status code for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Gone(_) => StatusCode::GONE,
            Self::Pending | Self::AlreadyUploaded => StatusCode::CONFLICT,
            Self::InvalidSignedUrl(_) => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PasswordRequired | Self::WrongPassword => StatusCode::UNAUTHORIZED,
            Self::Locked { .. } => StatusCode::LOCKED,
            Self::OutsideNetwork | Self::NotYetAvailable { .. } => StatusCode::FORBIDDEN,
            Self::QuotaExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Returns the stable error code clients can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } => code,
            Self::Unauthorized => "missing_api_key",
            Self::Forbidden => "invalid_api_key",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Gone(denial) => denial.code(),
            Self::Pending => "pending",
            Self::AlreadyUploaded => "already_uploaded",
            Self::InvalidSignedUrl(_) => "invalid_signed_url",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::Invalid(_) => "invalid_parameter",
            Self::PasswordRequired => "password_required",
            Self::WrongPassword => "wrong_password",
            Self::Locked { .. } => "locked",
            Self::OutsideNetwork => "outside_allowed_network",
            Self::NotYetAvailable { .. } => "not_yet_available",
            Self::QuotaExceeded(_) => "quota_exceeded",
            Self::Internal => "internal_error",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Unauthorized => "send your API key in the x-api-key header".into(),
            Self::Forbidden => "the API key in x-api-key is not valid".into(),
            Self::Gone(Denial::Expired) => "this link has expired".into(),
            Self::Gone(Denial::Revoked) => "this link has been revoked".into(),
            Self::Gone(Denial::UsedUp) => "this link has no downloads left".into(),
            Self::Pending => {
                "the file of this link has not been uploaded yet; try again later".into()
            }
            Self::PayloadTooLarge { limit } => {
                format!("the body is larger than the limit of {limit} bytes for this route")
            }
            Self::Invalid(param) => format!("{} {}", param.field, param.message),
            Self::QuotaExceeded(rejection) => rejection.message(),
            Self::Internal => "the service failed; try again later".into(),
            other => other.to_string(),
        }
    }

    /// Returns the JSON body that describes this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            status: "error",
            error: self.code(),
            message: self.message(),
            field: match self {
                Self::Invalid(param) => Some(param.field),
                _ => None,
            },
            retry_at: match self {
                Self::Locked { until } => Some(crate::service::rfc3339(*until)),
                _ => None,
            },
            available_at: match self {
                Self::NotYetAvailable { at } => Some(crate::service::rfc3339(*at)),
                _ => None,
            },
            limit: match self {
                Self::QuotaExceeded(rejection) => Some(rejection.limit),
                _ => None,
            },
            period: match self {
                Self::QuotaExceeded(rejection) => Some(rejection.period.name()),
                _ => None,
            },
            resets_at: match self {
                Self::QuotaExceeded(rejection) => {
                    Some(crate::service::rfc3339(rejection.resets_at))
                }
                _ => None,
            },
        }
    }

    /// Builds the JSON error response.
    pub fn into_response(self) -> Response<Body> {
        let mut response = json_response(self.status(), &self.body());
        if let Self::QuotaExceeded(rejection) = &self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(rejection.retry_after),
            );
        }
        if let Self::MethodNotAllowed { allow } = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

impl From<crate::ports::StoreError> for ApiError {
    fn from(error: crate::ports::StoreError) -> Self {
        let source = &error.source;
        tracing::error!(operation = error.operation, error = %source, "store failed");
        Self::Internal
    }
}

/// Adds the headers every response carries.
pub fn add_common_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Builds a JSON response with the common headers.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    add_common_headers(response.headers_mut());
    response
}

/// Origin of a request, as API Gateway saw it.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Source IP of the connection; `X-Forwarded-For` is never read.
    pub source_ip: String,
    /// User-Agent, cut to 256 characters.
    pub user_agent: String,
    /// Gateway request id, for log correlation.
    pub request_id: String,
}

/// Reads the caller from the gateway's request context.
pub fn caller(request: &Request) -> Caller {
    let (source_ip, request_id) = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => (
            context.identity.source_ip.clone(),
            context.request_id.clone(),
        ),
        Some(RequestContext::ApiGatewayV2(context)) => {
            (context.http.source_ip.clone(), context.request_id.clone())
        }
        _ => (None, None),
    };
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(256)
        .collect();
    Caller {
        source_ip: source_ip.unwrap_or_else(|| "unknown".into()),
        user_agent,
        request_id: request_id.unwrap_or_default(),
    }
}

/// Identifies the creator of a request to a creator route.
///
/// Behind API Gateway the key was checked by the gateway and its id is in
/// the request context. Without a gateway (under `cargo lambda watch`), the
/// handler checks `x-api-key` against `API_KEYS` itself, in constant time,
/// and names the creator by a fingerprint of the key.
///
/// # Errors
///
/// [`ApiError::Unauthorized`] without a key, [`ApiError::Forbidden`] with a
/// wrong one.
pub fn creator(request: &Request, config: &Config) -> Result<String, ApiError> {
    if let Some(RequestContext::ApiGatewayV1(context)) = request.request_context_ref()
        && let Some(id) = context
            .identity
            .api_key_id
            .as_deref()
            .filter(|id| !id.is_empty())
    {
        return Ok(id.to_owned());
    }
    check_api_key(request.headers(), config)
}

/// Checks `x-api-key` against `API_KEYS` in constant time, as API Gateway
/// checks keys, and returns the creator id derived from the key.
///
/// # Errors
///
/// [`ApiError::Unauthorized`] without a key, [`ApiError::Forbidden`] with a
/// wrong one.
pub fn check_api_key(headers: &HeaderMap, config: &Config) -> Result<String, ApiError> {
    if headers.get_all("x-api-key").iter().count() > 1 {
        return Err(ApiError::Forbidden);
    }
    let presented = headers
        .get("x-api-key")
        .map(HeaderValue::as_bytes)
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    if config.api_keys.iter().any(|key| key.ct_eq(presented)) {
        Ok(api_key_id(presented))
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Returns the creator id the service derives from a raw API key, so that
/// the key itself is never stored.
pub fn api_key_id(key: &[u8]) -> String {
    format!("key-{}", fingerprint(key))
}

/// Reads an `application/x-www-form-urlencoded` body whose fields are all
/// in `allowed` and each sent at most once, as an HTML form posts it.
///
/// # Errors
///
/// 415 for another body type, 413 over [`MAX_JSON_BODY`], 422 for an
/// unknown or repeated field.
pub fn form_fields(
    request: &Request,
    allowed: &[&'static str],
) -> Result<std::collections::HashMap<String, String>, ApiError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(ApiError::UnsupportedMediaType {
            expected: "application/x-www-form-urlencoded",
        });
    }
    let body = body_bytes(request);
    if body.len() > MAX_JSON_BODY {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_JSON_BODY as u64,
        });
    }
    let mut fields = std::collections::HashMap::new();
    for pair in body.split(|b| *b == b'&').filter(|pair| !pair.is_empty()) {
        let (raw_name, raw_value) = match pair.iter().position(|b| *b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        let name = decode_form_component(raw_name).ok_or_else(|| {
            ParamError::new(
                "form",
                "has a field name that is not valid percent-encoded UTF-8",
            )
        })?;
        let Some(known) = allowed.iter().find(|a| **a == name) else {
            let shown: String = name.chars().take(64).collect();
            return Err(ParamError::new(
                "form",
                format!(
                    "has an unknown field {shown:?}; accepted: {}",
                    allowed.join(", ")
                ),
            )
            .into());
        };
        // A value that does not decode is rejected, never guessed at: a
        // password read as its raw text would count as a wrong attempt.
        let value = decode_form_component(raw_value).ok_or_else(|| {
            ParamError::new(
                known,
                "is not valid form encoding: every % must start a two-digit \
                 hex escape, and the decoded bytes must be UTF-8",
            )
        })?;
        if fields.insert((*known).to_owned(), value).is_some() {
            return Err(ParamError::new(known, "must be sent once").into());
        }
    }
    Ok(fields)
}

/// Decodes one name or value of an `application/x-www-form-urlencoded`
/// body: `+` is a space and `%XX` a byte. Returns `None` for a `%` without
/// two hex digits after it or for bytes that are not UTF-8.
fn decode_form_component(raw: &[u8]) -> Option<String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut index = 0;
    while let Some(&byte) = raw.get(index) {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = raw.get(index + 1..index + 3)?;
                // `from_str_radix` alone would take a sign, as in "%+1".
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                bytes.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                index += 2;
            }
            other => bytes.push(other),
        }
        index += 1;
    }
    String::from_utf8(bytes).ok()
}

/// Name of the header that carries a link's password.
pub const PASSWORD_HEADER: &str = "x-link-password";

/// Reads the link password from [`PASSWORD_HEADER`], if sent once.
///
/// # Errors
///
/// 422 when sent twice or not as UTF-8 text.
pub fn presented_password(
    headers: &HeaderMap,
) -> Result<Option<crate::options::Password>, ParamError> {
    let values: Vec<&HeaderValue> = headers.get_all(PASSWORD_HEADER).iter().collect();
    match values.as_slice() {
        [] => Ok(None),
        [one] => one
            .to_str()
            .map(|text| Some(crate::options::Password::new(text)))
            .map_err(|_| ParamError::new("password", "must be printable ASCII in the header")),
        _ => Err(ParamError::new("password", "must be sent once")),
    }
}

/// Returns the base URL of the API: `PUBLIC_BASE_URL`, or the gateway's
/// domain and stage.
pub fn base_url(request: &Request, config: &Config) -> String {
    if let Some(url) = &config.public_base_url {
        return url.clone();
    }
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => {
            let domain = context.domain_name.clone().unwrap_or_default();
            match context.stage.as_deref() {
                Some(stage) if !stage.is_empty() && stage != "$default" => {
                    format!("https://{domain}/{stage}")
                }
                _ => format!("https://{domain}"),
            }
        }
        _ => {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("localhost");
            format!("https://{host}")
        }
    }
}

/// Returns the value of path parameter `name`, from the gateway's
/// parameters or, when there are none (a Function URL), from the part of
/// the path after `prefix`.
pub fn path_param(request: &Request, name: &str, prefix: &str) -> Option<String> {
    if let Some(value) = request
        .path_parameters_ref()
        .and_then(|params| params.first(name))
    {
        return Some(value.to_owned());
    }
    let path = request.raw_http_path();
    let start = path.find(prefix)? + prefix.len();
    let value = &path[start..];
    (!value.is_empty() && !value.contains('/')).then(|| value.to_owned())
}

/// Returns the token of a download request, from `Authorization: Bearer`
/// or the `token` query parameter.
///
/// # Errors
///
/// 422 when no token is sent or the `Authorization` header is not one
/// Bearer token. Also 422 when tokens are sent more than once, in both places
/// or twice in one, so that no two readers can disagree on which one counts.
pub fn presented_token(request: &Request) -> Result<RawToken, ParamError> {
    let headers: Vec<&HeaderValue> = request
        .headers()
        .get_all(header::AUTHORIZATION)
        .iter()
        .collect();
    let queried: Vec<&str> = request
        .query_string_parameters_ref()
        .and_then(|q| q.all("token"))
        .unwrap_or_default();
    if headers.len() + queried.len() > 1 {
        return Err(ParamError::new(
            "token",
            "must be sent once: as ?token= or as Authorization: Bearer, not both",
        ));
    }
    if let Some(value) = headers.first() {
        let bearer = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|v| !v.is_empty());
        return bearer
            .map(RawToken::new)
            .ok_or_else(|| ParamError::new("token", "Authorization must be Bearer and a token"));
    }
    queried.first().map(|t| RawToken::new(*t)).ok_or_else(|| {
        ParamError::new(
            "token",
            "is required: send it as ?token= or Authorization: Bearer",
        )
    })
}

/// Returns the request body as bytes.
pub fn body_bytes(request: &Request) -> &[u8] {
    match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// Returns the media type of the request, lowercased and without parameters.
pub fn media_type(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

/// RFC 5987 `attr-char`: everything else is percent-encoded in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Builds `attachment; filename="ascii"; filename*=UTF-8''encoded`.
///
/// The ASCII fallback replaces every non-ASCII, control, quote and backslash
/// character with `_`, so the header can never be split or its quoting
/// broken, whatever the stored name holds.
pub fn content_disposition(file_name: &str) -> HeaderValue {
    let fallback: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(file_name, ATTR_CHAR);
    let value = format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Everything but RFC 3986 unreserved characters is percent-encoded in a
/// path segment, so `#`, `?`, `/` and backticks in a name cannot end or split
/// the path.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a file name for use as one path segment.
pub fn encode_path_segment(name: &str) -> String {
    utf8_percent_encode(name, PATH_SEGMENT).to_string()
}

/// Largest JSON body a creator route reads.
pub const MAX_JSON_BODY: usize = 16 * 1024;

/// Parses the request body as one JSON object.
///
/// # Errors
///
/// 415 for a non-JSON content type, 413 over [`MAX_JSON_BODY`], 400 for
/// text that is not a JSON object.
pub fn json_object(
    request: &Request,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    if let Some(media) = media_type(request)
        && media != "application/json"
        && !media.ends_with("+json")
    {
        return Err(ApiError::UnsupportedMediaType {
            expected: "application/json",
        });
    }
    let bytes = body_bytes(request);
    if bytes.len() > MAX_JSON_BODY {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_JSON_BODY as u64,
        });
    }
    match serde_json::from_slice::<UniqueObject>(bytes) {
        Ok(UniqueObject::Fields(map)) => Ok(map),
        Ok(UniqueObject::Duplicate(key)) => {
            let shown: String = key.chars().take(64).collect();
            Err(ParamError::new("body", format!("has the field {shown:?} twice")).into())
        }
        Err(error) if error.is_data() => Err(ApiError::BadRequest {
            code: "invalid_json",
            message: "the body must be a JSON object".into(),
        }),
        Err(error) => Err(ApiError::BadRequest {
            code: "invalid_json",
            message: format!("the body is not valid JSON: {error}"),
        }),
    }
}

/// A top-level JSON object, or the first key it repeats. `serde_json` keeps
/// the last of two equal keys, which would let a proxy that reads the first
/// one see a different request than the handler does.
enum UniqueObject {
    Fields(serde_json::Map<String, serde_json::Value>),
    Duplicate(String),
}

impl<'de> serde::Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
            type Value = UniqueObject;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<UniqueObject, A::Error> {
                let mut fields = serde_json::Map::new();
                let mut duplicate = None;
                while let Some(key) = access.next_key::<String>()? {
                    if duplicate.is_none() && fields.contains_key(&key) {
                        duplicate = Some(key);
                        access.next_value::<serde::de::IgnoredAny>()?;
                    } else {
                        let value = access.next_value()?;
                        fields.insert(key, value);
                    }
                }
                Ok(match duplicate {
                    Some(key) => UniqueObject::Duplicate(key),
                    None => UniqueObject::Fields(fields),
                })
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Typed access to the fields of a JSON object body.
pub struct Fields<'a> {
    map: &'a serde_json::Map<String, serde_json::Value>,
}

impl<'a> Fields<'a> {
    /// Wraps `map`, rejecting any field not in `allowed`.
    ///
    /// # Errors
    ///
    /// 422 naming the first unknown field.
    pub fn new(
        map: &'a serde_json::Map<String, serde_json::Value>,
        allowed: &[&str],
    ) -> Result<Self, ApiError> {
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            let shown: String = unknown.chars().take(64).collect();
            return Err(ParamError::new(
                "body",
                format!(
                    "has an unknown field {shown:?}; accepted: {}",
                    allowed.join(", ")
                ),
            )
            .into());
        }
        Ok(Self { map })
    }

    /// Returns a string field, or `None` when absent or null.
    ///
    /// # Errors
    ///
    /// 422 when present with another type.
    pub fn string(&self, name: &'static str) -> Result<Option<String>, ParamError> {
        match self.map.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ParamError::new(
                name,
                format!("must be a string, got {}", json_type(other)),
            )),
        }
    }

    /// Returns an integer field, or `None` when absent or null.
    ///
    /// # Errors
    ///
    /// 422 when present as anything but a whole number that fits in 64 bits.
    pub fn integer(&self, name: &'static str) -> Result<Option<i64>, ParamError> {
        match self.map.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ParamError::new(name, format!("must be an integer, got {n}"))),
            Some(other) => Err(ParamError::new(
                name,
                format!("must be an integer, got {}", json_type(other)),
            )),
        }
    }
}

impl Fields<'_> {
    /// Returns a field's raw value, or `None` when absent.
    pub fn value(&self, name: &str) -> Option<&serde_json::Value> {
        self.map.get(name)
    }

    /// Returns a boolean field, or `None` when absent or null.
    ///
    /// # Errors
    ///
    /// 422 when present with another type.
    pub fn boolean(&self, name: &'static str) -> Result<Option<bool>, ParamError> {
        match self.map.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(ParamError::new(
                name,
                format!("must be true or false, got {}", json_type(other)),
            )),
        }
    }

    /// Returns an array-of-strings field, or `None` when absent or null.
    ///
    /// # Errors
    ///
    /// 422 when present as anything else.
    pub fn strings(&self, name: &'static str) -> Result<Option<Vec<String>>, ParamError> {
        match self.map.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str().map(str::to_owned).ok_or_else(|| {
                        ParamError::new(name, format!("must hold strings, got {}", json_type(item)))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(ParamError::new(
                name,
                format!("must be an array of strings, got {}", json_type(other)),
            )),
        }
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Returns the response to `OPTIONS`: no body, the allowed methods.
pub fn options_response(allow: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    add_common_headers(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_components_decode_strictly() {
        assert_eq!(decode_form_component(b"a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(decode_form_component(b"%C3%BC").as_deref(), Some("\u{fc}"));
        assert_eq!(decode_form_component(b"").as_deref(), Some(""));
        for bad in [&b"%zz"[..], b"%", b"%4", b"ab%+1", b"%C3", b"%FF"] {
            assert_eq!(decode_form_component(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn content_disposition_has_ascii_fallback_and_utf8_name() {
        let value = content_disposition("rapor ünlü.pdf");
        assert_eq!(
            value.to_str().ok(),
            Some(
                "attachment; filename=\"rapor _nl_.pdf\"; filename*=UTF-8''rapor%20%C3%BCnl%C3%BC.pdf"
            )
        );
    }

    #[test]
    fn content_disposition_neutralises_quotes_and_line_breaks() {
        let value = content_disposition("report \"q\"\r\nX-Evil: 1.pdf");
        let text = value.to_str().unwrap_or_default();
        assert!(text.starts_with("attachment; filename=\"report _q___X-Evil: 1.pdf\";"));
        assert!(!text.contains('\r'));
        assert!(!text.contains('\n'));
        assert!(text.contains("filename*=UTF-8''report%20%22q%22%0D%0AX-Evil%3A%201.pdf"));
    }

    #[test]
    fn every_error_maps_to_its_status() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (
                ApiError::BadRequest {
                    code: "invalid_json",
                    message: "x".into(),
                },
                400,
                "invalid_json",
            ),
            (ApiError::Unauthorized, 401, "missing_api_key"),
            (ApiError::Forbidden, 403, "invalid_api_key"),
            (ApiError::NotFound("x".into()), 404, "not_found"),
            (
                ApiError::MethodNotAllowed { allow: "GET" },
                405,
                "method_not_allowed",
            ),
            (ApiError::Pending, 409, "pending"),
            (ApiError::AlreadyUploaded, 409, "already_uploaded"),
            (
                ApiError::InvalidSignedUrl("x".into()),
                403,
                "invalid_signed_url",
            ),
            (ApiError::Gone(Denial::Expired), 410, "expired"),
            (ApiError::Gone(Denial::Revoked), 410, "revoked"),
            (ApiError::Gone(Denial::UsedUp), 410, "used_up"),
            (
                ApiError::PayloadTooLarge { limit: 1 },
                413,
                "payload_too_large",
            ),
            (
                ApiError::UnsupportedMediaType { expected: "x" },
                415,
                "unsupported_media_type",
            ),
            (
                ApiError::Invalid(ParamError::new("f", "bad")),
                422,
                "invalid_parameter",
            ),
            (
                ApiError::QuotaExceeded(crate::quota::QuotaExceeded {
                    tier: crate::quota::Tier::Free,
                    period: crate::quota::Period::Day,
                    limit: 5,
                    resets_at: 1_773_532_800,
                    retry_after: 60,
                }),
                429,
                "quota_exceeded",
            ),
            (ApiError::Internal, 500, "internal_error"),
        ];
        for (error, status, code) in cases {
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status);
            let Body::Text(text) = response.body() else {
                panic!("error body is not text");
            };
            let body: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            assert_eq!(body["error"], code);
            assert_eq!(body["status"], "error");
            assert_eq!(
                response
                    .headers()
                    .get("referrer-policy")
                    .and_then(|v| v.to_str().ok()),
                Some("no-referrer")
            );
        }
    }

    #[test]
    fn invalid_parameter_names_the_field() {
        let response =
            ApiError::Invalid(ParamError::new("expire_minutes", "too big")).into_response();
        let Body::Text(text) = response.body() else {
            panic!("error body is not text");
        };
        let body: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(body["field"], "expire_minutes");
    }
}
