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
    AuditPage, AuditRecord, DownloadForm, ErrorBody, GenerateLinkBody, LinkCreated, LinkDetails,
    LinkList, LinkView, PasswordForm, RecipientLink, RecipientRequestBody, Restrictions,
    RevokeBody, RevokedLinks, UploadForm, UploadUrlBody, UploadUrlCreated,
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
    paths(
        generate_link,
        upload_file,
        upload_url,
        list_links,
        show_link,
        revoke_link,
        revoke_links,
        link_audit,
        link_audit_export,
        access_link,
        access_link_password,
        access_link_head,
        access_link_options,
        download_file,
        download_file_form,
        download_file_head,
        download_file_options,
        openapi_json,
        docs_page,
    ),
    components(schemas(
        GenerateLinkBody,
        RecipientRequestBody,
        UploadForm,
        UploadUrlBody,
        UploadUrlCreated,
        LinkCreated,
        RecipientLink,
        LinkView,
        LinkDetails,
        Restrictions,
        LinkList,
        RevokeBody,
        RevokedLinks,
        AuditRecord,
        AuditPage,
        PasswordForm,
        DownloadForm,
        LinkStateFilter,
        ErrorBody
    )),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "creator", description = "Making links; needs an API key."),
        (name = "links", description = "Managing links made earlier; needs an API key."),
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
    post,
    path = "/upload-url",
    tag = "creator",
    summary = "Make a pending link and an upload URL for a large file",
    description = "Makes a link whose file is sent straight to storage with a \
        `PUT` of the bytes to `upload_url`, for files up to MAX_LARGE_UPLOAD_BYTES \
        (5 GiB). The link answers 409 `pending` until the object has arrived, \
        has the declared `size` and is hashed. Any field not listed is rejected \
        with 422.",
    request_body(content = UploadUrlBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The pending link and its upload URL.", body = UploadUrlCreated),
        (status = 400, description = "`invalid_json`: the body is not a JSON object.", body = ErrorBody),
        (status = 401, description = "`missing_api_key`: no `x-api-key` (local server).", body = ErrorBody),
        (status = 403, description = "`invalid_api_key`: the key is not one of API_KEYS (local server).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 16 KiB.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: a content type other than JSON.", body = ErrorBody),
        (status = 422, description = "`invalid_parameter`: a field is missing, invalid, repeated or \
            unknown, `size` is out of range, or `recipients` was sent; `field` names it.", body = ErrorBody),
        (status = 429, description = "`quota_exceeded`: the key's plan quota for the day or month \
            is used up; the body has `limit`, `period` and `resets_at`, and `Retry-After` is set.",
            body = ErrorBody),
    ),
    security(("api_key" = []))
)]
#[allow(dead_code)]
fn upload_url() {}

