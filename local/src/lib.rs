//! The local API: the four Lambda handlers behind one HTTP server on
//! 127.0.0.1, each request shaped the way API Gateway's REST API would pass
//! it (path parameters, query parameters, source IP, API key id).
//!
//! The server does API Gateway's part of the work and nothing more. It
//! checks `x-api-key` on the creator routes against `API_KEYS` and puts the
//! key's id (never the key) into the request context. It rejects bodies over
//! the request size limit before reading them. Everything else happens in the
//! handlers, the same code the Lambda binaries run.
//!
//! It also does S3's part for large files (see [`objects`]): it serves the
//! embedded store's signed download and upload URLs, streaming the bytes
//! from and to disk.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use shared::App;
use shared::adapters::EmbeddedObjects;
use shared::adapters::local_urls::{DOWNLOAD_PATH, UPLOAD_PATH};
use shared::http::{ApiError, check_api_key};
use tokio::net::TcpListener;

pub mod objects;
pub mod setup;

/// Body of every response: whole for API answers, streamed for files.
pub type ResponseBody = BoxBody<Bytes, std::io::Error>;

/// Room for multipart framing on top of the largest file.
const REQUEST_OVERHEAD: u64 = 64 * 1024;

/// Handler a path is routed to.
enum Route {
    GenerateLink,
    UploadFile,
    UploadUrl,
    Access(String),
    Files(String),
    Links,
    /// `/openapi.json` and `/docs`, served by the access handler as on AWS.
    Docs,
}

fn route(path: &str) -> Option<Route> {
    match path {
        "/generate-link" => Some(Route::GenerateLink),
        "/upload-file" => Some(Route::UploadFile),
        "/upload-url" => Some(Route::UploadUrl),
        "/links" => Some(Route::Links),
        _ if path.starts_with("/links/") => Some(Route::Links),
        "/openapi.json" | "/docs" => Some(Route::Docs),
        _ => {
            let segment = |prefix: &str| {
                path.strip_prefix(prefix)
                    .filter(|rest| !rest.is_empty() && !rest.contains('/'))
                    .map(str::to_owned)
            };
            segment("/access/")
                .map(Route::Access)
                .or_else(|| segment("/files/").map(Route::Files))
        }
    }
}

