//! The OpenAPI 3.1 document of the HTTP API, generated from the code.
//!
//! Schemas are derived from the request and response types in [`crate::api`]. Each route is declared once below, as
//! a `#[utoipa::path]` item, and registered in the `paths(...)` list of
//! [`ApiDoc`]: a new route needs one declaration and one entry there.
//! [`document`] adds the error responses every operation shares.

use std::sync::LazyLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::api::{
    ErrorBody, GenerateLinkBody, LinkCreated, LinkView, RecipientLink, RecipientRequestBody,
    UploadForm,
};

/// Name of the API key security scheme.
const API_KEY: &str = "api_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Link service",
        description = "Temporary, download-limited links to files. Creators \
            (with an API key in `x-api-key`) upload a file or name an S3 object \
            and get a link; recipients open the link and download the file.\n\n\
            Every error body is `{\"status\": \"error\", \"error\": CODE, \
            \"message\": TEXT}`, plus `field` for an invalid parameter. A method \
            a route does not serve gets 405 `method_not_allowed` with an `Allow` \
            header, and a path no route serves gets 404 `not_found`. Behind API \
            Gateway a missing or wrong API key is answered by the gateway with \
            `403 {\"message\": \"Forbidden\"}`.",
    ),
    // TODO: declare the /links routes (list, show, revoke, audit, export).
    paths(
        generate_link,
        upload_file,
        access_link,
        access_link_head,
        access_link_options,
        download_file,
        download_file_head,
        download_file_options,
        openapi_json,
        docs_page,
    ),
    components(schemas(
        GenerateLinkBody,
        RecipientRequestBody,
        UploadForm,
        LinkCreated,
        RecipientLink,
        LinkView,
        ErrorBody
    )),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "creator", description = "Making links; needs an API key."),
        (name = "recipient", description = "Opening a link and downloading its file."),
        (name = "docs", description = "This document and its HTML rendering."),
    )
)]
struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "API key. Behind API Gateway the gateway checks it; the local \
                 server checks it against API_KEYS.",
            ))),
        );
    }
}

/// Returns the OpenAPI document as JSON, built once.
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: LazyLock<serde_json::Value> = LazyLock::new(|| {
        let mut openapi = ApiDoc::openapi();
        add_shared_errors(&mut openapi);
        serde_json::to_value(&openapi).unwrap_or_default()
    });
    &DOCUMENT
}

/// Returns the document with `servers` set to `base_url`, so that clients
/// of a deployed stage call that stage.
pub fn document_for(base_url: &str) -> serde_json::Value {
    let mut value = document().clone();
    value["servers"] = serde_json::json!([{ "url": base_url }]);
    value
}

/// Adds the 500 response to every operation that has a body, because any
/// route can meet a failing store.
fn add_shared_errors(openapi: &mut Document) {
    for item in openapi.paths.paths.values_mut() {
        for operation in [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut operation.responses.responses;
            if !responses.contains_key("500") {
                let response = ResponseBuilder::new()
                    .description(
                        "`internal_error`: a store failed; the body is generic and \
                         the service log has the cause.",
                    )
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build();
                responses.insert("500".into(), response.into());
            }
        }
    }
}

#[utoipa::path(
    post,
    path = "/generate-link",
    tag = "creator",
    summary = "Make a link to a stored file",
    description = "Makes a link to an object in the service's bucket, in a bucket \
        listed in ALLOWED_BUCKETS, or to a copy of an https file on a host in \
        ALLOWED_FETCH_HOSTS. Any field not listed is rejected with 422.",
    request_body(content = GenerateLinkBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The link was made.", body = LinkCreated),
        (status = 400, description = "`invalid_json`: the body is not a JSON object.", body = ErrorBody),
        (status = 401, description = "`missing_api_key`: no `x-api-key` (local server).", body = ErrorBody),
        (status = 403, description = "`invalid_api_key`: the key is not one of API_KEYS (local server).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 16 KiB.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: a content type other than JSON.", body = ErrorBody),
        (status = 422, description = "`invalid_parameter`: a field is missing, invalid, repeated or \
            unknown; `field` names it.", body = ErrorBody),
        (status = 429, description = "`quota_exceeded`: the key's plan quota for the day or month \
            is used up; the body has `limit`, `period` and `resets_at`, and `Retry-After` is set.",
            body = ErrorBody),
    ),
    security(("api_key" = []))
)]
#[allow(dead_code)]
fn generate_link() {}