#[utoipa::path(
    get,
    path = "/links",
    tag = "links",
    summary = "List the creator's links",
    description = "The links made with this API key, newest first, one page at a \
        time. Any other query parameter is rejected with 422.",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size; 50 when absent."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
        ("label" = Option<String>, Query, description = "Only links with this label."),
        ("state" = Option<LinkStateFilter>, Query, description = "Only links in this state."),
    ),
    responses(
        (status = 200, description = "One page of links.", body = LinkList),
        (status = 401, description = "`missing_api_key`: no `x-api-key` (local server).", body = ErrorBody),
        (status = 403, description = "`invalid_api_key`: the key is not one of API_KEYS (local server).", body = ErrorBody),
        (status = 422, description = "`invalid_parameter`: a bad `limit`, `state` or `cursor`, a \
            parameter sent twice, or an unknown parameter; `field` names it.", body = ErrorBody),
        (status = 429, description = "`quota_exceeded`: the key's plan quota is used up.", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
#[allow(dead_code)]
fn list_links() {}

#[utoipa::path(
    get,
    path = "/links/{link_id}",
    tag = "links",
    summary = "Show one of the creator's links",
    description = "The link's file, state, times, downloads and restrictions, and \
        its `access_url` while it can be used. A `pending` link whose file has \
        arrived is finalised first, counting no view or download. Another \
        creator's link gets 404, the same as an id that never existed.",
    params(("link_id" = String, Path, description = "The link id (32 lowercase hex digits).")),
    responses(
        (status = 200, description = "The link.", body = LinkDetails),
        (status = 401, description = "`missing_api_key`: no `x-api-key` (local server).", body = ErrorBody),
        (status = 403, description = "`invalid_api_key`: the key is not one of API_KEYS (local server).", body = ErrorBody),
        (status = 404, description = "`not_found`: no link of this creator has this id.", body = ErrorBody),
        (status = 422, description = "`invalid_parameter`: the id is malformed, or a query \
            parameter was sent.", body = ErrorBody),
        (status = 429, description = "`quota_exceeded`: the key's plan quota is used up.", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
#[allow(dead_code)]
fn show_link() {}

#[utoipa::path(
    delete,
    path = "/links/{link_id}",
    tag = "links",
    summary = "Revoke one of the creator's links",
    description = "Every later view and download gets 410 `revoked`. Revoking a \
        revoked link succeeds.",
    params(("link_id" = String, Path, description = "The link id (32 lowercase hex digits).")),
    responses(
        (status = 200, description = "The link, with `status: revoked`.", body = LinkDetails),
        (status = 401, description = "`missing_api_key`: no `x-api-key` (local server).", body = ErrorBody),
        (status = 403, description = "`invalid_api_key`: the key is not one of API_KEYS (local server).", body = ErrorBody),
        (status = 404, description = "`not_found`: no link of this creator has this id.", body = ErrorBody),
        (status = 422, description = "`invalid_parameter`: the id is malformed, or a query \
            parameter was sent.", body = ErrorBody),
        (status = 429, description = "`quota_exceeded`: the key's plan quota is used up.", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
#[allow(dead_code)]
fn revoke_link() {}

#[utoipa::path(
    post,
    path = "/links/revoke",
    tag = "links",
    summary = "Revoke many of the creator's links",
    description = "Revokes the creator's links that can still be used: those with \
        `label`, or all of them with `all: true`.",
    request_body(content = RevokeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The links revoked.", body = RevokedLinks),
        (status = 400, description = "`invalid_json`: the body is not a JSON object.", body = ErrorBody),
        (status = 401, description = "`missing_api_key`: no `x-api-key` (local server).", body = ErrorBody),
        (status = 403, description = "`invalid_api_key`: the key is not one of API_KEYS (local server).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 16 KiB.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: a content type other than JSON.", body = ErrorBody),
        (status = 422, description = "`invalid_parameter`: not exactly one of `label` and \
            `all: true`, an unknown field, or a query parameter.", body = ErrorBody),
        (status = 429, description = "`quota_exceeded`: the key's plan quota is used up.", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
#[allow(dead_code)]
fn revoke_links() {}

#[utoipa::path(
    get,
    path = "/links/{link_id}/audit",
    tag = "links",
    summary = "Read a link's audit trail",
    description = "Every view, download and refusal of the link, newest first, one \
        page at a time. Records carry a token fingerprint, never the token.",
    params(
        ("link_id" = String, Path, description = "The link id (32 lowercase hex digits)."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size; 50 when absent."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "One page of records.", body = AuditPage),
        (status = 401, description = "`missing_api_key`: no `x-api-key` (local server).", body = ErrorBody),
        (status = 403, description = "`invalid_api_key`: the key is not one of API_KEYS (local server).", body = ErrorBody),
        (status = 404, description = "`not_found`: no link of this creator has this id.", body = ErrorBody),
        (status = 422, description = "`invalid_parameter`: a malformed id, a bad `limit` or \
            `cursor`, or an unknown parameter.", body = ErrorBody),
        (status = 429, description = "`quota_exceeded`: the key's plan quota is used up.", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
#[allow(dead_code)]
fn link_audit() {}

#[utoipa::path(
    get,
    path = "/links/{link_id}/audit/export",
    tag = "links",
    summary = "Export a link's audit trail with a hash chain",
    description = "Every record as JSON lines, oldest first. Each line has the \
        fields of an audit record plus `link_id`, `seq`, `prev_hash` and `hash`, \
        where `hash` is the SHA-256 (hex) of `prev_hash` followed by the line's \
        other fields as compact JSON. The first `prev_hash` is 64 zeros.",
    params(("link_id" = String, Path, description = "The link id (32 lowercase hex digits).")),
    responses(
        (status = 200, description = "The records, one JSON object a line.",
            content(("application/x-ndjson")),
            headers(("x-audit-chain-head" = String, description = "The last `hash`; 64 zeros when there is no record."))),
        (status = 401, description = "`missing_api_key`: no `x-api-key` (local server).", body = ErrorBody),
        (status = 403, description = "`invalid_api_key`: the key is not one of API_KEYS (local server).", body = ErrorBody),
        (status = 404, description = "`not_found`: no link of this creator has this id.", body = ErrorBody),
        (status = 422, description = "`invalid_parameter`: the id is malformed, or a query \
            parameter was sent.", body = ErrorBody),
        (status = 429, description = "`quota_exceeded`: the key's plan quota is used up.", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
#[allow(dead_code)]
fn link_audit_export() {}

/// States `GET /links` can filter on.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
enum LinkStateFilter {
    Active,
    Pending,
    NotYetAvailable,
    UsedUp,
    Expired,
    Revoked,
}

#[utoipa::path(
    post,
    path = "/access/{token}",
    tag = "recipient",
    summary = "Open a password link",
    description = "The password prompt of the recipient page posts here, so the \
        password never goes into a URL. Answers like `GET`: a browser gets the \
        page (with a download button that posts the token and password to \
        `/files/{filename}`, or the prompt again with a message after a wrong \
        password), every other client gets JSON. Never uses a download.",
    params(("token" = String, Path, description = "The link token.")),
    request_body(content = PasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The password is right and the link is usable.", content(
            (LinkView = "application/json"),
            (String = "text/html"),
        )),
        (status = 401, description = "`password_required` or `wrong_password`.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 403, description = "`outside_allowed_network` or `not_yet_available`.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 404, description = "`not_found`: the token is forged or names no link.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 409, description = "`pending`: the file of a large upload has not arrived.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 410, description = "`expired`, `revoked` or `used_up`.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 413, description = "`payload_too_large`: the form is over 16 KiB.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 415, description = "`unsupported_media_type`: not a URL-encoded form.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 422, description = "`invalid_parameter`: a malformed token, or an unknown or \
            repeated form field.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 423, description = "`locked`: too many wrong passwords; the body has `retry_at`.", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
    )
)]
#[allow(dead_code)]
fn access_link_password() {}

#[utoipa::path(
    post,
    path = "/files/{filename}",
    tag = "recipient",
    summary = "Download a password link's file from a form",
    description = "The same as `GET`, with the token and password in a URL-encoded \
        form body instead of the URL and a header. Counts one download. A client \
        that prefers `text/html` gets a refusal as the recipient page, with the \
        same status.",
    params(("filename" = String, Path, description = "The link's file name, percent-encoded.")),
    request_body(content = DownloadForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The file.", content(("*/*")),
            headers(
                ("content-disposition" = String, description = "`attachment` with an ASCII `filename` and an RFC 5987 `filename*`."),
                ("x-content-sha256" = String, description = "SHA-256 of the file, lowercase hex."),
            )),
        (status = 303, description = "A file over MAX_INLINE_DOWNLOAD_BYTES: a signed URL that \
            lives at most 60 seconds. The download is counted.",
            headers(("location" = String, description = "The signed URL."))),
        (status = 401, description = "`password_required` or `wrong_password`.", body = ErrorBody),
        (status = 403, description = "`outside_allowed_network` or `not_yet_available`.", body = ErrorBody),
        (status = 404, description = "`not_found`: the token is forged or names no link, or the \
            name is not the link's file.", body = ErrorBody),
        (status = 409, description = "`pending`: the file of a large upload has not arrived.", body = ErrorBody),
        (status = 410, description = "`expired`, `revoked` or `used_up`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the form is over 16 KiB.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not a URL-encoded form.", body = ErrorBody),
        (status = 422, description = "`invalid_parameter`: the token is missing or malformed, a \
            field is unknown, repeated or not valid percent-encoded UTF-8, or the file name \
            is invalid.", body = ErrorBody),
        (status = 423, description = "`locked`: too many wrong passwords.", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn download_file_form() {}

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
        (status = 401, description = "The link has a password and none or a wrong one was sent \
            in `X-Link-Password`."),
        (status = 403, description = "Outside the link's networks, or before its `not_before`."),
        (status = 409, description = "The file of a large upload has not arrived."),
        (status = 423, description = "Too many wrong passwords locked the link."),
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
        `application/octet-stream`. A client that prefers `text/html` gets a \
        refusal as the recipient page, with the same status.",
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
        (status = 401, description = "The link has a password and none or a wrong one was sent \
            in `X-Link-Password`."),
        (status = 403, description = "Outside the link's networks, or before its `not_before`."),
        (status = 409, description = "The file of a large upload has not arrived."),
        (status = 423, description = "Too many wrong passwords locked the link."),
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
            ("/upload-url", "post"),
            ("/links", "get"),
            ("/links/revoke", "post"),
            ("/links/{link_id}", "get"),
            ("/links/{link_id}", "delete"),
            ("/links/{link_id}/audit", "get"),
            ("/links/{link_id}/audit/export", "get"),
            ("/access/{token}", "get"),
            ("/access/{token}", "head"),
            ("/access/{token}", "post"),
            ("/access/{token}", "options"),
            ("/files/{filename}", "get"),
            ("/files/{filename}", "head"),
            ("/files/{filename}", "post"),
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
        for (path, method) in [
            ("/generate-link", "post"),
            ("/upload-file", "post"),
            ("/upload-url", "post"),
            ("/links", "get"),
            ("/links/revoke", "post"),
            ("/links/{link_id}", "get"),
            ("/links/{link_id}", "delete"),
            ("/links/{link_id}/audit", "get"),
            ("/links/{link_id}/audit/export", "get"),
        ] {
            assert_eq!(
                operation(path, method)["security"][0][API_KEY],
                serde_json::json!([]),
                "{method} {path}"
            );
            for status in ["401", "403", "429", "500"] {
                assert!(
                    operation(path, method)["responses"][status].is_object(),
                    "{method} {path} lacks {status}"
                );
            }
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
            ("/upload-url", "post"),
            ("/links", "get"),
            ("/links/{link_id}", "delete"),
            ("/access/{token}", "get"),
            ("/access/{token}", "post"),
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

    /// Collects the `(path, method)` pairs of the API events in `template.yaml`.
    fn template_routes() -> std::collections::BTreeSet<(String, String)> {
        let template = include_str!("../../template.yaml");
        let mut routes = std::collections::BTreeSet::new();
        let mut in_api_event = false;
        let mut path: Option<String> = None;
        for line in template.lines() {
            let line = line.trim();
            if let Some(kind) = line.strip_prefix("Type: ") {
                in_api_event = kind == "Api";
                path = None;
            } else if in_api_event && let Some(value) = line.strip_prefix("Path: ") {
                path = Some(value.trim_matches('"').to_owned());
            } else if in_api_event
                && let Some(method) = line.strip_prefix("Method: ")
                && let Some(path) = path.take()
            {
                routes.insert((path, method.trim_matches('"').to_lowercase()));
            }
        }
        routes
    }

    /// Collects the `(path, method)` pairs of the document.
    fn documented_routes() -> std::collections::BTreeSet<(String, String)> {
        let mut routes = std::collections::BTreeSet::new();
        for (path, item) in document()["paths"].as_object().into_iter().flatten() {
            for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
                routes.insert((path.clone(), method.clone()));
            }
        }
        routes
    }

    #[test]
    fn document_and_template_serve_the_same_routes() {
        let template = template_routes();
        let documented = documented_routes();
        assert!(template.len() >= 19, "template parse found {template:?}");
        let undocumented: Vec<_> = template.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&template).collect();
        assert!(
            undocumented.is_empty(),
            "routes in template.yaml but not in the document: {undocumented:?}"
        );
        assert!(
            unserved.is_empty(),
            "routes in the document but not in template.yaml: {unserved:?}"
        );
    }

    #[test]
    fn creator_responses_use_the_real_types() {
        let schema = |path: &str, method: &str| {
            operation(path, method)["responses"]["200"]["content"]["application/json"]["schema"]
                ["$ref"]
                .clone()
        };
        assert_eq!(schema("/links", "get"), "#/components/schemas/LinkList");
        assert_eq!(
            schema("/links/{link_id}", "get"),
            "#/components/schemas/LinkDetails"
        );
        assert_eq!(
            schema("/links/revoke", "post"),
            "#/components/schemas/RevokedLinks"
        );
        assert_eq!(
            schema("/links/{link_id}/audit", "get"),
            "#/components/schemas/AuditPage"
        );
        assert_eq!(
            schema("/upload-url", "post"),
            "#/components/schemas/UploadUrlCreated"
        );
        let form = &operation("/access/{token}", "post")["requestBody"]["content"]["application/x-www-form-urlencoded"]
            ["schema"]["$ref"];
        assert_eq!(form, "#/components/schemas/PasswordForm");
    }

    #[test]
    fn servers_follow_the_base_url() {
        let value = document_for("https://api.example.test/Prod");
        assert_eq!(value["servers"][0]["url"], "https://api.example.test/Prod");
    }
}