/// Serves `app` on `listener` until the process is stopped.
///
/// # Errors
///
/// Returns an error only when accepting connections fails.
pub async fn serve(listener: TcpListener, app: App) -> std::io::Result<()> {
    // Signed object URLs exist only on the embedded store.
    let objects = match app.config.data_dir() {
        Some(dir) => Some(Arc::new(
            EmbeddedObjects::open(dir).map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    let app = Arc::new(app);
    loop {
        let (stream, peer) = listener.accept().await?;
        let app = Arc::clone(&app);
        let objects = objects.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let app = Arc::clone(&app);
                let objects = objects.clone();
                async move {
                    let path = request.uri().path();
                    let response = match objects.as_deref() {
                        Some(objects) if path == DOWNLOAD_PATH => {
                            objects::download(objects, &request).await
                        }
                        Some(objects) if path == UPLOAD_PATH => {
                            objects::upload(&app, objects, request, peer).await
                        }
                        _ => whole(dispatch(&app, request, peer).await),
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
}

async fn dispatch(
    app: &App,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let Some(target) = route(request.uri().path()) else {
        return to_hyper(ApiError::NotFound("no such route".into()).into_response());
    };
    let creator_route = matches!(
        target,
        Route::GenerateLink | Route::UploadFile | Route::UploadUrl | Route::Links
    );
    let key_id = if creator_route {
        match check_api_key(request.headers(), &app.config) {
            Ok(id) => Some(id),
            Err(error) => {
                tracing::info!(source_ip = %peer.ip(), "denied: {error}");
                return to_hyper(error.into_response());
            }
        }
    } else {
        None
    };

    let limit = match target {
        Route::UploadFile => app.config.max_upload_bytes + REQUEST_OVERHEAD,
        Route::GenerateLink
        | Route::UploadUrl
        | Route::Access(_)
        | Route::Files(_)
        | Route::Links
        | Route::Docs => shared::http::MAX_JSON_BODY as u64,
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return to_hyper(too_large(&target, app));
    }
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body, limit, declared).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => return to_hyper(too_large(&target, app)),
        Err(BodyError::Unreadable(reason)) => {
            tracing::info!(source_ip = %peer.ip(), %reason, "request body could not be read");
            return to_hyper(
                ApiError::BadRequest {
                    code: "invalid_body",
                    message: "the request body could not be read".into(),
                }
                .into_response(),
            );
        }
    };

    let event = to_event(parts, bytes, peer, key_id, &target);
    let result = match target {
        Route::GenerateLink => generate_link::handle(app, event).await,
        Route::UploadFile => upload_file::handle(app, event).await,
        Route::UploadUrl => upload_url::handle(app, event).await,
        Route::Access(_) | Route::Docs => access::handle(app, event).await,
        Route::Files(_) => files::handle(app, event).await,
        Route::Links => links::handle(app, event).await,
    };
    match result {
        Ok(response) => to_hyper(response),
        Err(error) => {
            tracing::error!(%error, "handler failed");
            to_hyper(ApiError::Internal.into_response())
        }
    }
}

/// Reason a request body was not read.
enum BodyError {
    /// The body is longer than the route's limit.
    TooLarge,
    /// The connection failed while the body was read.
    Unreadable(hyper::Error),
}

/// Reads a request body of at most `limit` bytes into one buffer, sized by
/// `Content-Length` when the client sent one. Each frame is appended as it
/// arrives, so the body is in memory once (plus the frame being read), and
/// the buffer later becomes the handler's body without a copy.
async fn read_body(
    mut body: Incoming,
    limit: u64,
    declared: Option<u64>,
) -> Result<Vec<u8>, BodyError> {
    let capacity = declared.unwrap_or(0).min(limit);
    let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Unreadable)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if (bytes.len() + data.len()) as u64 > limit {
            return Err(BodyError::TooLarge);
        }
        bytes.extend_from_slice(&data);
    }
    Ok(bytes)
}

fn too_large(target: &Route, app: &App) -> lambda_http::Response<Body> {
    let limit = match target {
        Route::UploadFile => app.config.max_upload_bytes,
        _ => shared::http::MAX_JSON_BODY as u64,
    };
    ApiError::PayloadTooLarge { limit }.into_response()
}

fn to_event(
    parts: http::request::Parts,
    bytes: Vec<u8>,
    peer: SocketAddr,
    key_id: Option<String>,
    target: &Route,
) -> lambda_http::Request {
    let mut context = ApiGatewayProxyRequestContext::default();
    context.identity.source_ip = Some(peer.ip().to_string());
    context.identity.api_key_id = key_id;
    context.identity.user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    context.request_id = Some(uuid_like());
    context.http_method = parts.method.clone();

    let mut path_parameters = HashMap::new();
    match target {
        Route::Access(token) => {
            path_parameters.insert("token".to_owned(), token.clone());
        }
        Route::Files(name) => {
            path_parameters.insert("filename".to_owned(), name.clone());
        }
        Route::GenerateLink | Route::UploadFile | Route::UploadUrl | Route::Links | Route::Docs => {
        }
    }
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(text) = parts.uri.query() {
        for (key, value) in url::form_urlencoded::parse(text.as_bytes()) {
            query
                .entry(key.into_owned())
                .or_default()
                .push(value.into_owned());
        }
    }
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Binary(bytes)
    };
    let path = parts.uri.path().to_owned();
    let mut request = http::Request::from_parts(parts, body);
    // API Gateway passes the key's id, never the key itself, to the function.
    request.headers_mut().remove("x-api-key");
    request
        .with_raw_http_path(path)
        .with_path_parameters(path_parameters)
        .with_query_string_parameters(query)
        .with_request_context(RequestContext::ApiGatewayV1(context))
}

fn uuid_like() -> String {
    shared::domain::LinkId::generate().as_str().to_owned()
}

/// Boxes a whole-body response.
pub fn whole(response: Response<Full<Bytes>>) -> Response<ResponseBody> {
    response.map(|body| body.map_err(|never| match never {}).boxed())
}

/// Converts a handler's response for hyper.
pub fn to_hyper(response: lambda_http::Response<Body>) -> Response<Full<Bytes>> {
    let (mut parts, body) = response.into_parts();
    let bytes = match body {
        Body::Text(text) => Bytes::from(text),
        Body::Binary(data) => Bytes::from(data),
        _ => Bytes::new(),
    };
    if parts.status == StatusCode::NO_CONTENT {
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    Response::from_parts(parts, Full::new(bytes))
}
