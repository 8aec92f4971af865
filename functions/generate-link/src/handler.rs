//! `POST /generate-link`: makes a link for a file that already exists in the
//! product's bucket or an allowed one.
//!
//! Body: `{"file_url": "s3://bucket/key", "expire_minutes": 30}`, plus the
//! optional `max_downloads` (default 1) and `filename` (default: the key's
//! last segment).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use shared::App;
use shared::api::LinkCreated;
use shared::domain::ParamError;
use shared::http::{self, ApiError, Fields};
use shared::options::{LinkOptions, OPTION_FIELDS};
use shared::service::{self, LinkRequest};

/// Handles one request; expected failures become JSON error responses.
///
/// # Errors
///
/// Never in practice: every failure becomes a response with a status.
#[tracing::instrument(skip_all, fields(route = "generate-link"))]
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
    let link_request = parse(request)?;

    let created = service::create_link(app, &creator, link_request).await?;

    let base = http::base_url(request, &app.config);
    let body = LinkCreated::new(&created, &base, "success", None);
    Ok(http::json_response(StatusCode::OK, &body))
}

fn parse(request: &Request) -> Result<LinkRequest, ApiError> {
    let map = http::json_object(request)?;
    let mut allowed = vec!["file_url", "expire_minutes", "max_downloads", "filename"];
    allowed.extend(OPTION_FIELDS);
    let fields = Fields::new(&map, &allowed)?;
    let file_url = fields
        .string("file_url")?
        .ok_or_else(|| ParamError::new("file_url", "is required"))?;
    let expire_minutes = fields
        .integer("expire_minutes")?
        .ok_or_else(|| ParamError::new("expire_minutes", "is required"))?;
    Ok(LinkRequest {
        file_url,
        expire_minutes,
        max_downloads: fields.integer("max_downloads")?,
        filename: fields.string("filename")?,
        options: LinkOptions::from_fields(&fields)?,
    })
}