#[utoipa::path(
    post,
    path = "/upload-file",
    tag = "creator",
    summary = "Upload a file and make a link to it",
    description = "Stores the file in the service's bucket and makes its first \
        link. A failed upload leaves neither an object nor a link behind.",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The file was stored and the link made.", body = LinkCreated),
        (status = 400, description = "`invalid_multipart`: the body is not valid multipart.", body = ErrorBody),
        (status = 401, description = "`missing_api_key`: no `x-api-key` (local server).", body = ErrorBody),
        (status = 403, description = "`invalid_api_key`: the key is not one of API_KEYS (local server).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the file is over MAX_UPLOAD_BYTES.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not multipart/form-data with a boundary.", body = ErrorBody),
        (status = 422, description = "`invalid_parameter`: a part is missing, invalid, repeated or \
            unknown, or the file name is unusable; `field` names it.", body = ErrorBody),
        (status = 429, description = "`quota_exceeded`: the key's plan quota for the day or month \
            is used up; the body has `limit`, `period` and `resets_at`, and `Retry-After` is set.",
            body = ErrorBody),
    ),
    security(("api_key" = []))
)]
#[allow(dead_code)]
fn upload_file() {}

#[utoipa::path(
    get,
    path = "/access/{token}",
    tag = "recipient",
    summary = "Show a link's file",
    description = "Returns the file's metadata and never uses a download. A client \
        that prefers `text/html` to `application/json` in `Accept` (a browser) \
        gets the recipient page instead, with the same status; every other \
        client gets JSON.",
    params(("token" = String, Path, description = "The link token.")),
    responses(
        (status = 200, description = "The link is usable.", content(
            (LinkView = "application/json"),
            (String = "text/html"),
        )),
        (status = 401, description = "`password_required` or `wrong_password`: the link has a \
            password; send it in `X-Link-Password`.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 403, description = "`outside_allowed_network` or `not_yet_available` (the body \
            has `available_at`).", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 409, description = "`pending`: the file of a large upload has not arrived.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 423, description = "`locked`: too many wrong passwords; the body has `retry_at`.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 404, description = "`not_found`: the token is forged or names no link.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 410, description = "`expired`, `revoked` or `used_up`: a genuine link that can \
            no longer be used.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 422, description = "`invalid_parameter`: the token is malformed.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
    )
)]
#[allow(dead_code)]
fn access_link() {}

#[utoipa::path(
    head,
    path = "/access/{token}",
    tag = "recipient",
    summary = "Check a link",
    description = "The status of `GET` without a body. Never uses a download.",
    params(("token" = String, Path, description = "The link token.")),
    responses(
        (status = 200, description = "The link is usable."),
        (status = 404, description = "The token is forged or names no link."),
        (status = 410, description = "The link is expired, revoked or used up."),
        (status = 422, description = "The token is malformed."),
        (status = 500, description = "A store failed."),
    )
)]
#[allow(dead_code)]
fn access_link_head() {}

#[utoipa::path(
    options,
    path = "/access/{token}",
    tag = "recipient",
    summary = "List the methods of a link",
    params(("token" = String, Path, description = "The link token.")),
    responses(
        (status = 204, description = "The `Allow` header lists the methods.",
            headers(("allow" = String, description = "GET, HEAD, OPTIONS"))),
    )
)]
#[allow(dead_code)]
fn access_link_options() {}

#[utoipa::path(
    get,
    path = "/files/{filename}",
    tag = "recipient",
    summary = "Download a link's file",
    description = "Serves the whole file and counts one download; `Range` is \
        ignored. Send the token once, as `?token=` or as `Authorization: Bearer`. \
        The file goes out as an attachment; only passive document, image, text \
        and archive types keep their own type, all else is \
        `application/octet-stream`.",
    params(
        ("filename" = String, Path, description = "The link's file name, percent-encoded."),
        ("token" = Option<String>, Query, description = "The link token, unless sent as a Bearer token."),
        ("authorization" = Option<String>, Header, description = "`Bearer TOKEN`, unless the token is in the query."),
    ),
    responses(
        (status = 200, description = "The file.", content(("*/*")),
            headers(
                ("content-disposition" = String, description = "`attachment` with an ASCII `filename` and an RFC 5987 `filename*`."),
                ("x-content-sha256" = String, description = "SHA-256 of the file, lowercase hex."),
            )),
        (status = 303, description = "On AWS, a file over MAX_INLINE_DOWNLOAD_BYTES: a presigned \
            S3 URL that lives at most 60 seconds. The download is counted.",
            headers(("location" = String, description = "The presigned URL."))),
        (status = 401, description = "`password_required` or `wrong_password`: send the password \
            in `X-Link-Password`.", body = ErrorBody),
        (status = 403, description = "`outside_allowed_network` or `not_yet_available`.", body = ErrorBody),
        (status = 409, description = "`pending`: the file of a large upload has not arrived.", body = ErrorBody),
        (status = 423, description = "`locked`: too many wrong passwords.", body = ErrorBody),
        (status = 404, description = "`not_found`: the token is forged or names no link, the name \
            is not the link's file, or the file is gone.", body = ErrorBody),
        (status = 410, description = "`expired`, `revoked` or `used_up`.", body = ErrorBody),
        (status = 422, description = "`invalid_parameter`: the token is missing, malformed or sent \
            twice, or the file name is invalid.", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn download_file() {}

#[utoipa::path(
    head,
    path = "/files/{filename}",
    tag = "recipient",
    summary = "Check a download",
    description = "The headers of `GET` without a body. Never counts a download.",
    params(
        ("filename" = String, Path, description = "The link's file name, percent-encoded."),
        ("token" = Option<String>, Query, description = "The link token, unless sent as a Bearer token."),
    ),
    responses(
        (status = 200, description = "The link is usable and serves this file."),
        (status = 404, description = "The token is forged or names no link, or the name is not the link's file."),
        (status = 410, description = "The link is expired, revoked or used up."),
        (status = 422, description = "The token is missing, malformed or sent twice, or the name is invalid."),
        (status = 500, description = "A store failed."),
    )
)]
#[allow(dead_code)]
fn download_file_head() {}

