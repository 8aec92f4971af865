//! `GET /access/{token}`: shows a link's file metadata to the recipient.
//!
//! Viewing never uses up a download, because mail scanners and chat previews
//! open links before people do. `HEAD` returns the same status without a
//! body; `OPTIONS` lists the methods.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::json;
use shared::App;
use shared::http::{self, ApiError};
use shared::secret::RawToken;
use shared::service::{self, rfc3339};

/// Methods this route serves.
const ALLOW: &str = "GET, HEAD, OPTIONS";

/// Handles one request; expected failures become JSON error responses.
///
/// # Errors
///
/// Never in practice: every failure becomes a response with a status.
#[tracing::instrument(skip_all, fields(route = "access"))]
pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, Error> {
    let head = request.method() == Method::HEAD;
    let mut response = respond(app, &request)
        .await
        .unwrap_or_else(ApiError::into_response);
    if head {
        *response.body_mut() = Body::Empty;
    }
    Ok(response)
}

async fn respond(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    match *request.method() {
        Method::GET | Method::HEAD => {}
        Method::OPTIONS => return Ok(http::options_response(ALLOW)),
        _ => return Err(ApiError::MethodNotAllowed { allow: ALLOW }),
    }
    let token = http::path_param(request, "token", "/access/")
        .map(RawToken::new)
        .ok_or_else(|| shared::domain::ParamError::new("token", "is required in the path"))?;
    let caller = http::caller(request);
    let password = http::presented_password(request.headers())?;

    let link = service::view(app, &token, &caller, password.as_ref()).await?;

    let base = http::base_url(request, &app.config);
    let download_url = format!(
        "{base}/files/{}?token={}",
        http::encode_path_segment(&link.file_name),
        token.expose()
    );
    let body = json!({
        "status": "active",
        "link_id": link.id.as_str(),
        "filename": link.file_name,
        "size": link.size,
        "content_type": link.content_type,
        "sha256": link.sha256,
        "expires_at": rfc3339(link.expires_at),
        "max_downloads": link.max_downloads,
        "downloads_remaining": link.downloads_remaining(),
        "download_url": download_url,
    });
    Ok(http::json_response(StatusCode::OK, &body))
}
