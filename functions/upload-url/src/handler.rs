//! `POST /upload-url`: makes a link for a file of up to
//! `MAX_LARGE_UPLOAD_BYTES` and returns a presigned URL to upload its bytes
//! to, so that they never pass through a function.
//!
//! Body: `{"filename": "dump.tar.gz", "size": 1073741824}`, plus the
//! optional `content_type`, `expire_minutes` (default
//! `DEFAULT_EXPIRE_MINUTES`) and `max_downloads` (default 1). The link
//! returns 409 `pending` until the object has arrived, has the declared size
//! and is hashed.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use shared::App;
use shared::api::{LinkCreated, UploadUrlCreated};
use shared::domain::ParamError;
use shared::http::{self, ApiError, Fields};
use shared::options::{LinkOptions, OPTION_FIELDS};
use shared::service::rfc3339;
use shared::uploads::{self, UploadUrlRequest};

/// Handles one request; expected failures become JSON error responses.
///
/// # Errors
///
/// Never in practice: every failure becomes a response with a status.
#[tracing::instrument(skip_all, fields(route = "upload-url"))]
pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(app, &request)
        .await
        .unwrap_or_else(ApiError::into_response))
}

async fn respond(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    if request.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed { allow: "POST" });
    }
    let creator = http::creator(request, &app.config)?;
    shared::quota::enforce(app, &creator).await?;
    let upload_request = parse(request)?;

    let pending = uploads::create_upload_url(app, &creator, upload_request).await?;

    let base = http::base_url(request, &app.config);
    let upload_url = pending.upload.url.expose();
    // The embedded store signs relative URLs that the local server serves.
    let upload_url = if upload_url.starts_with('/') {
        format!("{base}{upload_url}")
    } else {
        upload_url.to_owned()
    };
    let body = UploadUrlCreated {
        link: LinkCreated::new(&pending.created, &base, "pending", None),
        upload_url,
        upload_method: pending.upload.method.to_owned(),
        upload_headers: pending.upload.headers.iter().cloned().collect(),
        upload_expires_at: rfc3339(pending.upload_expires_at),
    };
    Ok(http::json_response(StatusCode::OK, &body))
}

fn parse(request: &Request) -> Result<UploadUrlRequest, ApiError> {
    let map = http::json_object(request)?;
    let mut allowed = vec![
        "filename",
        "size",
        "content_type",
        "expire_minutes",
        "max_downloads",
    ];
    allowed.extend(OPTION_FIELDS);
    let fields = Fields::new(&map, &allowed)?;
    let filename = fields
        .string("filename")?
        .ok_or_else(|| ParamError::new("filename", "is required"))?;
    let size = fields
        .integer("size")?
        .ok_or_else(|| ParamError::new("size", "is required: the file's size in bytes"))?;
    Ok(UploadUrlRequest {
        filename,
        size,
        content_type: fields.string("content_type")?,
        expire_minutes: fields.integer("expire_minutes")?,
        max_downloads: fields.integer("max_downloads")?,
        options: LinkOptions::from_fields(&fields)?,
    })
}