#[utoipa::path(
    options,
    path = "/files/{filename}",
    tag = "recipient",
    summary = "List the methods of a download",
    params(("filename" = String, Path, description = "A file name.")),
    responses(
        (status = 204, description = "The `Allow` header lists the methods.",
            headers(("allow" = String, description = "GET, HEAD, OPTIONS"))),
    )
)]
#[allow(dead_code)]
fn download_file_options() {}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "docs",
    summary = "This OpenAPI document",
    responses((status = 200, description = "The document.", content(("application/json"))))
)]
#[allow(dead_code)]
fn openapi_json() {}

#[utoipa::path(
    get,
    path = "/docs",
    tag = "docs",
    summary = "This document as an HTML page",
    responses((status = 200, description = "The page.", content(("text/html"))))
)]
#[allow(dead_code)]
fn docs_page() {}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation<'a>(path: &str, method: &str) -> &'a serde_json::Value {
        &document()["paths"][path][method]
    }

    #[test]
    fn document_is_openapi_3_1() {
        assert_eq!(document()["openapi"], "3.1.0");
        assert_eq!(document()["info"]["title"], "Link service");
    }

    #[test]
    fn every_route_is_documented() {
        for (path, method) in [
            ("/generate-link", "post"),
            ("/upload-file", "post"),
            ("/access/{token}", "get"),
            ("/access/{token}", "head"),
            ("/access/{token}", "options"),
            ("/files/{filename}", "get"),
            ("/files/{filename}", "head"),
            ("/files/{filename}", "options"),
            ("/openapi.json", "get"),
            ("/docs", "get"),
        ] {
            assert!(
                operation(path, method).is_object(),
                "{method} {path} is missing"
            );
        }
    }

    #[test]
    fn creator_routes_need_the_api_key() {
        let scheme = &document()["components"]["securitySchemes"][API_KEY];
        assert_eq!(scheme["type"], "apiKey");
        assert_eq!(scheme["in"], "header");
        assert_eq!(scheme["name"], "x-api-key");
        for path in ["/generate-link", "/upload-file"] {
            assert_eq!(
                operation(path, "post")["security"][0][API_KEY],
                serde_json::json!([])
            );
        }
        assert!(operation("/access/{token}", "get")["security"].is_null());
    }

    #[test]
    fn generate_link_schema_lists_fields() {
        let schema = &document()["components"]["schemas"]["GenerateLinkBody"];
        assert_eq!(schema["additionalProperties"], false);
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        assert!(required.contains(&"file_url".into()));
        assert!(required.contains(&"expire_minutes".into()));
        assert!(!required.contains(&"max_downloads".into()));
        let mut fields = vec!["file_url", "expire_minutes", "max_downloads", "filename"];
        fields.extend(crate::options::OPTION_FIELDS);
        let documented = schema["properties"].as_object().map(|p| p.len());
        assert_eq!(documented, Some(fields.len()));
        for field in fields {
            assert!(schema["properties"][field].is_object(), "{field} missing");
        }
    }

    #[test]
    fn error_body_lists_its_fields() {
        let schema = &document()["components"]["schemas"]["ErrorBody"];
        for field in ["status", "error", "message", "field"] {
            assert!(schema["properties"][field].is_object(), "{field} missing");
        }
    }

    #[test]
    fn every_json_operation_documents_500() {
        for (path, method) in [
            ("/generate-link", "post"),
            ("/upload-file", "post"),
            ("/access/{token}", "get"),
            ("/files/{filename}", "get"),
        ] {
            assert_eq!(
                operation(path, method)["responses"]["500"]["content"]["application/json"]["schema"]
                    ["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path}"
            );
        }
    }

    #[test]
    fn access_answers_json_or_html() {
        let ok = &operation("/access/{token}", "get")["responses"]["200"]["content"];
        assert_eq!(
            ok["application/json"]["schema"]["$ref"],
            "#/components/schemas/LinkView"
        );
        assert!(ok["text/html"].is_object());
    }

    #[test]
    fn servers_follow_the_base_url() {
        let value = document_for("https://api.example.test/Prod");
        assert_eq!(value["servers"][0]["url"], "https://api.example.test/Prod");
    }
}
