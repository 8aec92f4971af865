//! `GET /access/{token}`: shows a link's file metadata to the recipient,
//! and `GET /openapi.json` and `GET /docs`: the API's documentation.
//!
//! Viewing never uses up a download, because mail scanners and chat previews
//! open links before people do. A client that prefers `text/html` to JSON (a
//! browser) gets the recipient page from [`shared::page`] with the same
//! status the JSON response has. Every other client gets JSON. `HEAD` returns
//! the same status without a body; `OPTIONS` lists the methods.
//!
//! `POST /access/{token}` takes the password of a password link from a
//! URL-encoded form, which is what the page's password prompt sends, so that
//! the password goes neither into a URL nor into a log. It returns what
//! `GET` returns. On the page, the download button then posts the token and
//! the password to `/files/{filename}`.

use lambda_http::http::header::{self, HeaderValue};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::App;
use shared::api::LinkView;
use shared::domain::{Link, ParamError};
use shared::http::{self, ApiError};
use shared::options::Password;
use shared::page::{self, Download, FileDetails, Page};
use shared::secret::RawToken;
use shared::service;
use shared::{docs, openapi};

/// Methods the link route serves.
const ALLOW: &str = "GET, HEAD, POST, OPTIONS";

/// Methods the documentation routes serve: only `GET`, the one method
/// `template.yaml` routes to them and the OpenAPI document lists.
const DOCS_ALLOW: &str = "GET";

/// Handles one request; expected failures become error responses.
///
/// # Errors
///
/// Never in practice: every failure becomes a response with a status.
#[tracing::instrument(skip_all, fields(route = "access"))]
pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, Error> {
    let head = request.method() == Method::HEAD;
    let mut response = match docs_route(&request) {
        Some(route) => serve_docs(app, &request, route),
        None => respond(app, &request).await,
    };
    if head {
        *response.body_mut() = Body::Empty;
    }
    Ok(response)
}

/// A documentation route served by this function.
#[derive(Clone, Copy, Debug)]
enum DocsRoute {
    OpenApi,
    Page,
}

/// Returns the documentation route a request is for, by the last segment of
/// its path; `None` for `/access/{token}`.
fn docs_route(request: &Request) -> Option<DocsRoute> {
    let has_token = request
        .path_parameters_ref()
        .and_then(|params| params.first("token"))
        .is_some();
    if has_token {
        return None;
    }
    let path = request.raw_http_path();
    if path.ends_with("/openapi.json") {
        Some(DocsRoute::OpenApi)
    } else if path.ends_with("/docs") {
        Some(DocsRoute::Page)
    } else {
        None
    }
}

fn serve_docs(app: &App, request: &Request, route: DocsRoute) -> Response<Body> {
    if request.method() != Method::GET {
        return ApiError::MethodNotAllowed { allow: DOCS_ALLOW }.into_response();
    }
    match route {
        DocsRoute::OpenApi => {
            let base = http::base_url(request, &app.config);
            http::json_response(StatusCode::OK, &openapi::document_for(&base))
        }
        DocsRoute::Page => docs::response(openapi::document()),
    }
}

async fn respond(app: &App, request: &Request) -> Response<Body> {
    match *request.method() {
        Method::GET | Method::HEAD | Method::POST => {}
        Method::OPTIONS => return http::options_response(ALLOW),
        _ => return ApiError::MethodNotAllowed { allow: ALLOW }.into_response(),
    }
    let segment = http::path_param(request, "token", "/access/");
    let html = page::prefers_html(request.headers());
    let mut response = match (show(app, request, segment.as_deref()).await, html) {
        (Ok(opened), false) => http::json_response(
            StatusCode::OK,
            &LinkView::new(&opened.link, opened.download_url.clone()),
        ),
        (Ok(opened), true) => Page::ready(details(app, &opened)).into_response(),
        (Err(error), false) => error.into_response(),
        (Err(error), true) => {
            Page::for_error(&error, segment.as_deref().unwrap_or_default()).into_response()
        }
    };
    // The same address returns HTML or JSON, so caches must key on Accept.
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

/// Usable link of one request, with what its page and JSON need.
struct OpenedLink {
    link: Link,
    /// `/files/{name}?token=...`, absolute.
    download_url: String,
    /// `/files/{name}`, absolute.
    files_url: String,
    token: RawToken,
    /// The password a form sent, which the page's download form sends on.
    password: Option<Password>,
}

/// Returns the usable link a token names and its download URLs.
async fn show(app: &App, request: &Request, segment: Option<&str>) -> Result<OpenedLink, ApiError> {
    let token = segment
        .map(RawToken::new)
        .ok_or_else(|| ParamError::new("token", "is required in the path"))?;
    let caller = http::caller(request);
    let password = if request.method() == Method::POST {
        let form = http::form_fields(request, &["password"])?;
        if request.headers().contains_key(http::PASSWORD_HEADER) {
            return Err(ParamError::new(
                "password",
                "must be sent once: in the form or in the header, not both",
            )
            .into());
        }
        let password = form
            .get("password")
            .ok_or_else(|| ParamError::new("password", "is required in the form"))?;
        Some(Password::new(password.as_str()))
    } else {
        http::presented_password(request.headers())?
    };

    let link = service::view(app, &token, &caller, password.as_ref()).await?;

    let base = http::base_url(request, &app.config);
    let files_url = format!(
        "{base}/files/{}",
        http::encode_path_segment(&link.file_name)
    );
    let download_url = format!("{files_url}?token={}", token.expose());
    Ok(OpenedLink {
        link,
        download_url,
        files_url,
        token,
        password: if request.method() == Method::POST {
            password
        } else {
            None
        },
    })
}

fn details(app: &App, opened: &OpenedLink) -> FileDetails {
    let link = &opened.link;
    // A password link's download needs the password again: the button posts
    // it with the token, so that it never goes into a URL. A password sent
    // in the header (no form) leaves the plain link, which scripts follow
    // with the same header.
    let download = match &opened.password {
        Some(password) => Download::Form {
            action: opened.files_url.clone(),
            token: opened.token.expose().to_owned(),
            password: password.expose().to_owned(),
            redirect_origin: if link.size > app.config.max_inline_download_bytes {
                app.objects.download_origin(&link.object)
            } else {
                None
            },
        },
        None => Download::Link {
            url: opened.download_url.clone(),
        },
    };
    FileDetails {
        file_name: link.file_name.clone(),
        size: link.size,
        content_type: link.content_type.clone(),
        sha256: link.sha256.clone(),
        expires_at: link.expires_at,
        max_downloads: link.max_downloads,
        downloads_remaining: link.downloads_remaining(),
        download,
    }
}
