//! The embedded store's signed object URLs, served the way S3 serves
//! presigned ones: `GET` streams a file from disk, `PUT` streams the body to
//! disk while hashing it and then finalises the pending upload. Neither
//! holds more than one chunk of a file in memory.

use std::net::SocketAddr;

use futures_util::TryStreamExt;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::{Frame, Incoming};
use shared::App;
use shared::adapters::EmbeddedObjects;
use shared::adapters::embedded::PutStreamError;
use shared::adapters::local_urls::UrlError;
use shared::domain::{Denial, ParamError};
use shared::http::ApiError;
use shared::ports::{Clock, StoreError, SystemClock};
use shared::uploads::{Finalised, PENDING_PREFIX, finalise_upload, reject_oversized_upload};

use crate::{ResponseBody, to_hyper, whole};

/// Size of the chunks a file is read in.
const CHUNK_BYTES: usize = 256 * 1024;

fn error(error: ApiError) -> Response<ResponseBody> {
    whole(to_hyper(error.into_response()))
}

fn rejected(reason: UrlError) -> ApiError {
    tracing::info!(%reason, "denied: signed object URL");
    ApiError::InvalidSignedUrl(reason.to_string())
}

/// Serves `GET` and `HEAD` of a signed download URL.
pub async fn download(
    objects: &EmbeddedObjects,
    request: &Request<Incoming>,
) -> Response<ResponseBody> {
    let head = request.method() == Method::HEAD;
    if !head && request.method() != Method::GET {
        return error(ApiError::MethodNotAllowed { allow: "GET, HEAD" });
    }
    let query = request.uri().query().unwrap_or_default();
    let grant = match objects.urls().verify_download(query, SystemClock.now()) {
        Ok(grant) => grant,
        Err(reason) => return error(rejected(reason)),
    };
    let opened = match objects.open_object(&grant.key).await {
        Ok(Some(opened)) => opened,
        Ok(None) => return error(gone_file()),
        Err(store) => return error(store.into()),
    };
    // The ETag of an embedded object is its SHA-256, recorded when it was
    // written; a different one means the file was replaced.
    if let (Some(pinned), Some(recorded)) = (&grant.etag, &opened.sha256)
        && pinned != recorded
    {
        tracing::warn!("object changed since the link was made");
        return error(gone_file());
    }

    let body: ResponseBody = if head {
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed()
    } else {
        let chunks = tokio_util::io::ReaderStream::with_capacity(opened.file, CHUNK_BYTES);
        StreamBody::new(chunks.map_ok(Frame::data)).boxed()
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    let text = |value: &str| {
        HeaderValue::from_str(value)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
    };
    headers.insert(header::CONTENT_TYPE, text(&grant.content_type));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&grant.disposition)
            .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(opened.size));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    shared::http::add_common_headers(headers);
    response
}

fn gone_file() -> ApiError {
    ApiError::NotFound("the file behind this link is no longer available".into())
}

/// Serves `PUT` of a signed upload URL: stores the body under the pending
/// key, then finalises the upload and returns the link's new state.
pub async fn upload(
    app: &App,
    objects: &EmbeddedObjects,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ResponseBody> {
    if request.method() != Method::PUT {
        return error(ApiError::MethodNotAllowed { allow: "PUT" });
    }
    let query = request.uri().query().unwrap_or_default();
    let grant = match objects.urls().verify_upload(query, SystemClock.now()) {
        Ok(grant) if grant.key.starts_with(PENDING_PREFIX) => grant,
        Ok(_) => return error(rejected(UrlError::Malformed("key"))),
        Err(reason) => return error(rejected(reason)),
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > grant.max_bytes) {
        return finalised_response(reject_oversized_upload(app, &grant.key).await);
    }

    let chunks = BodyStream::new(request.into_body())
        .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) });
    let stored = objects
        .put_stream(
            &grant.key,
            "application/octet-stream",
            grant.max_bytes,
            Box::pin(chunks),
        )
        .await;
    match stored {
        Ok(info) => {
            tracing::info!(source_ip = %peer.ip(), size = info.size, "upload received");
        }
        Err(PutStreamError::TooLarge { .. }) => {
            return finalised_response(reject_oversized_upload(app, &grant.key).await);
        }
        Err(PutStreamError::Body(reason)) => {
            tracing::info!(source_ip = %peer.ip(), %reason, "upload body could not be read");
            return error(ApiError::BadRequest {
                code: "invalid_body",
                message: "the request body could not be read".into(),
            });
        }
        Err(PutStreamError::Store(store)) => return error(store.into()),
    }

    finalised_response(finalise_upload(app, &grant.key).await)
}

/// Turns the outcome of finalising or rejecting an upload into the response to
/// its `PUT`.
fn finalised_response(result: Result<Finalised, StoreError>) -> Response<ResponseBody> {
    match result {
        Ok(Finalised::Completed(link)) => {
            let body = serde_json::json!({
                "status": "active",
                "link_id": link.id.as_str(),
                "filename": link.file_name,
                "size": link.size,
                "sha256": link.sha256,
            });
            whole(to_hyper(shared::http::json_response(StatusCode::OK, &body)))
        }
        Ok(Finalised::AlreadyDone) => error(ApiError::AlreadyUploaded),
        Ok(Finalised::Rejected("size_mismatch")) => error(
            ParamError::new(
                "size",
                "of the body differs from the size declared to /upload-url; the link is revoked",
            )
            .into(),
        ),
        Ok(Finalised::Rejected("revoked")) => error(ApiError::Gone(Denial::Revoked)),
        Ok(Finalised::Rejected("expired")) => error(ApiError::Gone(Denial::Expired)),
        Ok(Finalised::Rejected(_)) => {
            error(ApiError::NotFound("no link waits for this upload".into()))
        }
        Ok(Finalised::NotArrived | Finalised::Ignored) => {
            tracing::error!("a stored upload was not found by the finaliser");
            error(ApiError::Internal)
        }
        Err(store) => error(store.into()),
    }
}
