//! `GET /files/{filename}`: serves a link's bytes and counts one download.
//!
//! The token comes as `Authorization: Bearer` or `?token=`, and a link's
//! password as `X-Link-Password`. A browser form may instead `POST` the
//! fields `token` and `password` (`application/x-www-form-urlencoded`),
//! which counts a download the same way. The file name in
//! the path must equal the stored one, but the storage key always comes from
//! the link record. Files above `MAX_INLINE_DOWNLOAD_BYTES` get
//! `303 See Other` to a presigned S3 URL, or to the embedded store's signed
//! URL that the local server serves, which lives at most a minute. `HEAD`
//! checks the link without counting; `OPTIONS` lists the methods. A `Range`
//! header is ignored: the answer is always the whole file, counted once.
//!
//! SECURITY: the bytes go out as an attachment with `nosniff`, a sandboxing
//! `Content-Security-Policy` and, for HTML, SVG, XML and script types,
//! `application/octet-stream`, so no upload can run in a browser.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Error, Request, Response};
use percent_encoding::percent_decode_str;
use shared::App;
use shared::domain::{Link, ParamError, served_content_type};
use shared::http::{self, ApiError};
use shared::options::Password;
use shared::page::{self, Page};
use shared::secret::{PresignedUrl, RawToken};
use shared::service::{self, Delivery};

/// Methods this route serves.
const ALLOW: &str = "GET, HEAD, POST, OPTIONS";

/// Handles one request; expected failures become JSON error responses, or
/// the recipient page for a browser (`page::prefers_html`).
///
/// # Errors
///
/// Never in practice: every failure becomes a response with a status.
#[tracing::instrument(skip_all, fields(route = "files"))]
pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, Error> {
    let head = request.method() == Method::HEAD;
    let html = page::prefers_html(request.headers());
    let mut token = None;
    let mut response = match respond(app, &request, &mut token).await {
        Ok(response) => response,
        // A browser gets the recipient page of `/access` for the same
        // refusal, with the same status; other clients keep the JSON error.
        Err(error) if html => {
            let token = token.as_ref().map(RawToken::expose).unwrap_or_default();
            Page::for_error(&error, token).into_response()
        }
        Err(error) => error.into_response(),
    };
    if head {
        *response.body_mut() = Body::Empty;
    }
    Ok(response)
}

/// Serves one request. `presented` receives the token once it is read, so
/// that an error page can target the link's password form.
async fn respond(
    app: &App,
    request: &Request,
    presented: &mut Option<RawToken>,
) -> Result<Response<Body>, ApiError> {
    let method = request.method().clone();
    match method {
        Method::GET | Method::HEAD | Method::POST => {}
        Method::OPTIONS => return Ok(http::options_response(ALLOW)),
        _ => return Err(ApiError::MethodNotAllowed { allow: ALLOW }),
    }
    let raw_name = http::path_param(request, "filename", "/files/")
        .ok_or_else(|| ParamError::new("filename", "is required in the path"))?;
    let name = percent_decode_str(&raw_name)
        .decode_utf8()
        .map_err(|_| ParamError::new("filename", "is not valid UTF-8 after percent-decoding"))?
        .into_owned();
    let (token, password) = if method == Method::POST {
        let form = http::form_fields(request, &["token", "password"])?;
        let token = form
            .get("token")
            .cloned()
            .map(RawToken::new)
            .ok_or_else(|| ParamError::new("token", "is required in the form"))?;
        (token, form.get("password").cloned().map(Password::new))
    } else {
        (
            http::presented_token(request)?,
            http::presented_password(request.headers())?,
        )
    };
    *presented = Some(token.clone());
    let caller = http::caller(request);

    if method == Method::HEAD {
        let link = service::view(app, &token, &caller, password.as_ref()).await?;
        if link.file_name != name {
            return Err(ApiError::NotFound(
                "this link does not serve a file of that name".into(),
            ));
        }
        return Ok(file_response(&link, Body::Empty));
    }
    let (link, delivery) =
        service::download(app, &token, &name, &caller, password.as_ref()).await?;

    match delivery {
        // `Vec::from` takes over the buffer without copying when the bytes
        // own it alone, which both stores' `get` ensure.
        Delivery::Bytes(bytes) => Ok(file_response(&link, Body::Binary(Vec::from(bytes)))),
        Delivery::Redirect(url) => {
            let base = http::base_url(request, &app.config);
            Ok(redirect_response(&url, &base))
        }
    }
}

/// Answers 303 to `url`. The embedded store signs relative URLs, which the
/// local server serves under the API's base URL.
fn redirect_response(url: &PresignedUrl, base: &str) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::SEE_OTHER;
    let target = if url.expose().starts_with('/') {
        format!("{base}{}", url.expose())
    } else {
        url.expose().to_owned()
    };
    if let Ok(location) = HeaderValue::from_str(&target) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    http::add_common_headers(response.headers_mut());
    response
}

fn file_response(link: &Link, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    let served = served_content_type(&link.content_type, &link.file_name);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(served)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        http::content_disposition(&link.file_name),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(link.size));
    // Range requests are not served: a GET with Range gets the whole file
    // and counts one download. Serving ranges would either burn a link on a
    // client's tiny first range or let ranges add up to unlimited copies.
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    if let Ok(digest) = HeaderValue::from_str(&link.sha256) {
        headers.insert("x-content-sha256", digest);
    }
    http::add_common_headers(headers);
    response
}
