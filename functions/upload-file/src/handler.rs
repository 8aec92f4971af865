//! `POST /upload-file`: stores a file sent as `multipart/form-data` and makes
//! a link for it.
//!
//! Parts: `file` (required, with a file name), `expire_minutes` (default
//! `DEFAULT_EXPIRE_MINUTES`) and `max_downloads` (default 1). A body over
//! `MAX_UPLOAD_BYTES` is rejected with 413 before it is parsed.

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Error, Request, Response};
use shared::App;
use shared::api::LinkCreated;
use shared::http::{self, ApiError};
use shared::multipart::parse_upload;
use shared::service;

/// Room for multipart boundaries and headers on top of the file itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// Handles one request; expected failures become JSON error responses.
///
/// # Errors
///
/// Never in practice: every failure becomes a response with a status.
#[tracing::instrument(skip_all, fields(route = "upload-file"))]
pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(app, request)
        .await
        .unwrap_or_else(ApiError::into_response))
}

async fn respond(app: &App, request: Request) -> Result<Response<Body>, ApiError> {
    if request.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed { allow: "POST" });
    }
    let creator = http::creator(&request, &app.config)?;
    shared::quota::enforce(app, &creator).await?;
    let limit = app.config.max_upload_bytes;
    if http::body_bytes(&request).len() as u64 > limit + MULTIPART_OVERHEAD {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let base = http::base_url(&request, &app.config);
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match request.into_body() {
        Body::Text(text) => bytes::Bytes::from(text.into_bytes()),
        Body::Binary(bytes) => bytes::Bytes::from(bytes),
        _ => bytes::Bytes::new(),
    };
    let upload = parse_upload(content_type.as_deref(), body, limit).await?;

    let created = service::upload(app, &creator, upload).await?;

    let file_url = format!(
        "s3://{}/{}",
        created.link.object.bucket, created.link.object.key
    );
    let body = LinkCreated::new(&created, &base, "uploaded", Some(file_url));
    Ok(http::json_response(StatusCode::OK, &body))
}
